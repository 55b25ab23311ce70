"""The report's figures from hand-made facts (hand-worked numbers): days
with nothing in them still on the time axis, costs on the day they were
recorded, per-channel P&L, the fee a channel had, and a refill's realized
EV credited as the rebalancer credits it."""

from __future__ import annotations

from revops.flow.buckets import DAY, DayBucket, Totals
from revops.flow.snapshot import Snapshot
from revops.report.facts import CostRow, Facts
from revops.report.pnl import build, top_channels
from revops.storage.repos.fees import FeeChange
from revops.storage.repos.rebalance import JobRow

A, B, C = "100x1x0", "100x2x0", "100x3x0"


def bucket(day: int, scid: str, fees: int, settled_out: int = 1, out_volume: int = 0) -> DayBucket:
    return DayBucket(day, scid, Totals(fees_msat=fees, settled_out=settled_out,
                                       out_volume_msat=out_volume))


def job(id: int, state: str, completed_at: float | None, *, moved: int = 0, fee: int = 0,
        predicted: int = 0, dest: str = A, realized_7d: int | None = None) -> JobRow:
    return JobRow(id, 0.0, completed_at or 0.0, "native", "auto", state, B, dest, 1_000_000,
                  500, None, fee if state == "succeeded" else None,
                  moved if state == "succeeded" else None, None, None, None, 1000, 0,
                  predicted, None, "", completed_at, realized_7d, None)


def facts(**kw) -> Facts:
    return Facts(path="x.sqlite3", schema_version=5, **kw)


def test_every_day_of_the_period_is_there_and_costs_count_on_their_day():
    f = facts(buckets=(bucket(100, A, 5_000, 2), bucket(100, B, 1_000), bucket(103, A, 7_000)),
              costs=(CostRow(101 * DAY + 3600, A, "rebalance", 2_500),))
    r = build(f)
    assert [(d.day, d.revenue_msat, d.costs_msat, d.settled) for d in r.days] == [
        (100, 6_000, 0, 3), (101, 0, 2_500, 0), (102, 0, 0, 0), (103, 7_000, 0, 1)]
    assert r.cumulative_net() == [(100, 6_000), (101, 3_500), (102, 3_500), (103, 10_500)]
    assert (r.revenue_msat, r.costs_msat, r.net_msat, r.settled) == (13_000, 2_500, 10_500, 4)
    assert (r.first_day, r.last_day) == (100, 103)


def test_snapshots_extend_the_period_and_an_empty_database_has_none():
    snap = Snapshot(99 * DAY, "daily", 1, 2, 3, 1, 0, 0, True)
    r = build(facts(snapshots=(snap,), buckets=(bucket(100, A, 10),)))
    assert [d.day for d in r.days] == [99, 100]
    empty = build(facts())
    assert empty.days == () and empty.first_day is None and empty.as_of is None


def test_each_channel_has_its_revenue_costs_by_kind_and_net_best_first():
    f = facts(buckets=(bucket(100, A, 5_000), bucket(101, A, 1_000), bucket(100, B, 9_000)),
              costs=(CostRow(100 * DAY, A, "rebalance", 700), CostRow(100 * DAY, A, "open", 300),
                     CostRow(100 * DAY, B, "rebalance", 10_000)),
              peers={A: "02aa", C: "03cc"})
    r = build(f)
    rows = {c.scid: c for c in r.channels}
    assert (rows[A].revenue_msat, rows[A].costs.rebalance_msat, rows[A].costs.open_msat,
            rows[A].net_msat, rows[A].peer_id) == (6_000, 700, 300, 5_000, "02aa")
    assert (rows[B].net_msat, rows[B].peer_id) == (-1_000, None)
    # A channel with an actor and no history yet is listed, at zero.
    assert rows[C].net_msat == 0 and rows[C].peer_id == "03cc"
    assert [c.scid for c in r.channels] == [A, C, B]
    # The ones that matter most to the P&L: revenue plus costs.
    assert [c.scid for c in top_channels(r.channels, 2)] == [B, A]


def test_the_fee_a_channel_had_comes_from_the_changes_lightningd_accepted():
    f = facts(fee_changes=(
        FeeChange(100 * DAY, A, 10, 200, 0, "hill_climb", "", "broadcast"),
        FeeChange(100 * DAY + 3600, A, 200, 250, 0, "hill_climb", "", "failed"),
        FeeChange(101 * DAY, A, 200, 300, 0, "congestion", "", "broadcast"),
        FeeChange(101 * DAY, B, 50, 80, 0, "hill_climb", "", "dry_run"),
    ), buckets=(bucket(100, A, 400, settled_out=2), bucket(101, A, 0, settled_out=0)))
    r = build(f)
    a = r.histories[A]
    # It had 10 ppm before the first change; the failed one changed nothing.
    assert [(s.ts, s.fee_ppm) for s in a.fees] == [(100 * DAY, 10), (100 * DAY, 200),
                                                   (101 * DAY, 300)]
    assert a.days == ((100, 2, 400),)  # quiet days are not bars
    assert [s.fee_ppm for s in r.histories[B].dry_run] == [80] and r.histories[B].fees == ()


def test_a_refill_is_credited_with_the_fees_of_the_volume_sold_after_it():
    # 1,000,000 msat refilled into A at noon of day 100 for 100 msat. Day 100: A sold
    # 2,000,000 msat for 2,000 msat of fees; half the day is after the refill, so
    # 1,000,000 msat of it is the refill's: 1,000 msat credited, EV 1,000 - 100 = 900.
    refill = job(1, "succeeded", 100 * DAY + DAY / 2, moved=1_000_000, fee=100,
                 predicted=1_200)
    failed = job(2, "failed", 100 * DAY + 60)
    f = facts(jobs=(refill, failed),
              buckets=(bucket(100, A, 2_000, out_volume=2_000_000),
                       bucket(101, A, 5_000, out_volume=3_000_000)))
    r = build(f)
    rows = {row.job.id: row for row in r.ledger}
    assert rows[1].realized_msat == {7: 900, 30: 900}
    # As of the end of day 101 neither window has closed: figures to date.
    assert rows[1].complete == {7: False, 30: False}
    assert rows[2].realized_msat == {7: None, 30: None}
    assert [row.job.id for row in r.ledger] == [1, 2]  # newest first
    t = r.ledger_total
    assert (t["succeeded"], t["failed"], t["fee_msat"], t["predicted_ev_msat"],
            t["realized_ev_7d_msat"], t["open_7d"]) == (1, 1, 100, 1_200, 900, 1)


def test_a_closed_window_shows_the_revenue_the_plugin_stored_for_good():
    refill = job(1, "succeeded", 100 * DAY, moved=1_000_000, fee=100, realized_7d=4_000)
    f = facts(jobs=(refill,), buckets=(bucket(100, A, 2_000, out_volume=2_000_000),
                                        bucket(120, B, 1, out_volume=1)))
    row = build(f).ledger[0]
    assert row.complete == {7: True, 30: False}
    assert row.realized_msat[7] == 4_000 - 100  # stored, not recomputed
    assert row.realized_msat[30] == 2_000 * 1_000_000 // 2_000_000 - 100
