"""RebalanceCoordinator: refills the channels that earn, when the refill
pays for itself, within a budget that holds. It owns the jobs; the
decisions are pure (``revops/rebalance/``); only the RpcActor talks to
lightningd and only the StoreActor to the database.

A cycle (``rebalance-interval``):

1. reconcile, once per start and before anything new: every job a previous
   run left open is resolved from ``listsendpays`` (or stopped in sling):
   its cost counted exactly once (the job's end and its reservation's
   settlement are one transaction), never lost; the askrene layer is made;
2. follow the jobs in flight (as every poll does, below);
3. plan: one filtered ``listpeerchannels``, the flow figures
   (``EconomicsUpdate``) and the fee engine's state (``FeeStateUpdate``:
   broadcast fees, probes, zombies; ignored and passive peers from the
   database too) make destinations, sources and their EV
   (``planner.py``); the best plans fill the free slots
   (``rebalance-max-parallel``);
4. native, per plan: ``getroutes`` from the source's peer to the
   destination's peer for the amount plus that peer's own fee towards us
   (from ``listchannels``), within what the EV and the budget allow, in our
   layer (our node disabled); the route's fee is reserved (the most the job
   can cost) in one transaction with the budget check; ``invoice`` to
   ourselves; the job written as ``sending`` *before* ``sendpay``; then
   ``sendpay``, which returns at once;
   sling: the same plan becomes a ``sling-once`` of one payment (pull,
   the refill's amount, our sources as candidates, the max fee as
   ``maxppm``), reserving sling's worst case (``revops/rebalance/sling.py``),
   stopped at the first poll that sees its payment;
5. tell the fee coordinator ``RefillCosts`` (what refilling each channel
   cost, ppm of the amount moved, over 30 days), update the metrics and
   the realized-EV figures.

Polls: while jobs are in flight, each answer asks the Ticker for a poll
``rebalance-poll-interval`` later (``"poll_at"``); a poll looks at each
payment with ``listsendpays payment_hash=...`` (never a blocking
``waitsendpay``: a failed one is read once with ``timeout=0`` for where it
failed), ends the finished jobs (settle or release, ``channel_cost``,
breaker, ``askrene-inform-channel``, ``delinvoice`` of an unpaid invoice),
and releases reservations gone stale: one whose payment lightningd does not
hold in flight after ``rebalance-reservation-timeout``. A payment still
pending is never stale: it can still spend.

On stop (``plugin stop``) every sling job is stopped and deleted (RPC still
works then); when lightningd itself shuts down RPC is refused: what was in
flight is in the database and is reconciled at the next start. Native
payments need nothing at stop: lightningd carries them on.

Dry-run (``--revenue-ops-dry-run`` or ``revenue-rebalance-cycle
dry_run=true``): plans, routes and EV are computed and reported; nothing is
reserved, invoiced or paid.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import pykka

from actors.coordinator import ASK_TIMEOUT, Coordinator
from actors.messages import (
    Dependencies,
    EconomicsUpdate,
    FeeStateUpdate,
    RefillCosts,
    RunSoon,
    Tick,
)
from revops.channels import (
    LISTPEERCHANNELS_FILTER,
    ChannelFacts,
    active,
    parse_channels,
)
from revops.config import ConfigSnapshot
from revops.jsonrpc import RpcError
from revops.metrics import Metrics
from revops.rebalance import breaker, invoice, realized
from revops.rebalance import sling as slingmod
from revops.rebalance.bolt7 import HopPolicy, ppm
from revops.rebalance.breaker import BreakerParams, BreakerState
from revops.rebalance.budget import BudgetParams, Usage, stale
from revops.rebalance.candidates import CandidateParams, Destination, Exclusions
from revops.rebalance.ev import EvParams
from revops.rebalance.planner import Option, Plan, manual, plan
from revops.rebalance.routes import (
    Hop,
    Route,
    RouteError,
    circular,
    remote_hops,
    request,
)
from revops.storage.repos.rebalance import JobRow, NewJob

log = logging.getLogger("revops.rebalance")

LAYER = "revops"
LAYER_REFRESH = 86400.0  # what the layer learned goes stale: start it afresh daily
INVOICE_CLTV = 18
INVOICE_EXPIRY = 3600
REFILL_WINDOW = 30 * 86400.0
REALIZED_LOOKBACK = 31 * 86400.0
PAY_ROUTE_NOT_FOUND = 205
RECENT = 20
LAST_HOP = "the destination peer's own fee"


@dataclass(frozen=True)
class Attempt:
    """What became of one plan in a cycle (for the cycle's report)."""

    dest: str
    source: str | None
    amount_msat: int
    action: str  # started | no_route | refused | budget | dry_run | failed
    reason: str = ""
    max_fee_msat: int = 0
    route_fee_msat: int | None = None
    predicted_ev_msat: int | None = None
    job_id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        out = {"to": self.dest, "from": self.source, "amount_msat": self.amount_msat,
               "action": self.action, "max_fee_msat": self.max_fee_msat}
        if self.reason:
            out["reason"] = self.reason
        if self.route_fee_msat is not None:
            out["route_fee_msat"] = self.route_fee_msat
            out["route_fee_ppm"] = ppm(self.route_fee_msat, self.amount_msat)
        if self.predicted_ev_msat is not None:
            out["predicted_ev_msat"] = self.predicted_ev_msat
        if self.job_id is not None:
            out["job_id"] = self.job_id
        return out


class RebalanceCoordinator(Coordinator):
    name = "rebalance"

    def __init__(self, deps: Dependencies, config: ConfigSnapshot, metrics: Metrics,
                 parent: pykka.ActorRef[Any] | None) -> None:
        super().__init__(deps, config, metrics, parent)
        self.flows: dict[str, Any] = {}
        self.fee_state: FeeStateUpdate | None = None
        self.breakers: dict[str, BreakerState] | None = None
        self.our_id: str | None = None
        self.db_id: str | None = None
        self.reconciled = False
        self.layer_at: float | None = None  # when our askrene layer was (re)made
        self.last_now = 0.0
        self.last_report: dict[str, Any] = {}
        self.last_realized: dict[str, Any] = {}
        self.commands.update({
            "revenue-rebalance": self.cmd_rebalance,
            "revenue-rebalance-status": self.cmd_status,
            "revenue-rebalance-cycle": self.cmd_cycle,
            "revenue-budget": self.cmd_budget,
        })

    @property
    def rm(self) -> Any:
        return self.metrics.rebalance  # type: ignore[attr-defined]

    # -- messages ------------------------------------------------------------------------

    def handle(self, message: Any) -> Any:
        if isinstance(message, EconomicsUpdate):
            self.flows = dict(message.flows)
            return None
        if isinstance(message, FeeStateUpdate):
            self.fee_state = message
            return None
        return super().handle(message)

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, Tick) and message.schedule == "poll":
            return self._poll_tick(message)
        return super().on_receive(message)

    def _poll_tick(self, tick: Tick) -> None:
        summary: dict[str, Any] = {}
        error: BaseException | None = None
        try:
            summary = self.poll(max(tick.now, self.last_now), self.config)
        except Exception as e:  # noqa: BLE001 - answered, then raised (as a cycle's)
            error = e
        if tick.ack is not None:
            tick.ack.set(summary if error is None else {"error": repr(error)})
        if error is not None:
            raise error

    def on_stop(self) -> None:
        """``plugin stop``: stop every sling job (RPC still works). When
        lightningd shuts down the calls are refused; the next start
        reconciles what was in flight."""
        try:
            jobs = self.store.rebalance_open_jobs().get(timeout=10)
        except Exception as e:  # noqa: BLE001 - stopping must not raise
            log.warning("rebalance: open jobs unknown at stop: %s", e)
            return
        for job in jobs:
            if job.mode != "sling":
                continue
            stopped = self._sling_stop(job.dest_scid)
            log.info("rebalance: sling job for %s %s at stop", job.dest_scid,
                     "stopped" if stopped else "could not be stopped (reconciled at the "
                                                "next start)")

    # -- the cycle -------------------------------------------------------------------------

    def cycle(self, now: float, config: ConfigSnapshot, forced: bool) -> Mapping[str, Any]:
        report = self.run_cycle(now, config, bool(config["dry-run"]))
        summary = {k: report[k] for k in ("mode", "dry_run", "in_flight", "started",
                                          "finished", "destinations", "sources")
                   if k in report}
        if "skipped" in report:
            summary["skipped"] = report["skipped"]
        return self._with_poll(summary, now, config)

    def _with_poll(self, summary: dict[str, Any], now: float,
                   config: ConfigSnapshot) -> dict[str, Any]:
        if summary.get("in_flight"):
            interval = float(config["rebalance-poll-interval"])
            if str(config["rebalancer"]) == "sling":
                interval = min(interval, slingmod.POLL_MAX_S)
            summary["poll_at"] = now + interval
        return summary

    def run_cycle(self, now: float, config: ConfigSnapshot, dry_run: bool) -> dict[str, Any]:
        self.last_now = max(self.last_now, now)
        mode = str(config["rebalancer"])
        report: dict[str, Any] = {"now": now, "mode": mode, "dry_run": dry_run}
        if not self.reconcile(now, config):
            report["skipped"] = "reconciliation pending: lightningd unavailable"
            report["in_flight"] = len(self.store.rebalance_open_jobs().get(timeout=ASK_TIMEOUT))
            return report
        polled = self.poll(now, config)
        report["finished"] = polled.get("finished", 0)
        res = self.rpc("listpeerchannels", None, LISTPEERCHANNELS_FILTER)
        if not res.ok:
            report["skipped"] = f"listpeerchannels {res.kind}: {res.message}"
            report["in_flight"] = polled.get("in_flight", 0)
            return report
        channels = active(parse_channels(res.result))
        self._prune_breakers(channels, now)
        open_jobs = self.store.rebalance_open_jobs().get(timeout=ASK_TIMEOUT)
        attempts: list[Attempt] = []
        planning = None
        if mode != "off":
            policies = self._policies()
            planning = plan(channels, self.flows, self._broadcast(), self._exclusions(
                now, open_jobs, policies), CandidateParams.from_config(config),
                EvParams.from_config(config), now, self._fixed_peers(policies),
                realized.losing(self.last_realized) if self.last_realized else None)
            free = int(config["rebalance-max-parallel"]) - len(open_jobs)
            attempts = self._execute(planning.plans, channels, free, now, config, dry_run,
                                     mode)
            report["destinations"] = len(planning.plans)
            report["sources"] = len(planning.sources)
            report["plans"] = [p.as_dict() for p in planning.plans]
            report["source_channels"] = [{"scid": s.scid, "surplus_msat": s.surplus_msat,
                                          "demand_msat_day": s.demand_msat_day}
                                         for s in planning.sources]
            report["skipped_channels"] = [{"scid": s.scid, "role": s.role, "reason": s.reason}
                                          for s in planning.skips]
        report["attempts"] = [a.as_dict() for a in attempts]
        report["started"] = sum(1 for a in attempts if a.action == "started")
        report["in_flight"] = len(self.store.rebalance_open_jobs().get(timeout=ASK_TIMEOUT))
        self._after_cycle(now, config)
        report["budget"] = self._budget(now, config).remaining_msat
        self.last_report = report
        return report

    # -- what the planner needs --------------------------------------------------------------

    def _broadcast(self) -> Mapping[str, int]:
        return dict(self.fee_state.broadcast_fees) if self.fee_state else {}

    def _policies(self) -> Mapping[str, Any]:
        """Per-peer fee policies, read once per cycle or command."""
        return self.store.peer_policies().get(timeout=ASK_TIMEOUT)

    @staticmethod
    def _fixed_peers(policies: Mapping[str, Any]) -> frozenset[str]:
        """Peers whose fee the operator fixed (static or hive policy)."""
        return frozenset(p for p, row in policies.items() if row.mode in ("static", "hive"))

    def _exclusions(self, now: float, open_jobs: list[JobRow], policies: Mapping[str, Any],
                    manual: bool = False) -> Exclusions:
        fs = self.fee_state
        ignored = set(self.store.ignored_peers().get(timeout=ASK_TIMEOUT))
        passive = {p for p, row in policies.items() if row.mode == "passive"}
        if fs is not None:
            ignored |= fs.ignored_peers
            passive |= fs.passive_peers
        # One automatic job per channel at a time; an operator may queue
        # several through the same channels (liquidity is still checked).
        busy = set() if manual else ({j.dest_scid for j in open_jobs}
                                     | {j.source_scid for j in open_jobs})
        return Exclusions(
            probing=fs.probing if fs else frozenset(), zombies=fs.zombies if fs else frozenset(),
            ignored_peers=frozenset(ignored), passive_peers=frozenset(passive),
            breaker_open=breaker.open_until(self._breakers(), now), busy=frozenset(busy))

    def _breakers(self) -> dict[str, BreakerState]:
        if self.breakers is None:
            self.breakers = dict(self.store.rebalance_breakers().get(timeout=ASK_TIMEOUT))
        return self.breakers

    def _breaker_outcome(self, scids: tuple[str, ...], success: bool, now: float,
                         config: ConfigSnapshot) -> None:
        states = self._breakers()
        p = BreakerParams.from_config(config)
        changed = []
        for scid in scids:
            old = states.get(scid, BreakerState(scid))
            new = breaker.record(old, success, now, p)
            if new != old:
                states[scid] = new
                changed.append(new)
                if new.is_open(now) and not old.is_open(now):
                    log.info("rebalance: futility breaker open for %s until %.0f", scid,
                             new.open_until or 0)
        if changed:
            self.store.rebalance_save_breakers(changed, now).get(timeout=ASK_TIMEOUT)

    def _prune_breakers(self, channels: Mapping[str, ChannelFacts], now: float) -> None:
        gone = breaker.prune(self._breakers(), channels)
        if gone:
            for scid in gone:
                self._breakers().pop(scid, None)
            self.store.rebalance_delete_breakers(gone).get(timeout=ASK_TIMEOUT)

    def _budget(self, now: float, config: ConfigSnapshot) -> Usage:
        return self.store.rebalance_budget(now, BudgetParams.from_config(config)).get(
            timeout=ASK_TIMEOUT)

    def _database_id(self) -> str:
        if self.db_id is None:
            self.db_id = self.store.database_id().get(timeout=ASK_TIMEOUT)
        return self.db_id

    def _node_id(self) -> str | None:
        if self.our_id is None:
            res = self.rpc("getinfo", None, {"id": True})
            if res.ok:
                self.our_id = res.result.get("id")
        return self.our_id

    # -- reconciliation and the askrene layer ----------------------------------------------------

    def reconcile(self, now: float, config: ConfigSnapshot) -> bool:
        """Once per start, before anything new: resolve every job a previous
        run left open. False while lightningd cannot be asked."""
        if self.reconciled:
            return True
        if self._node_id() is None:
            return False
        jobs = self.store.rebalance_open_jobs().get(timeout=ASK_TIMEOUT)
        for job in jobs:
            if job.mode == "sling":
                if not self._sling_stop(job.dest_scid):
                    return False
                continue
            if job.state == "reserved":
                # It never reached sendpay: nothing can have been paid.
                self._end(job, False, now, config, reason="abandoned by a previous run "
                                                          "before sendpay", count=False)
        self.reconciled = True
        still = self.poll(now, config, startup=True)
        if jobs:
            log.info("rebalance: reconciled %d job(s) left open by a previous run "
                     "(%d still in flight)", len(jobs), still.get("in_flight", 0))
        return True

    def _ensure_layer(self, now: float) -> bool:
        if self.layer_at is not None and now - self.layer_at < LAYER_REFRESH:
            return True
        us = self._node_id()
        if us is None:
            return False
        listed = self.rpc("askrene-listlayers", {"layer": LAYER})
        if listed.ok and self.layer_at is not None:
            self.rpc("askrene-remove-layer", {"layer": LAYER})
            listed = self.rpc("askrene-listlayers", {"layer": LAYER})
        if not listed.ok:
            made = self.rpc("askrene-create-layer", {"layer": LAYER})
            if not made.ok:
                log.warning("rebalance: askrene-create-layer failed: %s", made.message)
                return False
        dis = self.rpc("askrene-disable-node", {"layer": LAYER, "node": us})
        if not dis.ok:
            log.warning("rebalance: askrene-disable-node failed: %s", dis.message)
            return False
        self.layer_at = now
        return True

    # -- executing plans ------------------------------------------------------------------------

    def _execute(self, plans: tuple[Plan, ...], channels: Mapping[str, ChannelFacts],
                 free: int, now: float, config: ConfigSnapshot, dry_run: bool,
                 mode: str) -> list[Attempt]:
        out: list[Attempt] = []
        used: set[str] = set()
        budget_out = False
        for p in plans:
            if p.refusal is not None:
                out.append(Attempt(p.dest.scid, None, p.dest.amount_msat, "refused", p.refusal))
                self.rm.attempts.labels("refused").inc()
                continue
            if free <= 0 and not dry_run:
                break
            if budget_out:
                out.append(Attempt(p.dest.scid, None, p.dest.amount_msat, "budget",
                                   "budget exhausted"))
                continue
            options = [o for o in p.options if o.source.scid not in used]
            if not options:
                out.append(Attempt(p.dest.scid, None, p.dest.amount_msat, "refused",
                                   "its sources are in use by other refills"))
                continue
            if mode == "sling":
                a = self._start_sling(p, options, channels, now, config, dry_run)
                out.append(a)
            else:
                for o in options:
                    a = self._start_native(p.dest.scid, o, channels, now, config, dry_run,
                                           "auto")
                    out.append(a)
                    if a.action != "no_route" or a.reason.startswith(LAST_HOP):
                        break  # (another source cannot make the last hop cheaper)
            if a.action in ("started", "dry_run"):
                used.add(a.source or "")
                free -= 1
            if a.action == "budget":
                budget_out = True
        return out

    def _remaining(self, now: float, config: ConfigSnapshot) -> int:
        return self._budget(now, config).remaining_msat

    def _last_hop(self, dest: ChannelFacts) -> HopPolicy | None:
        """The destination peer's policy towards us (its fee on our refill)."""
        res = self.rpc("listchannels", {"short_channel_id": dest.scid})
        if res.ok:
            for c in res.result.get("channels") or []:
                if c.get("source") == dest.peer_id:
                    return HopPolicy(int(c.get("base_fee_millisatoshi", 0)),
                                     int(c.get("fee_per_millionth", 0)), int(c.get("delay", 0)))
        # A private channel is not in gossip: its peer's update is in listpeerchannels.
        res = self.rpc("listpeerchannels", {"id": dest.peer_id},
                       {"channels": [{"short_channel_id": True, "updates": {"remote": True}}]})
        if res.ok:
            for c in res.result.get("channels") or []:
                remote = (c.get("updates") or {}).get("remote")
                if c.get("short_channel_id") == dest.scid and remote:
                    return HopPolicy(int(remote.get("fee_base_msat", 0)),
                                     int(remote.get("fee_proportional_millionths", 0)),
                                     int(remote.get("cltv_expiry_delta", 0)))
        return None

    def _route(self, src: ChannelFacts, dest: ChannelFacts, amount: int,
               max_fee: int, now: float) -> Route | str:
        """A circular route within ``max_fee``, or why there is none."""
        us = self._node_id()
        if us is None or not self._ensure_layer(now):
            return "lightningd unavailable (getinfo / askrene layer)"
        last = self._last_hop(dest)
        if last is None:
            return f"no policy known for {dest.peer_id}'s side of {dest.scid}"
        try:
            req = request(src.peer_id, dest.peer_id, amount, max_fee, last, INVOICE_CLTV)
        except RouteError as e:
            return str(e)
        res = self.rpc("getroutes", {
            "source": req.source, "destination": req.destination,
            "amount_msat": req.amount_msat, "layers": [LAYER], "maxfee_msat": req.maxfee_msat,
            "final_cltv": req.final_cltv, "maxparts": 1})
        if not res.ok:
            if res.kind == "error" and res.message and "Unknown layer" in res.message:
                self.layer_at = None
            return f"getroutes: {res.message or res.kind}"
        routes = res.result.get("routes") or []
        if not routes:
            return "getroutes: no route"
        try:
            return circular(routes[0]["path"], us, src.scid, src.peer_id, dest.scid,
                            dest.peer_id, amount, last, INVOICE_CLTV)
        except RouteError as e:
            return str(e)

    def _start_native(self, dest_scid: str, o: Option, channels: Mapping[str, ChannelFacts],
                      now: float, config: ConfigSnapshot, dry_run: bool,
                      origin: str) -> Attempt:
        est = o.estimate
        src, dest = channels[o.source.scid], channels[dest_scid]
        amount = est.amount_msat
        remaining = self._remaining(now, config)
        cap = min(est.max_fee_msat, remaining)
        base = Attempt(dest_scid, src.scid, amount, "refused", max_fee_msat=est.max_fee_msat)
        if cap <= 0 and not dry_run:
            self.rm.attempts.labels("refused").inc()
            return replace(base, action="budget", reason="budget exhausted")
        route = self._route(src, dest, amount, cap if not dry_run else est.max_fee_msat, now)
        if isinstance(route, str):
            if cap < est.max_fee_msat and not dry_run:
                self.rm.attempts.labels("refused").inc()
                return replace(base, action="budget",
                               reason=f"budget: no route within the {cap} msat it has left "
                                      f"({route})")
            self.rm.attempts.labels("no_route").inc()
            return replace(base, action="no_route", reason=route)
        fee = route.fee_msat
        predicted = est.ev_msat(fee)
        if dry_run:
            self.rm.attempts.labels("dry_run").inc()
            return replace(base, action="dry_run", route_fee_msat=fee, predicted_ev_msat=predicted)
        new = NewJob("native", origin, src.scid, dest.scid, amount, fee, est.fee_ppm,
                     est.revenue_msat, predicted)
        job_id, why = self.store.rebalance_reserve(new, now, BudgetParams.from_config(
            config)).get(timeout=ASK_TIMEOUT)
        if job_id is None:
            self.rm.attempts.labels("refused").inc()
            return replace(base, action="budget", reason=why or "budget", route_fee_msat=fee)
        label = invoice.label(self._database_id(), job_id, now)
        inv = self.rpc("invoice", {"amount_msat": amount, "label": label,
                                   "description": f"revops rebalance {src.scid} -> {dest.scid}",
                                   "expiry": INVOICE_EXPIRY, "cltv": INVOICE_CLTV})
        job = self.store.rebalance_job(job_id).get(timeout=ASK_TIMEOUT)
        if not inv.ok:
            self._end(job, False, now, config, reason=f"invoice failed: {inv.message}",
                      count=False)
            return replace(base, action="failed", reason=f"invoice: {inv.message}",
                           job_id=job_id)
        phash = inv.result["payment_hash"]
        # Written before sendpay: a crash from here on leaves a job to reconcile.
        self.store.rebalance_update(job_id, now, state="sending", payment_hash=phash,
                                    label=label, route_fee_msat=fee,
                                    route=json.dumps(route.to_json())).get(timeout=ASK_TIMEOUT)
        sent = self.rpc("sendpay", {"route": route.to_json(), "payment_hash": phash,
                                    "payment_secret": inv.result.get("payment_secret"),
                                    "label": label})
        job = self.store.rebalance_job(job_id).get(timeout=ASK_TIMEOUT)
        if sent.ok:
            self.store.rebalance_update(job_id, now, state="pending").get(timeout=ASK_TIMEOUT)
        elif sent.kind == "error":
            self._end(job, False, now, config, reason=f"sendpay: {sent.message}", phash=phash)
            return replace(base, action="failed", reason=f"sendpay: {sent.message}",
                           route_fee_msat=fee, job_id=job_id)
        # (timeout / unavailable: lightningd may have it; the poll will tell)
        log.info("rebalance: job %d %s -> %s %d msat, route fee %d msat (%d ppm), "
                 "predicted EV %d msat", job_id, src.scid, dest.scid, amount, fee,
                 ppm(fee, amount), predicted)
        return replace(base, action="started", route_fee_msat=fee, predicted_ev_msat=predicted,
                       job_id=job_id)

    def _start_sling(self, p: Plan, options: list[Option], channels: Mapping[str, ChannelFacts],
                     now: float, config: ConfigSnapshot, dry_run: bool,
                     origin: str = "auto") -> Attempt:
        best = options[0].estimate
        dest = channels[p.dest.scid]
        # Sling's payments are unlabelled: each open job gets its own amount.
        taken = [j.amount_msat // 1000 for j in
                 self.store.rebalance_open_jobs().get(timeout=ASK_TIMEOUT) if j.mode == "sling"]
        amount = slingmod.distinct_amount(best.amount_msat // 1000, taken) * 1000
        remaining = self._remaining(now, config)
        job = slingmod.job_for(dest.scid, amount, best.max_fee_msat,
                               [o.source.scid for o in options])
        base = Attempt(dest.scid, options[0].source.scid, amount, "refused",
                       max_fee_msat=best.max_fee_msat)
        while job.reserve_msat > remaining and job.maxppm > 0 and not dry_run:
            job = replace(job, maxppm=job.maxppm * remaining // max(1, job.reserve_msat))
        if job.maxppm <= 0:
            self.rm.attempts.labels("refused").inc()
            return replace(base, action="budget", reason="budget exhausted")
        predicted = best.ev_msat(job.amount_sats * job.maxppm // 1000)
        if dry_run:
            self.rm.attempts.labels("dry_run").inc()
            return replace(base, action="dry_run", predicted_ev_msat=predicted,
                           reason=f"sling-once {job.params()}")
        cursor = self.rpc("wait", {"subsystem": "sendpays", "indexname": "created",
                                   "nextvalue": 0})
        if not cursor.ok:
            return replace(base, action="failed", reason=f"wait sendpays: {cursor.message}")
        new = NewJob("sling", origin, options[0].source.scid, dest.scid, amount,
                     job.reserve_msat, best.fee_ppm, best.revenue_msat, predicted)
        job_id, why = self.store.rebalance_reserve(new, now, BudgetParams.from_config(
            config)).get(timeout=ASK_TIMEOUT)
        if job_id is None:
            self.rm.attempts.labels("refused").inc()
            return replace(base, action="budget", reason=why or "budget")
        self.store.rebalance_update(job_id, now, state="sending", label=f"sling:{dest.scid}",
                                    cursor=int(cursor.result.get("created", 0)),
                                    route_fee_msat=job.reserve_msat).get(timeout=ASK_TIMEOUT)
        went = self.rpc("sling-once", job.params())
        row = self.store.rebalance_job(job_id).get(timeout=ASK_TIMEOUT)
        if not went.ok:
            self._sling_stop(dest.scid)
            self._end(row, False, now, config, reason=f"sling: {went.message}", count=False)
            return replace(base, action="failed", reason=f"sling: {went.message}",
                           job_id=job_id)
        self.store.rebalance_update(job_id, now, state="pending").get(timeout=ASK_TIMEOUT)
        log.info("rebalance: sling job %d for %s: %d sat at most %d ppm from %s", job_id,
                 dest.scid, job.amount_sats, job.maxppm, ",".join(job.candidates))
        return replace(base, action="started", predicted_ev_msat=predicted, job_id=job_id)

    def _sling_stop(self, scid: str) -> bool:
        """Stop and delete our sling job for ``scid`` (gone already is fine)."""
        stop = self.rpc("sling-stop", {"scid": scid})
        delete = self.rpc("sling-deletejob", {"job": scid})
        for r in (stop, delete):
            if not r.ok and r.kind != "error":
                return False  # lightningd or sling unreachable
        return True

    # -- following jobs in flight -----------------------------------------------------------------

    def poll(self, now: float, config: ConfigSnapshot, startup: bool = False) -> dict[str, Any]:
        """Look at every job in flight; end the finished ones."""
        self.last_now = max(self.last_now, now)
        if not self.reconciled and not self.reconcile(now, config):
            return {"in_flight": 1, "error": "lightningd unavailable"}
        jobs = self.store.rebalance_open_jobs().get(timeout=ASK_TIMEOUT)
        finished = 0
        timeout = float(config["rebalance-reservation-timeout"])
        sling_payments: list[Any] | None = None
        for job in jobs:
            if job.mode == "sling":
                if sling_payments is None:
                    cursor = min(j.cursor or 0 for j in jobs if j.mode == "sling")
                    res = self.rpc("listsendpays", {"index": "created", "start": cursor + 1})
                    if not res.ok:
                        continue
                    sling_payments = res.result.get("payments") or []
                finished += self._poll_sling(job, sling_payments, now, config, startup)
                continue
            if job.payment_hash is None:
                if job.state == "reserved" and now - job.created_at >= timeout:
                    self._end(job, False, now, config, reason="stale: never sent", count=False)
                    finished += 1
                continue
            res = self.rpc("listsendpays", {"payment_hash": job.payment_hash})
            if not res.ok:
                continue
            payments = res.result.get("payments") or []
            done = [p for p in payments if p.get("status") == "complete"]
            if done:
                p = done[0]
                fee = int(p.get("amount_sent_msat", 0)) - int(p.get("amount_msat", job.amount_msat))
                self._end(job, True, now, config, fee=fee, moved=int(p.get(
                    "amount_msat", job.amount_msat)), phash=job.payment_hash)
                finished += 1
            elif payments and all(p.get("status") == "failed" for p in payments):
                why, erring = self._failure(job)
                self._end(job, False, now, config, reason=why, phash=job.payment_hash,
                          erring=erring)
                finished += 1
            elif not payments and stale(job.updated_at, now, timeout, in_flight=False):
                self._end(job, False, now, config, phash=job.payment_hash,
                          reason="stale: lightningd holds no payment for it")
                finished += 1
        open_now = self.store.rebalance_open_jobs().get(timeout=ASK_TIMEOUT)
        self.rm.in_flight.set(len(open_now))
        if finished:
            self._set_budget_metrics(now, config)
        return self._with_poll({"in_flight": len(open_now), "finished": finished}, now, config)

    def _failure(self, job: JobRow) -> tuple[str, int | None]:
        """Where a failed payment failed: ``waitsendpay`` on a payment that
        has already failed answers at once, with lightningd's routing
        failure (erring index, channel, failcode)."""
        w = self.rpc("waitsendpay", {"payment_hash": job.payment_hash, "timeout": 0})
        if w.ok:
            return "failed", None
        data = w.data if isinstance(w.data, dict) else {}
        index = data.get("erring_index")
        where = data.get("erring_channel")
        name = data.get("failcodename") or w.message or w.kind
        at = f" at hop {index} ({where})" if index is not None else ""
        return f"payment failed{at}: {name}", index if isinstance(index, int) else None

    def _poll_sling(self, job: JobRow, payments: list[Any], now: float,
                    config: ConfigSnapshot, startup: bool) -> int:
        prog = slingmod.progress(payments, job.dest_scid, job.cursor or 0, self._node_id(),
                                 job.amount_msat)
        why = slingmod.done(prog, job.amount_msat)
        if why is None and (startup or str(config["rebalancer"]) != "sling"):
            why = "stopped: a previous run's job" if startup else "stopped: rebalancer changed"
        if why is None and now - job.created_at >= float(config["rebalance-reservation-timeout"]):
            why = "timed out"
        if why is None:
            return 0
        if not job.reason.startswith("stopping"):
            self._sling_stop(job.dest_scid)
            self.store.rebalance_update(job.id, now, reason=f"stopping: {why}").get(
                timeout=ASK_TIMEOUT)
        if prog.pending:
            return 0  # a payment sling started can still spend: wait for it
        success = prog.succeeded > 0
        if prog.fee_msat > (job.route_fee_msat or job.max_fee_msat):
            log.error("rebalance: sling job %d spent %d msat, more than the %d reserved",
                      job.id, prog.fee_msat, job.route_fee_msat or job.max_fee_msat)
        self._end(job, success, now, config, fee=prog.fee_msat, moved=prog.moved_msat,
                  reason=slingmod.outcome(prog, job.amount_msat, why))
        return 1

    def _end(self, job: JobRow, success: bool, now: float, config: ConfigSnapshot,
             fee: int = 0, moved: int = 0, reason: str = "", phash: str | None = None,
             count: bool = True, erring: int | None = None) -> None:
        """Finish a job (settle or release), once; then learn from it."""
        ended = self.store.rebalance_finish(job.id, now, success, fee, moved, reason).get(
            timeout=ASK_TIMEOUT)
        if ended is None:
            return  # someone ended it already: its cost is counted
        if success:
            self.rm.attempts.labels("succeeded").inc()
            self.rm.spent.inc(fee)
            self.rm.moved.inc(moved)
            log.info("rebalance: job %d refilled %s with %d msat for %d msat (%d ppm)",
                     job.id, job.dest_scid, moved, fee, ppm(fee, max(1, moved)))
        else:
            if count:
                self.rm.attempts.labels("failed").inc()
            log.info("rebalance: job %d (%s -> %s) failed: %s", job.id, job.source_scid,
                     job.dest_scid, reason)
            if job.label and job.mode == "native":
                self.rpc("delinvoice", {"label": job.label, "status": "unpaid"})
        if count:
            self._breaker_outcome((job.dest_scid, job.source_scid), success, now, config)
        if phash is not None and job.mode == "native":
            self._inform(job, success, erring)

    def _inform(self, job: JobRow, success: bool, erring: int | None) -> None:
        """Tell our askrene layer what the payment taught us: on success the
        liquidity it used on each remote hop; on failure, that the hops
        before the failing one passed the amount and the failing one did not."""
        us = self.our_id
        if us is None or not job.route:
            return
        try:
            hops = tuple(Hop(h["id"], h["channel"], int(h["amount_msat"]), int(h["delay"]))
                         for h in json.loads(job.route))
        except (ValueError, KeyError, TypeError):
            return
        if not success and erring is None:
            return
        for index, scidd, amount in remote_hops(Route(hops, job.amount_msat), us):
            if success:
                inform = "succeeded"
            elif erring is not None and index < erring:
                inform = "unconstrained"
            elif index == erring:
                inform = "constrained"
            else:
                continue
            self.rpc("askrene-inform-channel", {"layer": LAYER, "short_channel_id_dir": scidd,
                                                "amount_msat": amount, "inform": inform})

    # -- after a cycle -----------------------------------------------------------------------------

    def _after_cycle(self, now: float, config: ConfigSnapshot) -> None:
        costs = self.store.rebalance_refill_costs(now - REFILL_WINDOW).get(timeout=ASK_TIMEOUT)
        refill = {scid: ppm(fee, moved) for scid, (fee, moved) in costs.items() if moved > 0}
        fee_ref = self.peer("fee")
        if fee_ref is not None:
            try:
                fee_ref.tell(RefillCosts(now, refill))
            except pykka.ActorDeadError:
                pass
        self._set_budget_metrics(now, config)
        self.rm.breakers_open.set(len(breaker.open_until(self._breakers(), now)))
        try:
            self.last_realized = self._realized(now)
        except Exception as e:  # noqa: BLE001 - a report must not stop the rebalancer
            log.warning("rebalance: realized EV not computed: %s", e)
            return
        self.rm.set_realized(self.last_realized.get("total", {}))

    def _set_budget_metrics(self, now: float, config: ConfigSnapshot) -> None:
        usage = self._budget(now, config)
        for w in usage.windows:
            self.rm.budget_remaining.labels(w.name).set(w.remaining_msat)
            self.rm.budget_reserved.set(w.reserved_msat)

    def _realized(self, now: float) -> dict[str, Any]:
        jobs = self.store.rebalance_succeeded_since(now - REALIZED_LOOKBACK).get(
            timeout=ASK_TIMEOUT)
        by_dest: dict[str, list[realized.Refill]] = {}
        for j in jobs:
            by_dest.setdefault(j.dest_scid, []).append(realized.Refill(
                j.id, j.dest_scid, float(j.completed_at or 0), int(j.moved_msat or 0),
                int(j.fee_msat or 0), j.predicted_ev_msat))
        rows: list[realized.Realized] = []
        final: list[tuple[int, str, int]] = []
        known = {j.id: j for j in jobs}
        for scid, refills in by_dest.items():
            first = int(min(r.completed_at for r in refills) // realized.DAY)
            buckets = self.store.flow_channel_buckets(scid, first).get(timeout=ASK_TIMEOUT)
            days = [realized.DayFlow(b.day, b.totals.out_volume_msat, b.totals.fees_msat)
                    for b in buckets]
            for r in realized.credit(refills, days, now):
                rows.append(r)
                j = known[r.job_id]
                if r.complete[7] and j.realized_7d_msat is None:
                    final.append((r.job_id, "realized_7d_msat", r.revenue_msat[7]))
                if r.complete[30] and j.realized_30d_msat is None:
                    final.append((r.job_id, "realized_30d_msat", r.revenue_msat[30]))
        if final:
            self.store.rebalance_set_realized(final).get(timeout=ASK_TIMEOUT)
        return realized.summary(rows)

    # -- commands ---------------------------------------------------------------------------------

    def cmd_rebalance(self, params: Mapping[str, Any], now: float) -> dict[str, Any]:
        now = max(now, self.last_now)
        config = self.config
        mode = str(config["rebalancer"])
        if mode == "off":
            raise RpcError(-1, "the rebalancer is off (--revenue-ops-rebalancer=off)")
        if not self.reconcile(now, config):
            raise RpcError(-1, "lightningd is unavailable: jobs of a previous run are not "
                               "reconciled yet; nothing was started")
        res = self.rpc("listpeerchannels", None, LISTPEERCHANNELS_FILTER)
        if not res.ok:
            raise RpcError(-1, f"listpeerchannels failed ({res.kind}): {res.message}")
        channels = active(parse_channels(res.result))
        open_jobs = self.store.rebalance_open_jobs().get(timeout=ASK_TIMEOUT)
        policies = self._policies()
        option = manual(channels, self.flows, self._broadcast(),
                        self._exclusions(now, open_jobs, policies, manual=True), params["from"],
                        params["to"], int(params["amount_sats"]) * 1000,
                        params.get("max_fee_ppm"), EvParams.from_config(config), now,
                        self._fixed_peers(policies))
        dry_run = bool(config["dry-run"])
        if mode == "sling":
            d = channels[params["to"]]
            amount = option.estimate.amount_msat
            p = Plan(Destination(d.scid, d.peer_id, amount, d.local_msat + amount, 0), (option,))
            a = self._start_sling(p, [option], channels, now, config, dry_run, "manual")
        else:
            a = self._start_native(params["to"], option, channels, now, config, dry_run,
                                   "manual")
        out = {"mode": mode, "dry_run": dry_run, "estimate": option.estimate.as_dict(),
               **a.as_dict()}
        if a.action not in ("started", "dry_run"):
            raise RpcError(-1, f"not started ({a.action}): {a.reason}", out)
        if a.action == "started":
            # Polls are asked for in a tick's answer: have a cycle run at the
            # next advance, whose answer asks for them.
            self.tell_parent(RunSoon(self.name, "a manual refill is in flight"))
        return out

    def cmd_cycle(self, params: Mapping[str, Any], now: float) -> dict[str, Any]:
        dry = params.get("dry_run")
        dry_run = bool(self.config["dry-run"]) if dry is None else bool(dry)
        report = self.run_cycle(max(now, self.last_now), self.config, dry_run)
        return report

    def cmd_budget(self, params: Mapping[str, Any], now: float) -> dict[str, Any]:
        now = max(now, self.last_now)
        usage = self._budget(now, self.config)
        return {"now": now, "remaining_msat": usage.remaining_msat,
                "windows": [w.as_dict() for w in usage.windows]}

    def cmd_status(self, params: Mapping[str, Any], now: float) -> dict[str, Any]:
        now = max(now, self.last_now)
        usage = self._budget(now, self.config)
        open_jobs = self.store.rebalance_open_jobs().get(timeout=ASK_TIMEOUT)
        recent = self.store.rebalance_recent(params.get("limit") or RECENT).get(
            timeout=ASK_TIMEOUT)
        totals = self.store.rebalance_totals().get(timeout=ASK_TIMEOUT)
        states = self._breakers()
        return {
            "mode": str(self.config["rebalancer"]), "dry_run": bool(self.config["dry-run"]),
            "reconciled": self.reconciled,
            "in_flight": [_job_view(j) for j in open_jobs],
            "recent": [_job_view(j) for j in recent],
            "totals": totals,
            "breaker": {"open": {s: t for s, t in breaker.open_until(states, now).items()},
                        "failing": {s.scid: s.failures for s in states.values() if s.failures}},
            "budget": {"remaining_msat": usage.remaining_msat,
                       "windows": [w.as_dict() for w in usage.windows]},
            "realized": self._realized(now),
            "last_cycle": {k: v for k, v in self.last_report.items()
                           if k in ("now", "mode", "dry_run", "destinations", "sources",
                                    "started", "attempts", "skipped")},
        }


def _job_view(j: JobRow) -> dict[str, Any]:
    out = {"id": j.id, "state": j.state, "mode": j.mode, "origin": j.origin,
           "from": j.source_scid, "to": j.dest_scid, "amount_msat": j.amount_msat,
           "created_at": j.created_at, "predicted_ev_msat": j.predicted_ev_msat,
           "dest_fee_ppm": j.dest_fee_ppm}
    for k in ("route_fee_msat", "fee_msat", "moved_msat", "payment_hash", "completed_at",
              "realized_7d_msat", "realized_30d_msat"):
        v = getattr(j, k)
        if v is not None:
            out[k] = v
    if j.reserved_msat:
        out["reserved_msat"] = j.reserved_msat
    if j.reason:
        out["reason"] = j.reason
    return out
