"""FeeCoordinator: keeps one ChannelActor per open channel and runs the
fee cycle over them.

Each cycle starts with one ``listpeerchannels`` (filtered to the fields we
use) and reconciles the channel actors with it: an actor is started for a
channel that opened (from its persisted state, if any), and stopped, its
state pruned and its metrics removed, for a channel that closed. Then every
channel gets the same snapshot and answers; the coordinator gathers the
answers (fan out, then gather) and never reaches into a channel's state.

Channel actors are children of this coordinator: a crashed one is restarted
from persisted state within the restart budget, and given up on (reported
upward as degraded) beyond it.
"""

from __future__ import annotations

import logging
from typing import Any, Mapping

import pykka

from actors.channel import ChannelActor, Observe
from actors.coordinator import ASK_TIMEOUT, Coordinator
from actors.messages import ChildDegraded, ChildFailed, Crash, Dependencies
from actors.pool import ActorPool
from revops.channels import LISTPEERCHANNELS_FILTER, ChannelFacts, active, parse_channels
from revops.config import ConfigSnapshot
from revops.metrics import Metrics
from revops.supervision import RestartBudget

log = logging.getLogger("revops.fee")


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
        self.rpc_error_logged = False
        self.last_now = 0.0  # time of the latest tick: restart budgets count in it
        self.commands["revenue-channels"] = self.cmd_channels

    def on_start(self) -> None:
        rows = self.store.load_channel_states().get(timeout=ASK_TIMEOUT)
        self.persisted = {scid: row for scid, row in rows.items()}

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

    # -- reconcile ----------------------------------------------------------------
    def _start_channel(self, facts: ChannelFacts) -> None:
        row = self.persisted.pop(facts.scid, None)
        state = row.state if row is not None else None
        self.channels[facts.scid] = ChannelActor.start_on(
            self.pool, facts.scid, facts.peer_id, state, self.deps.store, self.actor_ref)

    def _stop_channel(self, scid: str, prune: bool) -> None:
        ref = self.channels.pop(scid, None)
        if ref is not None:
            try:
                ref.stop(block=False)
            except pykka.ActorDeadError:
                pass
        self.facts.pop(scid, None)
        self.budgets.pop(scid, None)
        if prune:
            self.degraded.pop(scid, None)
            self.store.delete_channel_state.defer(scid)

    def reconcile(self, open_channels: Mapping[str, ChannelFacts]) -> tuple[list[str], list[str]]:
        opened = [scid for scid in open_channels
                  if scid not in self.channels and scid not in self.degraded]
        closed = [scid for scid in list(self.channels) if scid not in open_channels]
        closed += [scid for scid in list(self.degraded) if scid not in open_channels]
        for scid in opened:
            self._start_channel(open_channels[scid])
            log.info("channel %s opened: actor started", scid)
        for scid in closed:
            self._stop_channel(scid, prune=True)
            log.info("channel %s closed: actor stopped, state pruned", scid)
        self.facts = dict(open_channels)
        return opened, closed

    # -- the cycle --------------------------------------------------------------------
    def cycle(self, now: float, config: ConfigSnapshot, forced: bool) -> Mapping[str, Any]:
        self.last_now = now
        res = self.rpc("listpeerchannels", None, LISTPEERCHANNELS_FILTER)
        if not res.ok:
            if not self.rpc_error_logged:
                log.warning("fee cycle skipped: listpeerchannels failed (%s): %s",
                            res.kind, res.message)
                self.rpc_error_logged = True
            return {"channels": len(self.channels), "skipped": f"listpeerchannels {res.kind}"}
        self.rpc_error_logged = False
        open_channels = active(parse_channels(res.result))
        opened, closed = self.reconcile(open_channels)
        for scid, ref in list(self.channels.items()):
            if not ref.is_alive():  # crashed; its report may still be on its way
                self._channel_failed(scid, "found dead at cycle start")
        answers = gather({scid: ref.ask(Observe(open_channels[scid], now), block=False)
                          for scid, ref in self.channels.items() if ref.is_alive()})
        return {"channels": len(self.channels), "opened": len(opened), "closed": len(closed),
                "observed": len(answers), "degraded_channels": len(self.degraded)}

    # -- supervision of channel actors -------------------------------------------------
    def handle(self, message: Any) -> Any:
        if isinstance(message, ChildFailed) and message.name.startswith("channel:"):
            return self._channel_failed(message.name.split(":", 1)[1], message.error,
                                        message.urn)
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
        if not allowed or facts is None:
            self.degraded[scid] = error
            log.error("channel actor %s crashed beyond its restart budget: %s", scid, error)
            if self.parent is not None:
                self.parent.tell(ChildDegraded(f"channel:{scid}", error))
            return
        row = self.store.load_channel_state(scid).get(timeout=ASK_TIMEOUT)
        self.persisted[scid] = row
        self._start_channel(facts)
        self.metrics.actor_restarts.labels("channel").inc()
        log.warning("channel actor %s crashed (%s); restarted from persisted state", scid, error)

    # -- commands -------------------------------------------------------------------------
    def cmd_channels(self, params: Mapping[str, Any], now: float) -> dict[str, Any]:
        futures = {scid: ref.proxy().snapshot() for scid, ref in self.channels.items()}
        return {"channels": [futures[s].get(timeout=ASK_TIMEOUT) for s in sorted(futures)],
                "degraded": dict(self.degraded)}
