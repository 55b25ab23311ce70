"""The report's figures, computed from the facts (pure: facts in, figures out).

- **Net profit over time**: per UTC day, revenue (fees earned by settled
  forwards, from the daily buckets) minus costs (recorded channel costs on
  that day), and the running total; beside it the daily snapshots' own
  cumulative revenue minus costs, as the plugin recorded them.
- **Per channel**: revenue, costs by kind, net, settled forwards out.
- **Fee history against forwards**: per channel, the fee it had (the
  changes lightningd accepted, ``broadcast``), what a dry run would have
  set, and its settled outbound forwards and fees per day.
- **Rebalance ledger**: every job; for the completed ones predicted EV
  against realized EV over 7 and 30 days (revenue credited to the refill
  minus its fee, as ``revops.rebalance.realized`` credits it; a window not
  closed yet is "to date").

Money stays integer msat; the page turns it into sat for people.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from revops.flow.buckets import DAY, Totals, day_of
from revops.flow.profitability import Costs
from revops.flow.snapshot import Snapshot
from revops.rebalance import realized
from revops.report.facts import Facts, Table
from revops.storage.repos.rebalance import JobRow

FEE_CHARTS = 24  # channels whose fee history the page draws (the busiest)


@dataclass(frozen=True)
class DayPnl:
    day: int
    revenue_msat: int
    costs_msat: int
    settled: int  # settled forwards received that day

    @property
    def net_msat(self) -> int:
        return self.revenue_msat - self.costs_msat


@dataclass(frozen=True)
class ChannelPnl:
    scid: str
    peer_id: str | None  # None: no channel actor now (closed, or never ours to price)
    totals: Totals
    costs: Costs

    @property
    def revenue_msat(self) -> int:
        return self.totals.fees_msat

    @property
    def net_msat(self) -> int:
        return self.revenue_msat - self.costs.total_msat


@dataclass(frozen=True)
class FeeStep:
    ts: float
    fee_ppm: int


@dataclass(frozen=True)
class ChannelHistory:
    scid: str
    fees: tuple[FeeStep, ...]  # the fee the channel had, from each accepted change on
    dry_run: tuple[FeeStep, ...]  # what dry-run cycles would have set
    days: tuple[tuple[int, int, int], ...]  # (day, settled out, fees msat)


@dataclass(frozen=True)
class LedgerRow:
    job: JobRow
    realized_msat: Mapping[int, int | None]  # window days -> realized EV (None: not a success)
    complete: Mapping[int, bool]


@dataclass(frozen=True)
class Report:
    path: str
    schema_version: int
    as_of: float | None
    first_day: int | None
    last_day: int | None
    days: tuple[DayPnl, ...]
    snapshots: tuple[Snapshot, ...]
    channels: tuple[ChannelPnl, ...]  # by net, best first
    histories: Mapping[str, ChannelHistory]
    ledger: tuple[LedgerRow, ...]  # newest first
    ledger_total: Mapping[str, int]
    capacity_advice: tuple[Table, ...] = field(default_factory=tuple)

    @property
    def revenue_msat(self) -> int:
        return sum(d.revenue_msat for d in self.days)

    @property
    def costs_msat(self) -> int:
        return sum(d.costs_msat for d in self.days)

    @property
    def net_msat(self) -> int:
        return self.revenue_msat - self.costs_msat

    @property
    def settled(self) -> int:
        return sum(d.settled for d in self.days)

    def cumulative_net(self) -> list[tuple[int, int]]:
        """(day, net so far at the day's end)."""
        out, running = [], 0
        for d in self.days:
            running += d.net_msat
            out.append((d.day, running))
        return out


def build(facts: Facts) -> Report:
    as_of = _as_of(facts)
    days = _days(facts)
    ledger = _ledger(facts, as_of)
    return Report(
        path=facts.path,
        schema_version=facts.schema_version,
        as_of=as_of,
        first_day=days[0].day if days else None,
        last_day=days[-1].day if days else None,
        days=tuple(days),
        snapshots=tuple(facts.snapshots),
        channels=tuple(_channels(facts)),
        histories=_histories(facts),
        ledger=tuple(ledger),
        ledger_total=_ledger_total(ledger),
        capacity_advice=tuple(facts.capacity_advice),
    )


def _as_of(facts: Facts) -> float | None:
    stamps = [facts.last_forward_ts] + [s.ts for s in facts.snapshots[-1:]] \
        + [c.ts for c in facts.fee_changes[-1:]] + [c.ts for c in facts.costs[-1:]] \
        + [j.updated_at for j in facts.jobs] \
        + [(b.day + 1) * DAY - 1 for b in facts.buckets[-1:]]
    known = [t for t in stamps if t is not None]
    return max(known) if known else None


def _days(facts: Facts) -> list[DayPnl]:
    revenue: dict[int, int] = defaultdict(int)
    settled: dict[int, int] = defaultdict(int)
    costs: dict[int, int] = defaultdict(int)
    for b in facts.buckets:
        revenue[b.day] += b.totals.fees_msat
        settled[b.day] += b.totals.settled_out
    for c in facts.costs:
        costs[day_of(c.ts)] += c.amount_msat
    known = set(revenue) | set(costs) | {s.day for s in facts.snapshots}
    if not known:
        return []
    # Every day of the period, quiet ones included, so the time axis is true.
    return [DayPnl(d, revenue.get(d, 0), costs.get(d, 0), settled.get(d, 0))
            for d in range(min(known), max(known) + 1)]


def _channels(facts: Facts) -> list[ChannelPnl]:
    totals: dict[str, Totals] = defaultdict(Totals)
    for b in facts.buckets:
        totals[b.scid] = totals[b.scid] + b.totals
    kinds: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for c in facts.costs:
        kinds[c.scid][c.kind] += c.amount_msat
    scids = set(totals) | set(kinds) | set(facts.peers)
    rows = [ChannelPnl(s, facts.peers.get(s), totals.get(s, Totals()),
                       Costs.from_kinds(kinds.get(s, {}))) for s in scids]
    return sorted(rows, key=lambda c: (-c.net_msat, -c.revenue_msat, c.scid))


def _histories(facts: Facts) -> dict[str, ChannelHistory]:
    fees: dict[str, list[FeeStep]] = defaultdict(list)
    dry: dict[str, list[FeeStep]] = defaultdict(list)
    for c in facts.fee_changes:
        if c.outcome == "broadcast":
            if not fees[c.scid] and c.old_fee_ppm is not None:
                fees[c.scid].append(FeeStep(c.ts, c.old_fee_ppm))  # what it had before
            fees[c.scid].append(FeeStep(c.ts, c.new_fee_ppm))
        elif c.outcome == "dry_run":
            dry[c.scid].append(FeeStep(c.ts, c.new_fee_ppm))
    days: dict[str, list[tuple[int, int, int]]] = defaultdict(list)
    for b in sorted(facts.buckets, key=lambda b: b.day):
        if b.totals.settled_out or b.totals.fees_msat:
            days[b.scid].append((b.day, b.totals.settled_out, b.totals.fees_msat))
    return {s: ChannelHistory(s, tuple(fees.get(s, ())), tuple(dry.get(s, ())),
                              tuple(days.get(s, ())))
            for s in set(fees) | set(dry) | set(days)}


def _credited(facts: Facts, as_of: float | None) -> dict[int, realized.Realized]:
    """Each succeeded refill's credited revenue, as the rebalancer credits it."""
    refills: dict[str, list[realized.Refill]] = defaultdict(list)
    for j in facts.jobs:
        if j.state == "succeeded" and j.completed_at is not None:
            refills[j.dest_scid].append(realized.Refill(
                j.id, j.dest_scid, float(j.completed_at), int(j.moved_msat or 0),
                int(j.fee_msat or 0), j.predicted_ev_msat))
    flows: dict[str, list[realized.DayFlow]] = defaultdict(list)
    for b in facts.buckets:
        if b.scid in refills:
            flows[b.scid].append(realized.DayFlow(b.day, b.totals.out_volume_msat,
                                                  b.totals.fees_msat))
    now = as_of if as_of is not None else 0.0
    return {r.job_id: r for scid, rs in refills.items()
            for r in realized.credit(rs, flows[scid], now)}


def _ledger(facts: Facts, as_of: float | None) -> list[LedgerRow]:
    credited = _credited(facts, as_of)
    stored = {7: "realized_7d_msat", 30: "realized_30d_msat"}
    rows = []
    for j in facts.jobs:
        r = credited.get(j.id)
        if r is None:
            rows.append(LedgerRow(j, {w: None for w in realized.WINDOWS},
                                  {w: False for w in realized.WINDOWS}))
            continue
        ev: dict[int, int | None] = {}
        for w in realized.WINDOWS:
            # A closed window's revenue is the one the plugin stored for good.
            final = getattr(j, stored[w])
            revenue = final if final is not None else r.revenue_msat[w]
            ev[w] = int(revenue) - r.fee_msat
        rows.append(LedgerRow(j, ev, dict(r.complete)))
    return sorted(rows, key=lambda r: (-(r.job.completed_at or r.job.created_at), -r.job.id))


def _ledger_total(rows: Sequence[LedgerRow]) -> dict[str, int]:
    ok = [r for r in rows if r.job.state == "succeeded"]
    out = {"jobs": len(rows), "succeeded": len(ok),
           "failed": sum(1 for r in rows if r.job.state == "failed"),
           "open": sum(1 for r in rows if r.job.open),
           "fee_msat": sum(int(r.job.fee_msat or 0) for r in ok),
           "moved_msat": sum(int(r.job.moved_msat or 0) for r in ok),
           "predicted_ev_msat": sum(r.job.predicted_ev_msat for r in ok)}
    for w in realized.WINDOWS:
        out[f"realized_ev_{w}d_msat"] = sum(int(r.realized_msat[w] or 0) for r in ok)
        out[f"open_{w}d"] = sum(1 for r in ok if not r.complete[w])
    return out


def top_channels(channels: Sequence[ChannelPnl], n: int) -> list[ChannelPnl]:
    """The ``n`` channels that matter most to the P&L: the largest revenue or cost."""
    return sorted(channels, key=lambda c: (-(c.revenue_msat + c.costs.total_msat), c.scid))[:n]


def fee_charted(facts: Facts) -> list[str]:
    """The channels whose fee history the page draws (so that only theirs
    need reading: a large node has millions of fee changes)."""
    return [c.scid for c in top_channels(_channels(facts), FEE_CHARTS)]
