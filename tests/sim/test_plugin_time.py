"""Plugin time: unmodified plugins on the simulated clock (revops/sim/plugin_time).

End to end, with real pyln plugins that know nothing of revops-sim:
tests/sim/feeadjuster_standin.py (the community feeadjuster's calls and
habits: a lock held while it sleeps inside ``forward_event``) and
tests/sim/clock_probe_plugin.py (every kind of wait the shim follows).
"""

from __future__ import annotations

import json
import sys
import sysconfig
import time
from pathlib import Path

import pytest

from revops.sim.harness import plugin_command, run_sim

HERE = Path(__file__).parent
SCENARIO = HERE / "plugin_time.toml"
STANDIN = plugin_command(HERE / "feeadjuster_standin.py")
PROBE = plugin_command(HERE / "clock_probe_plugin.py")
START = 1767225600.0  # the scenarios' start time
DAY = 86400.0

pytestmark = [pytest.mark.e2e]


def _run(tmp_path: Path, name: str, *args: str, days: float = 14.0,
         timeout: float = 600.0) -> tuple[dict, Path]:
    node, report = tmp_path / name, tmp_path / f"{name}.json"
    res = run_sim("run", "--scenario", str(SCENARIO), "--days", repr(days), "--dir", str(node),
                  "--report", str(report), "--quiet", "--validate", *args, timeout=timeout)
    assert res.returncode == 0, res.stderr
    return json.loads(report.read_text()), node


# -- a feeadjuster-like plugin, 14 simulated days ----------------------------------------

