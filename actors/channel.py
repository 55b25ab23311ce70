"""ChannelActor: one per open channel, holding that channel's fee state
(hill-climb, probe, override, fire sale, what was last broadcast).

A pooled actor (``actors/pool.py``): own mailbox, one message at a time,
supervised alone, but no thread of its own. It never blocks: it answers
the FeeCoordinator's asks from its own state and the snapshot in the
message, applies outcomes told to it, and persists by sending its state to
the StoreActor. The decision logic is ``revops/fees/alpha.py``; this actor
only holds the state between decisions.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any, Mapping

import pykka

from actors.messages import ChildFailed, Crash, CrashRequested
from actors.pool import PooledActor
from revops.fees import alpha
from revops.fees.alpha import Decision, FeeInputs, FeeParams
from revops.fees.state import Override, from_dict, to_dict

log = logging.getLogger("revops.channel")


@dataclass(frozen=True)
class Decide:
    """Decide this channel's fee at ``now`` from one cycle's snapshot."""

    inputs: FeeInputs
    params: FeeParams
    now: float


@dataclass(frozen=True)
class Outcome:
    """What became of the last decision: sent and accepted, sent and failed,
    or not sent (``why``: hysteresis, idempotent, budget, dry_run, ...)."""

    decision: Decision
    sent: bool
    ok: bool
    why: str
    now: float


@dataclass(frozen=True)
class ForwardSeen:
    """A forward that went, or tried to go, out of this channel."""

    status: str
    out_msat: int | None
    fee_msat: int | None
    now: float


@dataclass(frozen=True)
class SetOverride:
    override: Override | None


@dataclass(frozen=True)
class StartProbe:
    now: float


class ChannelActor(PooledActor):
    def __init__(self, scid: str, peer_id: str, state: Mapping[str, Any] | None,
                 store: pykka.ActorRef[Any] | None, parent: pykka.ActorRef[Any] | None) -> None:
        super().__init__()
        self.scid = scid
        self.peer_id = peer_id
        raw = dict(state or {})
        self.cycles = int(raw.get("cycles", 0))
        self.fee = from_dict(raw)
        # The ref, not a proxy: building a proxy introspects the StoreActor,
        # and 5,000 of them cost a fifth of startup. A cycle's states are
        # saved by the coordinator in one batch; a channel saves on its own
        # only after a command changed it.
        self._store = store
        self._parent = parent
        self.last_decision: Decision | None = None

    def set_store(self, store: pykka.ActorRef[Any]) -> None:
        self._store = store

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, Decide):
            return self._decide(message)
        if isinstance(message, Outcome):
            return self._outcome(message)
        if isinstance(message, ForwardSeen):
            self.fee = alpha.observe_forward(self.fee, message.status, message.out_msat,
                                             message.fee_msat, message.now)
            return None
        if isinstance(message, SetOverride):
            self.fee = dataclasses.replace(self.fee, override=message.override)
            self.persist()
            return self.snapshot()
        if isinstance(message, StartProbe):
            probe = dataclasses.replace(self.fee.probe, active=True, since=message.now,
                                        broadcast_at=None, manual=True, zombie=False,
                                        attempts=0)
            self.fee = dataclasses.replace(self.fee, probe=probe)
            self.persist()
            return self.snapshot()
        if isinstance(message, Crash):
            raise CrashRequested(message.reason)
        return super().on_receive(message)

    def _decide(self, msg: Decide) -> Decision:
        self.fee, decision = alpha.decide(self.fee, msg.inputs, msg.params, msg.now)
        self.cycles += 1
        self.last_decision = decision
        return decision

    def _outcome(self, msg: Outcome) -> tuple[str, str, dict[str, Any]]:
        """Apply the outcome; answer the state to persist (the coordinator
        saves a whole cycle's states in one transaction)."""
        d = msg.decision
        if msg.sent and msg.ok:
            self.fee = alpha.on_broadcast(self.fee, d.target_fee_ppm, d.base_msat, msg.now)
        elif msg.sent:
            if not self.fee.broadcast_failing:
                log.warning("setchannel for %s failed; will retry next cycle", self.scid)
            self.fee = alpha.on_broadcast_failed(self.fee)
        return self.scid, self.peer_id, self.state_dict()

    def persist(self) -> None:
        # An ask whose future we drop, not a defer: a failed write (disk
        # full) is then an exception in that future (logged by pykka), not
        # the death of the StoreActor.
        if self._store is not None:
            self._store.proxy().save_channel_state(self.scid, self.peer_id, self.state_dict())

    def state_dict(self) -> dict[str, Any]:
        return {**to_dict(self.fee), "cycles": self.cycles}

    def snapshot(self) -> dict[str, Any]:
        out = {"scid": self.scid, "peer_id": self.peer_id, "state": self.state_dict()}
        if self.last_decision is not None:
            out["decision"] = dataclasses.asdict(self.last_decision)
        return out

    def on_failure(self, exc_type: Any, exc_value: Any, tb: Any) -> None:
        if self._parent is None:
            return
        try:
            self._parent.tell(ChildFailed(f"channel:{self.scid}",
                                          f"{getattr(exc_type, '__name__', exc_type)}: {exc_value}",
                                          self.actor_urn))
        except pykka.ActorDeadError:
            pass  # the coordinator is stopping: nobody left to restart us
