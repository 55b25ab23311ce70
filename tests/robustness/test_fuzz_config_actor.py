"""``revenue-config`` fuzzed through the Supervisor with the whole actor
system running (fake lightningd transport, real database): every refused
``set`` or ``reset`` is a -32602 naming the parameter, and leaves the
snapshot, its generation and the stored overrides exactly as they were;
every accepted one is applied, stored and reads back."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from revops.commands import COMMANDS
from revops.config import SPECS
from revops.jsonrpc import RpcError, bind_params
from tests.actors.test_backbone import system  # noqa: F401  (fixture)
from tests.robustness.conftest import examples
from tests.robustness.strategies import json_values

SPEC = next(c for c in COMMANDS if c.name == "revenue-config")
KEYS = sorted(SPECS)
key_strategy = st.one_of(st.sampled_from(KEYS),
                         st.sampled_from(KEYS).map(lambda k: f"revenue-ops-{k}"), json_values)
calls = st.tuples(st.sampled_from(["set", "set", "set", "reset", "get"]), key_strategy, json_values)


def _state(node):
    got = node.command("revenue-config", action="get")
    store = node.sup.proxy().children.get(timeout=10)["store"].ref.proxy()
    return got["generation"], got["config"], store.get_overrides().get(timeout=10)


@settings(max_examples=examples(100))
@given(st.lists(calls, min_size=1, max_size=6))
def test_config_changes_apply_whole_or_not_at_all(system, sequence):  # noqa: F811
    if not getattr(system, "advanced", False):
        system.advance(1)
        system.advanced = True
    for action, key, value in sequence:
        before = _state(system)
        raw = {"action": action, "key": key, "value": value}
        try:
            # As the plugin does: bind first, then the Supervisor answers.
            params = bind_params(SPEC.params, raw)
            out = system.command("revenue-config", **params)
        except RpcError as e:
            assert e.code == -32602 and e.message.split(":")[0] in ("key", "value", "action")
            assert _state(system) == before
            continue
        except Exception as e:  # noqa: BLE001 - pyln's RpcException
            assert getattr(e, "code", None) == -32602, repr(e)
            assert e.message.split(":")[0] in ("key", "value", "action"), e.message
            assert len(e.message) < 2000  # the list of keys at most, never the input
            assert _state(system) == before, (action, key, value, e.message)
            continue
        if action == "get":
            assert _state(system) == before
            continue
        generation, config, overrides = _state(system)
        assert generation == before[0] + 1
        assert config[out["key"]] == out["value"]
        if action == "set":
            assert SPECS[out["key"]].parse(overrides[out["key"]]) == out["value"]
        else:
            assert out["key"] not in overrides
