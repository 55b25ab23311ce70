"""The plugin's backbone end to end under revops-sim: start, status,
runtime config, restart, channels opening and closing, supervision,
metrics over HTTP, clean stop, and refusals at init."""

from __future__ import annotations

import socket
import time
import urllib.request

import pytest
from pyln.client import RpcError

from revops.commands import COMMANDS


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        return resp.read().decode()


def sample(text: str, name: str) -> float | None:
    """The value of series ``name`` (with its labels, if given) in a scrape."""
    for line in text.splitlines():
        if line.startswith(name + " ") or ("{" not in name and line.startswith(name + "{")):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_status_after_start_and_first_cycles(revops_sim):
    sim = revops_sim()
    sim.advance(hours=1)
    st = sim.rpc.call("revenue-status")
    assert st["version"] and st["started"] is True and st["healthy"] is True
    assert st["database"]["schema_version"] >= 2
    assert st["database"]["path"].endswith("revops.sqlite3")
    assert st["channels"] == len(sim.rpc.listpeerchannels()["channels"])
    for name in ("store", "rpc", "mempool", "flow", "fee", "rebalance", "ticker"):
        assert st["actors"][name]["alive"] is True, name
    for name in ("mempool", "flow", "fee", "rebalance"):
        assert st["actors"][name]["last_tick_ok"] is True, name
        assert st["actors"][name]["last_tick_seconds"] >= 0
    assert st["simulated_clock"] is True
    assert st["metrics"]["state"] == "off"


def test_every_command_has_help_and_usage(revops_sim):
    sim = revops_sim()
    helps = {c["command"].split()[0]: c for c in sim.rpc.help()["help"]}
    for cmd in COMMANDS:
        if cmd.dev:
            continue
        assert cmd.name in helps, cmd.name
        assert cmd.usage in helps[cmd.name]["command"]


def test_check_binds_parameters_without_running_the_command(revops_sim):
    """``lightning-cli check``: lightningd's own commands are parsed by the
    node; ours are passed to the plugin (it declares ``cancheck``)."""
    sim = revops_sim()
    scid = sim.rpc.listpeerchannels()["channels"][0]["short_channel_id"]
    ok = sim.rpc.call("check", {"command_to_check": "revenue-set-fee", "channel": scid,
                                "fee_ppm": 5})
    assert ok == {"command_to_check": "revenue-set-fee"}
    with pytest.raises(RpcError) as e:
        sim.rpc.call("check", ["revenue-set-fee", scid])
    assert e.value.error["code"] == -32602 and "fee_ppm" in e.value.error["message"]
    fees = sim.rpc.call("revenue-fees", [scid])["channels"][0]
    assert fees["override"] is None  # nothing ran
    assert sim.rpc.call("check", ["getinfo"]) == {"command_to_check": "getinfo"}
    with pytest.raises(RpcError) as e:
        sim.rpc.call("check", ["setchannel"])
    assert e.value.error["code"] == -32602
    with pytest.raises(RpcError) as e:
        sim.rpc.call("check", ["no-such-command"])
    assert e.value.error["code"] == -32601
    assert "does not support check" not in sim.log_text()


def test_config_set_get_reset_list_and_bad_values(revops_sim):
    sim = revops_sim()
    out = sim.rpc.call("revenue-config", ["set", "fee-interval", 900])          # positional
    assert (out["old"], out["value"]) == (3600, 900)
    got = sim.rpc.call("revenue-config", {"action": "get", "key": "fee-interval"})  # named
    assert got["value"] == 900 and got["source"] == "override"
    listed = {e["key"]: e for e in sim.rpc.call("revenue-config", ["list"])["config"]}
    assert listed["fee-interval"]["value"] == 900
    assert "60 to 86400" in listed["fee-interval"]["accepted"]

    for bad in ("nan", "inf", "-5", "ten", "59"):
        with pytest.raises(RpcError) as e:
            sim.rpc.call("revenue-config", ["set", "fee-interval", bad])
        assert e.value.error["code"] == -32602
        assert "revenue-ops-fee-interval" in e.value.error["message"]
        assert "from 60 to 86400" in e.value.error["message"]
    assert sim.rpc.call("revenue-config", ["get", "fee-interval"])["value"] == 900

    with pytest.raises(RpcError) as e:
        sim.rpc.call("revenue-config", ["frobnicate"])
    assert e.value.error["code"] == -32602 and "action" in e.value.error["message"]
    with pytest.raises(RpcError) as e:
        sim.rpc.call("revenue-config", {"action": "get", "bogus": 1})
    assert "unknown parameter: bogus" in e.value.error["message"]
    with pytest.raises(RpcError) as e:
        sim.rpc.call("revenue-config", {})
    assert "missing required parameter: action" in e.value.error["message"]

    out = sim.rpc.call("revenue-config", ["reset", "fee-interval"])
    assert out["value"] == 3600 and out["source"] == "default"


def test_overrides_survive_a_restart_and_options_layer_under_them(revops_sim):
    sim = revops_sim({"revenue-ops-flow-interval": "1200"})
    assert sim.rpc.call("revenue-config", ["get", "flow-interval"])["source"] == "option"
    sim.rpc.call("revenue-config", ["set", "rebalance-interval", "7200"])
    sim.rpc.call("revenue-config", ["set", "flow-interval", "300"])
    sim.stop()
    sim2 = sim.restarted().start()
    try:
        assert sim2.rpc.call("revenue-config", ["get", "rebalance-interval"])["value"] == 7200
        assert sim2.rpc.call("revenue-config", ["get", "flow-interval"])["value"] == 300
        out = sim2.rpc.call("revenue-config", ["reset", "flow-interval"])
        assert out["value"] == 1200 and out["source"] == "option"
    finally:
        sim2.stop()


