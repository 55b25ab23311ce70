"""The plugin under a real lightningd: start, answer, stop, restart."""

from __future__ import annotations

import pytest
from pyln.client import RpcError

from tests.real.conftest import revops_plugin_path as plugin_path

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
