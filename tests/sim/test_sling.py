"""The simulated sling plugin: its job parsing and messages, jobs that move
liquidity on the simulated clock and report what they spent, stop, delete,
and jobs that outlive the plugin and the node (files in the lightning dir)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pyln.client import RpcError as PylnRpcError

from revops.sim.cli import sling_plugin_command, summary_table
from revops.sim.harness import run_sim
from revops.sim.jsonrpc import RpcError
from revops.sim.market import Market
from revops.sim.sling_plugin import (
    CallError,
    Files,
    Job,
    Options,
    Sling,
    SlingError,
    parse_job,
    parse_once_job,
)
from tests.sim.market_fixtures import FakeNode, call
from tests.sim.payment_fixtures import TABLE, quiet_market

SCID = "704776x2087x3"


@pytest.mark.parametrize("args, message", [
    ({"direction": "pull", "amount": 1, "maxppm": 1, "outppm": 1}, "Missing scid"),
    ({"scid": SCID, "amount": 1, "maxppm": 1, "outppm": 1}, "Missing direction"),
    ({"scid": SCID, "direction": "sideways", "amount": 1, "maxppm": 1, "outppm": 1},
     "could not parse direction, use pull or push"),
    ({"scid": SCID, "direction": "pull", "maxppm": 1, "outppm": 1}, "Missing amount"),
    ({"scid": SCID, "direction": "pull", "amount": 0, "maxppm": 1, "outppm": 1},
     "amount must be greater than 0"),
    ({"scid": SCID, "direction": "pull", "amount": 1, "outppm": 1}, "Missing maxppm"),
    ({"scid": SCID, "direction": "pull", "amount": 1, "maxppm": 1},
     "Atleast one of outppm and candidatelist need to be set."),
    ({"scid": SCID, "direction": "pull", "amount": 1, "maxppm": 1, "outppm": 1, "maxhops": 1},
     "maxhops must be atleast 2"),
    ({"scid": SCID, "direction": "pull", "amount": 1, "maxppm": 1, "outppm": 1,
      "depleteuptopercent": 1.0}, "depleteuptopercent must be between 0.0 and <1.0"),
    ({"scid": SCID, "direction": "pull", "amount": 1, "maxppm": 1, "outppm": 1,
      "paralleljobs": 0}, "paralleljobs must be atleast 1"),
    ({"scid": SCID, "direction": "pull", "amount": 1, "maxppm": 1, "candidates": "x"},
     "Invalid array for candidate list"),
    ({"scid": SCID, "direction": "pull", "amount": 1, "maxppm": 1, "outppm": 1, "bogus": 1},
     "Invalid argument: bogus"),
])
def test_job_parameters_are_checked_as_sling_does(args: dict[str, Any], message: str) -> None:
    with pytest.raises(SlingError, match=f"^{message}$"):
        parse_job(args)


def test_job_internal_form_roundtrips() -> None:
    scid, job = parse_job({"scid": SCID, "direction": "push", "amount": 100_000, "maxppm": 300,
                           "candidates": ["1x2x3"], "target": 0.8, "depleteuptoamount": 5})
    assert scid == SCID
    assert job.to_json() == {"sat_direction": "push", "amount_msat": 100_000_000, "maxppm": 300,
                             "outppm": None, "candidatelist": ["1x2x3"], "target": 0.8,
                             "maxhops": None, "depleteuptopercent": None,
                             "depleteuptoamount": 5000, "paralleljobs": None}
    assert Job.from_json(json.loads(json.dumps(job.to_json()))) == job


# -- jobs at work, driven like the plugin's clock drives them -----------------------------------


def _sling(m: Market, lightning_dir: Path, **opts: Any) -> tuple[Sling, FakeNode]:
    node = FakeNode(m)

    def rpc(method: str, params: dict[str, Any]) -> Any:
        try:
            # Every answer is schema-checked, but for the big channel listing
            # sling reads each tick (checked in the market's own tests).
            return call(TABLE, node, method, params, validate=method != "listpeerchannels")
        except RpcError as e:
            raise CallError(e.code, e.message, e.data) from None

    return Sling(rpc, Files(lightning_dir), Options(**opts), m.now, our_id=m.node_id), node


def _run(s: Sling, m: Market, hours: float) -> None:
    """What the simclock protocol does: tick, advance to the next wakeup."""
    end = m.now + hours * 3600
    while m.now < end:
        wake = s.tick(m.now)
        m.advance(min(end, wake if wake is not None and wake > m.now else m.now + 300))


def test_a_pull_job_refills_its_channel_and_reports_what_it_spent(tmp_path: Path) -> None:
    m = quiet_market(success_rate=1.0)
    s, _ = _sling(m, tmp_path)
    low = min((c for c in m.channels if c.name.startswith("src")),
              key=lambda c: c.to_us_msat / c.capacity_msat)
    assert low.to_us_msat < 0.3 * low.capacity_msat
    assert s.cmd_job({"scid": low.scid, "direction": "pull", "amount": 200_000,
                      "maxppm": 3000, "outppm": 5000, "target": 0.4}) == {"result": "success"}
    assert s.cmd_go(None) == {"jobs_started": 1}
    assert s.cmd_go(None) == {"jobs_started": 0}  # already running
    _run(s, m, 2)
    assert 0.4 * low.capacity_msat <= low.to_us_msat < 0.4 * low.capacity_msat + 200_000_000
    assert s.tasks[low.scid][0].state == "Balanced"
    stats = s.cmd_stats(low.scid, True)["successes_in_time_window"]
    ledger = m.ledger()
    assert stats["total_amount_sats"] * 1000 == ledger["rebalanced_msat"] == low.rebalanced_in_msat
    assert stats["total_spent_msat"] == ledger["rebalance_cost_msat"] == low.rebalance_cost_msat > 0
    assert stats["total_spent_sats"] == ledger["rebalance_cost_msat"] // 1000
    assert stats["total_rebalances"] == ledger["rebalances_succeeded"]
    assert stats["feeppm_max"] <= 3000
    summary = s.cmd_stats(None, True)
    assert [(r["scid"], r["status"], r["rebamount"]) for r in summary] == [
        (low.scid, ["1:Balanced"], stats["total_amount_sats"])]
    table = s.cmd_stats(None, False)
    assert table["format-hint"] == "simple" and low.scid in table["result"]
    # The stats sit where sling keeps them, one JSON line per rebalance.
    lines = (tmp_path / "sling" / f"{low.scid}_successes.json").read_text().splitlines()
    assert len(lines) == stats["total_rebalances"]


def test_push_stop_and_delete(tmp_path: Path) -> None:
    m = quiet_market(success_rate=1.0)
    s, _ = _sling(m, tmp_path, paralleljobs=2)
    full = max((c for c in m.channels if c.name.startswith("sink")),
               key=lambda c: c.to_us_msat / c.capacity_msat)
    before = full.to_us_msat
    s.cmd_job({"scid": full.scid, "direction": "push", "amount": 100_000, "maxppm": 3000,
               "outppm": 0, "target": 0.99})
    assert s.cmd_go(full.scid) == {"jobs_started": 2}
    _run(s, m, 0.2)
    assert full.to_us_msat < before  # pushed out
    moved = m.payments.payments_sent
    stopped = s.cmd_stop(full.scid)
    assert stopped == {"stopped_count": 2}
    _run(s, m, 0.5)  # in-flight payments resolve; nothing new starts
    assert all(t.state == "Stopped" and not t.active for t in s.tasks[full.scid])
    assert m.payments.payments_sent == moved
    assert all(p.status != "pending" for p in m.payments.payments)
    with pytest.raises(SlingError, match="Shortchannelid not found in jobs"):
        s.cmd_go("1x1x1")
    with pytest.raises(SlingError, match="^1x1x1: No job running$"):
        s.cmd_stop("1x1x1")
    assert s.cmd_deletejob(full.scid, True) == {"result": "success"}
    assert s.cmd_jobsettings(None) == {}
    assert not (tmp_path / "sling" / f"{full.scid}_successes.json").exists()
    with pytest.raises(SlingError, match="No jobs found"):
        s.cmd_go(None)


def test_jobs_outlive_the_plugin_and_autogo_restarts_them(tmp_path: Path) -> None:
    m = quiet_market(success_rate=1.0)
    s, _ = _sling(m, tmp_path)
    chan = m.channel_by_name("src-1")
    s.cmd_job({"scid": chan.scid, "direction": "pull", "amount": 50_000, "maxppm": 2000,
               "outppm": 2000})
    with pytest.raises(SlingError, match="^Could not find channel or not in CHANNELD_NORMAL "
                                         "state: 1x1x1$"):
        s.cmd_job({"scid": "1x1x1", "direction": "pull", "amount": 1, "maxppm": 1, "outppm": 1})
    # A new process on the same lightning dir: the job is still there, not running.
    again, _ = _sling(m, tmp_path)
    assert list(again.cmd_jobsettings(None)) == [chan.scid]
    assert again.cmd_jobsettings(chan.scid)[chan.scid]["amount_msat"] == 50_000_000
    assert again.tasks == {}
    auto, _ = _sling(m, tmp_path, autogo=True)
    auto.start()
    assert [t.state for t in auto.tasks[chan.scid]] == ["Starting"]
    # Exceptions persist too.
    assert auto.cmd_except(True, "add", "02" + "ab" * 32) == {"result": "success"}
    assert _sling(m, tmp_path)[0].cmd_except(True, "list", None) == ["02" + "ab" * 32]
    with pytest.raises(SlingError, match="You can't except your own channels"):
        auto.cmd_except(False, "add", chan.scid)


# -- the plugin itself, under the simulated node -------------------------------------------------


def test_sling_plugin_under_the_sim(sim_factory: Any) -> None:
    sim = sim_factory(extra_args=["--sling"]).start()
    rpc = sim.rpc
    assert rpc.call("sling-version")["version"].endswith("revops-sim")
    rpc.call("dev-payments", {"success_rate": 1.0})
    chans = rpc.listpeerchannels()["channels"]
    low = min((c for c in chans if c["state"] == "CHANNELD_NORMAL" and c["to_us_msat"]),
              key=lambda c: c["to_us_msat"] / c["total_msat"])
    job = {"scid": low["short_channel_id"], "direction": "pull", "amount": 100_000,
           "maxppm": 3000, "outppm": 5000, "target": low["to_us_msat"] / low["total_msat"] + 0.05}
    assert rpc.call("sling-job", job) == {"result": "success"}
    assert rpc.call("sling-go", {}) == {"jobs_started": 1}
    sim.advance(hours=1)
    stats = rpc.call("sling-stats", [low["short_channel_id"], True])["successes_in_time_window"]
    ledger = rpc.call("dev-ledger")
    assert stats["total_amount_sats"] * 1000 == ledger["rebalanced_msat"] > 0
    assert stats["total_spent_msat"] == ledger["rebalance_cost_msat"] > 0
    # Its clock is the sim's: the rebalances happened in the simulated hour.
    assert stats["time_of_last_rebalance"].startswith("2026-01-01 00:")
    assert rpc.call("sling-stop", {}) == {"stopped_count": 1}
    sim.advance(hours=0.1)
    [row] = rpc.call("sling-stats", {"json": True})
    assert row["status"] == ["1:Stopped"]
    sent = rpc.call("dev-ledger")["payments_sent"]
    sim.advance(hours=0.5)
    assert rpc.call("dev-ledger")["payments_sent"] == sent  # stopped means stopped
    # The plugin restarts: the job is still there (not running).
    rpc.plugin_stop("sling_plugin.py")
    rpc.call("plugin", {"subcommand": "start", "plugin": sling_plugin_command()})
    assert list(rpc.call("sling-jobsettings", {})) == [low["short_channel_id"]]
    assert rpc.call("sling-stats", {"json": True})[0]["status"] == ["0:NoJob"]
    sim.stop()
    # So does the node.
    again = sim.restarted().start()
    assert list(again.rpc.call("sling-jobsettings", {})) == [low["short_channel_id"]]
    assert again.rpc.call("sling-deletejob", ["all"]) == {"result": "success"}
    assert again.rpc.call("sling-jobsettings", {}) == {}
    with pytest.raises(PylnRpcError) as err:
        again.rpc.call("sling-go", {})
    assert err.value.error["message"] == "No jobs found"
    again.stop()


def test_run_with_sling_reports_the_rebalance_figures(tmp_path: Path) -> None:
    """``revops-sim run --sling``: sling runs beside (here: no plugin under
    test); the report and the table carry the rebalance figures."""
    out = tmp_path / "report.json"
    done = run_sim("run", "--plugin", "none", "--sling", "--days", "0.02", "--dir",
                   str(tmp_path / "node"), "--report", str(out))
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    for key in ("rebalance_cost_msat", "rebalanced_msat", "rebalances_succeeded",
                "rebalances_failed", "net_msat"):
        assert key in report
    assert {"rebalanced_in_msat", "rebalance_cost_msat"} <= set(report["channels"][0])
    assert "rebalances ok/fail" in done.stdout and "rebal_cost_msat" in done.stdout
    assert "started" in (tmp_path / "node" / "log").read_text()
    assert (tmp_path / "node" / "sling").is_dir()  # the plugin ran in the node's dir
    text = summary_table({**report, "rebalanced_msat": 5_000_000, "rebalances_succeeded": 3,
                          "rebalances_failed": 1})
    assert "5,000,000 msat" in text and "3 / 1" in text


def test_a_scenario_can_ask_for_sling(tmp_path: Path) -> None:
    scenario = tmp_path / "two.toml"
    scenario.write_text('[sim]\nsling = true\n\n[[channels]]\nname = "a"\ncapacity_sat = 1000000\n'
                        'local_sat = 500000\n\n[[channels]]\nname = "b"\ncapacity_sat = 1000000\n'
                        'local_sat = 500000\n', encoding="utf-8")
    done = run_sim("run", "--plugin", "none", "--scenario", str(scenario), "--days", "0.01",
                   "--dir", str(tmp_path / "node"), "--quiet")
    assert done.returncode == 0, done.stderr
    log = (tmp_path / "node" / "log").read_text()
    assert "sling_plugin.py" in log and "Killing plugin" in log  # it ran, and went at the end


# -- sling-once ---------------------------------------------------------------------------------


@pytest.mark.parametrize("args,message", [
    ({"target": 0.5, "onceamount": 200_000}, "`target` can not be used with `sling-once`"),
    ({}, "Missing onceamount"),
    ({"onceamount": 0}, "onceamount must be greater than 0"),
    ({"onceamount": 300_000}, "onceamount must be a multiple of amount"),
])
def test_once_parameters_are_checked_as_sling_does(args: dict[str, Any], message: str) -> None:
    base = {"scid": SCID, "direction": "pull", "amount": 200_000, "maxppm": 3000,
            "outppm": 5000}
    with pytest.raises(SlingError, match=message):
        parse_once_job({**base, **args})


def _low_source(m: Market) -> Any:
    return min((c for c in m.channels if c.name.startswith("src")),
               key=lambda c: c.to_us_msat / c.capacity_msat)


def test_a_once_job_moves_its_amount_then_ends_saving_nothing(tmp_path: Path) -> None:
    m = quiet_market(success_rate=1.0)
    s, _ = _sling(m, tmp_path)
    low = _low_source(m)
    before = low.to_us_msat
    assert s.cmd_once({"scid": low.scid, "direction": "pull", "amount": 100_000,
                       "maxppm": 3000, "outppm": 5000, "onceamount": 200_000}) == \
        {"result": "started"}
    with pytest.raises(SlingError, match="already a job for that scid running"):
        s.cmd_once({"scid": low.scid, "direction": "pull", "amount": 100_000,
                    "maxppm": 3000, "outppm": 5000, "onceamount": 100_000})
    assert s.files.jobs() == {}  # nothing for sling-go or a restart
    _run(s, m, 2)
    assert low.to_us_msat == before + 200_000_000  # exactly onceamount, not a target
    assert [t.active for t in s.tasks[low.scid]] == [False]
    assert m.ledger()["rebalances_succeeded"] == 2


def test_a_once_job_tries_again_after_a_payment_outlives_timeoutpay(tmp_path: Path) -> None:
    """sling's worst case for a budget: the payment it gave up on may still
    settle, and so may the next one (what revops' reservation covers)."""
    m = quiet_market(success_rate=1.0, hold_s=(300.0, 300.0))
    s, _ = _sling(m, tmp_path, timeoutpay=120)
    low = _low_source(m)
    s.cmd_once({"scid": low.scid, "direction": "pull", "amount": 100_000, "maxppm": 3000,
                "outppm": 5000, "onceamount": 100_000})
    _run(s, m, 1)
    assert m.ledger()["rebalances_succeeded"] >= 2  # one payment asked for, more settled
