"""Plans: destinations with their sources and EV, best first; refusals with
reasons (no source, unprofitable, losing); the operator's manual refill
checked as the automatic ones are."""

from __future__ import annotations

import pytest

from revops.jsonrpc import RpcError
from revops.rebalance.candidates import CandidateParams, Exclusions
from revops.rebalance.ev import EvParams
from revops.rebalance.planner import manual, plan
from tests.rebalance.helpers import SAT, facts, flow, peer

CP = CandidateParams(min_amount_msat=50_000 * SAT, max_amount_msat=1_000_000 * SAT)
EP = EvParams(horizon_days=7, max_fee_share=0.5, min_profit_msat=10 * SAT,
              scarcity_threshold=0.0)  # (the scarcity de-rating is test_ev's)
NOW = 20_000 * 86400.0


def node():
    chans = {
        "1x1x0": facts("1x1x0", 1, 10_000_000, 500_000, fee_ppm=800),   # sink, sells at 800
        "2x1x0": facts("2x1x0", 2, 10_000_000, 500_000, fee_ppm=5),     # sink, sells at 5
        "3x1x0": facts("3x1x0", 3, 10_000_000, 9_500_000, fee_ppm=50),  # source
        "4x1x0": facts("4x1x0", 4, 10_000_000, 9_000_000, fee_ppm=50, peer_id=peer(1)),
    }
    flows = {"1x1x0": flow("1x1x0", 7_000_000, 700, revenue_7d_msat=7_000_000 * 800 // 1000),
             "2x1x0": flow("2x1x0", 14_000_000, 1400, revenue_7d_msat=14_000_000 * 5 // 1000)}
    return chans, flows


def test_plans_rank_by_expected_revenue_and_say_why_one_cannot_pay():
    chans, flows = node()
    p = plan(chans, flows, {}, Exclusions(), CP, EP, NOW)
    assert [x.dest.scid for x in p.plans] == ["1x1x0", "2x1x0"]
    good, bad = p.plans
    # the source on the destination's own peer is never offered
    assert [o.source.scid for o in good.options] == ["3x1x0"]
    assert good.options[0].estimate.max_fee_msat == 400 * SAT
    assert bad.options == () and bad.refusal.startswith("unprofitable:")


def test_the_price_is_what_the_liquidity_sold_at_not_a_higher_broadcast_fee():
    chans, flows = node()
    p = plan(chans, flows, {"1x1x0": 2400}, Exclusions(), CP, EP, NOW)
    assert p.plans[0].options[0].estimate.fee_ppm == 800


def test_losing_destinations_are_refused_with_why():
    chans, flows = node()
    p = plan(chans, flows, {}, Exclusions(), CP, EP, NOW, losing={"1x1x0": "refills lost"})
    refusals = {x.dest.scid: x.refusal for x in p.plans}
    assert refusals["1x1x0"] == "refills lost"


def test_manual_refills_pass_the_same_checks():
    chans, flows = node()
    o = manual(chans, flows, {}, Exclusions(), "3x1x0", "1x1x0", 200_000 * SAT, None, EP, NOW)
    assert o.estimate.ok and o.estimate.max_fee_msat == 80 * SAT
    # With a fee limit the operator overrides the EV, never the other checks.
    o = manual(chans, flows, {}, Exclusions(), "3x1x0", "2x1x0", 200_000 * SAT, 300, EP, NOW)
    assert o.estimate.max_fee_msat == 60 * SAT and "overrides" in o.estimate.reason
    with pytest.raises(RpcError, match="refused: unprofitable"):
        manual(chans, flows, {}, Exclusions(), "3x1x0", "2x1x0", 200_000 * SAT, None, EP, NOW)
    with pytest.raises(RpcError, match="same peer"):
        manual(chans, flows, {}, Exclusions(), "4x1x0", "1x1x0", 200_000 * SAT, 300, EP, NOW)
    with pytest.raises(RpcError, match="under a zero-fee probe"):
        manual(chans, flows, {}, Exclusions(probing=frozenset({"1x1x0"})), "3x1x0", "1x1x0",
               200_000 * SAT, 300, EP, NOW)
    with pytest.raises(RpcError, match="can send only"):
        manual(chans, flows, {}, Exclusions(), "1x1x0", "3x1x0", 600_000 * SAT, 300, EP, NOW)
    with pytest.raises(RpcError, match="not an open channel"):
        manual(chans, flows, {}, Exclusions(), "9x9x9", "1x1x0", 1000 * SAT, 300, EP, NOW)
