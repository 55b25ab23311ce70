"""The Alpha Sequence, rule by rule and conflict by conflict."""

import dataclasses
import itertools

import pytest

from revops.channels import ChannelFacts
from revops.fees import alpha, hill_climb
from revops.fees.alpha import ChannelEconomics, FeeInputs, FeeParams, Policy
from revops.fees.state import FeeState, Override, Probe

DAY = 86400.0
NOW = 1_800_000_000.0
P = FeeParams(min_fee_ppm=10, max_fee_ppm=2500, base_fee_msat=0, congestion_threshold=0.8,
              scarcity_threshold=0.3, probe_after=7 * DAY, probe_duration=DAY,
              probe_max_attempts=2, fire_sale=True, fire_sale_target_ratio=0.1,
              fire_sale_max_daily_msat=1_000_000_000, fire_sale_underwater_days=30)


def facts(local_ratio=0.5, htlcs=0, max_htlcs=483, opener="local", out_fulfilled=5,
          fee_ppm=100, capacity=10_000_000_000, spendable=None) -> ChannelFacts:
    local = int(capacity * local_ratio)
    return ChannelFacts(
        scid="700000x1x0", peer_id="02" + "11" * 32, state="CHANNELD_NORMAL", opener=opener,
        capacity_msat=capacity, local_msat=local,
        spendable_msat=local if spendable is None else spendable,
        receivable_msat=capacity - local, htlcs_in_flight=htlcs, max_accepted_htlcs=max_htlcs,
        fee_base_msat=0, fee_ppm=fee_ppm, out_payments_fulfilled=out_fulfilled)


def state(**kw) -> FeeState:
    """A channel seen a while ago, last forward recently, broadcast at 100 ppm."""
    base = dict(first_seen=NOW - 30 * DAY, last_outbound_at=NOW - 3600,
                last_broadcast_fee_ppm=100, mode="hill_climb")
    base.update(kw)
    return FeeState(**base)


def decide(st=None, p=P, now=NOW, **inp):
    inp.setdefault("facts", facts())
    return alpha.decide(st or state(), FeeInputs(**inp), p, now)


# -- 0. untouched -----------------------------------------------------------------

def test_ignored_and_passive_peers_are_never_touched():
    for kw in ({"ignored": True}, {"policy": Policy("passive")}):
        _, d = decide(**kw)
        assert d.touch is False and d.target_fee_ppm == 100


# -- 1. the operator's word ----------------------------------------------------------

def test_override_within_ttl_wins_and_expires():
    st = state(override=Override(fee_ppm=777, base_msat=5, expires_at=NOW + 60))
    _, d = decide(st)
    assert (d.mode, d.target_fee_ppm, d.base_msat, d.emergency) == ("override", 777, 5, True)
    st2, d2 = decide(st, now=NOW + 61)
    assert d2.mode == "hill_climb" and st2.override is None


def test_override_beats_congestion():
    st = state(override=Override(fee_ppm=50))
    _, d = decide(st, facts=facts(htlcs=470))
    assert d.mode == "override" and d.target_fee_ppm == 50


def test_static_and_hive_policies():
    _, d = decide(policy=Policy("static", 321, 7))
    assert (d.mode, d.target_fee_ppm, d.base_msat) == ("static", 321, 7)
    _, d = decide(policy=Policy("hive"))
    assert (d.mode, d.target_fee_ppm, d.base_msat) == ("hive", 0, 0)


# -- 2. congestion ---------------------------------------------------------------------

@pytest.mark.parametrize("htlcs,congested", [(386, False), (387, True), (483, True)])
def test_htlc_slot_congestion_goes_to_the_ceiling(htlcs, congested):
    _, d = decide(facts=facts(htlcs=htlcs))  # threshold 0.8 of 483 = 386.4
    assert (d.mode == "congestion") is congested
    if congested:
        assert d.target_fee_ppm == P.max_fee_ppm and d.emergency


def test_liquidity_congestion_needs_failures_and_too_little_outbound():
    need = (500_000_000,) * 5  # forwards of 500k sat
    short = facts(local_ratio=0.03)  # 300k sat spendable
    _, d = decide(state(recent_amounts=need), facts=short)
    assert d.mode != "congestion"  # no forward failed for it: not congestion
    st = state(recent_amounts=need, liquidity_failures=(NOW - 600,))
    _, d = decide(st, facts=short)
    assert d.mode == "congestion" and d.target_fee_ppm == P.max_fee_ppm
    _, d = decide(st, facts=facts(local_ratio=0.5))  # enough outbound: fine
    assert d.mode != "congestion"
    old = state(recent_amounts=need, liquidity_failures=(NOW - 2 * DAY,))
    _, d = decide(old, facts=short)  # failures long ago
    assert d.mode != "congestion"


