"""ChannelActor: one per open channel, holding that channel's state.

A pooled actor (``actors/pool.py``): own mailbox, one message at a time,
supervised alone, but no thread of its own. It never blocks: it answers
the FeeCoordinator's asks from its own state and the snapshot in the
message, and persists its state by telling the StoreActor.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Mapping

import pykka

from actors.messages import ChildFailed, Crash, CrashRequested
from actors.pool import PooledActor
from revops.channels import ChannelFacts

log = logging.getLogger("revops.channel")


@dataclass(frozen=True)
class Observe:
    """The channel's facts at ``now``: update and persist what changed."""

    facts: ChannelFacts
    now: float


class ChannelActor(PooledActor):
    def __init__(self, scid: str, peer_id: str, state: Mapping[str, Any] | None,
                 store: pykka.ActorRef[Any] | None, parent: pykka.ActorRef[Any] | None) -> None:
        super().__init__()
        self.scid = scid
        self.peer_id = peer_id
        self.state: dict[str, Any] = dict(state or {})
        self.state.setdefault("version", 1)
        self._store = store.proxy() if store is not None else None
        self._parent = parent
        self.facts: ChannelFacts | None = None

    def set_store(self, store: pykka.ActorRef[Any]) -> None:
        self._store = store.proxy()

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, Observe):
            return self._observe(message)
        if isinstance(message, Crash):
            raise CrashRequested(message.reason)
        return super().on_receive(message)

    def _observe(self, msg: Observe) -> dict[str, Any]:
        self.facts = msg.facts
        first = "first_seen" not in self.state
        self.state.setdefault("first_seen", msg.now)
        self.state["last_seen"] = msg.now
        self.state["observations"] = int(self.state.get("observations", 0)) + 1
        self.persist()
        return {"scid": self.scid, "first": first, "observations": self.state["observations"]}

    def persist(self) -> None:
        # An ask whose future we drop, not a defer: a failed write (disk
        # full) is then an exception in that future (logged by pykka), not
        # the death of the StoreActor.
        if self._store is not None:
            self._store.save_channel_state(self.scid, self.peer_id, dict(self.state))

    def snapshot(self) -> dict[str, Any]:
        return {"scid": self.scid, "peer_id": self.peer_id, "state": dict(self.state)}

    def on_failure(self, exc_type: Any, exc_value: Any, tb: Any) -> None:
        if self._parent is not None:
            self._parent.tell(ChildFailed(f"channel:{self.scid}",
                                          f"{getattr(exc_type, '__name__', exc_type)}: {exc_value}",
                                          self.actor_urn))
