"""The flow commands' parameters: by name or position, CLN's messages, and
errors that name the parameter and what it accepts."""

from __future__ import annotations

import pytest

from revops.commands import COMMANDS, routes
from revops.config import SPECS
from revops.flow.commands import FLOW_COMMANDS
from revops.jsonrpc import RpcError, bind_params

SPECS_BY_NAME = {c.name: c for c in FLOW_COMMANDS}


def bind(name, params):
    return bind_params(SPECS_BY_NAME[name].params, params)


def test_every_flow_command_is_registered_and_routed_to_the_flow_coordinator():
    names = {c.name for c in COMMANDS}
    assert set(SPECS_BY_NAME) <= names
    r = routes()
    assert all(r[name] == "flow" for name in SPECS_BY_NAME)
    assert all(len(c.description) > 40 for c in FLOW_COMMANDS)
    assert SPECS_BY_NAME["revenue-dashboard"].usage == "[window_days]"


def test_flow_tunables_are_registered():
    for key in ("flow-page-size", "flow-hydration-rows-per-cycle", "flow-retention-days",
                "flow-imbalance-ratio", "flow-dormant-forwards-per-week", "flow-min-roi"):
        assert SPECS[key].runtime
    assert SPECS["flow-page-size"].maximum == 10_000


@pytest.mark.parametrize("params,want", [
    ({}, 30), ([], 30), ([7], 7), (["7"], 7), ({"window_days": 365}, 365), ([None], 30),
])
def test_window_days_by_name_or_position(params, want):
    assert bind("revenue-dashboard", params) == {"window_days": want}


@pytest.mark.parametrize("bad", [0, -1, 3651, "x", 2.5, True, [1], "1e3"])
def test_bad_days_name_the_parameter_and_the_range(bad):
    with pytest.raises(RpcError) as e:
        bind("revenue-report", {"days": bad})
    assert e.value.code == -32602
    assert e.value.message.startswith("days: should be a whole number of days from 1 to 3650")


def test_channel_parameter():
    assert bind("revenue-flow", ["812345x1234x0"]) == {"channel": "812345x1234x0"}
    assert bind("revenue-profitability", {}) == {"channel": None}
    with pytest.raises(RpcError) as e:
        bind("revenue-flow", {"channel": "02abc"})
    assert e.value.code == -32602
    assert e.value.message == ("channel: should be a short_channel_id such as 812345x1234x0: "
                               "invalid token '02abc'")


def test_parameterless_commands_refuse_parameters():
    with pytest.raises(RpcError) as e:
        bind("revenue-forwards-sync", [1])
    assert "too many parameters" in e.value.message
    with pytest.raises(RpcError) as e:
        bind("revenue-snapshot", {"now": 1})
    assert "unknown parameter: now" in e.value.message
