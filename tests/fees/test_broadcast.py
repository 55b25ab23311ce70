"""Which decisions become a setchannel: idempotency, hysteresis, emergencies,
the same-peer bound, and the node-wide gossip budget."""

import pytest

from revops.fees import broadcast
from revops.fees.alpha import Decision

NOW = 1_800_000_000.0


def dec(scid, fee, mode="hill_climb", emergency=False, effect=0, base=0, touch=True):
    return Decision(scid, touch, fee, base, mode, "why", emergency, 1, 2500, {}, effect)


@pytest.mark.parametrize("target,base,chain,last,emergency,expected", [
    (100, 0, 100, 100, False, (False, "idempotent")),
    (100, 0, 100, 100, True, (False, "idempotent")),   # even an emergency
    (104, 0, 100, 100, False, (False, "hysteresis")),  # 4 % < 5 %
    (105, 0, 100, 100, False, (False, "hysteresis")),  # exactly 5 % is not "more than"
    (106, 0, 100, 100, False, (True, "changed")),
    (94, 0, 100, 100, False, (True, "changed")),
    (104, 0, 100, 100, True, (True, "emergency")),
    (100, 1000, 100, 100, False, (True, "changed")),   # base changed
    (1, 0, 0, 0, False, (True, "changed")),            # from zero
])
def test_wants_broadcast(target, base, chain, last, emergency, expected):
    d = dec("1x1x1", target, emergency=emergency, base=base)
    assert broadcast.wants_broadcast(d, chain, 0, last, 0.05) == expected


def test_untouched_is_never_sent():
    assert broadcast.wants_broadcast(dec("1x1x1", 5, touch=False), 10, 0, 10, 0.05) == \
        (False, "untouched")


def test_siblings_to_one_peer_never_undercut_each_other_beyond_the_bound():
    ds = [dec("1x1x1", 1000), dec("2x1x1", 500), dec("3x1x1", 900), dec("4x1x1", 100)]
    peers = {"1x1x1": "A", "2x1x1": "A", "3x1x1": "A", "4x1x1": "B"}
    out = {d.scid: d.target_fee_ppm for d in broadcast.bound_siblings(ds, peers, 0.2)}
    assert out == {"1x1x1": 1000, "2x1x1": 800, "3x1x1": 900, "4x1x1": 100}


def test_sibling_bound_leaves_special_modes_alone():
    ds = [dec("1x1x1", 1000), dec("2x1x1", 0, mode="probe")]
    out = broadcast.bound_siblings(ds, {"1x1x1": "A", "2x1x1": "A"}, 0.2)
    assert out[1].target_fee_ppm == 0


def test_budget_goes_to_the_largest_expected_effect_and_emergencies_always_pass():
    ds = [dec("1x1x1", 200, effect=10), dec("2x1x1", 200, effect=500),
          dec("3x1x1", 200, effect=50), dec("4x1x1", 2500, mode="congestion", emergency=True)]
    chain = {d.scid: (100, 0) for d in ds}
    plan = broadcast.plan(ds, chain, {}, 0.05, budget_per_day=3,
                          sent=[NOW - 3600], now=NOW)  # one already used in the last 24 h
    sent = {p.decision.scid: (p.send, p.why) for p in plan}
    assert sent["4x1x1"] == (True, "emergency")
    assert sent["2x1x1"] == (True, "changed")
    assert sent["3x1x1"] == (False, "budget") and sent["1x1x1"] == (False, "budget")


def test_budget_window_slides_over_24_hours():
    ds = [dec("1x1x1", 200)]
    chain = {"1x1x1": (100, 0)}
    full = broadcast.plan(ds, chain, {}, 0.05, 1, sent=[NOW - 3600], now=NOW)
    assert full[0].why == "budget"
    later = broadcast.plan(ds, chain, {}, 0.05, 1, sent=[NOW - 3600], now=NOW + 23 * 3600)
    assert later[0].send


def test_auto_budget_is_four_per_channel():
    assert broadcast.daily_budget(0, 250) == 1000
    assert broadcast.daily_budget(30, 250) == 30


def test_one_cycle_sends_at_most_its_burst_largest_effect_first_emergencies_beyond():
    ds = [dec(f"{i}x1x1", 200, effect=i) for i in range(1, 6)]
    ds.append(dec("9x1x1", 2500, mode="congestion", emergency=True))
    chain = {d.scid: (100, 0) for d in ds}
    plan = broadcast.plan(ds, chain, {}, 0.05, budget_per_day=100, sent=[], now=NOW, burst=2)
    sent = sorted(p.decision.scid for p in plan if p.send)
    assert sent == ["4x1x1", "5x1x1", "9x1x1"]
    assert all(p.why == "budget" for p in plan if not p.send)


@pytest.mark.parametrize("budget,interval,expected", [
    (20_000, 3600, 1667),  # 5,000 channels hourly: twice 1/24 of the day's budget
    (960, 3600, 1000),     # small nodes: never below MIN_BURST
    (200_000, 600, 2778),
])
def test_cycle_burst(budget, interval, expected):
    assert broadcast.cycle_burst(budget, interval) == expected
