"""FeeCoordinator: keeps one ChannelActor per open channel and runs the
fee cycle over them.

A cycle:

1. one ``listpeerchannels`` (filtered to the fields we use), and the
   channel actors reconciled with it: an actor started for a channel that
   opened (from its persisted state, if any), stopped with its state pruned
   and its series removed for one that closed;
2. every channel gets the same immutable snapshot (its facts, its peer's
   policy, the mempool multiplier, flow economics, refill cost, the params
   of this cycle's config) and answers with a decision (fan out, then
   gather); the coordinator never reaches into a channel's state;
3. across channels: the same-peer bound, then hysteresis, idempotency and
   the node-wide gossip budget pick which decisions become a ``setchannel``
   (``revops/fees/broadcast.py``);
4. one ``setchannel`` per changed channel through the RpcActor (none in
   dry-run); each channel is told the outcome (its broadcast fee changes
   only on success); history, metrics, and a ``FeeStateUpdate`` to the flow
   and rebalance coordinators.

Channel actors are children of this coordinator: a crashed one is restarted
from persisted state within the restart budget, and given up on (reported
upward as degraded) beyond it.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import deque
from typing import Any, Mapping

import pykka

from actors.channel import ChannelActor, Decide, ForwardSeen, Outcome, SetOverride, StartProbe
from actors.coordinator import ASK_TIMEOUT, Coordinator
from actors.messages import (
    ChildDegraded,
    ChildFailed,
    Crash,
    Dependencies,
    EconomicsUpdate,
    FeeStateUpdate,
    MempoolState,
    Notification,
    RefillCosts,
    RunSoon,
)
from actors.pool import ActorPool
from revops.channels import (
    LISTPEERCHANNELS_FILTER,
    ChannelFacts,
    active,
    changes_priced_set,
    parse_channels,
)
from revops.config import ConfigSnapshot
from revops.fees import broadcast
from revops.fees.anchor import LISTCHANNELS_FILTER, market_anchor
from revops.fees.alpha import ChannelEconomics, Decision, FeeInputs, FeeParams, Policy
from revops.fees.state import Override
from revops.jsonrpc import JSONRPC2_INVALID_PARAMS, RpcError
from revops.metrics import Metrics
from revops.storage.repos.fees import FeeChange
from revops.supervision import RestartBudget

log = logging.getLogger("revops.fee")

BLOCK_SECONDS = 600.0
# Market fees for a few peers are looked up one `listchannels
# destination=<peer>` each; for more (a first start on a big node) one
# field-filtered listchannels of the whole graph is cheaper than thousands
# of calls (mainnet: ~150k directions, a few MB with the filter).
ANCHORS_ONE_BY_ONE = 50
ANCHOR_MAX_AGE = 86400.0  # market fees are looked up again once a day


def gather(futures: Mapping[str, pykka.Future[Any]]) -> dict[str, Any]:
    """Fan-in: every channel's answer; a channel that died meanwhile is left
    out (its ChildFailed brings it back), never failing the whole cycle."""
    out = {}
    for scid, fut in futures.items():
        try:
            out[scid] = fut.get(timeout=ASK_TIMEOUT)
        except pykka.ActorDeadError:
            continue
    return out


class FeeCoordinator(Coordinator):
    name = "fee"

    def __init__(self, deps: Dependencies, config: ConfigSnapshot, metrics: Metrics,
                 parent: pykka.ActorRef[Any] | None, pool: ActorPool) -> None:
        super().__init__(deps, config, metrics, parent)
        self.pool = pool
        self.channels: dict[str, pykka.ActorRef[Any]] = {}
        self.facts: dict[str, ChannelFacts] = {}
        self.budgets: dict[str, RestartBudget] = {}
        self.degraded: dict[str, str] = {}
        self.persisted: dict[str, Any] = {}
        self.policies: dict[str, Any] = {}
        self.ignored: dict[str, Any] = {}
        self.economics: dict[str, ChannelEconomics] = {}
        self.refill_ppm: dict[str, int] = {}
        self.mempool = MempoolState(0.0, 1.0, 0.0)
        self.sent: deque[float] | None = None
        self.blockheight: int | None = None
        self.our_id: str | None = None
        self.anchors: dict[str, int | None] = {}  # peer -> market fee into it (None: nobody)
        self.anchored_at: dict[str, float] = {}
        self.rpc_error_logged = False
        self.last_now = 0.0  # time of the latest tick: restart budgets count in it
        self.last_decisions: dict[str, Decision] = {}
        self.reprice_asked = False  # a RunSoon for a channel set change is on its way
        self.commands.update({
            "revenue-channels": self.cmd_channels,
            "revenue-fees": self.cmd_fees,
            "revenue-history": self.cmd_history,
            "revenue-fee-cycle": self.cmd_fee_cycle,
            "revenue-set-fee": self.cmd_set_fee,
            "revenue-unset-fee": self.cmd_unset_fee,
            "revenue-policy": self.cmd_policy,
            "revenue-ignore": self.cmd_ignore,
            "revenue-unignore": self.cmd_unignore,
            "revenue-list-ignored": self.cmd_list_ignored,
            "revenue-probe": self.cmd_probe,
        })

    @property
    def fm(self) -> Any:
        return self.metrics.fees  # type: ignore[attr-defined]

    def on_start(self) -> None:
        store = self.store
        self.persisted = dict(store.load_channel_states().get(timeout=ASK_TIMEOUT))
        self.policies = dict(store.peer_policies().get(timeout=ASK_TIMEOUT))
        self.ignored = dict(store.ignored_peers().get(timeout=ASK_TIMEOUT))
        # Every channel known before comes back at once, with its state, so
        # revenue-fees shows it before the first cycle; that cycle's
        # reconcile then prunes the ones that closed meanwhile.
        for scid, row in sorted(self.persisted.items()):
            self._start_channel(scid, row.peer_id)

    def on_stop(self) -> None:
        for ref in self.channels.values():
            try:
                ref.stop(block=True, timeout=5)
            except (pykka.Timeout, pykka.ActorDeadError):
                pass
        self.channels.clear()

    def on_dependencies(self, deps: Dependencies) -> None:
        for ref in self.channels.values():
            try:
                ref.proxy().set_store.defer(deps.store)
            except pykka.ActorDeadError:
                pass

    # -- messages from lightningd and the other coordinators -------------------------
    def on_notification(self, note: Notification) -> None:
        p = note.payload
        if note.topic == "forward_event":
            status = p.get("status")
            scid = p.get("out_channel")
            if status in ("settled", "local_failed", "failed") and scid in self.channels:
                try:
                    self.channels[scid].tell(ForwardSeen(
                        status, p.get("out_msat"), p.get("fee_msat"), note.now))
                except pykka.ActorDeadError:
                    pass
        elif note.topic == "block_added":
            height = p.get("height")
            if isinstance(height, int):
                self.blockheight = max(self.blockheight or 0, height)
        elif note.topic == "channel_state_changed":
            if changes_priced_set(p, self.channels) and not self.reprice_asked:
                # Opened or closing: reconcile and price at the next advance,
                # not up to a fee-interval later.
                self.reprice_asked = True
                self.tell_parent(RunSoon(self.name, f"channel {p.get('short_channel_id')} "
                                                    f"is now {p.get('new_state')}"))

    def handle(self, message: Any) -> Any:
        if isinstance(message, ChildFailed) and message.name.startswith("channel:"):
            return self._channel_failed(message.name.split(":", 1)[1], message.error,
                                        message.urn)
        if isinstance(message, EconomicsUpdate):
            self.economics = {k: v for k, v in message.economics.items()
                              if isinstance(v, ChannelEconomics)}
            return None
        if isinstance(message, MempoolState):
            self.mempool = message
            return None
        if isinstance(message, RefillCosts):
            self.refill_ppm = dict(message.ppm)
            return None
        return super().handle(message)

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, Crash) and message.reason.startswith("channel:"):
            # Dev: crash it, wait until it is dead, and supervise it now, so
            # what follows sees the restarted actor.
            scid = message.reason.split(":", 1)[1]
            ref = self.channels.get(scid)
            if ref is not None:
                ref.tell(Crash("revenue-dev-crash"))
                ref.actor_stopped.wait(10)
                self._channel_failed(scid, "CrashRequested: revenue-dev-crash")
            return None
        return super().on_receive(message)

    # -- reconcile ------------------------------------------------------------------------
    def _start_channel(self, scid: str, peer_id: str) -> None:
        """A channel actor, from its persisted state if there is one."""
        row = self.persisted.pop(scid, None)
        state = row.state if row is not None else None
        self.channels[scid] = ChannelActor.start_on(
            self.pool, scid, peer_id, state, self.deps.store, self.actor_ref)

    def _stop_channel(self, scid: str, prune: bool) -> None:
        ref = self.channels.pop(scid, None)
        if ref is not None:
            try:
                ref.stop(block=False)
            except pykka.ActorDeadError:
                pass
        self.facts.pop(scid, None)
        self.budgets.pop(scid, None)
        self.last_decisions.pop(scid, None)
        self.fm.remove_channel(scid)
        if prune:
            self.degraded.pop(scid, None)
            self.store.delete_channel_state.defer(scid)

    def reconcile(self, open_channels: Mapping[str, ChannelFacts]) -> tuple[list[str], list[str]]:
        opened = [scid for scid in open_channels
                  if scid not in self.channels and scid not in self.degraded]
        closed = [scid for scid in list(self.channels) if scid not in open_channels]
        closed += [scid for scid in list(self.degraded) if scid not in open_channels]
        for scid in opened:
            self._start_channel(scid, open_channels[scid].peer_id)
            log.info("channel %s opened: actor started", scid)
        for scid in closed:
            self._stop_channel(scid, prune=True)
            log.info("channel %s closed: actor stopped, state pruned", scid)
        self.facts = dict(open_channels)
        for scid, ref in list(self.channels.items()):
            if not ref.is_alive():  # crashed; its report may still be on its way
                self._channel_failed(scid, "found dead at cycle start")
        return opened, closed

    # -- the cycle ---------------------------------------------------------------------------
    def cycle(self, now: float, config: ConfigSnapshot, forced: bool) -> Mapping[str, Any]:
        summary, _ = self.run_cycle(now, config, bool(config["dry-run"]))
        return summary

    def _fetch_anchors(self, channels: Mapping[str, ChannelFacts], now: float) -> set[str]:
        """The market's fee into every peer (refreshed daily): where a new
        climb starts and what it returns to without evidence. Returns the
        peers whose lookup failed (a new unpriced channel waits for it)."""
        wanted = sorted({c.peer_id for c in channels.values()
                         if now - self.anchored_at.get(c.peer_id, -ANCHOR_MAX_AGE)
                         >= ANCHOR_MAX_AGE})
        if not wanted:
            return set()
        failed: set[str] = set()
        if len(wanted) > ANCHORS_ONE_BY_ONE:
            r = self.rpc("listchannels", None, LISTCHANNELS_FILTER)
            if r.ok:
                into: dict[str, list[Mapping[str, Any]]] = {}
                for e in r.result.get("channels", []):
                    into.setdefault(e.get("destination"), []).append(e)
                for peer in wanted:
                    self.anchors[peer] = market_anchor(into.get(peer, []), peer, self.our_id)
                    self.anchored_at[peer] = now
            else:
                failed = set(wanted)
        else:
            for peer in wanted:
                r = self.rpc("listchannels", {"destination": peer}, LISTCHANNELS_FILTER)
                if r.ok:
                    self.anchors[peer] = market_anchor(r.result.get("channels", []), peer,
                                                       self.our_id)
                    self.anchored_at[peer] = now
                else:
                    failed.add(peer)
        return {p for p in failed if p not in self.anchors}

    def _inputs(self, facts: ChannelFacts, config: ConfigSnapshot,
                pending: set[str] = frozenset()) -> FeeInputs:  # type: ignore[assignment]
        pol = self.policies.get(facts.peer_id)
        policy = Policy(pol.mode, pol.fee_ppm, pol.base_msat) if pol is not None else Policy()
        days_open = None
        if self.blockheight is not None:
            days_open = max(0.0, (self.blockheight - facts.block) * BLOCK_SECONDS / 86400)
        rebalancing = str(config.values.get("rebalancer", "off")) != "off"
        return FeeInputs(facts=facts, policy=policy, ignored=facts.peer_id in self.ignored,
                         mempool_multiplier=self.mempool.multiplier,
                         economics=self.economics.get(facts.scid),
                         refill_cost_ppm=self.refill_ppm.get(facts.scid),
                         rebalancing=rebalancing, days_open=days_open,
                         anchor_ppm=self.anchors.get(facts.peer_id),
                         anchor_pending=facts.peer_id in pending)

    def run_cycle(self, now: float, config: ConfigSnapshot, dry_run: bool
                  ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        self.last_now = now
        self.reprice_asked = False
        res = self.rpc("listpeerchannels", None, LISTPEERCHANNELS_FILTER)
        if not res.ok:
            if not self.rpc_error_logged:
                log.warning("fee cycle skipped: listpeerchannels failed (%s): %s",
                            res.kind, res.message)
                self.rpc_error_logged = True
            return {"channels": len(self.channels), "skipped": f"listpeerchannels {res.kind}"}, []
        self.rpc_error_logged = False
        if self.blockheight is None or self.our_id is None:
            info = self.rpc("getinfo", None, {"blockheight": True, "id": True})
            if info.ok:
                self.blockheight = info.result.get("blockheight")
                self.our_id = info.result.get("id")
        if self.sent is None:
            times = self.store.broadcast_times(now - broadcast.DAY).get(timeout=ASK_TIMEOUT)
            self.sent = deque(times)
        open_channels = active(parse_channels(res.result))
        opened, closed = self.reconcile(open_channels)
        pending = self._fetch_anchors(open_channels, now)

        # 2. Every channel decides on the same snapshot.
        params = FeeParams.from_config(config)
        decisions_by_scid = gather({
            scid: ref.ask(Decide(self._inputs(open_channels[scid], config, pending), params, now),
                          block=False)
            for scid, ref in self.channels.items() if ref.is_alive()})
        decisions = [decisions_by_scid[s] for s in sorted(decisions_by_scid)]

        # 3. Which become a setchannel.
        peer_of = {scid: f.peer_id for scid, f in open_channels.items()}
        decisions = broadcast.bound_siblings(decisions, peer_of,
                                             float(config["sibling-undercut-max"]))
        while self.sent and now - self.sent[0] >= broadcast.DAY:
            self.sent.popleft()
        chain = {d.scid: (open_channels[d.scid].fee_ppm, open_channels[d.scid].fee_base_msat)
                 for d in decisions}
        last = {scid: open_channels[scid].fee_ppm for scid in chain}
        budget = broadcast.daily_budget(int(config["max-fee-updates-per-day"]),
                                        len(open_channels))
        plan = broadcast.plan(decisions, chain, last, float(config["fee-hysteresis"]),
                              budget, self.sent, now,
                              broadcast.cycle_burst(budget, float(config["fee-interval"])))

        # 4. Send, tell, record.
        changes: list[FeeChange] = []
        report: list[dict[str, Any]] = []
        counts = {"sent": 0, "failed": 0, "suppressed": 0}
        outcomes: dict[str, pykka.Future[Any]] = {}
        # Every setchannel is queued at once: they run back to back at the
        # RpcActor, and a rebalance cycle's pathfinding waits behind them
        # instead of each of them waiting behind it.
        # The k-th call may wait for the k - 1 before it, each within the
        # RpcActor's own deadline.
        calls = {} if dry_run else {
            item.decision.scid: (self.rpc_async("setchannel", {
                "id": item.decision.scid, "feebase": item.decision.base_msat,
                "feeppm": item.decision.target_fee_ppm}),
                ASK_TIMEOUT + k * float(config["rpc-timeout"]))
            for k, item in enumerate(i for i in plan if i.send)}
        for item in plan:
            d = item.decision
            self.fm.decided(d.mode)
            sent, ok, why = False, False, item.why
            if item.send and dry_run:
                why = "dry_run"
                changes.append(FeeChange(now, d.scid, chain[d.scid][0], d.target_fee_ppm,
                                         d.base_msat, d.mode, d.reason, "dry_run"))
            elif item.send:
                sent = True
                future, wait = calls[d.scid]
                r = future.get(timeout=wait)
                ok = r.ok
                changes.append(FeeChange(now, d.scid, chain[d.scid][0], d.target_fee_ppm,
                                         d.base_msat, d.mode, d.reason,
                                         "broadcast" if ok else "failed"))
                if ok:
                    counts["sent"] += 1
                    self.sent.append(now)
                    self.fm.updates.inc()
                else:
                    counts["failed"] += 1
                    why = f"setchannel {r.kind}: {r.message}"
                    self.fm.update_failures.inc()
            if not item.send and d.touch and why in ("hysteresis", "budget"):
                counts["suppressed"] += 1
                self.fm.suppressed.labels(why).inc()
            elif item.send and dry_run:
                self.fm.suppressed.labels("dry_run").inc()
            self.fm.set_channel(d.scid, d.target_fee_ppm if sent and ok else chain[d.scid][0],
                                d.target_fee_ppm if d.touch else None)
            ref = self.channels.get(d.scid)
            if ref is not None:
                try:
                    outcomes[d.scid] = ref.ask(Outcome(d, sent, ok, why, now), block=False)
                except pykka.ActorDeadError:
                    pass
            self.last_decisions[d.scid] = d
            report.append({"scid": d.scid, "mode": d.mode, "reason": d.reason,
                           "fee_ppm": chain[d.scid][0], "target_fee_ppm": d.target_fee_ppm,
                           "base_msat": d.base_msat, "action": (
                               "sent" if sent and ok else "failed" if sent else why)})
        states = list(gather(outcomes).values())
        if states:
            # One transaction for the cycle; asked (not deferred) so a failed
            # write is an error here, not the death of the StoreActor.
            try:
                self.store.save_channel_states(states).get(timeout=ASK_TIMEOUT)
            except Exception as e:
                log.error("saving %d channel states failed: %s", len(states), e)
        if changes:
            self.store.record_fee_changes(changes)

        sent_now = {r["scid"] for r in report if r["action"] == "sent"}
        broadcast_fees = {d.scid: d.target_fee_ppm if d.scid in sent_now else chain[d.scid][0]
                          for d in decisions}
        update = FeeStateUpdate(
            now, broadcast_fees,
            probing=frozenset(d.scid for d in decisions if d.mode == "probe"),
            zombies=frozenset(d.scid for d in decisions if d.zombie),
            ignored_peers=frozenset(self.ignored),
            passive_peers=frozenset(p for p, row in self.policies.items()
                                    if row.mode == "passive"))
        for name in ("flow", "rebalance"):
            peer = self.peer(name)
            if peer is not None:
                try:
                    peer.tell(update)
                except pykka.ActorDeadError:
                    pass
        modes: dict[str, int] = {}
        for d in decisions:
            modes[d.mode] = modes.get(d.mode, 0) + 1
        summary = {"channels": len(self.channels), "opened": len(opened), "closed": len(closed),
                   "decided": len(decisions), "modes": modes, "dry_run": dry_run,
                   "updates_24h": len(self.sent), "update_budget_24h": budget, **counts}
        return summary, report

    # -- supervision of channel actors --------------------------------------------------------
    def _channel_failed(self, scid: str, error: str, urn: str | None = None) -> None:
        ref = self.channels.get(scid)
        if ref is None or (urn is not None and ref.actor_urn != urn):
            return  # closed meanwhile, or about an incarnation already replaced
        budget = self.budgets.get(scid) or RestartBudget(
            int(self.config["actor-restart-limit"]), float(self.config["actor-restart-window"]))
        budget, allowed = budget.try_restart(self.last_now)
        self.budgets[scid] = budget
        facts = self.facts.get(scid)
        self.channels.pop(scid, None)
        if not allowed:
            self.degraded[scid] = error
            log.error("channel actor %s crashed beyond its restart budget: %s", scid, error)
            self.tell_parent(ChildDegraded(f"channel:{scid}", error))
            return
        row = self.store.load_channel_state(scid).get(timeout=ASK_TIMEOUT)
        peer_id = facts.peer_id if facts is not None else row.peer_id if row is not None else ""
        self.persisted[scid] = row
        self._start_channel(scid, peer_id)
        self.metrics.actor_restarts.labels("channel").inc()
        log.warning("channel actor %s crashed (%s); restarted from persisted state", scid, error)

    # -- commands ------------------------------------------------------------------------------
    def _channel(self, scid: str) -> pykka.ActorRef[Any]:
        ref = self.channels.get(scid)
        if ref is None:
            known = "" if self.channels else " (no channel known yet: wait for the first cycle)"
            raise RpcError(JSONRPC2_INVALID_PARAMS,
                           f"channel: not an open channel of this node: invalid token "
                           f"'{scid}'{known}")
        return ref

    def _snapshots(self, scid: str | None) -> list[dict[str, Any]]:
        refs = {scid: self._channel(scid)} if scid else dict(self.channels)
        futures = {s: r.proxy().snapshot() for s, r in refs.items()}
        return [futures[s].get(timeout=ASK_TIMEOUT) for s in sorted(futures)]

    def cmd_channels(self, params: Mapping[str, Any], now: float) -> dict[str, Any]:
        return {"channels": self._snapshots(None), "degraded": dict(self.degraded)}

    def cmd_fees(self, params: Mapping[str, Any], now: float) -> dict[str, Any]:
        out = []
        for snap in self._snapshots(params.get("channel")):
            st, d = snap["state"], snap.get("decision") or {}
            facts = self.facts.get(snap["scid"])
            climb, probe = st["climb"], st["probe"]
            out.append({
                "scid": snap["scid"], "peer_id": snap["peer_id"],
                "fee_ppm": facts.fee_ppm if facts else st.get("last_broadcast_fee_ppm"),
                "base_msat": facts.fee_base_msat if facts else st.get("last_broadcast_base_msat"),
                "target_fee_ppm": st.get("target_fee_ppm"),
                "last_broadcast_fee_ppm": st.get("last_broadcast_fee_ppm"),
                "last_broadcast_at": st.get("last_broadcast_at"),
                "mode": st.get("mode"), "reason": st.get("reason"),
                "multipliers": d.get("multipliers", {}),
                "floor_ppm": d.get("floor"), "ceiling_ppm": d.get("ceiling"),
                "next_evaluation": d.get("next_evaluation"),
                "hill_climb": {k: climb.get(k) for k in (
                    "base_ppm", "trend", "step", "improvements", "ref_rate", "ref_fee",
                    "window_fee", "window_start", "window_revenue_msat", "window_forwards")},
                "probe": probe, "override": st.get("override"),
                "zombie": bool(probe.get("zombie")),
                "outbound_ratio": round(facts.outbound_ratio, 4) if facts else None,
            })
        return {"channels": out, "mempool_multiplier": self.mempool.multiplier,
                "dry_run": bool(self.config["dry-run"])}

    def cmd_history(self, params: Mapping[str, Any], now: float) -> dict[str, Any]:
        rows = self.store.fee_history(params.get("channel"), params["limit"]).get(
            timeout=ASK_TIMEOUT)
        return {"history": [dataclasses.asdict(r) for r in rows]}

    def cmd_fee_cycle(self, params: Mapping[str, Any], now: float) -> dict[str, Any]:
        dry = params.get("dry_run")
        dry_run = bool(self.config["dry-run"]) if dry is None else bool(dry)
        summary, report = self.run_cycle(max(now, self.last_now), self.config, dry_run)
        return {"summary": summary, "decisions": report}

    def cmd_set_fee(self, params: Mapping[str, Any], now: float) -> dict[str, Any]:
        scid = params["channel"]
        ref = self._channel(scid)
        facts = self.facts.get(scid)
        if facts is not None and facts.peer_id in self.ignored:
            raise RpcError(JSONRPC2_INVALID_PARAMS,
                           f"channel: {scid}'s peer is ignored (revenue-unignore it first)")
        ttl = params.get("ttl_hours")
        ov = Override(fee_ppm=params["fee_ppm"], base_msat=params.get("base_msat"),
                      expires_at=None if ttl is None else now + ttl * 3600, set_at=now)
        snap = ref.ask(SetOverride(ov), timeout=ASK_TIMEOUT)
        log.info("fee override on %s: %d ppm%s", scid, ov.fee_ppm,
                 "" if ttl is None else f" for {ttl:g} h")
        return {"scid": scid, "override": snap["state"]["override"],
                "applies": "at the next fee cycle"}

    def cmd_unset_fee(self, params: Mapping[str, Any], now: float) -> dict[str, Any]:
        scid = params["channel"]
        snap = self._channel(scid).ask(SetOverride(None), timeout=ASK_TIMEOUT)
        return {"scid": scid, "override": snap["state"]["override"]}

    def cmd_probe(self, params: Mapping[str, Any], now: float) -> dict[str, Any]:
        scid = params["channel"]
        snap = self._channel(scid).ask(StartProbe(now), timeout=ASK_TIMEOUT)
        return {"scid": scid, "probe": snap["state"]["probe"],
                "applies": "at the next fee cycle: 0 ppm until a forward proves it alive"}

    def cmd_policy(self, params: Mapping[str, Any], now: float) -> dict[str, Any]:
        action, peer = params["action"], params.get("peer_id")
        if action == "list":
            return {"default": "dynamic",
                    "policies": [dataclasses.asdict(r) for r in self.policies.values()]}
        if peer is None:
            raise RpcError(JSONRPC2_INVALID_PARAMS,
                           f"peer_id: required for '{action}'; accepted: a node id")
        if action == "get":
            row = self.policies.get(peer)
            return dataclasses.asdict(row) if row else {"peer_id": peer, "mode": "dynamic"}
        if action == "reset":
            self.store.delete_peer_policy(peer).get(timeout=ASK_TIMEOUT)
            self.policies.pop(peer, None)
            return {"peer_id": peer, "mode": "dynamic"}
        mode = params.get("mode")
        if mode is None:
            raise RpcError(JSONRPC2_INVALID_PARAMS,
                           "mode: required for 'set'; accepted: dynamic, static, passive, hive")
        if mode == "static" and params.get("fee_ppm") is None:
            raise RpcError(JSONRPC2_INVALID_PARAMS,
                           "fee_ppm: required for a static policy; accepted: 0 to 100000")
        row = self.store.set_peer_policy(peer, mode, params.get("fee_ppm"),
                                         params.get("base_msat")).get(timeout=ASK_TIMEOUT)
        self.policies[peer] = row
        return dataclasses.asdict(row)

    def cmd_ignore(self, params: Mapping[str, Any], now: float) -> dict[str, Any]:
        row = self.store.ignore_peer(params["peer_id"], params.get("reason") or "").get(
            timeout=ASK_TIMEOUT)
        self.ignored[row.peer_id] = row
        return dataclasses.asdict(row)

    def cmd_unignore(self, params: Mapping[str, Any], now: float) -> dict[str, Any]:
        existed = self.store.unignore_peer(params["peer_id"]).get(timeout=ASK_TIMEOUT)
        self.ignored.pop(params["peer_id"], None)
        return {"peer_id": params["peer_id"], "was_ignored": existed}

    def cmd_list_ignored(self, params: Mapping[str, Any], now: float) -> dict[str, Any]:
        return {"ignored": [dataclasses.asdict(r) for r in self.ignored.values()]}
