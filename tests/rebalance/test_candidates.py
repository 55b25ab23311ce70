"""Destinations, sources and their targets: volume-weighted, never below the
minimum, never a probed, zombie, ignored, passive, tripped or busy channel."""

from __future__ import annotations

import pytest

from revops.rebalance.candidates import (
    CandidateParams,
    Exclusions,
    choose,
    demand_msat_day,
)
from tests.rebalance.helpers import SAT, facts, flow

P = CandidateParams(min_amount_msat=50_000 * SAT, max_amount_msat=1_000_000 * SAT,
                    target_ratio=0.5, keep_ratio=0.5)
NOW = 20_000 * 86400.0  # a UTC midnight: the flow windows span whole days


def test_demand_is_volume_per_day_plus_what_failed_for_liquidity():
    assert demand_msat_day(None) == 0
    assert demand_msat_day(flow("a", out_7d_sat=700_000, settled_7d=70), NOW) == 100_000 * SAT
    # 10 lost forwards at the average size (10k sat) add 100k sat over the week
    f = flow("a", out_7d_sat=700_000, settled_7d=70, liquidity_failed_7d=10)
    assert demand_msat_day(f, NOW) == 800_000 * SAT // 7


def test_demand_takes_the_faster_of_the_last_day_and_the_last_week():
    # A week of 100k/day, then a day of 400k: the recent rate counts.
    f = flow("a", out_7d_sat=1_000_000, settled_7d=100, out_1d_sat=400_000, settled_1d=40)
    assert demand_msat_day(f, NOW) == 400_000 * SAT
    # Six hours into today the windows are 1.25 and 7.25 days long.
    assert demand_msat_day(f, NOW + 6 * 3600) == 320_000 * SAT
    quiet_day = flow("a", out_7d_sat=1_400_000, settled_7d=140, out_1d_sat=0)
    assert demand_msat_day(quiet_day, NOW) == 200_000 * SAT


def test_target_is_the_smaller_of_capacity_target_and_three_days_of_volume():
    # 10M sat channel with 1M local; demand 100k sat/day -> wants 300k, has 1M: fine.
    quiet = facts("1x1x0", 1, 10_000_000, 1_000_000)
    # Same channel with demand 1M sat/day -> wants min(5M, 3M) = 3M: short by 2M,
    # moved in max-amount steps.
    busy = facts("2x1x0", 2, 10_000_000, 1_000_000)
    # demand 30k sat/day: wants 90k; has 10k: gap 80k.
    small = facts("3x1x0", 3, 10_000_000, 10_000)
    # demand 12k sat/day: wants 36k; has 10k: gap 26k, raised to the 50k minimum.
    tiny = facts("4x1x0", 4, 10_000_000, 10_000)
    # demand 5k sat/day: wants 15k; has 10k: within half the minimum of it: left alone.
    hovering = facts("5x1x0", 5, 10_000_000, 10_000)
    flows = {"1x1x0": flow("1x1x0", 700_000, 70), "2x1x0": flow("2x1x0", 7_000_000, 700),
             "3x1x0": flow("3x1x0", 210_000, 21), "4x1x0": flow("4x1x0", 84_000, 8),
             "5x1x0": flow("5x1x0", 35_000, 4)}
    dests, _, _ = choose([quiet, busy, small, tiny, hovering], flows, Exclusions(), P, NOW)
    by = {d.scid: d for d in dests}
    assert "1x1x0" not in by
    assert by["2x1x0"].desired_msat == 3_000_000 * SAT
    assert by["2x1x0"].amount_msat == 1_000_000 * SAT  # capped by max amount
    assert by["3x1x0"].amount_msat == 80_000 * SAT
    assert by["4x1x0"].amount_msat == 50_000 * SAT  # never below the minimum
    assert [d.scid for d in dests] == ["2x1x0", "3x1x0", "4x1x0"]  # most demand first


def test_a_destination_that_cannot_receive_the_minimum_is_skipped_with_why():
    room = facts("1x1x0", 1, 60_000, 0)  # can receive 59,400 sat: enough for 50k
    dests, _, _ = choose([room], {"1x1x0": flow("1x1x0", 700_000, 70)}, Exclusions(), P, NOW)
    # short by 30k (wants half of 60k), raised to the 50k minimum, which fits
    assert [(d.scid, d.amount_msat) for d in dests] == [("1x1x0", 50_000 * SAT)]
    tiny = facts("3x1x0", 3, 50_200, 0)  # short by 25,100 but can receive 49,698
    dests, _, skips = choose([tiny], {"3x1x0": flow("3x1x0", 700_000, 70)}, Exclusions(), P, NOW)
    assert dests == [] and "can receive only" in skips[0].reason


