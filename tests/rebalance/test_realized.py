"""Did it pay: refills credited with the fees of the first volume after them,
first come first served, within 7 and 30 days; realized vs predicted."""

from __future__ import annotations

from revops.rebalance.realized import DAY, DayFlow, Refill, credit, losing, summary

D0 = 20_000  # a UTC day number
T0 = D0 * DAY


def day(n: int, volume: int, fees: int) -> DayFlow:
    return DayFlow(D0 + n, volume, fees)


def test_a_refill_is_credited_with_the_fees_on_its_amount_of_volume():
    r = Refill(1, "1x1x1", T0 + DAY, 1_000_000, 300, 500)  # settled at the start of day 1
    days = [day(0, 9_000_000, 9_000), day(1, 600_000, 600), day(2, 800_000, 1_600)]
    [got] = credit([r], days, now=T0 + 40 * DAY)
    # day 0 is before it; day 1 all 600k (600 msat), day 2 the 400k left (800 msat)
    assert got.revenue_msat == {7: 1_400, 30: 1_400}
    assert got.ev_msat(7) == 1_100 and got.complete == {7: True, 30: True}


def test_the_settle_day_counts_only_after_the_refill_and_windows_close_in_time():
    r = Refill(1, "1x1x1", T0 + DAY / 2, 10_000_000, 0, 0)  # noon on day 0
    days = [day(0, 1_000_000, 1_000)] + [day(n, 100_000, 100) for n in range(1, 40)]
    [got] = credit([r], days, now=T0 + 10 * DAY)
    # half of day 0 (500 msat), days 1..6 inside 7 days of noon, day 7 starts 6.5 d after
    assert got.revenue_msat[7] == 500 + 7 * 100
    assert got.complete == {7: True, 30: False}
    [later] = credit([r], days, now=T0 + 31 * DAY)
    assert later.revenue_msat[30] == 500 + 29 * 100 + 100  # day 30 starts 29.5 d after
    assert later.complete[30]


def test_two_refills_share_the_volume_first_come_first_served():
    a = Refill(1, "1x1x1", T0, 300_000, 10, 0)
    b = Refill(2, "1x1x1", T0 + 1, 300_000, 10, 0)
    days = [day(0, 400_000, 400), day(1, 400_000, 800)]
    got = {r.job_id: r for r in credit([b, a], days, now=T0 + 31 * DAY)}
    assert got[1].revenue_msat[30] == 300
    # b: 100k of day 0 (prorated by the part of the day after it: all but 1 s)
    assert got[2].revenue_msat[30] == 100 + 400
    # never more credit than the volume's fees
    assert got[1].revenue_msat[30] + got[2].revenue_msat[30] <= 400 + 800


def test_summary_per_channel_and_total():
    rows = credit([Refill(1, "1x1x1", T0, 1_000, 5, 7), Refill(2, "2x2x2", T0, 1_000, 1, 2)],
                  [day(0, 1_000, 10)], now=T0 + DAY)
    s = summary(rows)
    assert s["total"]["refills"] == 2 and s["total"]["fee_msat"] == 6
    assert s["total"]["predicted_ev_msat"] == 9
    assert s["channels"]["1x1x1"]["revenue_7d_msat"] == 10
    assert s["channels"]["1x1x1"]["realized_ev_7d_msat"] == 5
    assert s["channels"]["2x2x2"]["realized_ev_30d_msat"] == -1
    assert s["total"]["open_30d"] == 2


def test_a_channel_whose_closed_refills_lost_money_is_losing():
    days = [day(n, 10_000, 1) for n in range(0, 12)]
    lost = [Refill(i, "1x1x1", T0 + i, 10_000, 50, 20) for i in (1, 2)]
    young = [Refill(3, "2x2x2", T0 + 10 * DAY, 10_000, 50, 20),
             Refill(4, "2x2x2", T0 + 10 * DAY + 1, 10_000, 50, 20)]
    paid = [Refill(5, "3x3x3", T0, 10_000, 1, 20), Refill(6, "3x3x3", T0 + 1, 10_000, 1, 20)]
    rows = []
    for group in (lost, young, paid):
        rows += credit(group, days, now=T0 + 12 * DAY)
    s = summary(rows)
    assert s["channels"]["1x1x1"]["closed_ev_7d_msat"] < 0
    out = losing(s)
    assert list(out) == ["1x1x1"]  # the young ones cannot be judged yet; 3x3x3 paid
    assert out["1x1x1"].startswith("refills into it did not pay: 2 refills lost")
