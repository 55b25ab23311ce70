"""The oracle-static search on a market whose best fixed fee is known by
hand: one flow of fixed 10,000-sat payments whose senders' alternative
costs exactly 1,000 msat + 600 ppm, i.e. 7,000 msat a payment (600 survives
the market's exp(log(x)) exactly; 400 would not)."""

from __future__ import annotations

from revops.sim.baselines.oracle import evaluate, search
from revops.sim.market import Market
from revops.sim.scenario import ChannelSpec, Flow, Scenario

ALT_MSAT = 1000 + 10_000_000 * 600 // 1_000_000  # what a sender pays elsewhere


def known_market() -> Scenario:
    chans = (ChannelSpec("in", 50_000_000, 5_000_000, peer_alias="in"),
             ChannelSpec("out", 50_000_000, 45_000_000, peer_alias="out",
                         competitor_fee_ppm=600.0, competitor_fee_sigma=0.0),
             ChannelSpec("idle", 2_000_000, 1_000_000, peer_alias="idle"))
    flows = (Flow("in", "out", 200.0, amount_median_sat=10_000.0, amount_sigma=0.0,
                  alt_fee_median_ppm=600.0, alt_fee_sigma=0.0, alt_fee_base_msat=1000,
                  fail_rate=0.0),)
    return Scenario(name="known", channels=chans, flows=flows)


def test_search_finds_the_best_fixed_fee():
    scenario = known_market()
    r = search(scenario, 3, 1.0, ppms=(100, 300, 500, 600, 700, 800), factors=(1.25, 1.1))
    base, ppm = r.fees["out"]
    # Exactly the senders' alternative: 1000 + 600 ppm or 0 + 700 ppm.
    assert base + 10_000_000 * ppm // 1_000_000 == ALT_MSAT
    # Every payment that reached us paid it.
    check = evaluate(scenario, 3, 1.0, r.fees)
    settled = Market(scenario, 3)
    settled.advance(settled.now + 86400)
    assert r.predicted_revenue_msat == check.revenue_msat == ALT_MSAT * settled.forwards_settled
    assert r.predicted_revenue_msat >= r.best_uniform[2]
    assert r.fees["idle"] == (1000, 10)  # earns nothing at any price: left as it was


def test_a_fee_above_the_alternative_earns_nothing():
    scenario = known_market()
    too_high = evaluate(scenario, 3, 0.5, {"out": (0, 701)})
    right = evaluate(scenario, 3, 0.5, {"out": (0, 700)})
    assert too_high.revenue_msat == 0 < right.revenue_msat


def test_table_is_keyed_by_lightningd_channel_id():
    scenario = known_market()
    r = search(scenario, 1, 0.2, ppms=(600, 700), factors=())
    ids = {c.name: c.channel_id for c in Market(scenario, 1).channels}
    table = r.table()
    assert table["fees"][ids["out"]] == list(r.fees["out"])
    assert set(table["fees"]) == set(ids.values())