# -- 3. probe ---------------------------------------------------------------------------

def test_probe_starts_after_a_quiet_week_and_prices_zero():
    quiet = state(last_outbound_at=NOW - 8 * DAY)
    st, d = decide(quiet)
    assert d.mode == "probe" and d.target_fee_ppm == 0 and d.base_msat == 0 and d.emergency
    assert st.probe.active and st.probe.since == NOW and st.probe.broadcast_at is None
    st = alpha.on_broadcast(st, 0, 0, NOW + 5)
    assert st.probe.broadcast_at == NOW + 5


def test_probe_needs_outbound_liquidity_to_forward_with():
    _, d = decide(state(last_outbound_at=NOW - 8 * DAY), facts=facts(local_ratio=0.05))
    assert d.mode != "probe"


def test_a_forward_proves_the_channel_alive_and_clears_the_probe():
    st = state(probe=Probe(active=True, since=NOW - 3600, broadcast_at=NOW - 3000),
               last_outbound_at=NOW - 8 * DAY)
    early = alpha.observe_forward(st, "settled", 1_000_000, 0, NOW - 3500)
    _, d = decide(early)  # before the zero fee went out: proves nothing
    assert d.mode == "probe"
    st = alpha.observe_forward(st, "settled", 1_000_000, 0, NOW - 60)
    st2, d = decide(st)
    assert d.mode == "hill_climb" and not st2.probe.active
    assert st2.probe.last_success == NOW and "probe succeeded" in d.reason


def test_probe_timeouts_count_and_two_make_a_zombie():
    st = state(probe=Probe(active=True, since=NOW - DAY - 1), last_outbound_at=NOW - 9 * DAY)
    st, d = decide(st)
    assert not st.probe.active and st.probe.attempts == 1 and not st.probe.zombie
    assert "timed out" in d.reason
    st = dataclasses.replace(st, probe=dataclasses.replace(st.probe, active=True,
                                                           since=NOW - DAY - 1))
    st, d = decide(st)
    assert st.probe.attempts == 2 and st.probe.zombie


def test_probe_beats_fire_sale_and_fire_sale_never_runs_under_a_probe():
    st = state(probe=Probe(active=True, since=NOW - 60, zombie=True),
               last_outbound_at=NOW - 30 * DAY)
    _, d = decide(st)
    assert d.mode == "probe" and d.target_fee_ppm == 0


# -- 4. fire sale --------------------------------------------------------------------------

def zombie():
    return state(probe=Probe(attempts=2, zombie=True), last_outbound_at=NOW - 30 * DAY)


def test_zombie_is_sold_at_one_ppm_until_the_target_outbound_share():
    _, d = decide(zombie())
    assert d.mode == "fire_sale" and d.target_fee_ppm == 1
    _, d = decide(zombie(), facts=facts(local_ratio=0.1))
    assert d.mode != "fire_sale"


def test_fire_sale_stops_for_the_day_at_its_cap():
    st = zombie()
    st = dataclasses.replace(st, mode="fire_sale")
    st = alpha.observe_forward(st, "settled", P.fire_sale_max_daily_msat, 1000, NOW - 10)
    _, d = decide(st)
    assert d.mode == "hill_climb" and "daily cap" in d.reason
    _, d = decide(st, now=NOW + DAY)  # a new day
    assert d.mode == "fire_sale"


def test_long_underwater_channel_is_sold_but_not_a_young_one_with_good_roi():
    econ = ChannelEconomics(klass="underwater", underwater_days=31, marginal_roi=-0.2,
                            days_open=400)
    _, d = decide(economics=econ)
    assert d.mode == "fire_sale"
    _, d = decide(economics=dataclasses.replace(econ, underwater_days=29))
    assert d.mode != "fire_sale"
    good_young = ChannelEconomics(klass="underwater", underwater_days=31, marginal_roi=0.06,
                                  days_open=100)
    _, d = decide(economics=good_young)
    assert d.mode != "fire_sale"
    good_old = dataclasses.replace(good_young, days_open=200)
    _, d = decide(economics=good_old)
    assert d.mode == "fire_sale"


