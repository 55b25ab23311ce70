"""Budget arithmetic: rolling daily and weekly windows, reservations, the
invariant reserved + spent <= limit, stale reservations."""

from __future__ import annotations

import pytest

from revops.rebalance.budget import DAY, BudgetParams, Spend, settle, stale, usage

NOW = 10_000_000.0


def test_spent_counts_only_inside_each_window():
    spends = [Spend(NOW - 2 * DAY, 700), Spend(NOW - DAY + 1, 200), Spend(NOW - 10, 100),
              Spend(NOW - 8 * DAY, 5000)]
    u = usage(spends, reserved_msat=50, now=NOW, p=BudgetParams(1000, 2000))
    daily, weekly = u.windows
    assert (daily.spent_msat, daily.reserved_msat, daily.remaining_msat) == (300, 50, 650)
    assert (weekly.spent_msat, weekly.remaining_msat) == (1000, 950)
    assert u.remaining_msat == 650


def test_no_weekly_window_when_its_limit_is_zero():
    u = usage([], 0, NOW, BudgetParams(1000, 0))
    assert [w.name for w in u.windows] == ["daily"]


def test_a_reservation_fits_exactly_up_to_the_limit_and_not_one_msat_more():
    u = usage([Spend(NOW - 5, 600)], 300, NOW, BudgetParams(1000, 0))
    assert u.refusal(100) is None
    why = u.refusal(101)
    assert why is not None and "daily budget" in why and "exceed 1000 msat" in why


def test_the_tightest_window_refuses():
    u = usage([Spend(NOW - 3 * DAY, 900)], 0, NOW, BudgetParams(1000, 1000))
    assert u.windows[0].remaining_msat == 1000
    assert u.remaining_msat == 100
    assert "weekly budget" in (u.refusal(101) or "")


def test_reserving_then_settling_keeps_the_invariant():
    p = BudgetParams(1000, 0)
    spends: list[Spend] = []
    held: dict[int, int] = {}
    # Many jobs reserve what they may; each settles at most its reservation.
    for job in range(20):
        u = usage(spends, sum(held.values()), NOW + job, p)
        want = 150
        if u.refusal(want) is None:
            held[job] = want
        assert sum(s.msat for s in spends) + sum(held.values()) <= p.daily_msat
        if job % 3 == 0 and held:
            k = min(held)
            spends.append(Spend(NOW + job, settle(held.pop(k), 120)))
    assert sum(s.msat for s in spends) + sum(held.values()) <= p.daily_msat


def test_negative_fees_are_refused():
    with pytest.raises(ValueError):
        settle(10, -1)
    assert usage([], 0, NOW, BudgetParams(1000)).refusal(-1) == "negative reservation"


def test_a_reservation_is_stale_only_after_the_timeout_and_never_while_in_flight():
    assert not stale(NOW - 100, NOW, 3600, in_flight=False)
    assert stale(NOW - 3600, NOW, 3600, in_flight=False)
    assert not stale(NOW - 10 * 3600, NOW, 3600, in_flight=True)


def test_from_config_in_sats():
    p = BudgetParams.from_config({"rebalance-budget-daily-sats": 7,
                                  "rebalance-budget-weekly-sats": 20})
    assert p == BudgetParams(7000, 20000)
