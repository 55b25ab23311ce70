"""The plugin under a real lightningd (pyln-testing), where one is installed.

Everything here also runs under revops-sim in the other e2e modules; this
module is the check that the sim has not drifted from CLN itself. It runs
when ``lightningd`` and ``bitcoind`` are on PATH and ``pyln-testing`` is
importable (``pip install pyln-testing``), and skips otherwise.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

if not (shutil.which("lightningd") and shutil.which("bitcoind")):
    pytest.skip("no lightningd/bitcoind on PATH: the sim-based e2e tests cover this",
                allow_module_level=True)
pytest.importorskip("pyln.testing")

from pyln.client import RpcError  # noqa: E402
from pyln.testing.fixtures import *  # noqa: E402,F401,F403  (node_factory and friends)


def plugin_path() -> str:
    """lightningd wants one executable path: the installed ``revops-plugin``."""
    script = Path(sys.executable).with_name("revops-plugin")
    found = str(script) if script.exists() else shutil.which("revops-plugin")
    if not found:
        pytest.skip("revops-plugin is not installed (pip install -e .)")
    return found


OPTIONS = {"revenue-ops-metrics-address": "off", "revenue-ops-dry-run": None}


def test_starts_answers_and_stops_on_a_real_node(node_factory):  # noqa: F811
    l1, l2 = node_factory.line_graph(2, wait_for_announce=True,
                                     opts=[{"plugin": plugin_path(), **OPTIONS}, {}])
    st = l1.rpc.call("revenue-status")
    assert st["started"] is True and st["simulated_clock"] is False
    assert st["channels"] == len(l1.rpc.listpeerchannels()["channels"]) == 1

    out = l1.rpc.call("revenue-config", ["set", "fee-interval", 900])
    assert out["value"] == 900
    with pytest.raises(RpcError) as e:
        l1.rpc.call("revenue-config", ["set", "fee-interval", "ten"])
    assert e.value.error["code"] == -32602
    assert l1.rpc.call("revenue-config", ["get", "fee-interval"])["value"] == 900

    # Dry run: whatever the engine decided, lightningd's fees are CLN's defaults.
    ch = l1.rpc.listpeerchannels()["channels"][0]
    assert ch["updates"]["local"]["fee_proportional_millionths"] == 10

    l1.rpc.plugin_stop(plugin_path())
    assert not any("revops" in p["name"] for p in l1.rpc.plugin_list()["plugins"])
    l1.rpc.plugin_start(plugin_path(), **{"revenue-ops-metrics-address": "off"})
    assert l1.rpc.call("revenue-config", ["get", "fee-interval"])["value"] == 900
