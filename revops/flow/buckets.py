"""Daily per-channel buckets and the windows over them (pure).

A forward counts on the UTC day it was received (``received_time``), so
it stays in one bucket when its status changes later. Each channel's
bucket for a day holds both sides of what passed through it:

- as the *outgoing* channel: volume out (``out_msat`` of settled
  forwards), fees earned (``fee_msat`` of settled forwards: revenue is
  earned by the outgoing channel), settled, failed downstream, failed
  locally, and failed locally for lack of liquidity or HTLC slots (demand
  this channel lost);
- as the *incoming* channel: volume in (``in_msat`` of settled forwards),
  settled, failed downstream, failed locally.

A forward that failed before an outgoing channel was known counts on its
incoming channel only. In-flight (``offered``) forwards count nowhere yet.

A window of N days is "the N previous whole UTC days and today so far":
it always covers at least the last N x 24 hours, and its buckets are whole
days. ``window_span_days`` says how many days it really covers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields

DAY = 86400

# Counters of a bucket (and of a window's totals), in storage order.
COUNTERS = ("in_volume_msat", "settled_in", "failed_in", "local_failed_in",
            "out_volume_msat", "fees_msat", "settled_out", "failed_out", "local_failed_out",
            "liquidity_failed_out")
OUT_COUNTERS = COUNTERS[4:]
IN_COUNTERS = COUNTERS[:4]


def day_of(ts: float) -> int:
    """The UTC day number (days since the epoch) of a timestamp."""
    return math.floor(ts / DAY)


def day_start(day: int) -> float:
    return float(day * DAY)


def window_start_day(now: float, days: int) -> int:
    """First day of the window of ``days`` days ending now (see module doc)."""
    return day_of(now) - days


def window_span_days(now: float, days: int) -> float:
    """How many days the window really covers: ``days`` plus today so far."""
    today = day_of(now)
    return days + max(0.0, now - day_start(today)) / DAY


@dataclass(frozen=True)
class Totals:
    """Counters summed over some days (a bucket, or a window)."""

    in_volume_msat: int = 0
    settled_in: int = 0
    failed_in: int = 0
    local_failed_in: int = 0
    out_volume_msat: int = 0
    fees_msat: int = 0
    settled_out: int = 0
    failed_out: int = 0
    local_failed_out: int = 0
    liquidity_failed_out: int = 0

    def __add__(self, other: Totals) -> Totals:
        return Totals(*(a + b for a, b in zip(self.values(), other.values())))

    def values(self) -> tuple[int, ...]:
        return tuple(getattr(self, f) for f in COUNTERS)

    @property
    def settled(self) -> int:
        """Settled forwards through this channel, either way."""
        return self.settled_in + self.settled_out

    @property
    def volume_msat(self) -> int:
        return self.in_volume_msat + self.out_volume_msat

    def as_dict(self) -> dict[str, int]:
        return {f: getattr(self, f) for f in COUNTERS}


ZERO = Totals()
assert tuple(f.name for f in fields(Totals)) == COUNTERS


@dataclass(frozen=True)
class DayBucket:
    """One channel's counters for one UTC day."""

    day: int
    scid: str
    totals: Totals

    def as_row(self) -> tuple[int | str, ...]:
        return (self.day, self.scid, *self.totals.values())


def merge_sides(out_side: Iterable[tuple], in_side: Iterable[tuple]) -> list[DayBucket]:
    """Buckets from the two aggregates over raw forwards: ``out_side`` rows
    are ``(day, scid, *OUT_COUNTERS)`` grouped by outgoing channel,
    ``in_side`` rows ``(day, scid, *IN_COUNTERS)`` by incoming channel."""
    merged: dict[tuple[int, str], list[int]] = {}
    n_in = len(IN_COUNTERS)
    for day, scid, *vals in in_side:
        slot = merged.setdefault((day, scid), [0] * len(COUNTERS))
        slot[:n_in] = [int(v or 0) for v in vals]
    for day, scid, *vals in out_side:
        slot = merged.setdefault((day, scid), [0] * len(COUNTERS))
        slot[n_in:] = [int(v or 0) for v in vals]
    return [DayBucket(day, scid, Totals(*vals)) for (day, scid), vals in sorted(merged.items())]


@dataclass(frozen=True)
class BucketDelta:
    """How a set of buckets changed: per channel (fees, liquidity
    failures) and node-wide per final status. Feeds counters that only go up."""

    fees_msat: Mapping[str, int]
    liquidity_failed: Mapping[str, int]
    forwards: Mapping[str, int]  # settled | failed | local_failed -> change in count

    @property
    def empty(self) -> bool:
        return not (any(self.fees_msat.values()) or any(self.liquidity_failed.values())
                    or any(self.forwards.values()))

    def __add__(self, other: BucketDelta) -> BucketDelta:
        def add(a: Mapping[str, int], b: Mapping[str, int]) -> dict[str, int]:
            out = dict(a)
            for k, v in b.items():
                out[k] = out.get(k, 0) + v
            return out
        return BucketDelta(add(self.fees_msat, other.fees_msat),
                           add(self.liquidity_failed, other.liquidity_failed),
                           add(self.forwards, other.forwards))


NO_DELTA = BucketDelta({}, {}, {})


def _node_counts(t: Totals) -> dict[str, int]:
    # Every forward has an incoming channel: node-wide counts come from that side.
    return {"settled": t.settled_in, "failed": t.failed_in, "local_failed": t.local_failed_in}


def bucket_delta(old: Iterable[DayBucket], new: Iterable[DayBucket]) -> BucketDelta:
    """What replacing ``old`` buckets by ``new`` ones (same days) changes."""
    fees: dict[str, int] = {}
    liq: dict[str, int] = {}
    counts = {"settled": 0, "failed": 0, "local_failed": 0}
    for sign, buckets in ((-1, old), (1, new)):
        for b in buckets:
            t = b.totals
            if t.fees_msat:
                fees[b.scid] = fees.get(b.scid, 0) + sign * t.fees_msat
            if t.liquidity_failed_out:
                liq[b.scid] = liq.get(b.scid, 0) + sign * t.liquidity_failed_out
            for k, v in _node_counts(t).items():
                counts[k] += sign * v
    return BucketDelta({k: v for k, v in fees.items() if v},
                       {k: v for k, v in liq.items() if v},
                       {k: v for k, v in counts.items() if v})


def contiguous_ranges(days: Iterable[int]) -> list[tuple[int, int]]:
    """``{3, 4, 5, 9}`` -> ``[(3, 5), (9, 9)]`` (inclusive ranges)."""
    out: list[tuple[int, int]] = []
    for d in sorted(set(days)):
        if out and d == out[-1][1] + 1:
            out[-1] = (out[-1][0], d)
        else:
            out.append((d, d))
    return out


def window_totals(buckets: Iterable[DayBucket], from_day: int) -> dict[str, Totals]:
    """Per channel, the sum of its buckets from ``from_day`` on."""
    out: dict[str, Totals] = {}
    for b in buckets:
        if b.day >= from_day:
            out[b.scid] = out.get(b.scid, ZERO) + b.totals
    return out
