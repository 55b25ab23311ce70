"""Did it pay? Realized against predicted EV of completed refills (pure).

A refill of ``amount`` into a channel is credited with the fees the channel
earned selling the *first* ``amount`` msat of outbound volume after it
settled (liquidity is sold once), within 7 and within 30 days. Refills into
the same channel take the volume after them first come, first served, so
one forward is never credited twice. Volume and fees come from the flow
feature's daily buckets; the day a refill settled counts only for the part
of the day after it. Realized EV = credited revenue - the refill's fee;
predicted EV is what the planner expected (over its horizon). A channel
whose closed 7-day windows lost money is not refilled again (``losing``).

A window still open is reported with ``complete: false``: its figure only
grows until the window closes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

DAY = 86400.0
WINDOWS = (7, 30)


@dataclass(frozen=True)
class DayFlow:
    day: int  # UTC day number
    out_volume_msat: int
    fees_msat: int


@dataclass(frozen=True)
class Refill:
    job_id: int
    scid: str
    completed_at: float
    amount_msat: int
    fee_msat: int
    predicted_ev_msat: int


@dataclass(frozen=True)
class Realized:
    job_id: int
    scid: str
    fee_msat: int
    predicted_ev_msat: int
    revenue_msat: Mapping[int, int]  # window days -> credited revenue
    complete: Mapping[int, bool]

    def ev_msat(self, window: int) -> int:
        return self.revenue_msat[window] - self.fee_msat


def credit(refills: Sequence[Refill], days: Iterable[DayFlow], now: float) -> list[Realized]:
    """Credit one channel's refills with the revenue the volume after them earned."""
    order = sorted(refills, key=lambda r: (r.completed_at, r.job_id))
    left = {r.job_id: r.amount_msat for r in order}
    earned = {r.job_id: {w: 0 for w in WINDOWS} for r in order}
    for d in sorted(days, key=lambda d: d.day):
        if d.out_volume_msat <= 0:
            continue
        start, end = d.day * DAY, (d.day + 1) * DAY
        volume = d.out_volume_msat
        for r in order:
            if r.completed_at >= end or left[r.job_id] <= 0:
                continue
            age_days = (start - r.completed_at) / DAY
            if age_days >= max(WINDOWS):
                continue
            # The settle day: only what flowed after the refill is its to sell.
            usable = d.out_volume_msat
            if r.completed_at > start:
                usable = usable * int(end - r.completed_at) // int(DAY)
            take = min(left[r.job_id], usable, volume)
            if take <= 0:
                continue
            volume -= take
            left[r.job_id] -= take
            fees = d.fees_msat * take // d.out_volume_msat
            for w in WINDOWS:
                if age_days < w:
                    earned[r.job_id][w] += fees
            if volume <= 0:
                break
    return [Realized(r.job_id, r.scid, r.fee_msat, r.predicted_ev_msat, earned[r.job_id],
                     {w: now >= r.completed_at + w * DAY for w in WINDOWS}) for r in order]


LOSING_AFTER = 2  # refills whose 7-day window closed, before a channel can be judged


def summary(rows: Iterable[Realized]) -> dict[str, object]:
    """Per channel and in total: predicted vs realized EV, per window."""
    per: dict[str, dict[str, int]] = {}
    total = {"refills": 0, "fee_msat": 0, "predicted_ev_msat": 0}
    for w in WINDOWS:
        total[f"revenue_{w}d_msat"] = 0
        total[f"realized_ev_{w}d_msat"] = 0
        total[f"open_{w}d"] = 0
        total[f"closed_ev_{w}d_msat"] = 0  # of the refills whose window has closed
    for r in rows:
        ch = per.setdefault(r.scid, {k: 0 for k in total})
        for acc in (ch, total):
            acc["refills"] += 1
            acc["fee_msat"] += r.fee_msat
            acc["predicted_ev_msat"] += r.predicted_ev_msat
            for w in WINDOWS:
                acc[f"revenue_{w}d_msat"] += r.revenue_msat[w]
                acc[f"realized_ev_{w}d_msat"] += r.ev_msat(w)
                acc[f"open_{w}d"] += 0 if r.complete[w] else 1
                acc[f"closed_ev_{w}d_msat"] += r.ev_msat(w) if r.complete[w] else 0
    return {"total": total, "channels": {s: per[s] for s in sorted(per)}}


def losing(summary_: Mapping[str, object]) -> dict[str, str]:
    """Channels whose refills did not pay: at least ``LOSING_AFTER`` refills
    whose 7-day window has closed, and together they lost money. The
    rebalancer stops refilling those (the operator's most frequent
    complaint is rebalancing that loses money)."""
    out = {}
    channels = summary_.get("channels") or {}
    assert isinstance(channels, Mapping)
    for scid, ch in channels.items():
        closed = ch["refills"] - ch["open_7d"]
        if closed >= LOSING_AFTER and ch["closed_ev_7d_msat"] < 0:
            out[scid] = (f"refills into it did not pay: {closed} refills lost "
                         f"{-ch['closed_ev_7d_msat']} msat over their first 7 days")
    return out
