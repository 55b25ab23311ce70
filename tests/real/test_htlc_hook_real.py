"""The htlc_accepted hook on a real lightningd: the judge of what the
simulated node does with it (tests/sim/test_hook_e2e.py runs the same
plugin, tests/sim/hook_plugin.py, under revops-sim).

What the simulator copies from here: the request's fields, in order; a
forward the hook fails leaves no ``listforwards`` row and no
``forward_event``, the payer sees the hook's failure code from our node; a
plugin killed while it holds an HTLC counts as ``continue``.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest
from pyln.client import RpcError
from pyln.testing.utils import wait_for

from revops.sim.schemas import validate_hook

HOOK_SCRIPT = Path(__file__).parents[1] / "sim" / "hook_plugin.py"


@pytest.fixture
def hook_plugin(tmp_path: Path) -> str:
    """lightningd wants one executable: hook_plugin.py under this Python."""
    exe = tmp_path / "hook_plugin.py"
    exe.write_text(f"#!/bin/sh\nexec '{sys.executable}' '{HOOK_SCRIPT}' \"$@\"\n")
    exe.chmod(0o755)
    return str(exe)


def _forward_events(node) -> list[str]:
    return [line for line in node.daemon.logs if "forward_event" in line]


def test_a_hook_failing_a_forward_leaves_no_forward_record(node_factory, executor,
                                                           hook_plugin) -> None:
    l1, l2, l3 = node_factory.line_graph(3, wait_for_announce=True)
    out_scid = l2.get_channel_scid(l3)
    l2.rpc.plugin_start(hook_plugin, **{"hook-fail-scid": out_scid})
    inv = l3.rpc.invoice(100_000, "failed", "failed")
    route = [{"id": h["node_id_out"], "channel": h["short_channel_id_dir"].split("/")[0],
              "amount_msat": h["amount_out_msat"], "delay": h["cltv_out"]}
             for h in l1.single_route(l3.info["id"], 100_000)]
    route[0]["amount_msat"] = l1.single_route(l3.info["id"], 100_000)[0]["amount_in_msat"]
    l1.rpc.sendpay(route, inv["payment_hash"], payment_secret=inv["payment_secret"])
    with pytest.raises(RpcError) as failed:
        l1.rpc.waitsendpay(inv["payment_hash"])
    state = l2.rpc.call("hook-state")
    assert state["calls"], "the hook saw the HTLC"
    params = state["calls"][0]
    validate_hook("htlc_accepted", "request", params)
    # The same keys the simulator sends (htlc_hook.hook_params), same order.
    assert list(params) == ["peer_id", "onion", "forward_to", "htlc"]
    assert list(params["onion"]) == ["payload", "type", "short_channel_id", "forward_msat",
                                     "outgoing_cltv_value", "next_onion", "shared_secret"]
    assert params["onion"]["short_channel_id"] == out_scid
    assert l2.rpc.listforwards()["forwards"] == []
    # The payer was told by our node, with the hook's failure message as it was.
    data = failed.value.error["data"]
    assert (data["erring_index"], data["erring_node"]) == (1, l2.info["id"])
    assert (data["failcode"], data["raw_message"]) == (0x1007, "1007")

    # A plugin killed while holding the HTLC: lightningd goes on as for continue.
    l2.rpc.plugin_stop(hook_plugin)
    l2.rpc.plugin_start(hook_plugin, **{"hook-mode": "hold"})
    inv2 = l3.rpc.invoice(100_000, "held", "held")
    paying = executor.submit(l1.rpc.xpay, inv2["bolt11"])
    wait_for(lambda: l2.rpc.call("hook-state")["held"] == 1)
    held = [h for c in l2.rpc.listpeerchannels()["channels"] for h in c.get("htlcs", [])
            if "status" in h]
    assert [h["status"] for h in held] == \
        ["Waiting for the htlc_accepted hook of plugin hook_plugin.py"]
    os.kill(l2.rpc.call("hook-state")["pid"], signal.SIGKILL)
    assert paying.result(60)["amount_msat"] == 100_000
    l2.daemon.wait_for_log(r"Plugin died from htlc_accepted hook call")
    forwards = l2.rpc.listforwards()["forwards"]
    assert [f["status"] for f in forwards] == ["settled"]
    assert forwards[0]["out_channel"] == out_scid