def test_channel_opened_and_closed_mid_run(revops_sim):
    sim = revops_sim()
    sim.advance(hours=1)
    before = {c["scid"] for c in sim.rpc.call("revenue-channels")["channels"]}
    opened = sim.rpc.call("dev-openchannel", {"peer": "newpeer", "capacity_sat": 2_000_000})
    victim = sorted(before)[0]
    sim.rpc.call("dev-closechannel", {"id": victim})
    sim.advance(hours=2)
    scid_new = next(c["short_channel_id"] for c in sim.rpc.listpeerchannels()["channels"]
                    if c["channel_id"] == opened["channel_id"])
    after = {c["scid"] for c in sim.rpc.call("revenue-channels")["channels"]}
    assert scid_new in after
    assert victim not in after
    assert after == (before - {victim}) | {scid_new}
    assert sim.rpc.call("revenue-status")["channels"] == len(after)


def test_crashed_actors_are_restarted_from_persisted_state(revops_sim):
    sim = revops_sim()
    sim.advance(hours=1)
    chans = sim.rpc.call("revenue-channels")["channels"]
    scid = chans[0]["scid"]
    obs_before = chans[0]["state"]["cycles"]
    sim.rpc.call("revenue-dev-crash", ["fee"])
    sim.rpc.call("revenue-dev-crash", [f"channel:{scid}"])
    sim.advance(hours=2)
    st = sim.rpc.call("revenue-status")
    assert st["actors"]["fee"]["restarts"] == 1 and st["actors"]["fee"]["alive"]
    assert st["healthy"] is True
    chans = {c["scid"]: c for c in sim.rpc.call("revenue-channels")["channels"]}
    assert chans[scid]["state"]["cycles"] > obs_before  # resumed, not reset
    assert sim.log_lines(r"crashed .*restarted from persisted state")
    # A crash is a bug and is logged as BROKEN with its traceback; here every
    # such line belongs to the two crashes we asked for.
    sim.stop(clean=False)
    broken = sim.broken_lines()
    assert broken
    # one traceback per crash, each ending in the exception line
    assert sum("CrashRequested: revenue-dev-crash" in line for line in broken) == 2
    assert sum("Traceback" in line for line in broken) == 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_metrics_scraped_over_http_and_port_in_use_is_not_fatal(revops_sim):
    port = _free_port()
    sim = revops_sim({"revenue-ops-metrics-address": f"127.0.0.1:{port}"})
    sim.advance(hours=1)
    st = sim.rpc.call("revenue-status")
    assert st["metrics"] == {"address": f"127.0.0.1:{port}", "state": "listening", "port": port}
    text = scrape(port)
    assert sample(text, "revops_up") == 1
    assert sample(text, "revops_channels") == st["channels"]
    assert 'revops_rpc_call_seconds_count{method="listpeerchannels"}' in text
    assert 'revops_cycle_seconds_count{coordinator="fee"}' in text

    # A second node wanting the same port runs on, and says so.
    other = revops_sim({"revenue-ops-metrics-address": f"127.0.0.1:{port}"})
    st2 = other.rpc.call("revenue-status")
    assert st2["metrics"]["state"] == "failed" and "in use" in st2["metrics"]["error"]
    assert st2["started"] is True


def test_plugin_stop_is_clean_and_quick(revops_sim):
    sim = revops_sim()
    sim.advance(hours=1)
    plugins = [p["name"] for p in sim.rpc.plugin("list")["plugins"]]
    ours = next(p for p in plugins if "revops" in p)
    t0 = time.monotonic()
    sim.rpc.plugin("stop", ours)
    elapsed = time.monotonic() - t0
    assert not any("revops" in p["name"] for p in sim.rpc.plugin("list")["plugins"])
    assert sim.log_lines("revops stopped")
    assert not sim.log_lines("still alive at exit")
    assert not sim.log_lines("SIGKILL|killed")
    # Not a speed assertion: a hang detector well above the 2 s target.
    assert elapsed < 25, elapsed


@pytest.mark.parametrize("option,value,needle", [
    ("revenue-ops-fee-interval", "nan", "from 60 to 86400"),
    ("revenue-ops-rpc-timeout", "inf", "from 1 to 600"),
    ("revenue-ops-metrics-address", "localhost", "HOST:PORT"),
])
def test_bad_startup_option_disables_with_a_clear_reason(revops_sim, option, value, needle):
    sim = revops_sim({option: value})
    line = sim.wait_for_log("disabled itself at init")
    assert option in line and needle in line
    with pytest.raises(RpcError):
        sim.rpc.call("revenue-status")


def test_corrupt_database_disables_without_traceback_loop(revops_sim, tmp_path):
    bad = tmp_path / "corrupt.sqlite3"
    bad.write_bytes(b"this is not a database" * 100)
    sim = revops_sim({"revenue-ops-db-path": str(bad)})
    line = sim.wait_for_log("disabled itself at init")
    assert "database" in line and str(bad) in line
    sim.advance(hours=1)
    assert not sim.log_lines("Traceback")
