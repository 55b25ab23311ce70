"""The market anchor: where a channel's hill climb starts, pure.

A channel first seen at CLN's default fee (10 ppm) has never been priced:
starting the climb there means days of climbing towards what the market
pays. Instead the climb starts at the median fee other nodes charge to
forward to the same peer (``listchannels destination=<peer>``, their
channel directions ending at the peer, ours excluded) — the price senders
already compare us with. A channel someone priced already starts at its own
fee.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping

# CLN's defaults: a channel still at them has never been priced by anyone.
CLN_DEFAULT_FEE_PPM = 10
CLN_DEFAULT_BASE_MSAT = 1000
LISTCHANNELS_FILTER: dict[str, Any] = {
    "channels": [{"source": True, "destination": True, "active": True,
                  "fee_per_millionth": True}]}


def market_anchor(entries: Iterable[Mapping[str, Any]], peer_id: str,
                  our_id: str | None) -> int | None:
    """Median ppm of active channel directions into ``peer_id`` from nodes
    other than us; None when nobody else reaches the peer. Fees spread over
    orders of magnitude (roughly lognormal), so with an even count the middle
    is the geometric mean of the two middle fees: with two competitors at 452
    and 1632 ppm the market is near 860, not at either."""
    fees = sorted(int(e["fee_per_millionth"]) for e in entries
                  if e.get("destination") == peer_id and e.get("source") not in (our_id, peer_id)
                  and e.get("active", True) and isinstance(e.get("fee_per_millionth"), int))
    if not fees:
        return None
    n = len(fees)
    if n % 2:
        return fees[n // 2]
    lo, hi = fees[n // 2 - 1], fees[n // 2]
    return math.isqrt(lo * hi) if lo > 0 else (lo + hi) // 2


def unpriced(fee_ppm: int, base_msat: int) -> bool:
    return fee_ppm == CLN_DEFAULT_FEE_PPM and base_msat == CLN_DEFAULT_BASE_MSAT