# -- 5. hill climbing, multipliers, bounds ---------------------------------------------------

@pytest.mark.parametrize("ratio,expected", [
    (0.5, 1.0), (0.3, 1.0), (0.15, 2.0), (0.0, 3.0), (0.14, 2.0), (0.01, 2 + 2 / 3),
    (0.7, 1.0), (0.85, 0.75), (0.89, 0.75), (1.0, 0.5)])
def test_liquidity_multiplier(ratio, expected):
    m = alpha.scarcity_multiplier(facts(local_ratio=ratio), 0.3, surplus_floor=0.5)
    assert m == pytest.approx(expected)


def test_no_surplus_discount_when_disabled():
    assert alpha.scarcity_multiplier(facts(local_ratio=1.0), 0.3, surplus_floor=1.0) == 1.0


def test_virgin_channel_gets_amnesty_from_scarcity():
    virgin = facts(local_ratio=0.05, opener="remote", out_fulfilled=0)
    _, d = decide(state(mode="new"), facts=virgin)
    assert d.multipliers["scarcity"] == 1.0 and "virgin" in d.reason
    used = facts(local_ratio=0.05, opener="remote", out_fulfilled=1)
    _, d = decide(state(mode="new"), facts=used)
    assert d.multipliers["scarcity"] > 2


def test_scarcity_is_held_between_evaluations_unless_it_jumps():
    st, d = decide(state(mode="new"), facts=facts(local_ratio=0.25))
    held = d.multipliers["scarcity"]
    st, d = decide(st, facts=facts(local_ratio=0.2), now=NOW + 600)  # small drift
    assert d.multipliers["scarcity"] == held
    st, d = decide(st, facts=facts(local_ratio=0.02), now=NOW + 1200)  # a jump
    assert d.multipliers["scarcity"] > held + 0.5


def test_profitability_multiplier_applies():
    _, d = decide(state(mode="new"), economics=ChannelEconomics(klass="underwater"))
    assert d.multipliers["profitability"] == 1.25 and d.target_fee_ppm == 125


def test_floor_raised_by_mempool_and_refill_cost_and_ceiling_wins():
    _, d = decide(state(mode="new"), facts=facts(fee_ppm=10), mempool_multiplier=2.5)
    assert d.floor == 25 and d.target_fee_ppm >= 25
    _, d = decide(state(mode="new"), facts=facts(fee_ppm=10), refill_cost_ppm=400,
                  rebalancing=True)
    assert d.floor == 400 and d.target_fee_ppm == 400
    _, d = decide(state(mode="new"), facts=facts(fee_ppm=10), refill_cost_ppm=400,
                  rebalancing=False)
    assert d.floor == 10
    _, d = decide(state(mode="new"), refill_cost_ppm=9000, rebalancing=True)
    assert d.floor == d.ceiling == 2500 and d.target_fee_ppm == 2500


@pytest.mark.parametrize("ratio,mult,ppm,econ", list(itertools.product(
    (0.0, 0.07, 0.31), (1.0, 1.37, 3.0), (0, 3, 999, 10**6),
    (None, "underwater", "stagnant"))))
def test_fees_reaching_setchannel_are_ints_within_bounds(ratio, mult, ppm, econ):
    e = ChannelEconomics(klass=econ) if econ else None
    st = state(mode="new", climb=dataclasses.replace(FeeState().climb, base_ppm=ppm))
    _, d = decide(st, facts=facts(local_ratio=ratio), mempool_multiplier=mult, economics=e)
    assert type(d.target_fee_ppm) is int and type(d.base_msat) is int
    assert d.floor <= d.target_fee_ppm <= d.ceiling


def test_adopts_a_fee_changed_outside_revops():
    st, _ = decide(state(last_broadcast_fee_ppm=100), facts=facts(fee_ppm=250))
    assert st.last_broadcast_fee_ppm == 250


def test_outcome_bookkeeping():
    st, d = decide(state(mode="new"))
    failed = alpha.on_broadcast_failed(st)
    assert failed.broadcast_failing and failed.last_broadcast_fee_ppm == 100
    ok = alpha.on_broadcast(failed, 150, 0, NOW)
    assert ok.last_broadcast_fee_ppm == 150 and not ok.broadcast_failing
    assert ok.last_broadcast_at == NOW


