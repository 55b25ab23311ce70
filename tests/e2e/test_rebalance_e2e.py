"""The rebalancer end to end under revops-sim, on the refill node
(tests/e2e/scenarios/refill.toml): a depleted earning channel refilled from
a surplus one, an unprofitable refill refused with its reason, parallel
jobs against a small budget (checked against the sim's ledger), a plugin
killed mid-payment counting the payment's cost exactly once, sling jobs
cleaned at start and stopped at shutdown, dry-run paying nothing."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from pyln.client import RpcError

from tests.e2e.conftest import BASE_OPTIONS
from tests.e2e.test_backbone_e2e import sample, scrape

REFILL = Path(__file__).parent / "scenarios" / "refill.toml"
FAST = {"revenue-ops-rebalance-interval": "600", "revenue-ops-fee-interval": "3600"}
SINK_FEE = 1200


@pytest.fixture
def refill(revops_sim):
    def start(options: dict[str, Any] | None = None, **kw: Any):
        return revops_sim({**FAST, **(options or {})}, scenario=REFILL, **kw)
    return start


def chans(sim) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in sim.rpc.call("dev-ledger")["channels"]}


def pin_sink(sim, fee: int = SINK_FEE) -> None:
    """The operator fixes the sink's fee: its senders would pay far more."""
    sim.rpc.call("revenue-policy", ["set", chans(sim)["sink"]["peer_id"], "static", fee])


def ledger(sim) -> dict[str, Any]:
    return sim.rpc.call("dev-ledger")


def status(sim) -> dict[str, Any]:
    return sim.rpc.call("revenue-rebalance-status", {"limit": 1000})


def our_plugin(sim) -> str:
    return next(p["name"] for p in sim.rpc.plugin("list")["plugins"] if "revops-plugin" in p["name"])


