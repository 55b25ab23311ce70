"""The simulated lightningd with plugins that make it work as lightningd
does: an ``htlc_accepted`` hook (tests/sim/hook_plugin.py) that fails,
holds, dies or misbehaves; a plugin that stops reading its stdin
(tests/sim/deaf_plugin.py); a lightning directory given relative."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pyln.client import LightningRpc

from revops.sim.harness import READY_LINE, plugin_command, run_sim, sim_command
from revops.sim.market import Market
from revops.sim.scenario import default_scenario
from revops.sim.schemas import validate_hook

HOOK_SCRIPT = Path(__file__).parent / "hook_plugin.py"
HOOK = plugin_command(HOOK_SCRIPT)
DEAF = plugin_command(Path(__file__).parent / "deaf_plugin.py")


def _busiest_out_channel(seed: int = 1) -> Any:
    m = Market(default_scenario(), seed)
    return max(m.channels, key=lambda c: sum(f.out_channel == c.name
                                             for f in m.scenario.flows))


def test_a_hook_failing_one_channel_fails_those_forwards_as_lightningd_does(
        sim_factory, hello_plugin) -> None:
    target = _busiest_out_channel()
    with sim_factory(plugins=[HOOK, hello_plugin],
                     options={"hook-fail-scid": target.scid}) as sim:
        start = sim.rpc.getinfo()["blockheight"]
        sim.advance(hours=6)
        calls = sim.call("hook-state")["calls"]
        for params in calls[:20]:
            validate_hook("htlc_accepted", "request", params)
        failed = [c for c in calls if c["onion"].get("short_channel_id") == target.scid]
        assert failed and len(failed) < len(calls)
        assert all(c["forward_to"] == target.channel_id for c in failed)
        # For lightningd these forwards never happened: no row, no forward_event.
        forwards = sim.rpc.listforwards()["forwards"]
        assert not [f for f in forwards if f.get("out_channel") == target.scid
                    and f["in_htlc_id"] in {c["htlc"]["id"] for c in failed}
                    and f["in_channel"] in {c["htlc"]["short_channel_id"] for c in failed}]
        events = [n["payload"] for n in sim.call("hello-state")["notifications"]
                  if n["topic"] == "forward_event"]
        assert events and not [e for e in events if e.get("out_channel") == target.scid]
        # The sim's ledger has them, with the code the hook gave.
        ledger = sim.call("dev-ledger")
        assert ledger["forwards_hook_failed"] == len(failed)
        assert ledger["hook_failcodes"] == {"4103": len(failed)}
        mine = next(c for c in ledger["channels"] if c["scid"] == target.scid)
        assert mine["forwards_hook_failed_out"] == len(failed)
        assert start < sim.rpc.getinfo()["blockheight"]


def test_a_hook_that_continues_changes_nothing(tmp_path) -> None:
    reports = {}
    for name, plugin in (("none", "none"), ("hook", HOOK)):
        out = tmp_path / f"{name}.json"
        done = run_sim("run", "--days", "0.5", "--seed", "3", "--plugin", plugin, "--quiet",
                       "--report", str(out), "--dir", str(tmp_path / name), timeout=600)
        assert done.returncode == 0, done.stderr
        reports[name] = json.loads(out.read_text())
        reports[name].pop("wall_seconds")
    assert reports["hook"] == reports["none"]
    assert reports["none"]["forwards_settled"] > 100


def test_a_plugin_killed_while_holding_htlcs_lets_them_go_on(sim_factory) -> None:
    with sim_factory(plugins=[HOOK], options={"hook-mode": "hold"},
                     extra_args=["--hook-wait", "0.5"]) as sim:
        sim.advance(hours=1)  # the first HTLC waits 0.5 s, the rest none
        state = sim.call("hook-state")
        held = {(c["htlc"]["short_channel_id"], c["htlc"]["id"]) for c in state["calls"]}
        assert state["held"] == len(held) > 3
        waiting = [h for c in sim.rpc.listpeerchannels()["channels"] for h in c["htlcs"]
                   if "status" in h]
        assert len(waiting) == len(held)
        assert {h["status"] for h in waiting} == \
            {"Waiting for the htlc_accepted hook of plugin hook_plugin.py"}
        assert sim.log_lines(r"htlc_accepted hook of plugin hook_plugin\.py has held HTLC")
        os.kill(state["pid"], signal.SIGKILL)
        sim.wait_for_log(r"DEBUG   lightningd: Plugin died from htlc_accepted hook call")
        sim.advance(hours=1)
        # lightningd went on as if the plugin had said continue: every held
        # HTLC was then forwarded (or failed by the forwarding checks).
        rows = {(f["in_channel"], f["in_htlc_id"]) for f in sim.rpc.listforwards()["forwards"]}
        assert held <= rows
        assert not [h for c in sim.rpc.listpeerchannels()["channels"] for h in c["htlcs"]
                    if "status" in h]
        assert sim.call("dev-ledger")["forwards_hook_failed"] == 0


def test_an_answer_lightningd_cannot_act_on_is_fatal(tmp_path) -> None:
    node = tmp_path / "node"
    done = run_sim("run", "--days", "0.2", "--plugin", HOOK, "--option",
                   "hook-mode=bad-result", "--dir", str(node), timeout=300)
    message = "Plugin responded with an unknown result to the htlc_accepted hook: maybe"
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == f"revops-sim: {message}"
    assert f"**BROKEN** lightningd: {message}" in (node / "log").read_text()


def test_the_chain_follows_before_and_stops_at_the_first_verdict(tmp_path, sim_factory) -> None:
    first, second = tmp_path / "first.py", tmp_path / "second.py"
    shutil.copy(HOOK_SCRIPT, first)
    shutil.copy(HOOK_SCRIPT, second)
    order = tmp_path / "order.txt"
    target = _busiest_out_channel()
    env = {"HOOK_BEFORE_second": "first.py", "HOOK_ORDER_FILE": str(order)}
    with sim_factory(plugins=[plugin_command(first), plugin_command(second)], env=env,
                     options={"second-fail-scid": target.scid}) as sim:
        sim.advance(hours=2)
        seen: dict[str, list[str]] = {}
        for line in order.read_text().splitlines():
            name, phash = line.split()
            seen.setdefault(phash, []).append(name)
        failed = {c["htlc"]["payment_hash"] for c in sim.call("second-state")["calls"]
                  if c["onion"].get("short_channel_id") == target.scid}
        assert failed and len(failed) < len(seen)
        for phash, names in seen.items():
            assert names == (["second"] if phash in failed else ["second", "first"])
    env = {"HOOK_BEFORE_second": "first.py", "HOOK_BEFORE_first": "second.py"}
    with sim_factory(plugins=[plugin_command(first), plugin_command(second)], env=env) as sim:
        assert len(sim.log_lines(r"Killing plugin: Cannot meet required hook dependencies")) == 2
        assert sim.rpc.plugin("list")["plugins"] == []


def test_a_plugin_that_stops_reading_does_not_stall_the_node(sim_factory,
                                                              hello_plugin) -> None:
    with sim_factory(plugins=[DEAF, hello_plugin]) as sim:
        pool = ThreadPoolExecutor(1)
        try:
            # A day of forward_events is far more than a pipe holds.
            summary = pool.submit(sim.advance, 24).result(timeout=300)
        finally:
            pool.shutdown(wait=False)  # a stalled call must not hang the test
        assert summary["advanced_seconds"] == 24 * 3600
        sim.wait_for_log(r"INFO    plugin-deaf_plugin\.py: not reading its input \([0-9]+ "
                         r"bytes queued\)")
        # The others are served as usual: RPC, the other plugin, its clock.
        assert sim.rpc.getinfo()["id"]
        state = sim.call("hello-state")
        forwards = sim.rpc.listforwards()["forwards"]
        events = [n for n in state["notifications"] if n["topic"] == "forward_event"]
        assert len(events) >= len(forwards) > 1000
        assert state["now"] == summary["now"]


def test_a_simclock_plugin_that_stops_reading_does_not_hold_every_step(sim_factory) -> None:
    """Our simclock protocol waits for each plugin's answer (up to 600 s);
    a plugin that reads nothing more cannot answer, and must not cost that
    wait at every step."""
    with sim_factory(plugins=[f"{DEAF} --simclock"],
                     extra_args=["--simclock-timeout", "5"]) as sim:
        pool = ThreadPoolExecutor(1)
        try:
            summary = pool.submit(sim.advance, 6).result(timeout=300)
        finally:
            pool.shutdown(wait=False)
        assert summary["advanced_seconds"] == 6 * 3600
        # Waited for once, then no more.
        assert len(sim.log_lines(r"simclock-advance not answered within 5s")) == 1


def test_a_relative_lightning_dir_reaches_plugins_absolute(tmp_path, hello_plugin) -> None:
    (tmp_path / "run").mkdir()
    log = tmp_path / "run" / "rel" / "node" / "log"
    proc = subprocess.Popen(sim_command("serve", "--dir", "rel/node", "--speed", "0",
                                        "--plugin", hello_plugin),
                            cwd=tmp_path / "run", stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not (log.exists() and READY_LINE in log.read_text()):
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr
            time.sleep(0.05)
        rpc = LightningRpc(str(tmp_path / "run" / "rel" / "node" / "lightning-rpc"))
        conf = rpc.call("hello-state")["init"]["configuration"]
        assert conf["lightning-dir"] == str(tmp_path / "run" / "rel" / "node")
        # The plugin reaches lightningd through lightning-dir + rpc-file.
        assert rpc.call("hello-call", {"method": "getinfo"})["id"] == rpc.getinfo()["id"]
        assert rpc.stop() == "Shutdown complete"
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
