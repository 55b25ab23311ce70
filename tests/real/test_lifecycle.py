"""revops in a real lightningd: loading, every command, options, restarts, stopping.

Each test starts its own bitcoind (regtest) and lightningd nodes through
pyln-testing; every one also fails if a node logged ``**BROKEN**``.
"""

from __future__ import annotations

import threading
import time

import psutil
import pytest
from pyln.client import RpcError
from pyln.testing.utils import wait_for

from revops.commands import COMMANDS
from tests.real.conftest import revops_plugin_path

QUIET = {"revenue-ops-metrics-address": "off"}


def revops_pids(node) -> list[int]:
    """The revops-plugin processes lightningd has started."""
    out = []
    for child in psutil.Process(node.daemon.proc.pid).children(recursive=True):
        try:
            if any("revops-plugin" in part for part in child.cmdline()):
                out.append(child.pid)
        except psutil.NoSuchProcess:
            continue
    return out


def revops_active(node) -> bool:
    return any(p["name"].endswith("revops-plugin") and p["active"]
               for p in node.rpc.plugin_list()["plugins"])


def test_a_channel_opened_after_start_is_priced_without_waiting_for_the_interval(node_factory):
    l1, l2 = node_factory.line_graph(2, wait_for_announce=False,
                                     opts=[{"plugin": revops_plugin_path(), **QUIET}, {}])
    scid = l1.get_channel_scid(l2)
    # The channel reached CHANNELD_NORMAL after the plugin started (line_graph
    # opens it then): channel_state_changed brings a fee cycle at once, not
    # an hour later.
    wait_for(lambda: l1.rpc.call("revenue-status")["channels"] == 1)
    fees = l1.rpc.call("revenue-fees")
    assert [c["scid"] for c in fees["channels"]] == [scid]
    # It was priced: no longer CLN's default 10 ppm (the peer's market is empty,
    # so the climb starts from its own bounds), and lightningd has the fee.
    local = l1.rpc.listpeerchannels(l2.info["id"])["channels"][0]["updates"]["local"]
    assert local["fee_proportional_millionths"] == fees["channels"][0]["fee_ppm"]

    # A second channel to a new peer, opened while the plugin runs.
    l3 = node_factory.get_node()
    l1.rpc.connect(l3.info["id"], "localhost", l3.port)
    l1.fundchannel(l3, 10**6)
    wait_for(lambda: l1.rpc.call("revenue-status")["channels"] == 2)


def test_loaded_by_option_every_command_answers_and_has_help(node_factory):
    l1, l2, l3 = node_factory.line_graph(
        3, wait_for_announce=True,
        opts=[{}, {"plugin": revops_plugin_path(), "revenue-ops-dry-run": None, **QUIET}, {}])
    wait_for(lambda: l2.rpc.call("revenue-status")["channels"] == 2)
    a, b = l2.get_channel_scid(l1), l2.get_channel_scid(l3)
    peer = l1.info["id"]
    calls = {
        "revenue-status": [],
        "revenue-config": ["get", "fee-interval"],
        "revenue-channels": [],
        "revenue-fees": [a],
        "revenue-history": [a, 10],
        "revenue-fee-cycle": [True],
        "revenue-set-fee": [a, 321],
        "revenue-unset-fee": [a],
        "revenue-policy": ["list"],
        "revenue-ignore": [peer, "real-node test"],
        "revenue-unignore": [peer],
        "revenue-list-ignored": [],
        "revenue-probe": [b],
        "revenue-mempool": [],
        "revenue-dashboard": [30],
        "revenue-profitability": [],
        "revenue-flow": [],
        "revenue-report": [7],
        "revenue-forwards-sync": [],
        "revenue-snapshot": [],
        "revenue-rebalance-status": [],
        "revenue-rebalance-cycle": [True],
        "revenue-budget": [],
    }
    public = {c.name for c in COMMANDS if not c.dev}
    assert set(calls) | {"revenue-rebalance"} == public, "every command is exercised here"
    for name, params in calls.items():
        out = l2.rpc.call(name, params)
        assert isinstance(out, dict) and out, name
    # By name, too.
    assert l2.rpc.call("revenue-fees", {"channel": a})["channels"][0]["scid"] == a
    assert l2.rpc.call("revenue-list-ignored")["ignored"] == []
    # A line has no circular route: a manual refill is refused, with its reason.
    with pytest.raises(RpcError) as e:
        l2.rpc.call("revenue-rebalance", [a, b, 100_000])
    assert e.value.error["message"]
    # Dev-only commands are not there on a real node.
    with pytest.raises(RpcError) as e:
        l2.rpc.call("revenue-dev-crash", ["fee"])
    assert e.value.error["code"] == -32601

    for name in public:
        entry = l2.rpc.help(name)["help"][0]
        assert entry["command"].startswith(name)
        spec = next(c for c in COMMANDS if c.name == name)
        # lightningd joins name and usage with a space, even for an empty usage.
        assert entry["command"] == f"{name} {spec.usage}"

    # `lightning-cli check`: parameters bound, nothing run.
    assert l2.rpc.call("check", {"command_to_check": "revenue-set-fee", "channel": a,
                                 "fee_ppm": 5})["command_to_check"] == "revenue-set-fee"
    with pytest.raises(RpcError) as e:
        l2.rpc.call("check", ["revenue-set-fee", a])
    assert e.value.error["code"] == -32602 and "fee_ppm" in e.value.error["message"]
    assert l2.rpc.call("revenue-fees", [a])["channels"][0]["override"] is None
    assert not l2.daemon.is_in_log("does not support check command")

    # Dry run: whatever was decided, lightningd still has CLN's default fee.
    ch = l2.rpc.listpeerchannels(l1.info["id"])["channels"][0]
    assert ch["updates"]["local"]["fee_proportional_millionths"] == 10