def plugin_pid(sim) -> int:
    """The running revops plugin process: a child of the simulated lightningd."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                state, ppid = f.read().rsplit(")", 1)[1].split()[:2]
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if int(ppid) == sim.proc.pid and b"revops-plugin" in cmd and state != "Z":
            found.append(int(entry))
    assert len(found) == 1, f"revops plugin processes: {found}"
    return found[0]


def restart_plugin(sim, path: str, options: dict[str, str]) -> None:
    opts = [f"{k}={v}" for k, v in {**BASE_OPTIONS, **options}.items()]
    sim.rpc.call("plugin", {"subcommand": "start", "plugin": path, "options": opts})


def wait_gone(sim, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while any("revops-plugin" in p["name"] for p in sim.rpc.plugin("list")["plugins"]):
        assert time.monotonic() < deadline, "the killed plugin is still listed"
        time.sleep(0.05)


def test_a_depleted_earning_channel_is_refilled_from_a_surplus_one(refill):
    sim = refill({"revenue-ops-metrics-address": "127.0.0.1:0"})
    pin_sink(sim)
    sim.rpc.call("dev-payments", {"success_rate": 1.0})
    before = chans(sim)
    sim.advance(hours=8)
    st = status(sim)
    done = [j for j in st["recent"] if j["state"] == "succeeded"]
    assert done, st["recent"]
    names = {c["scid"]: n for n, c in before.items()}
    # Every refill went into the sink, out of one of the two full sources.
    assert {names[j["to"]] for j in done} == {"sink"}
    assert {names[j["from"]] for j in done} <= {"src", "src-b"}
    led = ledger(sim)
    after = {c["name"]: c for c in led["channels"]}
    moved = sum(j["moved_msat"] for j in done)
    fees = sum(j["fee_msat"] for j in done)
    assert after["sink"]["rebalanced_in_msat"] == moved > 0
    # What revops counts is what the node paid, to the msat.
    assert led["rebalance_cost_msat"] == after["sink"]["rebalance_cost_msat"] == fees
    assert st["totals"]["fee_msat"] == fees and st["totals"]["succeeded"] == len(done)
    # Each refill paid less than half of what the sink earns on the amount.
    for j in done:
        assert j["fee_msat"] * 1_000_000 <= j["moved_msat"] * SINK_FEE // 2 + 1_000_000
        assert j["predicted_ev_msat"] > 0
    budget = sim.rpc.call("revenue-budget")
    assert budget["windows"][0]["spent_msat"] == fees
    # The fee engine hears what refilling cost (its floor when rebalancing is on).
    port = sim.rpc.call("revenue-status")["metrics"]["port"]
    text = scrape(port)
    assert sample(text, 'revops_rebalance_attempts_total{result="succeeded"}') == len(done)
    assert sample(text, "revops_rebalance_spent_msat_total") == fees
    assert sample(text, "revops_rebalance_moved_msat_total") == moved
    assert sample(text, 'revops_rebalance_budget_remaining_msat{window="daily"}') == \
        budget["windows"][0]["remaining_msat"]
    assert sample(text, "revops_rebalance_predicted_ev_msat") is not None
    assert st["realized"]["total"]["refills"] == len(done)
    assert st["realized"]["channels"][before["sink"]["scid"]]["revenue_7d_msat"] > 0
    # askrene's layer of ours keeps routes off our node and knows what was used.
    [layer] = sim.rpc.call("askrene-listlayers", {"layer": "revops"})["layers"]
    assert layer["disabled_nodes"] == [sim.rpc.getinfo()["id"]]
    assert layer["impressions"]


def test_failing_refills_trip_the_breaker_and_leave_no_invoice_behind(refill):
    sim = refill({"revenue-ops-rebalance-breaker-failures": "2",
                  "revenue-ops-rebalance-breaker-hours": "24"})
    pin_sink(sim)
    sim.rpc.call("dev-payments", {"success_rate": 0.0})  # every remote hop fails
    sim.advance(hours=8)
    c = chans(sim)
    st = status(sim)
    failed = [j for j in st["recent"] if j["state"] == "failed"]
    # More than 2 consecutive failures open the sink's breaker: 3 tries, then quiet.
    assert len(failed) == 3 and st["totals"]["succeeded"] == 0
    assert all(j["to"] == c["sink"]["scid"] for j in failed)
    assert all("payment failed at hop" in j["reason"] for j in failed)
    assert c["sink"]["scid"] in st["breaker"]["open"]
    report = sim.rpc.call("revenue-rebalance-cycle")
    assert report["started"] == 0
    assert any(s["scid"] == c["sink"]["scid"] and "breaker open" in s["reason"]
               for s in report["skipped_channels"])
    with pytest.raises(RpcError, match="futility breaker open"):
        sim.rpc.call("revenue-rebalance", [c["src"]["scid"], c["sink"]["scid"], 100_000, 1000])
    # Failed refills' invoices are deleted; askrene was told where they failed.
    assert [i for i in sim.rpc.call("listinvoices")["invoices"]
            if i["label"].startswith("revops-rebalance-")] == []
    [layer] = sim.rpc.call("askrene-listlayers", {"layer": "revops"})["layers"]
    assert any(k["maximum_msat"] < 2 ** 64 - 1 for k in layer["constraints"])
    led = ledger(sim)
    assert led["rebalances_failed"] == 3 and led["rebalance_cost_msat"] == 0
    assert sim.rpc.call("revenue-budget")["windows"][0]["spent_msat"] == 0


def test_an_unprofitable_refill_is_refused_with_its_reason(refill):
    sim = refill()
    pin_sink(sim, fee=2)  # the sink sells for almost nothing: refilling cannot pay
    sim.rpc.call("dev-payments", {"success_rate": 1.0})
    sim.advance(hours=8)
    c = chans(sim)
    report = sim.rpc.call("revenue-rebalance-cycle")
    [plan] = [p for p in report["plans"] if p["to"] == c["sink"]["scid"]]
    assert plan["refused"].startswith("unprofitable:") and "2 ppm" in plan["refused"]
    assert report["started"] == 0
    assert any(a["action"] == "refused" and a["to"] == c["sink"]["scid"]
               for a in report["attempts"])
    # The operator's refill into a channel nobody pays through is refused too.
    with pytest.raises(RpcError) as err:
        sim.rpc.call("revenue-rebalance", [c["src"]["scid"], c["dead"]["scid"], 100_000])
    assert "refused: unprofitable: no demand" in err.value.error["message"]
    assert ledger(sim)["payments_sent"] == 0
    assert status(sim)["totals"] == {"succeeded": 0, "failed": 0, "fee_msat": 0,
                                     "moved_msat": 0}


def test_twenty_parallel_jobs_never_exceed_a_small_budget(refill):
    budget_sat = 60
    sim = refill({"revenue-ops-rebalance-budget-daily-sats": str(budget_sat),
                  "revenue-ops-rebalance-max-parallel": "20"})
    pin_sink(sim)
    # Every payment passes, but only after 5 to 7 minutes: all 20 are in
    # flight together.
    sim.rpc.call("dev-payments", {"success_rate": 1.0, "hold_min_s": 300, "hold_max_s": 420})
    c = chans(sim)
    started, refused = [], []
    for _ in range(20):
        try:
            r = sim.rpc.call("revenue-rebalance", [c["src"]["scid"], c["sink"]["scid"], 50_000,
                                                   1000])
            started.append(r)
        except RpcError as e:
            refused.append(e.error["message"])
    assert started and refused
    assert all("budget" in m for m in refused), refused
    held = sim.rpc.call("revenue-budget")["windows"][0]
    assert held["reserved_msat"] == sum(r["route_fee_msat"] for r in started)
    assert held["spent_msat"] + held["reserved_msat"] <= budget_sat * 1000
    assert len(status(sim)["in_flight"]) == len(started)
    sim.advance(hours=2)  # all settle; the automatic cycles find no budget left
    led = ledger(sim)
    st = status(sim)
    assert st["in_flight"] == []
    assert led["rebalance_cost_msat"] <= budget_sat * 1000
    assert led["rebalance_cost_msat"] == st["totals"]["fee_msat"]
    assert led["rebalances_succeeded"] == st["totals"]["succeeded"] >= len(started)
    spent = sim.rpc.call("revenue-budget")["windows"][0]
    assert spent["spent_msat"] == led["rebalance_cost_msat"] and spent["reserved_msat"] == 0


@pytest.mark.parametrize("how", ["sigkill", "plugin stop"])
def test_a_plugin_killed_mid_payment_counts_its_cost_exactly_once(refill, how):
    options = {**FAST}
    sim = refill()
    pin_sink(sim)
    sim.rpc.call("dev-payments", {"success_rate": 1.0, "hold_min_s": 900, "hold_max_s": 1000})
    c = chans(sim)
    job = sim.rpc.call("revenue-rebalance", [c["src"]["scid"], c["sink"]["scid"], 200_000, 1000])
    assert job["action"] == "started"
    path = our_plugin(sim)
    if how == "sigkill":
        os.kill(plugin_pid(sim), signal.SIGKILL)
        wait_gone(sim)
    else:
        sim.rpc.plugin("stop", path)
    sim.advance(hours=1)  # the payment settles while revops is away
    led = ledger(sim)
    assert led["rebalances_succeeded"] == 1 and led["rebalance_cost_msat"] > 0
    restart_plugin(sim, path, options)
    sim.advance(hours=0.5)  # reconciliation, then cycles
    st = status(sim)
    [done] = [j for j in st["recent"] if j["id"] == job["job_id"]]
    assert done["state"] == "succeeded" and done["fee_msat"] == job["route_fee_msat"]
    # Counted once: in the job, the budget and the P&L ledger, as in the node's.
    mine = [j for j in st["recent"] if j["state"] == "succeeded"]
    assert sum(j["fee_msat"] for j in mine) == ledger(sim)["rebalance_cost_msat"]
    assert sim.rpc.call("revenue-budget")["windows"][0]["spent_msat"] == \
        ledger(sim)["rebalance_cost_msat"]
    # A second restart finds nothing left to count.
    path = our_plugin(sim)
    sim.rpc.plugin("stop", path)
    restart_plugin(sim, path, options)
    sim.advance(hours=0.5)
    again = status(sim)
    assert again["totals"] == st["totals"] or again["totals"]["succeeded"] > st["totals"][
        "succeeded"]  # only new refills may add
    assert sum(j["fee_msat"] for j in again["recent"] if j["state"] == "succeeded") == \
        ledger(sim)["rebalance_cost_msat"]


def test_sling_jobs_are_cleaned_at_start_and_stopped_at_shutdown(refill):
    options = {**FAST, "revenue-ops-rebalancer": "sling"}
    sim = refill(options, extra_args=["--sling"])
    # A cheap sink: no automatic refill pays, so the only sling jobs are the
    # operator's (given a fee limit, they go ahead).
    pin_sink(sim, fee=2)
    sim.rpc.call("dev-payments", {"success_rate": 1.0, "hold_min_s": 900, "hold_max_s": 1000})
    c = chans(sim)
    sink = c["sink"]["scid"]
    job = sim.rpc.call("revenue-rebalance", [c["src"]["scid"], sink, 200_000, 1000])
    assert job["action"] == "started" and job["mode"] == "sling"
    # A one-time job (sling-once): nothing saved for sling to restart.
    assert sim.rpc.call("sling-jobsettings") == {}
    assert sim.log_lines(rf"{sink}/1: Spawning once-job")
    sim.advance(seconds=60)  # sling starts paying
    path = our_plugin(sim)

    # plugin stop: revops stops its sling jobs on the way out.
    sim.rpc.plugin("stop", path)
    assert sim.log_lines(rf"{sink}/1: Stopping job")
    restart_plugin(sim, path, options)
    sim.advance(hours=1)  # sling's payment in flight settles; revops accounts for it
    st = status(sim)
    [done] = [j for j in st["recent"] if j["id"] == job["job_id"]]
    assert done["state"] == "succeeded" and done["moved_msat"] == 200_000_000
    assert sum(j.get("fee_msat", 0) for j in st["recent"]) == ledger(sim)["rebalance_cost_msat"]

    # Killed with a sling job running: the next start cleans it up first.
    job2 = sim.rpc.call("revenue-rebalance", [c["src-b"]["scid"], sink, 100_000, 1000])
    os.kill(plugin_pid(sim), signal.SIGKILL)
    wait_gone(sim)
    restart_plugin(sim, path, options)
    sim.advance(seconds=600)  # the first cycle reconciles before anything new
    assert sim.log_lines(r"reconciled 1 job\(s\) left open by a previous run")
    sim.advance(hours=1)
    st = status(sim)
    [old] = [j for j in st["recent"] if j["id"] == job2["job_id"]]
    assert old["state"] in ("succeeded", "failed")  # its payment in flight ran its course
    assert st["in_flight"] == []
    assert sum(j.get("fee_msat", 0) for j in st["recent"]) == ledger(sim)["rebalance_cost_msat"]


def test_dry_run_computes_and_reports_but_pays_nothing(refill):
    sim = refill({"revenue-ops-dry-run": None})
    pin_sink(sim)
    sim.rpc.call("dev-payments", {"success_rate": 1.0})
    sim.advance(hours=8)
    c = chans(sim)
    report = sim.rpc.call("revenue-rebalance-cycle")
    assert report["dry_run"] is True
    tried = [a for a in report["attempts"] if a["to"] == c["sink"]["scid"]]
    assert tried and tried[0]["action"] == "dry_run"
    assert tried[0]["route_fee_msat"] > 0 and tried[0]["predicted_ev_msat"] > 0
    manual = sim.rpc.call("revenue-rebalance", [c["src"]["scid"], c["sink"]["scid"], 100_000])
    assert manual["action"] == "dry_run" and manual["dry_run"] is True
    led = ledger(sim)
    assert led["payments_sent"] == 0 and led["rebalance_cost_msat"] == 0
    assert sim.rpc.call("listinvoices")["invoices"] == []
    assert status(sim)["totals"]["succeeded"] == 0
    assert sim.rpc.call("revenue-budget")["windows"][0]["reserved_msat"] == 0


def test_a_manual_refill_is_followed_up_within_minutes_not_at_the_next_cycle(refill):
    sim = refill({"revenue-ops-rebalance-interval": "7200",
                  "revenue-ops-rebalance-poll-interval": "60"})
    pin_sink(sim)
    sim.rpc.call("dev-payments", {"success_rate": 1.0, "hold_min_s": 100, "hold_max_s": 120})
    sim.advance(hours=0.1)
    c = chans(sim)
    job = sim.rpc.call("revenue-rebalance", [c["src"]["scid"], c["sink"]["scid"], 100_000, 1000])
    sim.advance(seconds=30)
    assert [j["id"] for j in status(sim)["in_flight"]] == [job["job_id"]]
    sim.advance(seconds=270)  # polled a minute apart: done long before the next cycle
    [done] = [j for j in status(sim)["recent"] if j["id"] == job["job_id"]]
    assert done["state"] == "succeeded"
    assert done["completed_at"] - done["created_at"] <= 300
    assert ledger(sim)["rebalance_cost_msat"] == done["fee_msat"]
