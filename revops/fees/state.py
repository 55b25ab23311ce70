"""A channel's fee state: what its ChannelActor holds and persists
(hill-climb, probe, override, fire sale, what was last broadcast).

Immutable values; every change makes a new one (``dataclasses.replace``).
``to_dict``/``from_dict`` give the JSON-safe form stored in the
``channel_state`` table: fees and amounts stay integers, a field missing in
an older stored state takes its default, so the format can grow.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping

STATE_VERSION = 2
RECENT_AMOUNTS = 32  # outbound amounts remembered, for "what forwards need"


@dataclass(frozen=True)
class Climb:
    """Perturb-and-observe state. ``base_ppm`` is the climb's own fee before
    the scarcity/profitability multipliers; the observation window measures
    what the channel earns while the climb is at ``window_base``."""

    base_ppm: int | None = None
    trend: int = 1  # +1 up, -1 down
    step: float = 0.2  # relative step
    improvements: int = 0  # consecutive improvements (momentum)
    ref_rate: float | None = None  # score (ppm/hour) of the previous base's window
    ref_var: float | None = None
    ref_fee: int | None = None  # the previous base
    window_base: int | None = None  # the base this window measures
    window_fee: int | None = None  # the fee last broadcast during it
    window_start: float | None = None
    window_revenue_msat: int = 0
    window_forwards: int = 0
    window_ppm_sum: float = 0.0  # sum of the ppm each settled forward paid
    evaluated_at: float | None = None  # last evaluation of the current window


@dataclass(frozen=True)
class Probe:
    """The zero-fee probe ("defibrillator") for a channel that seems dead."""

    active: bool = False
    since: float | None = None
    broadcast_at: float | None = None  # when the zero fee went out: proof must come after
    attempts: int = 0  # failed attempts (timed out without a forward)
    last_success: float | None = None
    zombie: bool = False
    manual: bool = False


@dataclass(frozen=True)
class Override:
    """A pinned fee (``revenue-set-fee``, or a hive signal) until ``expires_at``."""

    fee_ppm: int
    base_msat: int | None = None
    expires_at: float | None = None  # None: until removed
    source: str = "manual"  # manual | hive
    set_at: float = 0.0

    def active(self, now: float) -> bool:
        return self.expires_at is None or now < self.expires_at


@dataclass(frozen=True)
class FireSale:
    day: int = -1  # UTC day number the counter belongs to
    sold_msat: int = 0


@dataclass(frozen=True)
class FeeState:
    climb: Climb = field(default_factory=Climb)
    probe: Probe = field(default_factory=Probe)
    override: Override | None = None
    fire_sale: FireSale = field(default_factory=FireSale)
    target_fee_ppm: int | None = None
    last_broadcast_fee_ppm: int | None = None
    last_broadcast_base_msat: int | None = None
    last_broadcast_at: float | None = None
    scarcity: float = 1.0  # the scarcity multiplier in force (held between evaluations)
    mode: str = "new"
    reason: str = ""
    decided_at: float | None = None
    broadcast_failing: bool = False  # the last setchannel failed (logged once)
    first_seen: float | None = None
    last_outbound_at: float | None = None  # last settled forward out of this channel
    recent_amounts: tuple[int, ...] = ()
    liquidity_failures: tuple[float, ...] = ()  # times of local_failed on this channel


def _fields(obj: Any) -> dict[str, Any]:
    # Shallow: every field of these dataclasses is a plain value. (asdict
    # deep-copies recursively and cost a fifth of a fee cycle at 1,000 channels.)
    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}


def to_dict(state: FeeState) -> dict[str, Any]:
    out = _fields(state)
    out["climb"] = _fields(state.climb)
    out["probe"] = _fields(state.probe)
    out["fire_sale"] = _fields(state.fire_sale)
    out["override"] = None if state.override is None else _fields(state.override)
    out["recent_amounts"] = list(state.recent_amounts)
    out["liquidity_failures"] = list(state.liquidity_failures)
    out["version"] = STATE_VERSION
    return out


def _build(cls: Any, raw: Mapping[str, Any] | None) -> Any:
    if not isinstance(raw, Mapping):
        return cls()
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in raw.items() if k in names})


def from_dict(raw: Mapping[str, Any] | None) -> FeeState:
    """A stored state back; tolerant of older or partial dicts."""
    if not raw:
        return FeeState()
    override = raw.get("override")
    return FeeState(
        climb=_build(Climb, raw.get("climb")),
        probe=_build(Probe, raw.get("probe")),
        override=_build(Override, override) if isinstance(override, Mapping) else None,
        fire_sale=_build(FireSale, raw.get("fire_sale")),
        target_fee_ppm=raw.get("target_fee_ppm"),
        last_broadcast_fee_ppm=raw.get("last_broadcast_fee_ppm"),
        last_broadcast_base_msat=raw.get("last_broadcast_base_msat"),
        last_broadcast_at=raw.get("last_broadcast_at"),
        scarcity=float(raw.get("scarcity", 1.0)),
        mode=str(raw.get("mode", "new")),
        reason=str(raw.get("reason", "")),
        decided_at=raw.get("decided_at"),
        broadcast_failing=bool(raw.get("broadcast_failing", False)),
        first_seen=raw.get("first_seen"),
        last_outbound_at=raw.get("last_outbound_at"),
        recent_amounts=tuple(int(a) for a in raw.get("recent_amounts") or ()),
        liquidity_failures=tuple(float(t) for t in raw.get("liquidity_failures") or ()),
    )
