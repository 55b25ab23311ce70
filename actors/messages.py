"""Messages between revops actors: frozen dataclasses, never mutated after
sending (pykka does not copy them).

The exception is a command's ``request`` (pyln's ``Request``): it travels
as a reply handle, and exactly one actor answers it with ``set_result`` or
``set_exception`` (pyln serialises its stdout writes, so any thread may).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import pykka

from revops.config import ConfigSnapshot


@dataclass(frozen=True)
class Tick:
    """Run one cycle at ``now``. ``ack`` (a pykka future) is set when the
    cycle has finished, whatever its outcome. ``schedule`` says which timer
    fired: ``cycle`` (the coordinator's interval) or ``poll`` (a quick look
    the coordinator asked for; see actors/ticker.py)."""

    now: float
    ack: pykka.Future[Any] | None = None
    forced: bool = False
    schedule: str = "cycle"


@dataclass(frozen=True)
class Ping:
    """A barrier: answered once everything queued before it is handled."""


@dataclass(frozen=True)
class ConfigChanged:
    snapshot: ConfigSnapshot


@dataclass(frozen=True)
class Dependencies:
    """The current refs of the shared actors (they change on a restart)."""

    rpc: pykka.ActorRef[Any]
    store: pykka.ActorRef[Any]
    peers: Mapping[str, pykka.ActorRef[Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Crash:
    """Raise in the receiver (dev/test only: proves supervision works)."""

    reason: str = "crash requested"


class CrashRequested(RuntimeError):
    """What an actor raises on :class:`Crash`."""


@dataclass(frozen=True)
class CycleDone:
    """A coordinator reports a finished cycle upward (tell)."""

    name: str
    now: float
    seconds: float
    ok: bool
    summary: Mapping[str, Any]
    error: str | None = None


@dataclass(frozen=True)
class ChildFailed:
    """A child reports its own crash upward from ``on_failure`` (tell)."""

    name: str
    error: str
    urn: str | None = None  # which incarnation crashed: reports about a replaced one are stale


@dataclass(frozen=True)
class ChildDegraded:
    """A parent gave up on one of its children (restart budget spent)."""

    name: str
    error: str


@dataclass(frozen=True)
class Command:
    """A ``revenue-*`` command: already-parsed ``params`` and the pyln
    request to answer. ``now`` is when it arrived."""

    name: str
    params: Mapping[str, Any]
    request: Any
    now: float


@dataclass(frozen=True)
class Notification:
    """A lightningd notification (``forward_event``, ...) and its payload."""

    topic: str
    payload: Mapping[str, Any]
    now: float


@dataclass(frozen=True)
class Advance:
    """Move time to ``now`` and fire what is due. With a ``request`` (the
    simclock protocol) answer it once every fired cycle has finished."""

    now: float
    request: Any = None


# -- between features (tells, sideways between coordinators) -----------------

@dataclass(frozen=True)
class EconomicsUpdate:
    """Flow -> fee and rebalance coordinators after each flow cycle: what
    every channel earned and cost (``revops.fees.alpha.ChannelEconomics`` by
    scid) and per-channel flow figures the rebalancer needs."""

    now: float
    economics: Mapping[str, Any]  # scid -> ChannelEconomics
    flows: Mapping[str, Any] = field(default_factory=dict)  # scid -> ChannelFlow (flow feature)


@dataclass(frozen=True)
class FeeStateUpdate:
    """Fee -> flow and rebalance coordinators after each fee cycle."""

    now: float
    broadcast_fees: Mapping[str, int]  # scid -> last broadcast fee ppm
    probing: frozenset[str] = frozenset()
    zombies: frozenset[str] = frozenset()
    ignored_peers: frozenset[str] = frozenset()
    passive_peers: frozenset[str] = frozenset()


@dataclass(frozen=True)
class RunSoon:
    """Any coordinator -> Supervisor: run ``coordinator`` at the next advance
    (e.g. the mempool reflex asking for an immediate re-price)."""

    coordinator: str
    why: str = ""


@dataclass(frozen=True)
class MempoolState:
    """Mempool -> fee coordinator after each reading."""

    now: float
    multiplier: float
    intensity: float
    rate_perkb: int | None = None
    ratio: float | None = None
    triggered: bool = False


@dataclass(frozen=True)
class RefillCosts:
    """Rebalance -> fee coordinator: what refilling each channel has cost,
    in ppm of the amount moved (the floor when rebalancing is on)."""

    now: float
    ppm: Mapping[str, int]
