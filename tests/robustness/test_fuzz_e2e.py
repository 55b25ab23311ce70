"""Fuzzing through the whole plugin under the simulated lightningd: fewer
examples than the binding fuzz (each is a real JSON-RPC round trip through
pyln's client, the sim's socket, lightningd's passthrough to the plugin
and pyln's plugin side), so the path through pyln is covered.

Every call to every ``revenue-*`` command (but ``revenue-dev-crash``,
whose job is to crash) with fuzzed parameters, by name or by position, gets
a valid answer or an error: -32602 naming one of the command's parameters,
or (for well-formed input refused for the node's state) -1 with a reason,
never an internal error. A refusal changes nothing operator-visible (config,
ignored peers, policies, pinned fees, jobs in flight). The plugin is still
up at the end and lightningd's log has no BROKEN line (checked at stop).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pyln.client import RpcError

from revops.commands import COMMANDS
from revops.jsonrpc import RpcError as BindError
from revops.jsonrpc import bind_params
from revops.sim.cli import default_plugin_command
from revops.sim.harness import Sim
from tests.robustness.conftest import examples
from tests.robustness.strategies import json_values

SMALL = Path(__file__).parents[1] / "e2e" / "scenarios" / "small.toml"
FUZZED = [c for c in COMMANDS if not c.dev]
GENERIC = ("missing required parameter: ", "unknown parameter: ", "too many parameters: ",
           "Expected array or object for params")

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    sim = Sim(tmp_path_factory.mktemp("fuzz") / "node", plugins=[default_plugin_command()],
              options={"revenue-ops-metrics-address": "off"}, scenario=SMALL)
    sim.start()
    sim.advance(hours=2)
    sim.scids = [c["short_channel_id"] for c in sim.rpc.listpeerchannels()["channels"]]
    sim.peers = [c["peer_id"] for c in sim.rpc.listpeerchannels()["channels"]]
    yield sim
    assert sim.rpc.call("revenue-status")["started"] is True
    sim.stop()  # fails on any BROKEN log line


def fingerprint(sim) -> str:
    state = {
        "config": sim.rpc.call("revenue-config", ["get"])["config"],
        "ignored": sim.rpc.call("revenue-list-ignored"),
        "policies": sim.rpc.call("revenue-policy", ["list"]),
        "pins": {c["scid"]: ((c.get("state") or {}).get("override"),
                             (c.get("state") or {}).get("probe"))
                 for c in sim.rpc.call("revenue-channels")["channels"]},
        "jobs": [j["id"] for j in sim.rpc.call("revenue-rebalance-status")["in_flight"]],
    }
    return json.dumps(state, sort_keys=True, default=str)


@st.composite
def calls(draw, node):
    spec = draw(st.sampled_from(FUZZED))
    names = [p.name for p in spec.params]
    value = st.one_of(json_values, st.sampled_from(node.scids), st.sampled_from(node.peers))
    if draw(st.booleans()):
        params = draw(st.dictionaries(st.sampled_from(names + ["bogus"]), value,
                                      max_size=len(names) + 1))
    else:
        params = draw(st.lists(value, max_size=len(names) + 1))
    return spec, params


@settings(max_examples=examples(120))
@given(data=st.data())
def test_every_command_answers_or_refuses_cleanly_through_the_plugin(node, data):
    spec, params = data.draw(calls(node))
    try:
        json.dumps(params, allow_nan=False)
    except ValueError:
        assume(False)  # not JSON (NaN, or digits beyond Python's limit): no client sends it
    try:
        bind_params(spec.params, params)
        bound = True
    except BindError:
        bound = False
    before = fingerprint(node)
    try:
        node.rpc.call(spec.name, params)
    except RpcError as e:
        err = e.error
        code, message = err.get("code"), str(err.get("message"))
        assert "internal error" not in message and "Traceback" not in message, message
        if code == -32602:
            names = [p.name for p in spec.params]
            assert any(n in message for n in names) or message.startswith(GENERIC), message
        else:
            assert code == -1 and bound, (code, message)
        assert len(message) < 2000
        assert fingerprint(node) == before, (spec.name, params, message)
        return
    assert bound, (spec.name, params)  # answered: the input was valid