def test_congestion_has_an_exit_margin():
    st, d = decide(state(mode="new"), facts=facts(htlcs=400))  # 83 %: enter
    assert d.mode == "congestion"
    st, d = decide(st, facts=facts(htlcs=350), now=NOW + 600)  # 72 %: still congested
    assert d.mode == "congestion"
    st, d = decide(st, facts=facts(htlcs=330), now=NOW + 1200)  # 68 %: out
    assert d.mode == "hill_climb"


def test_leaving_congestion_returns_to_the_fee_before_it():
    st, d = decide(FeeState(), facts=facts(htlcs=480, fee_ppm=10))
    assert d.mode == "congestion"
    st = alpha.on_broadcast(st, 2500, 0, NOW)
    st, d = decide(st, facts=facts(htlcs=0, fee_ppm=2500), now=NOW + 3600)
    assert d.mode == "hill_climb" and d.target_fee_ppm == 10


def test_an_unpriced_channel_starts_its_climb_at_the_market_anchor():
    unpriced = dataclasses.replace(facts(fee_ppm=10), fee_base_msat=1000)
    st, d = decide(FeeState(), facts=unpriced, anchor_ppm=350)
    assert st.climb.base_ppm == 350 and d.target_fee_ppm == 350
    priced = facts(fee_ppm=120)  # someone priced it: its own fee is the start
    st, d = decide(FeeState(), facts=priced, anchor_ppm=350)
    assert st.climb.base_ppm == 120


def test_a_new_climb_waits_for_its_anchor():
    unpriced = dataclasses.replace(facts(fee_ppm=10), fee_base_msat=1000)
    st, d = decide(FeeState(), facts=unpriced, anchor_pending=True)
    assert d.touch is False and st.climb.base_ppm is None and "waiting" in d.reason


def test_market_anchor_is_the_median_of_others_into_the_peer():
    from revops.fees.anchor import market_anchor
    peer, us = "02" + "aa" * 32, "03" + "bb" * 32
    entries = [{"source": f"02{i:064x}", "destination": peer, "active": True,
                "fee_per_millionth": f} for i, f in enumerate((100, 300, 200, 900))]
    entries += [{"source": us, "destination": peer, "active": True, "fee_per_millionth": 1},
                {"source": "02" + "cc" * 32, "destination": peer, "active": False,
                 "fee_per_millionth": 5},
                {"source": "02" + "dd" * 32, "destination": us, "active": True,
                 "fee_per_millionth": 7}]
    assert market_anchor(entries, peer, us) == 244  # isqrt(200 * 300): even count
    assert market_anchor(entries[:3], peer, us) == 200  # odd: the middle one
    assert market_anchor([], peer, us) is None


def matured(**kw) -> FeeState:
    """Hill climbing at base 100 for 7 h, 5 forwards (a window ready to judge), trending down."""
    climb = dataclasses.replace(hill_climb.start(state().climb, 100, NOW - 7 * 3600),
                                base_ppm=100, trend=-1)
    for _ in range(5):
        climb = hill_climb.record(climb, 10_000, 100_000_000)
    return state(climb=climb, **kw)


@pytest.mark.parametrize("ratio,opener,out_fulfilled,fails,up", [
    (0.05, "local", 5, (NOW - 3600,), True),     # ran short and turned buyers away: up
    (0.05, "local", 5, (NOW - 9 * 3600,), False),  # failure before this window: not counted
    (0.50, "local", 5, (NOW - 3600,), False),    # plenty left: one oversized payment
    (0.05, "remote", 0, (NOW - 3600,), False),   # virgin channel keeps its amnesty
    (0.05, "local", 5, (), False),               # short but nobody turned away
])
def test_a_sold_out_window_prices_up(ratio, opener, out_fulfilled, fails, up):
    f = facts(local_ratio=ratio, opener=opener, out_fulfilled=out_fulfilled,
              spendable=10_000_000_000)  # enough for the forwards: no congestion
    st, d = decide(matured(liquidity_failures=fails), facts=f)
    assert d.mode == "hill_climb"
    assert (st.climb.base_ppm > 100) is up, d.reason
    assert ("sold out" in d.reason) is up


def test_leaving_liquidity_congestion_turns_the_climb_upwards():
    need = (500_000_000,) * 5
    st = dataclasses.replace(matured(recent_amounts=need, liquidity_failures=(NOW - 600,)),
                             mode="congestion")
    st, d = decide(st, facts=facts(local_ratio=0.2), now=NOW)  # refilled: out of congestion
    assert d.mode == "hill_climb" and st.climb.trend == 1