@pytest.mark.slow
def test_an_unmodified_plugin_runs_14_simulated_days_on_the_simulated_clock(tmp_path):
    report, node = _run(tmp_path, "standin", "--plugin", STANDIN, "--seed", "3")
    log = (node / "log").read_text()
    state = json.loads((node / "feeadjuster-standin.json").read_text())

    # It ran the whole span and was never waited out.
    assert report["days"] == pytest.approx(14.0)
    assert "plugin-time: on the simulated clock" in log
    assert "plugin-time: not quiet" not in log and "**BROKEN**" not in log
    assert state["by_destination"] is True and state["defaults"] == [1000, 10]
    assert state["first_time"] == START
    # Its clock went along with the market's (the last forward came late in the run).
    assert START + 7 * DAY < state["last_time"] <= START + 14 * DAY

    # Every settled forward was handled, and each sleep took simulated time:
    # 1 s each, plus 5 s every 50th forward, to the microsecond.
    events = state["forward_events"]
    assert events == report["forwards_settled"] > 20
    assert state["sleeps"] == events + events // 50
    assert state["slept_sim"] == pytest.approx(events * 1 + (events // 50) * 5, abs=1e-3)
    # ... and not real time (the machine spent a fraction of it).
    assert state["slept_wall"] < state["slept_sim"] / 2

    # Its fee changes reached the market.
    assert report["fee_updates"] == state["setchannel"] > 0
    final = {c["scid"]: c["final_fee_ppm"] for c in report["channels"]}
    for scid, ppm in state["fees"].items():
        assert final[scid] == ppm


@pytest.mark.slow
def test_the_same_seed_gives_the_same_run_with_a_foreign_plugin(tmp_path):
    first, _ = _run(tmp_path, "a", "--plugin", STANDIN, "--seed", "5", days=3.0)
    second, _ = _run(tmp_path, "b", "--plugin", STANDIN, "--seed", "5", days=3.0)
    for r in (first, second):
        r.pop("wall_seconds")
    assert first["fee_updates"] > 0
    assert first == second


# -- every wait, on the simulated clock ----------------------------------------------------

def test_sleeps_timers_and_timed_waits_end_at_their_simulated_deadline(sim_factory):
    with sim_factory(plugins=[PROBE], scenario=SCENARIO) as sim:
        assert sim.call("clock-probe-state")["init"]["time"] == START
        sim.advance(hours=2)
        got = sim.call("clock-probe-state")
        log = sim.log_text()
    assert "plugin-time: not quiet" not in log
    records = got["records"]
    due = {"sleep": 437, "event": 811, "timer": 1111, "worker": 1111, "queue": 1379,
           "wait_for": 1502}
    for name, after in due.items():
        first = records[name][0]
        # The node stepped to each deadline: the waiter woke exactly then.
        assert first["time"] == START + after, name
        assert first["time_ns"] == int((START + after) * 1e9), name
        assert first["datetime"] == START + after and first["utcnow"] == START + after, name
        assert first["monotonic"] - got["init"]["monotonic"] == pytest.approx(after), name
        assert first["is_datetime"], name
    assert [r["time"] for r in records["sleep"]] == [START + 437, START + 437 + 3600]
    assert got["time"] == START + 2 * 3600


def test_the_plugin_log_is_stamped_with_simulated_time_and_the_node_waits(sim_factory):
    # `dev-advance` returns only once the plugin is done with every step:
    # right after it, the plugin has seen all of them.
    with sim_factory(plugins=[PROBE], scenario=SCENARIO) as sim:
        for hours in (0.25, 0.25, 0.5):
            sim.advance(hours=hours)
        got = sim.call("clock-probe-state")
    assert got["time"] == START + 3600
    assert set(got["records"]) == {"sleep", "event", "timer", "worker", "queue", "wait_for"}


def test_a_thread_long_polling_the_node_counts_as_waiting(sim_factory):
    # `wait` blocks the thread on the RPC socket until a step brings a new
    # forward: the node holds that call, so the thread waits for the clock.
    with sim_factory(plugins=[PROBE], scenario=SCENARIO,
                     options={"clock-probe-waiter": None}) as sim:
        sim.advance(hours=12)
        got = sim.call("clock-probe-state")
        forwards = sim.rpc.listforwards()["forwards"]
        log = sim.log_text()
    assert "plugin-time: not quiet" not in log
    assert forwards and len(got["records"]["waiter"]) >= 1
    # The other threads' deadlines still land exactly.
    assert [r["time"] for r in got["records"]["sleep"]][:3] == [
        START + 437, START + 437 + 3600, START + 437 + 7200]
    # Each answer came at the step of a new forward (steps end on the tick
    # or on a deadline), never later than the step after it was created.
    created = sorted(f["received_time"] for f in forwards)
    for r in got["records"]["waiter"]:
        assert any(0 <= r["time"] - c <= 300 for c in created)


def test_wall_time_leaves_the_plugin_on_the_machine_clock(sim_factory):
    with sim_factory(plugins=[PROBE], scenario=SCENARIO,
                     extra_args=["--plugin-time", "wall"]) as sim:
        got = sim.call("clock-probe-state")
        log = sim.log_text()
    assert abs(got["init"]["time"] - time.time()) < 600
    assert got["records"] == {}
    assert "plugin-time" not in log


def test_a_plugin_whose_python_skips_the_hook_runs_on_wall_time(sim_factory):
    no_site = f"{sys.executable} -S {HERE / 'clock_probe_plugin.py'}"
    # Without `site` its packages come from PYTHONPATH (the hook is there too, unread).
    with sim_factory(plugins=[no_site], scenario=SCENARIO,
                     env={"PYTHONPATH": sysconfig.get_paths()["purelib"]}) as sim:
        got = sim.call("clock-probe-state")
        line = sim.wait_for_log(r"plugin-time: ")
    assert "runs on wall time" in line
    assert abs(got["init"]["time"] - time.time()) < 600


def test_a_simclock_plugin_keeps_its_own_clock(sim_factory, hello_plugin):
    with sim_factory(plugins=[hello_plugin]) as sim:
        sim.advance(hours=1)
        state = sim.call("hello-state")
        line = sim.wait_for_log(r"plugin-time: ")
    assert "keeps its own simulated clock" in line
    assert state["simclock_calls"] >= 2


def test_a_plugin_that_never_goes_quiet_cannot_stall_the_node(tmp_path):
    report, node = _run(tmp_path, "stuck", "--plugin", PROBE, "--option", "clock-probe-stuck",
                        "--plugin-quiet-timeout", "1", days=0.1)
    log = (node / "log").read_text()
    assert report["days"] == pytest.approx(0.1)
    assert log.count("plugin-time: not quiet after 1s of real time") == 1
    assert "steps went on without this plugin being quiet" in log