def test_no_demand_no_destination():
    dry = facts("1x1x0", 1, 10_000_000, 100_000)
    dests, srcs, skips = choose([dry], {}, Exclusions(), P, NOW)
    assert dests == [] and srcs == []
    assert skips[0].reason.startswith("no demand")


def test_sources_give_only_their_surplus_and_cheapest_liquidity_first():
    # keep = max(50 % of capacity, 3 days of own demand)
    a = facts("1x1x0", 1, 10_000_000, 9_000_000, fee_ppm=1000)
    b = facts("2x1x0", 2, 10_000_000, 9_000_000, fee_ppm=10)
    c = facts("3x1x0", 3, 10_000_000, 9_000_000, fee_ppm=10)  # busy itself: keeps 3 days
    d = facts("4x1x0", 4, 10_000_000, 5_020_000)  # surplus below the minimum
    flows = {"1x1x0": flow("1x1x0", 700_000, 70), "2x1x0": flow("2x1x0", 700_000, 70),
             "3x1x0": flow("3x1x0", 14_000_000, 700)}
    _, srcs, _ = choose([a, b, c, d], flows, Exclusions(), P, NOW)
    by = {s.scid: s for s in srcs}
    assert set(by) == {"1x1x0", "2x1x0", "3x1x0"}
    assert by["1x1x0"].surplus_msat == 4_000_000 * SAT
    assert by["3x1x0"].surplus_msat == 3_000_000 * SAT  # keeps 6M: 3 days of 2M/day
    assert [s.scid for s in srcs][0] == "2x1x0"  # earns least per msat of liquidity


@pytest.mark.parametrize("ex, why", [
    (Exclusions(probing=frozenset({"1x1x0"})), "under a zero-fee probe"),
    (Exclusions(zombies=frozenset({"1x1x0"})), "zombie"),
    (Exclusions(busy=frozenset({"1x1x0"})), "already in a rebalance job"),
    (Exclusions(breaker_open={"1x1x0": NOW + 10}), "futility breaker open"),
])
def test_excluded_channels_are_neither_source_nor_destination(ex, why):
    src = facts("1x1x0", 1, 10_000_000, 9_000_000)
    dst = facts("2x1x0", 2, 10_000_000, 100_000)
    dst_ex = facts("1x1x0", 1, 10_000_000, 100_000)
    flows = {"2x1x0": flow("2x1x0", 700_000, 70), "1x1x0": flow("1x1x0", 700_000, 70)}
    dests, srcs, skips = choose([src, dst], flows, ex, P, NOW)
    assert srcs == [] and [d.scid for d in dests] == ["2x1x0"]
    assert skips[0].scid == "1x1x0" and skips[0].reason.startswith(why)
    dests, _, _ = choose([dst_ex], flows, ex, P, NOW)
    assert dests == []


def test_ignored_and_passive_peers_and_disconnected_ones_are_left_alone():
    a = facts("1x1x0", 1, 10_000_000, 9_000_000)
    b = facts("2x1x0", 2, 10_000_000, 9_000_000)
    c = facts("3x1x0", 3, 10_000_000, 9_000_000, peer_connected=False)
    ex = Exclusions(ignored_peers=frozenset({a.peer_id}), passive_peers=frozenset({b.peer_id}))
    _, srcs, skips = choose([a, b, c], {}, ex, P, NOW)
    assert srcs == []
    assert {s.scid: s.reason for s in skips} == {
        "1x1x0": "peer ignored", "2x1x0": "peer policy passive", "3x1x0": "peer disconnected"}


def test_a_breaker_that_has_closed_lets_the_channel_back():
    dst = facts("2x1x0", 2, 10_000_000, 100_000)
    ex = Exclusions(breaker_open={"2x1x0": NOW - 1})
    dests, _, _ = choose([dst], {"2x1x0": flow("2x1x0", 700_000, 70)}, ex, P, NOW)
    assert [d.scid for d in dests] == ["2x1x0"]
