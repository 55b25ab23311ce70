"""Which channels to refill, from which, and how much (pure).

- Demand: what a channel would sell per day with liquidity: its settled
  outbound volume, plus the forwards it failed for lack of liquidity (at
  its average forward size), per day over the last week or the last day,
  whichever is faster.
- Destinations: channels short of outbound liquidity that have demand. The
  outbound they should hold is volume-weighted: the smaller of the capacity
  target (``rebalance-target-ratio``) and 3 days of demand; one holding at
  least half of ``rebalance-min-amount`` less is refilled by the gap, never
  less than ``rebalance-min-amount`` (nor more than it can receive or
  ``rebalance-max-amount``).
- Sources: channels whose outbound is surplus: above what they keep (the
  larger of ``rebalance-source-keep-ratio`` of capacity and 3 days of their
  own demand), so taking it costs them little; the ones whose liquidity earns
  least per msat come first.
- Never: a channel under a zero-fee probe, a zombie, an ignored peer's or a
  ``passive`` one, a disconnected or inactive one, one whose futility
  breaker is open, one already in a job. Every channel left out says why.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from revops.channels import ChannelFacts
from revops.rebalance.bolt7 import times

DAY = 86400.0
DEMAND_DAYS = 3.0
WINDOW_DAYS = 7.0


@dataclass(frozen=True)
class CandidateParams:
    min_amount_msat: int = 50_000_000
    max_amount_msat: int = 1_000_000_000
    target_ratio: float = 0.5
    keep_ratio: float = 0.5

    @classmethod
    def from_config(cls, cfg: Any) -> CandidateParams:
        lo = int(cfg["rebalance-min-amount"]) * 1000
        return cls(min_amount_msat=lo,
                   max_amount_msat=max(lo, int(cfg["rebalance-max-amount"]) * 1000),
                   target_ratio=float(cfg["rebalance-target-ratio"]),
                   keep_ratio=float(cfg["rebalance-source-keep-ratio"]))


@dataclass(frozen=True)
class Exclusions:
    """Channels and peers the rebalancer must not touch now."""

    probing: frozenset[str] = frozenset()
    zombies: frozenset[str] = frozenset()
    ignored_peers: frozenset[str] = frozenset()
    passive_peers: frozenset[str] = frozenset()
    breaker_open: Mapping[str, float] = field(default_factory=dict)  # scid -> open until
    busy: frozenset[str] = frozenset()  # in a job already


@dataclass(frozen=True)
class Destination:
    scid: str
    peer_id: str
    amount_msat: int  # what to move in
    desired_msat: int  # the outbound it should hold
    demand_msat_day: int


@dataclass(frozen=True)
class Source:
    scid: str
    peer_id: str
    surplus_msat: int  # what it can give
    local_msat: int
    demand_msat_day: int
    value_ppm_day: float  # what its liquidity earns per day, ppm of its balance


@dataclass(frozen=True)
class Skip:
    scid: str
    role: str  # destination | source | both
    reason: str


def _rate(volume: int, settled: int, lost: int, span_days: float) -> int:
    if lost and settled:
        volume += lost * (volume // settled)
    return volume * 1000 // max(1, round(span_days * 1000))


def demand_msat_day(flow: Any | None, now: float = 0.0) -> int:
    """A channel's outbound demand per day (``flow``: a ChannelFlow or
    None): the faster of its last day's and last week's rates, so a channel
    whose demand just grew (or a node with little history) is not judged by
    a week of quieter days. The flow feature's windows run from the start of
    the day ``n`` days ago to ``now``."""
    if flow is None:
        return 0
    today = (now % DAY) / DAY

    def get(name: str) -> int:
        return int(getattr(flow, name, 0) or 0)

    week = _rate(get("out_volume_7d_msat"), get("settled_out_7d"),
                 get("liquidity_failed_out_7d"), WINDOW_DAYS + today)
    day = _rate(get("out_volume_1d_msat"), get("settled_out_1d"),
                get("liquidity_failed_out_1d"), 1.0 + today)
    return max(week, day)


def exclusion(c: ChannelFacts, ex: Exclusions, now: float) -> str | None:
    """Why ``c`` may not be rebalanced at all now (None: it may)."""
    if not c.active:
        return f"not active ({c.state})"
    if not c.peer_connected:
        return "peer disconnected"
    if c.peer_id in ex.ignored_peers:
        return "peer ignored"
    if c.peer_id in ex.passive_peers:
        return "peer policy passive"
    if c.scid in ex.probing:
        return "under a zero-fee probe"
    if c.scid in ex.zombies:
        return "zombie"
    until = ex.breaker_open.get(c.scid)
    if until is not None and until > now:
        return f"futility breaker open until {until:.0f}"
    if c.scid in ex.busy:
        return "already in a rebalance job"
    return None


def desired_outbound(c: ChannelFacts, demand: int, p: CandidateParams) -> int:
    """The outbound this channel should hold: the smaller of the capacity
    target and 3 days of its demand."""
    return min(times(c.capacity_msat, p.target_ratio), times(demand, DEMAND_DAYS))


def choose(channels: Iterable[ChannelFacts], flows: Mapping[str, Any], ex: Exclusions,
           p: CandidateParams, now: float) -> tuple[list[Destination], list[Source], list[Skip]]:
    """Destinations (most demand first), sources (cheapest liquidity first),
    and every active channel left out with its reason."""
    dests: list[Destination] = []
    srcs: list[Source] = []
    skips: list[Skip] = []
    for c in channels:
        why = exclusion(c, ex, now)
        if why is not None:
            if c.active:
                skips.append(Skip(c.scid, "both", why))
            continue
        demand = demand_msat_day(flows.get(c.scid), now)
        desired = desired_outbound(c, demand, p)
        keep = max(times(c.capacity_msat, p.keep_ratio), times(demand, DEMAND_DAYS))
        # Half the minimum of hysteresis: a channel hovering at its target
        # is not topped up by a refill every cycle.
        if demand > 0 and c.local_msat + p.min_amount_msat // 2 <= desired:
            room = c.receivable_msat
            amount = min(max(desired - c.local_msat, p.min_amount_msat), p.max_amount_msat,
                         room)
            if amount < p.min_amount_msat:
                skips.append(Skip(c.scid, "destination",
                                  f"short by {desired - c.local_msat} msat but can receive "
                                  f"only {room} msat (min amount {p.min_amount_msat})"))
            else:
                dests.append(Destination(c.scid, c.peer_id, amount, desired, demand))
            continue
        surplus = min(c.local_msat - keep, c.spendable_msat)
        if surplus >= p.min_amount_msat:
            value = (c.fee_ppm * demand / c.local_msat) if c.local_msat else 0.0
            srcs.append(Source(c.scid, c.peer_id, surplus, c.local_msat, demand, value))
        elif demand == 0 and c.local_msat < desired_outbound(c, 1 << 62, p):
            skips.append(Skip(c.scid, "destination", "no demand (no outbound volume, no "
                                                      "forwards failed for liquidity)"))
    dests.sort(key=lambda d: (-d.demand_msat_day, d.scid))
    srcs.sort(key=lambda s: (s.value_ppm_day, -s.surplus_msat, s.scid))
    return dests, srcs, skips