def test_plugin_start_stop_and_a_bad_option(node_factory):
    l1 = node_factory.get_node()
    path = revops_plugin_path()
    l1.rpc.plugin_start(path, **QUIET)
    assert revops_active(l1)
    assert l1.rpc.call("revenue-status")["started"] is True

    t0 = time.monotonic()
    l1.rpc.plugin_stop(path)
    took = time.monotonic() - t0
    print(f"plugin stop answered in {took:.2f} s")
    assert not revops_active(l1)
    assert revops_pids(l1) == []
    # It stopped itself on `shutdown`: lightningd did not have to kill it.
    assert not l1.daemon.is_in_log("failed to self-terminate")

    # A bad value: the plugin declines, naming the option, and lightningd goes on.
    with pytest.raises(RpcError) as e:
        l1.rpc.plugin_start(path, **{**QUIET, "revenue-ops-fee-interval": "ten"})
    assert "fee-interval" in e.value.error["message"]
    assert not revops_active(l1)
    assert l1.rpc.getinfo()["id"] == l1.info["id"]


def test_a_bad_option_in_the_config_disables_only_the_plugin(node_factory):
    l1 = node_factory.get_node(options={"plugin": revops_plugin_path(), **QUIET,
                                        "revenue-ops-min-fee-ppm": "-5"})
    assert l1.daemon.is_in_log(r"revops-plugin.*disabled itself at init: "
                               r"revenue-ops-min-fee-ppm: invalid value '-5'.*accepted: ")
    assert not revops_active(l1)
    assert l1.rpc.getinfo()["id"] == l1.info["id"]


def test_runtime_config_survives_a_lightningd_restart(node_factory):
    l1 = node_factory.get_node(options={"plugin": revops_plugin_path(), **QUIET})
    assert l1.rpc.call("revenue-config", ["set", "fee-interval", 900])["value"] == 900
    with pytest.raises(RpcError) as e:
        l1.rpc.call("revenue-config", ["set", "fee-interval", "ten"])
    assert e.value.error["code"] == -32602
    assert l1.rpc.call("revenue-config", ["get", "fee-interval"])["value"] == 900

    l1.restart()
    got = l1.rpc.call("revenue-config", ["get", "fee-interval"])
    assert got["value"] == 900 and got["source"] == "override"
    l1.rpc.call("revenue-config", ["reset", "fee-interval"])
    l1.restart()
    assert l1.rpc.call("revenue-config", ["get", "fee-interval"])["value"] == 3600


def test_lightningd_stop_while_cycles_run(node_factory):
    l1, l2, l3 = node_factory.line_graph(
        3, wait_for_announce=True, opts=[{}, {"plugin": revops_plugin_path(), **QUIET}, {}])
    wait_for(lambda: l2.rpc.call("revenue-status")["channels"] == 2)
    pids = revops_pids(l2)
    assert len(pids) == 1

    # Cycles started by hand, running while lightningd goes down.
    def call(method: str, params: list) -> None:
        try:
            l2.rpc.call(method, params)
        except Exception:  # noqa: BLE001 - lightningd is going away under it
            pass

    workers = [threading.Thread(target=call, args=(m, p)) for m, p in (
        ("revenue-fee-cycle", []), ("revenue-rebalance-cycle", []),
        ("revenue-forwards-sync", []), ("revenue-snapshot", []))]
    for w in workers:
        w.start()
    l2.stop()
    for w in workers:
        w.join(timeout=30)
    # lightningd waited for it (it exits within its 30 s shutdown deadline on
    # its own) and nothing was logged at BROKEN (pyln-testing's teardown check).
    assert not psutil.pid_exists(pids[0]) or \
        psutil.Process(pids[0]).status() == psutil.STATUS_ZOMBIE
    assert not l2.daemon.is_in_log("failed to self-terminate")
