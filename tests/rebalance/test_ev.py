"""Expected value: revenue at the destination's fee on the demand within the
horizon, the source's opportunity cost, the max fee (a share of the
destination's fee, never more than the EV allows), refusals with reasons."""

from __future__ import annotations

from revops.rebalance.ev import EvParams, estimate, expected_fee_ppm
from tests.rebalance.helpers import SAT, facts

P = EvParams(horizon_days=7, max_fee_share=0.5, min_profit_msat=10 * SAT,
             scarcity_threshold=0.30)
AMOUNT = 1_000_000 * SAT


def test_revenue_is_the_fee_on_what_demand_uses_within_the_horizon():
    # 1M sat moved, 500k sat/day demand: all of it used in 7 days, at 800 ppm = 800 sat.
    e = estimate(AMOUNT, 800, 500_000 * SAT, 9_000_000 * SAT, 10, 0, P)
    assert e.ok and e.revenue_msat == 800 * SAT and e.opportunity_msat == 0
    # max fee: half of what the destination charges for the amount
    assert e.max_fee_msat == 400 * SAT
    assert e.ev_msat(300 * SAT) == 500 * SAT


def test_slow_demand_earns_only_what_it_uses():
    # 50k sat/day for 7 days = 350k of the 1M is used: revenue 350k * 800 ppm = 280 sat.
    e = estimate(AMOUNT, 800, 50_000 * SAT, 9_000_000 * SAT, 10, 0, P)
    assert e.revenue_msat == 280 * SAT
    # The share would allow 400 sat, the EV only 280 - 10 (min profit).
    assert e.max_fee_msat == 270 * SAT


def test_the_sources_lost_sales_are_a_cost():
    # Source has 1.5M, gives 1M, and sells 100k/day itself: over 7 days it needs
    # 700k, has 500k left: 200k of sales lost at its 500 ppm = 100 sat.
    e = estimate(AMOUNT, 800, 500_000 * SAT, 1_500_000 * SAT, 500, 100_000 * SAT, P)
    assert e.opportunity_msat == 100 * SAT
    assert e.max_fee_msat == 400 * SAT  # still the share: 800 - 100 - 10 > 400
    assert e.ev_msat(400 * SAT) == 300 * SAT


def test_unprofitable_refills_are_refused_with_their_reason():
    # 5 ppm destination: 5 sat of revenue cannot leave the 10 sat minimum profit.
    e = estimate(AMOUNT, 5, 500_000 * SAT, 9_000_000 * SAT, 10, 0, P)
    assert not e.ok and e.max_fee_msat == 0
    assert e.reason.startswith("unprofitable:") and "earns 5000 msat" in e.reason
    e = estimate(AMOUNT, 800, 0, 9_000_000 * SAT, 10, 0, P)
    assert not e.ok and "no demand" in e.reason


def test_the_scarcity_premium_is_taken_out_of_the_fee_the_refill_will_earn():
    # 5 % outbound: the fee engine charges 2.67x; refilled to 15 %, 2.0x.
    c = facts("1x1x0", 1, 10_000_000, 500_000, fee_ppm=999)
    fee = expected_fee_ppm(800, c, 1_000_000 * SAT, 0.30)
    assert fee == 600  # 800 * 2.0 / (8 / 3)
    # Refilled past the threshold: no premium at all.
    assert expected_fee_ppm(900, c, 3_000_000 * SAT, 0.30) == int(900 / 2.6666666666666665)
    # Without a broadcast fee recorded: the channel's own fee.
    healthy = facts("2x1x0", 2, 10_000_000, 5_000_000, fee_ppm=321)
    assert expected_fee_ppm(None, healthy, AMOUNT, 0.30) == 321
