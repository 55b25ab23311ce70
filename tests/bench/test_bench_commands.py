"""The two benchmark commands end to end, tiny: ``revops-sim bench
economics`` on a four-channel node for a few simulated hours with one seed,
and ``revops-sim bench scale`` on a small generated node. They check the
reports' shape and that the numbers hang together, never speed."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from revops.sim.harness import run_sim

TINY = Path(__file__).parent / "tiny.toml"
POLICIES = ["revops", "static", "proportional", "median-balance", "oracle-static"]

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def economics(tmp_path_factory):
    out = tmp_path_factory.mktemp("economics")
    report, plot = out / "report.json", out / "plot.png"
    res = run_sim("bench", "economics", "--scenario", str(TINY), "--days", "0.3", "--seeds", "1",
                  "--jobs", "2", "--sample-hours", "1", "--report", str(report),
                  "--plot", str(plot), timeout=600)
    return res, json.loads(report.read_text()) if report.exists() else None, plot


def test_economics_runs_every_policy_on_the_same_scenario(economics):
    res, report, _ = economics
    assert res.returncode == 0, res.stderr
    assert report["scenarios"] == ["tiny"] and report["seeds"] == [1]
    assert report["policies"] == POLICIES
    assert report["failures"] == 0
    runs = {r["policy"]: r for r in report["runs"]}
    assert sorted(runs) == sorted(POLICIES)
    for r in runs.values():
        assert r["net_msat"] == r["revenue_msat"] - r["rebalance_cost_msat"]
        assert r["days"] == pytest.approx(0.3)
        assert r["plugins_alive_at_end"] == r["plugins_expected"] >= 1
        assert r["broken_log_count"] == 0
        # The same demand reached every policy's node.
        assert r["payment_attempts"] == runs["static"]["payment_attempts"] > 0
        days = [p[0] for p in r["series"]]
        assert days == sorted(days) and days[0] == 0 and days[-1] == pytest.approx(0.3)
        assert r["series"][-1][1] == r["net_msat"]
    assert runs["static"]["fee_updates"] == 0
    assert runs["static"]["rebalance_cost_msat"] == 0
    # The oracle's run lands where its search said it would (set within the first step).
    oracle = runs["oracle-static"]
    assert oracle["oracle"]["predicted_revenue_msat"] == pytest.approx(oracle["revenue_msat"],
                                                                       rel=0.05)


def test_economics_table_and_headline_ratios(economics):
    res, report, _ = economics
    rows = {r["policy"]: r for r in report["table"]}
    for key in ("net_msat", "revenue_msat", "rebalance_cost_msat", "forwards_settled",
                "forwards_failed", "fee_updates_per_channel_per_day"):
        assert all(key in r for r in rows.values())
    nets = {p: r["net_msat"] for p, r in rows.items()}
    best = max(nets[p] for p in ("static", "proportional", "median-balance"))
    assert report["revops_vs_best_baseline"] == pytest.approx(nets["revops"] / best)
    assert report["revops_vs_oracle"] == pytest.approx(nets["revops"] / nets["oracle-static"])
    for key in ("revops_vs_best_baseline_spread", "revops_vs_oracle_spread"):
        assert report[key]["n"] == 1 and report[key]["stdev"] == 0.0
    assert set(report["targets"]) == {"revops_vs_best_baseline", "revops_vs_oracle"}
    for policy in POLICIES:
        assert policy in res.stdout
    assert "revops_vs_best_baseline:" in res.stdout


def test_economics_plot_or_says_it_needs_the_extra(economics):
    res, _, plot = economics
    if importlib.util.find_spec("matplotlib") is None:
        assert "pip install -e '.[bench]'" in res.stderr
        assert not plot.exists()
    else:
        assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_economics_from_report_reprints_without_running(economics, tmp_path):
    res, report, _ = economics
    saved = tmp_path / "saved.json"
    saved.write_text(json.dumps(report))
    again = run_sim("bench", "economics", "--from-report", str(saved))
    assert again.returncode == 0, again.stderr
    assert "economics:" not in again.stdout  # nothing ran
    head = [line for line in res.stdout.splitlines() if line.startswith("revops_vs_")]
    assert head and [line for line in again.stdout.splitlines()
                     if line.startswith("revops_vs_")] == head


def test_economics_refuses_an_unknown_policy():
    res = run_sim("bench", "economics", "--scenario", str(TINY), "--policies", "revops,foo")
    assert res.returncode != 0 and "foo" in res.stderr


def test_scale_reports_every_measure(tmp_path):
    report = tmp_path / "scale.json"
    res = run_sim("bench", "scale", "--channels", "12", "--forwards", "3000", "--hours", "1",
                  "--report", str(report), timeout=600)
    assert res.returncode == 0, res.stderr
    r = json.loads(report.read_text())
    run = r["run"]
    assert run["hydration"]["state"] == "done"
    assert run["hydration"]["rows"] >= 3000
    assert r["hydration_rows_per_second"] > 0 and r["hydration_floor_rows_per_second"] > 0
    assert r["floor"]["raw"]["rows"] == 3000
    assert r["floor"]["isolated_revops"]["stored_forwards"] == 3000
    assert r["hydration_vs_floor"] == pytest.approx(
        r["floor"]["raw"]["rows_per_second"] / r["hydration_rows_per_second"])
    # One listpeerchannels plus one setchannel per changed channel is the floor.
    assert r["fee_cycles"], run["cycles"]
    for c in r["fee_cycles"]:
        assert c["channels"] == 12
        assert c["rpc_calls"] >= c["rpc_minimum"] == 1 + c["sent"]
    assert r["first_fee_cycle_seconds"] > 0 and r["fee_cycle_seconds"]["n"] >= 1
    assert r["incremental_sync_cycle_seconds"]["n"] >= 5  # every 10 minutes for an hour
    assert r["rss_mb"] > 0 and r["threads"] >= 1
    assert r["startup_to_first_fee_cycle_seconds"] > run["plugin_start_rpc_seconds"] > 0
    assert r["plugin_stop_seconds"] > 0 and run["plugin_gone_after_stop"]
    assert run["status_healthy"] is True
    assert set(r["targets"]) == {"hydration_vs_floor", "fee_cycle_seconds", "rss_mb",
                                 "startup_to_first_fee_cycle_seconds", "plugin_stop_seconds"}
    assert "fee cycle" in res.stdout and "plugin stop" in res.stdout
