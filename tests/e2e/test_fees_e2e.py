"""The fee engine end to end under revops-sim: congestion, the zero-fee
probe, hysteresis, a failing setchannel, dry-run, restart, and the mempool
reflex, on the small test node."""

from __future__ import annotations

from pathlib import Path

import pytest

from revops.sim.cli import default_plugin_command
from tests.e2e.conftest import BASE_OPTIONS
from tests.e2e.test_backbone_e2e import sample, scrape

SMALL = Path(__file__).parent / "scenarios" / "small.toml"
FAST = {"revenue-ops-fee-interval": "3600", "revenue-ops-hill-climb-window-hours": "2"}


def scids(sim) -> dict[str, str]:
    return {c["name"]: c["scid"] for c in sim.rpc.call("dev-ledger")["channels"]}


def chain_fee(sim, scid: str) -> int:
    ch = sim.rpc.listpeerchannels(short_channel_id=scid)["channels"][0]
    return ch["fee_proportional_millionths"]


def fees(sim, scid: str) -> dict:
    return sim.rpc.call("revenue-fees", {"channel": scid})["channels"][0]


@pytest.fixture
def small(revops_sim):
    def start(options=None, **kw):
        return revops_sim({**FAST, **(options or {})}, scenario=SMALL, **kw)
    return start


def test_congested_channel_goes_to_the_ceiling(small):
    sim = small()
    sim.advance(hours=1)
    s = scids(sim)
    assert chain_fee(sim, s["congested"]) == 2500
    f = fees(sim, s["congested"])
    assert f["mode"] == "congestion" and "HTLC slots" in f["reason"]
    assert chain_fee(sim, s["bal-a"]) != 2500


def test_probe_sets_zero_and_clears_on_a_forward(small):
    sim = small()
    sim.advance(hours=1)
    s = scids(sim)
    sim.rpc.call("revenue-probe", [s["sink"]])
    sim.advance(hours=1)  # next fee cycle
    assert chain_fee(sim, s["sink"]) == 0
    assert fees(sim, s["sink"])["mode"] == "probe"
    sim.advance(hours=2)  # forwards flow out of sink all the time
    f = fees(sim, s["sink"])
    assert f["probe"]["active"] is False and f["probe"]["last_success"] is not None
    assert f["mode"] == "hill_climb" and chain_fee(sim, s["sink"]) > 0
    hist = sim.rpc.call("revenue-history", {"channel": s["sink"]})["history"]
    assert any(h["mode"] == "probe" and h["new_fee_ppm"] == 0 for h in hist)


def test_hysteresis_suppresses_a_small_change(small):
    # Steps of 2-3 % from a 200 ppm floor are inside the 5 % hysteresis: the
    # internal target moves, and is broadcast only once it is 5 % away.
    sim = small({"revenue-ops-min-fee-ppm": "200", "revenue-ops-hill-climb-step-min": "0.02",
                 "revenue-ops-hill-climb-step-max": "0.03",
                 "revenue-ops-metrics-address": "127.0.0.1:0"})
    sim.advance(hours=12)
    port = sim.rpc.call("revenue-status")["metrics"]["port"]
    text = scrape(port)
    assert sample(text, 'revops_fee_updates_suppressed_total{why="hysteresis"}') >= 1
    climbs = [h for h in sim.rpc.call("revenue-history", {"limit": 1000})["history"]
              if h["mode"] == "hill_climb" and h["old_fee_ppm"]]
    assert climbs
    for h in climbs:
        assert abs(h["new_fee_ppm"] - h["old_fee_ppm"]) > 0.05 * h["old_fee_ppm"], h


def test_failed_setchannel_keeps_the_broadcast_fee_and_is_retried(small):
    sim = small()
    sim.advance(hours=1)
    s = scids(sim)
    before = chain_fee(sim, s["bal-a"])
    sim.rpc.call("dev-fault", {"method": "setchannel", "error_rate": 1.0})
    sim.rpc.call("revenue-set-fee", [s["bal-a"], 777])
    sim.advance(hours=1)
    assert chain_fee(sim, s["bal-a"]) == before  # the call failed: nothing changed
    f = fees(sim, s["bal-a"])
    assert f["last_broadcast_fee_ppm"] == before and f["target_fee_ppm"] == 777
    sim.advance(hours=2)  # retried every cycle, logged once
    assert len(sim.log_lines(f"setchannel for {s['bal-a']} failed")) == 1
    sim.rpc.call("dev-fault", {"method": "setchannel", "clear": True})
    sim.advance(hours=1)
    assert chain_fee(sim, s["bal-a"]) == 777
    assert fees(sim, s["bal-a"])["last_broadcast_fee_ppm"] == 777
    hist = sim.rpc.call("revenue-history", {"channel": s["bal-a"]})["history"]
    outcomes = [h["outcome"] for h in hist if h["new_fee_ppm"] == 777]
    assert outcomes[0] == "broadcast" and outcomes.count("failed") == 3


def test_dry_run_decides_and_records_but_sends_nothing(small):
    sim = small({"revenue-ops-dry-run": None})
    sim.advance(hours=8)
    ledger = sim.rpc.call("dev-ledger")
    assert ledger["fee_updates"] == 0
    assert all(c["final_fee_ppm"] == 10 for c in ledger["channels"])
    hist = sim.rpc.call("revenue-history")["history"]
    assert hist and {h["outcome"] for h in hist} == {"dry_run"}
    assert sim.rpc.call("revenue-status")["dry_run"] is True


def test_restart_resumes_each_channels_hill_climb(small):
    # Restart the plugin, not the node: the sim's market does not survive a
    # node restart, lightningd's channels would.
    sim = small()
    sim.advance(hours=10)
    before = {c["scid"]: (c["hill_climb"], c["last_broadcast_fee_ppm"], c["mode"])
              for c in sim.rpc.call("revenue-fees")["channels"]}
    assert any(hc["ref_rate"] is not None for hc, _, _ in before.values())
    name = next(p["name"] for p in sim.rpc.plugin("list")["plugins"] if "revops" in p["name"])
    sim.rpc.plugin("stop", name)
    sim.rpc.plugin_start(default_plugin_command(), **{**BASE_OPTIONS, **FAST})
    after = {c["scid"]: (c["hill_climb"], c["last_broadcast_fee_ppm"], c["mode"])
             for c in sim.rpc.call("revenue-fees")["channels"]}
    assert after == before


def test_mempool_spike_raises_floors_and_decays(small):
    sim = small({"revenue-ops-mempool-interval": "600"})
    sim.advance(hours=20)
    calm = sim.rpc.call("revenue-mempool")
    assert calm["intensity"] == 0 and calm["floor_multiplier"] == 1.0
    sim.advance(hours=5)  # the spike starts at 24 h
    spike = sim.rpc.call("revenue-mempool")
    assert spike["intensity"] > 0.5 and spike["floor_multiplier"] > 2
    floors = {c["floor_ppm"] for c in sim.rpc.call("revenue-fees")["channels"]
              if c["mode"] == "hill_climb"}
    assert floors and min(floors) > 20  # min-fee-ppm 10, times the multiplier
    sim.advance(hours=12)  # the spike is over: intensity decays 0.85 per reading
    after = sim.rpc.call("revenue-mempool")
    assert after["intensity"] < 0.05 and after["floor_multiplier"] < 1.1
