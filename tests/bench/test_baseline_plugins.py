"""The baseline plugins for real under revops-sim, on a node whose balances
never move: each sets what its formula says, through lightningd's RPC, on
the simclock schedule, and the schema-checked node stays clean."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from revops.sim.baselines import formulas as f
from revops.sim.baselines import plugin_command

STILL = Path(__file__).parent / "still.toml"

pytestmark = pytest.mark.e2e


def channels(sim) -> list[dict]:
    return [c for c in sim.rpc.listpeerchannels()["channels"] if c["state"] == "CHANNELD_NORMAL"]


def fee(c: dict) -> tuple[int, int]:
    return c["fee_base_msat"], c["fee_proportional_millionths"]


@pytest.fixture
def baseline(sim_factory):
    def start(name: str, **options):
        sim = sim_factory(plugins=[plugin_command(name)], scenario=STILL, options=options)
        sim.start()
        return sim
    return start


def test_static_sets_cln_defaults_once_and_keeps_to_its_schedule(baseline):
    sim = baseline("static")
    assert {fee(c) for c in channels(sim)} == {(1000, 10)}
    sim.advance(hours=3)
    status = sim.call("static-status")
    assert status["cycles"] == 4  # at start, then hourly: t+1h, t+2h, t+3h
    # Two channels started elsewhere; nothing changes after that.
    assert status["setchannel_calls"] == 2
    assert sim.call("dev-ledger")["fee_updates"] == 2
    sim.stop()


def test_proportional_follows_charge_lnd(baseline):
    sim = baseline("proportional")
    for c in channels(sim):
        want = f.proportional_ppm(c["to_us_msat"], c["total_msat"], 100, 300)
        assert fee(c) == (1000, want), c["short_channel_id"]
    sim.stop()


def test_proportional_options(baseline):
    sim = baseline("proportional", **{"proportional-min-fee-ppm": "0",
                                      "proportional-max-fee-ppm": "1000",
                                      "proportional-base-fee-msat": "0"})
    for c in channels(sim):
        assert fee(c) == (0, f.proportional_ppm(c["to_us_msat"], c["total_msat"], 0, 1000))
    sim.stop()


def test_median_balance_is_competitor_median_times_binned_balance(baseline):
    sim = baseline("median-balance")
    us = sim.rpc.getinfo()["id"]
    chans = channels(sim)
    by_peer: dict[str, list[dict]] = {}
    for c in chans:
        by_peer.setdefault(c["peer_id"], []).append(c)
    assert len(by_peer) == 3
    for peer, cs in by_peer.items():
        rivals = [e for e in sim.rpc.listchannels(destination=peer)["channels"]
                  if e["source"] != us]
        assert rivals
        base = f.weighted_median((e["base_fee_millisatoshi"], e["amount_msat"]) for e in rivals)
        ppm = f.weighted_median((e["fee_per_millionth"], e["amount_msat"]) for e in rivals)
        first = cs[0]
        bins = f.num_bins(first["total_msat"])
        b = min(int(first["to_us_msat"] / first["total_msat"] * bins), bins - 1)
        want = f.clboss_fee(base, ppm, f.bin_multiplier(b, bins))
        # CLBOSS sets one fee per peer: both twin channels get it.
        assert {fee(c) for c in cs} == {want}, peer
    sim.stop()


def test_oracle_static_sets_its_table_and_nothing_else(baseline, tmp_path):
    probe = baseline("static")
    ids = [c["channel_id"] for c in channels(probe)]
    probe.stop()
    table = {"fees": {ids[0]: [0, 321], ids[1]: [5, 4321]}}
    path = tmp_path / "oracle.json"
    path.write_text(json.dumps(table))
    sim = baseline("oracle-static", **{"oracle-fees": str(path)})
    got = {c["channel_id"]: fee(c) for c in channels(sim)}
    assert got[ids[0]] == (0, 321) and got[ids[1]] == (5, 4321)
    assert got[ids[2]] == (1000, 10) and got[ids[3]] == (1000, 10)  # not in the table
    sim.advance(hours=2)
    assert sim.call("oracle-static-status")["setchannel_calls"] == 2
    sim.stop()
