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

Buckets are kept by difference: when a page of forwards is stored, each
forward adds what it counts for and takes back what its previous stored
version counted for (:func:`page_changes`), in the page's transaction.
:func:`from_groups` computes the same buckets from scratch (from the raw
rows grouped in SQL): the reference the incremental ones must equal.

A window of N days is "the N previous whole UTC days and today so far":
it always covers at least the last N x 24 hours, and its buckets are whole
days. ``window_span_days`` says how many days it really covers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields

DAY = 86400

# Counters of a bucket (and of a window's totals), in storage order.
COUNTERS = ("in_volume_msat", "settled_in", "failed_in", "local_failed_in",
            "out_volume_msat", "fees_msat", "settled_out", "failed_out", "local_failed_out",
            "liquidity_failed_out")


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


# Statuses as stored (lightningd's wallet numbering, see forwards.py), and
# the failcode of a local failure for lack of liquidity or slots.
_SETTLED, _FAILED, _LOCAL_FAILED = 1, 2, 3
_TEMPORARY_CHANNEL_FAILURE = 0x1007


def from_groups(groups: Iterable[Sequence]) -> list[DayBucket]:
    """Per-channel day buckets from forwards grouped by
    ``(day, in_channel, out_channel, status, liquidity_failure)``, each
    group given as that key followed by ``count, sum(in_msat),
    sum(out_msat), sum(fee_msat)``. Every forward counts on its incoming
    channel, and on its outgoing channel when it has one; in-flight
    (``offered``) forwards count nowhere."""
    acc: dict[tuple[int, str], list[int]] = {}
    width = len(COUNTERS)
    for day, in_ch, out_ch, status, liq, n, in_sum, out_sum, fee_sum in groups:
        n = int(n or 0)
        if status not in (_SETTLED, _FAILED, _LOCAL_FAILED) or n == 0:
            continue
        slot = acc.get((day, in_ch))
        if slot is None:
            slot = acc[(day, in_ch)] = [0] * width
        if status == _SETTLED:
            slot[0] += int(in_sum or 0)
            slot[1] += n
        elif status == _FAILED:
            slot[2] += n
        else:
            slot[3] += n
        if out_ch is None:
            continue
        slot = acc.get((day, out_ch))
        if slot is None:
            slot = acc[(day, out_ch)] = [0] * width
        if status == _SETTLED:
            slot[4] += int(out_sum or 0)
            slot[5] += int(fee_sum or 0)
            slot[6] += n
        elif status == _FAILED:
            slot[7] += n
        else:
            slot[8] += n
            if liq:
                slot[9] += n
    return [DayBucket(day, scid, Totals(*vals)) for (day, scid), vals in sorted(acc.items())]


Changes = dict[tuple[int, str], list[int]]  # (day, scid) -> counter changes, COUNTERS order


def add_row(acc: Changes, row: Sequence, sign: int = 1) -> None:
    """Add (or with ``sign`` -1 take back) what one stored forward row
    (``forwards.ROW_FIELDS`` order) counts for in its day's buckets."""
    status = row[7]
    if status not in (_SETTLED, _FAILED, _LOCAL_FAILED):
        return
    day = math.floor(row[9] / DAY)
    width = len(COUNTERS)
    key = (day, row[2])
    slot = acc.get(key)
    if slot is None:
        slot = acc[key] = [0] * width
    if status == _SETTLED:
        slot[0] += sign * row[4]
        slot[1] += sign
    elif status == _FAILED:
        slot[2] += sign
    else:
        slot[3] += sign
    out = row[3]
    if out is None:
        return
    key = (day, out)
    slot = acc.get(key)
    if slot is None:
        slot = acc[key] = [0] * width
    if status == _SETTLED:
        slot[4] += sign * (row[5] or 0)
        slot[5] += sign * (row[6] or 0)
        slot[6] += sign
    elif status == _FAILED:
        slot[7] += sign
    else:
        slot[8] += sign
        if row[8] == _TEMPORARY_CHANNEL_FAILURE:
            slot[9] += sign


def page_changes(rows: Iterable[Sequence], stored: Mapping[int, Sequence],
                 from_day: int = 0) -> Changes:
    """What storing ``rows`` changes in the buckets, given the versions of
    them already ``stored`` (by created_index). A stored version newer than
    the listed one is kept (the store never goes back), so it changes
    nothing; days before ``from_day`` are final and never change."""
    acc: Changes = {}
    for row in rows:
        old = stored.get(row[0])
        if old is not None:
            if (old[1] or 0) > (row[1] or 0):
                continue
            if math.floor(old[9] / DAY) >= from_day:
                add_row(acc, old, -1)
        if math.floor(row[9] / DAY) >= from_day:
            add_row(acc, row, 1)
    return {k: v for k, v in acc.items() if any(v)}


@dataclass(frozen=True)
class BucketDelta:
    """How the buckets changed: per channel (fees, liquidity failures) and
    node-wide per final status. Feeds counters that only go up."""

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


def delta_of(changes: Changes) -> BucketDelta:
    fees: dict[str, int] = {}
    liq: dict[str, int] = {}
    counts = {"settled": 0, "failed": 0, "local_failed": 0}
    for (_, scid), v in changes.items():
        if v[5]:
            fees[scid] = fees.get(scid, 0) + v[5]
        if v[9]:
            liq[scid] = liq.get(scid, 0) + v[9]
        # Every forward has an incoming channel: node-wide counts come from that side.
        counts["settled"] += v[1]
        counts["failed"] += v[2]
        counts["local_failed"] += v[3]
    return BucketDelta({k: v for k, v in fees.items() if v}, {k: v for k, v in liq.items() if v},
                       {k: v for k, v in counts.items() if v})


def bucket_delta(old: Iterable[DayBucket], new: Iterable[DayBucket]) -> BucketDelta:
    """What replacing ``old`` buckets by ``new`` ones (same days) changes."""
    acc: Changes = {}
    for sign, buckets in ((-1, old), (1, new)):
        for b in buckets:
            slot = acc.setdefault((b.day, b.scid), [0] * len(COUNTERS))
            for i, v in enumerate(b.totals.values()):
                slot[i] += sign * v
    return delta_of(acc)


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
