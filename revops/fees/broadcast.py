"""Which fee decisions become a ``setchannel`` this cycle, pure.

Every changed ``setchannel`` signs and broadcasts a ``channel_update`` that
the whole network relays and rate-limits, so a fee is broadcast only when
it matters:

- idempotency: never when the target is what the channel already has;
- hysteresis: not when the change is within ``fee-hysteresis`` of the last
  *broadcast* fee (the internal target moves anyway);
- same-peer bound: channels to one peer are priced each on its own data, but
  none more than ``sibling-undercut-max`` below the dearest of them (CLN
  forwards over any channel to the peer, so the cheapest one sets the price);
- the node-wide gossip budget (``max-fee-updates-per-day``, over a sliding
  24 h): when more channels want an update than it allows, the ones with the
  largest expected revenue effect go first. Emergencies (congestion, a
  probe starting or ending, the operator's word) always pass;
- the budget is also spread over the day: one cycle sends at most twice its
  share of the daily budget (never fewer than ``MIN_BURST``), so a node of
  thousands of channels that re-prices many at once (its first cycle, a
  change of market) does it over a few cycles, largest effect first, and no
  cycle is held up by thousands of ``setchannel`` calls.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

from revops.fees.alpha import Decision

DAY = 86400.0
AUTO_UPDATES_PER_CHANNEL = 4


@dataclass(frozen=True)
class Planned:
    decision: Decision
    send: bool
    why: str  # "emergency" | "changed" | "idempotent" | "hysteresis" | "budget" | "untouched"


def wants_broadcast(d: Decision, chain_fee: int, chain_base: int,
                    last_broadcast: int | None, hysteresis: float) -> tuple[bool, str]:
    if not d.touch:
        return False, "untouched"
    if d.target_fee_ppm == chain_fee and d.base_msat == chain_base:
        return False, "idempotent"
    if d.emergency or d.base_msat != chain_base:
        return True, "emergency" if d.emergency else "changed"
    ref = last_broadcast if last_broadcast is not None else chain_fee
    if ref == 0:
        return True, "changed"
    if abs(d.target_fee_ppm - ref) / ref <= hysteresis:
        return False, "hysteresis"
    return True, "changed"


def bound_siblings(decisions: Sequence[Decision], peer_of: Mapping[str, str],
                   max_undercut: float) -> list[Decision]:
    """Raise hill-climbed fees that undercut a sibling channel (same peer)
    by more than ``max_undercut``; other modes are left alone."""
    by_peer: dict[str, list[Decision]] = {}
    for d in decisions:
        if d.touch and d.mode == "hill_climb":
            by_peer.setdefault(peer_of.get(d.scid, d.scid), []).append(d)
    raised: dict[str, Decision] = {}
    for group in by_peer.values():
        if len(group) < 2:
            continue
        top = max(d.target_fee_ppm for d in group)
        least = math.ceil(top * (1 - max_undercut))
        for d in group:
            if d.target_fee_ppm < least:
                fee = min(d.ceiling, least)
                raised[d.scid] = dataclasses.replace(
                    d, target_fee_ppm=fee,
                    reason=f"{d.reason}; raised to {fee} ppm: within "
                           f"{max_undercut:.0%} of a sibling channel at {top} ppm")
    return [raised.get(d.scid, d) for d in decisions]


MIN_BURST = 1000


def daily_budget(configured: int, channels: int) -> int:
    return configured if configured > 0 else AUTO_UPDATES_PER_CHANNEL * max(1, channels)


def cycle_burst(budget_per_day: int, interval_s: float) -> int:
    """Non-emergency updates one cycle may send: twice its share of the day's budget."""
    return max(MIN_BURST, math.ceil(2 * budget_per_day * interval_s / DAY))


def recent(sent: Iterable[float], now: float) -> tuple[float, ...]:
    return tuple(t for t in sent if now - t < DAY)


def plan(decisions: Sequence[Decision], chain: Mapping[str, tuple[int, int]],
         last_broadcast: Mapping[str, int | None], hysteresis: float,
         budget_per_day: int, sent: Iterable[float], now: float,
         burst: int | None = None) -> list[Planned]:
    """Decide, for every decision, whether a ``setchannel`` goes out now.
    ``chain`` is each channel's current (fee_ppm, base_msat); ``sent`` the
    times of updates already broadcast; ``burst`` the most non-emergency
    updates this cycle may send (None: no per-cycle limit)."""
    remaining = budget_per_day - len(recent(sent, now))
    this_cycle = burst if burst is not None else math.inf
    wanted: list[Decision] = []
    result: dict[str, Planned] = {}
    for d in decisions:
        fee, base = chain[d.scid]
        send, why = wants_broadcast(d, fee, base, last_broadcast.get(d.scid), hysteresis)
        if not send:
            result[d.scid] = Planned(d, False, why)
        elif d.emergency:
            result[d.scid] = Planned(d, True, why)
            remaining -= 1
        else:
            wanted.append(d)
    # Largest expected effect first; the fee change breaks ties, then the scid.
    wanted.sort(key=lambda d: (-d.expected_effect_msat_day,
                               -abs(d.target_fee_ppm - chain[d.scid][0]), d.scid))
    for d in wanted:
        if remaining > 0 and this_cycle > 0:
            result[d.scid] = Planned(d, True, "changed")
            remaining -= 1
            this_cycle -= 1
        else:
            result[d.scid] = Planned(d, False, "budget")
    return [result[d.scid] for d in decisions]
