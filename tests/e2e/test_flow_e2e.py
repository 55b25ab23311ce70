"""Flow end to end under revops-sim: the real plugin hydrates a node's
forwards history (surviving a stop in the middle), keeps up with new
forwards, and reports the same money as the simulated market's own books."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from revops.sim.cli import default_plugin_command

pytestmark = pytest.mark.e2e

OPTIONS_100K = {"revenue-ops-flow-page-size": "5000",
                "revenue-ops-flow-hydration-rows-per-cycle": "20000",
                "revenue-ops-flow-retention-days": "36500"}


def listforwards_all(sim: Any) -> dict[int, tuple]:
    """Every forward the node has, paged as a careful client would."""
    out: dict[int, tuple] = {}
    start = 1
    while True:
        page = sim.rpc.call("listforwards", {"index": "created", "start": start,
                                             "limit": 10_000})["forwards"]
        for f in page:
            out[f["created_index"]] = (f["status"], f["in_channel"], f.get("out_channel"),
                                       f["in_msat"], f.get("fee_msat"))
        if len(page) < 10_000:
            return out
        start = page[-1]["created_index"] + 1


def stored_forwards(sim: Any) -> dict[int, tuple]:
    """What revops stored, read straight from its database (another reader
    of the WAL-mode file: nothing of the plugin's is involved)."""
    statuses = {0: "offered", 1: "settled", 2: "failed", 3: "local_failed"}
    db = sqlite3.connect(f"file:{sim.lightning_dir / 'revops.sqlite3'}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT created_index, status, in_channel, out_channel, in_msat,"
                          " fee_msat FROM forward").fetchall()
        (n,) = db.execute("SELECT count(*) FROM forward").fetchone()
    finally:
        db.close()
    assert n == len(rows)
    return {c: (statuses[s], i, o, m, f) for c, s, i, o, m, f in rows}


def our_plugin(sim: Any) -> str:
    return next(p["name"] for p in sim.rpc.plugin("list")["plugins"] if "revops" in p["name"])


def test_hydration_of_100k_forwards_resumes_after_a_stop_and_stores_each_once(revops_sim):
    # Schema validation of 100k rows would cost the sim ~25 s: other tests cover it.
    sim = revops_sim(OPTIONS_100K, channels=40, forwards=100_000, validate=False)
    s = sim.rpc.call("revenue-forwards-sync")
    assert s["hydration"]["state"] == "running"
    assert (s["hydration"]["history_forwards"], s["hydration"]["hydrated"]) == (100_000, 20_000)
    sim.advance(seconds=300)  # one more bounded cycle (asked for with RunSoon)
    s = sim.rpc.call("revenue-forwards-sync")
    # The budget is shared with what is new: a few rows short of 40k of history.
    assert 39_000 < s["hydration"]["hydrated"] <= 40_000 < s["stored_forwards"] + 1000

    # The plugin stops in the middle of hydrating; the node runs on without it.
    plugin = our_plugin(sim)
    sim.rpc.plugin("stop", plugin)
    assert len(stored_forwards(sim)) == s["stored_forwards"]
    sim.advance(hours=1)
    sim.rpc.call("plugin", {"subcommand": "start", "plugin": default_plugin_command(),
                            "revenue-ops-metrics-address": "off", **OPTIONS_100K})
    sim.advance(hours=1)

    s = sim.rpc.call("revenue-forwards-sync")
    assert s["hydration"]["state"] == "done" and s["lag_forwards"] == 0
    assert s["hydration"]["hydrated"] == 100_000
    truth = listforwards_all(sim)
    assert len(truth) > 100_000  # the market kept forwarding meanwhile
    assert stored_forwards(sim) == truth
    assert s["stored_forwards"] == len(truth)
    assert not sim.log_lines("Traceback")


def test_forwards_made_after_start_appear_within_one_flow_cycle(revops_sim):
    sim = revops_sim()  # the default node, answers checked against CLN's schemas
    sim.advance(hours=1)
    top = sim.rpc.call("wait", {"subsystem": "forwards", "indexname": "created",
                                "nextvalue": 0})["created"]
    assert top > 0
    truth = listforwards_all(sim)
    sim.advance(seconds=600)  # one flow-interval: one cycle
    stored = stored_forwards(sim)
    assert set(range(1, top + 1)) <= set(stored)
    # Status changes reached it too: what had settled by then is settled here.
    assert all(stored[c][0] == "settled" for c, t in truth.items() if t[0] == "settled")
    st = sim.rpc.call("revenue-status")["actors"]["flow"]
    assert st["last_tick_ok"] is True and st["last_tick_summary"]["hydrating"] is False


def test_dashboard_equals_the_sim_ledger_to_the_msat(revops_sim):
    sim = revops_sim()
    sim.advance(hours=24)  # the run starts at a UTC midnight: a whole day
    dash = sim.rpc.call("revenue-dashboard", [1])
    ledger = sim.rpc.call("dev-ledger")
    assert ledger["revenue_msat"] > 0
    assert dash["gross_revenue_msat"] == ledger["revenue_msat"]
    assert dash["costs"]["rebalance_msat"] == ledger["rebalance_cost_msat"]
    assert dash["net_profit_msat"] == ledger["net_msat"]
    assert dash["forwards"]["settled"] == ledger["forwards_settled"]
    assert dash["forwards"]["local_failed"] == ledger["forwards_local_failed"]
    assert dash["forwards"]["failed"] == ledger["forwards_downstream_failed"]

    profit = {c["scid"]: c for c in sim.rpc.call("revenue-profitability")["channels"]}
    flows = {c["scid"]: c for c in sim.rpc.call("revenue-flow")["channels"]}
    for ch in ledger["channels"]:
        if ch["scid"] in profit:
            assert profit[ch["scid"]]["revenue_30d_msat"] == ch["revenue_msat"], ch["name"]
            assert flows[ch["scid"]]["settled_out_30d"] == ch["forwards_settled_out"]
            assert flows[ch["scid"]]["out_volume_30d_msat"] == ch["volume_out_msat"]
    assert {p["class"] for p in profit.values()} <= {"profitable", "break-even", "underwater",
                                                    "stagnant", "zombie"}

    # One snapshot per simulated day, and one on demand.
    snap = sim.rpc.call("revenue-snapshot")["snapshot"]
    assert snap["revenue_msat"] == ledger["revenue_msat"]
    assert snap["local_balance_msat"] == sum(c["to_us_msat"] for c in ledger["channels"]
                                             if c["state"] not in ("ONCHAIN", "CLOSED"))
    report = sim.rpc.call("revenue-report", {"days": 7})
    assert [s["trigger"] for s in report["snapshots"]] == ["daily", "daily", "manual"]
    assert report["period"]["revenue_msat"] == ledger["revenue_msat"]

    # Bad parameters are refused with the parameter's name and what it accepts.
    from pyln.client import RpcError
    with pytest.raises(RpcError) as e:
        sim.rpc.call("revenue-dashboard", {"window_days": "a week"})
    assert e.value.error["code"] == -32602 and "window_days" in e.value.error["message"]
    with pytest.raises(RpcError) as e:
        sim.rpc.call("revenue-flow", ["1x2x3"])
    assert e.value.error["code"] == -32602 and "one of our channels" in e.value.error["message"]
