"""P&L arithmetic, classes, bleeders and ROC on hand-computed cases."""

from __future__ import annotations

import pytest

from revops.flow.buckets import Totals
from revops.flow.classes import FlowParams, channel_flow
from revops.flow.profitability import (
    Costs,
    ProfitParams,
    annualised,
    channel_profit,
    days_open,
    economics,
    is_bleeder,
    profit_class,
    roc,
)
from tests.flow.conftest import DAY, T0

P = ProfitParams(min_roi=0.001)
CAP = 10_000_000_000  # 10M sat


def test_annualised_roi():
    # 1,000 sat net on 10M sat over 30 days: 0.0001 * 365 / 30
    assert annualised(1_000_000, CAP, 30.0) == pytest.approx(0.0001 * 365 / 30)
    # a 10-day-old channel: over its age
    assert annualised(1_000_000, CAP, 30.0, 10.0) == pytest.approx(0.0001 * 365 / 10)
    # never over less than a day, never without capacity
    assert annualised(1_000_000, CAP, 30.0, 0.1) == pytest.approx(0.0001 * 365)
    assert annualised(1_000_000, 0, 30.0) == 0.0
    assert annualised(-1_000_000, CAP, 30.0) < 0


def test_days_open_from_the_funding_block():
    assert days_open("929856x12x0", 929856 + 144 * 30) == 30.0
    assert days_open("929856x12x0", None) is None
    assert days_open("garbage", 930000) is None
    assert days_open("931000x1x0", 930000) == 0.0  # a tip behind the scid: not negative


@pytest.mark.parametrize("revenue,cost,settled_out,roi,zombie,want", [
    (0, 0, 0, 0.0, True, "zombie"),
    (10_000, 0, 5, 0.5, True, "zombie"),
    (0, 0, 0, 0.0, False, "stagnant"),
    (10_000, 0, 5, 0.001, False, "profitable"),
    (10_000, 0, 5, 0.0009, False, "break-even"),
    (0, 5_000, 0, -0.001, False, "underwater"),
    (0, 5_000, 0, -0.0009, False, "break-even"),
    (1_000, 1_000, 3, 0.0, False, "break-even"),
])
def test_profit_class(revenue, cost, settled_out, roi, zombie, want):
    assert profit_class(revenue, cost, settled_out, roi, zombie, P) == want


def test_channel_profit_arithmetic():
    window = Totals(fees_msat=3_000_000, settled_out=40)
    costs30 = Costs(rebalance_msat=1_000_000, other_msat=250_000)
    lifetime = Costs(rebalance_msat=4_000_000, open_msat=2_500_000, other_msat=250_000)
    p = channel_profit("1x1x1", capacity_msat=CAP, local_msat=CAP // 2, age_days=400.0,
                       window=window, window_costs=costs30, span_days=30.0,
                       revenue_total_msat=20_000_000, costs_total=lifetime, now=T0, params=P)
    assert p.revenue_msat == 3_000_000
    assert p.costs.running_msat == 1_250_000
    assert p.net_msat == 1_750_000
    assert p.marginal_roi == pytest.approx(1_750_000 / CAP * 365 / 30)  # 0.00213
    assert p.klass == "profitable" and not p.bleeder
    assert p.net_total_msat == 20_000_000 - 6_750_000
    d = p.as_dict()
    assert d["costs_30d_msat"] == 1_250_000 and d["open_cost_msat"] == 2_500_000


def test_open_cost_stays_out_of_the_30_day_figures():
    p = channel_profit("1x1x1", capacity_msat=CAP, local_msat=0, age_days=3.0,
                       window=Totals(fees_msat=10, settled_out=1),
                       window_costs=Costs(open_msat=5_000_000), span_days=30.0, params=P)
    assert p.net_msat == 10 and p.costs.running_msat == 0 and p.klass != "underwater"


def test_bleeder_and_underwater_spell():
    window = Totals(fees_msat=100_000, settled_out=2)
    costs = Costs(rebalance_msat=5_000_000)
    first = channel_profit("1x1x1", capacity_msat=CAP, local_msat=0, age_days=100.0,
                           window=window, window_costs=costs, span_days=30.0, now=T0, params=P)
    assert first.bleeder and first.klass == "underwater"
    assert first.underwater_since == T0 and first.underwater_days == 0.0
    later = channel_profit("1x1x1", capacity_msat=CAP, local_msat=0, age_days=103.0,
                           window=window, window_costs=costs, span_days=30.0,
                           underwater_since=first.underwater_since, now=T0 + 3 * DAY, params=P)
    assert later.underwater_days == pytest.approx(3.0)
    recovered = channel_profit("1x1x1", capacity_msat=CAP, local_msat=0, age_days=104.0,
                               window=Totals(fees_msat=9_000_000, settled_out=9),
                               window_costs=costs, span_days=30.0,
                               underwater_since=first.underwater_since, now=T0 + 4 * DAY,
                               params=P)
    assert recovered.klass == "profitable" and recovered.underwater_since is None
    assert recovered.underwater_days == 0.0


def test_bleeder_needs_rebalancing_costs_above_revenue():
    assert is_bleeder(101, 100) and not is_bleeder(100, 100) and not is_bleeder(0, 0)


def test_roc():
    assert roc(5_000, 1_000_000) == 0.005 and roc(5, 0) == 0.0


def test_economics_fills_every_field_for_the_fee_engine():
    window = Totals(fees_msat=2_000_000, settled_out=10, out_volume_msat=9_000_000)
    p = channel_profit("1x1x1", capacity_msat=CAP, local_msat=0, age_days=50.0, window=window,
                       window_costs=Costs(rebalance_msat=500_000), span_days=30.0, now=T0,
                       params=P)
    f = channel_flow("1x1x1", {7: Totals(out_volume_msat=4_000_000, settled_out=3)}, {7: 7.0},
                     FlowParams())
    e = economics(p, f)
    assert (e.klass, e.revenue_30d_msat, e.cost_30d_msat) == (p.klass, 2_000_000, 500_000)
    assert e.marginal_roi == p.marginal_roi and e.days_open == 50.0
    assert e.underwater_days == 0.0 and e.outbound_volume_7d_msat == 4_000_000
