"""Property-based fuzzing of the real parameter binding, for breadth: every
``revenue-*`` command's parameters (``revops/jsonrpc.py`` ``bind_params``
over ``revops/commandspec.py`` specs) and every config key
(``OptionSpec.parse``, the cross-key rules), with any JSON a caller can
send. Each input gets a -32602 naming the parameter (and what it accepts)
or a valid, canonical value; nothing else ever escapes."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from revops.commands import COMMANDS
from revops.config import SPECS, ConfigError, build_startup_config, refusal_of_change
from revops.jsonrpc import JSONRPC2_INVALID_PARAMS, RpcError, bind_params
from tests.robustness.conftest import examples
from tests.robustness.strategies import json_values, params_for

GENERIC = ("missing required parameter: ", "unknown parameter: ", "too many parameters: ",
           "Expected array or object for params")
DEFAULTS = build_startup_config({}).snapshot


def check_binding(spec, params) -> None:
    try:
        out = bind_params(spec.params, params)
    except RpcError as e:
        assert e.code == JSONRPC2_INVALID_PARAMS, e.message
        names = [p.name for p in spec.params]
        assert any(e.message.startswith(f"{n}: should be ") for n in names) \
            or e.message.startswith(GENERIC), e.message
        assert len(e.message) < 600
        return
    assert set(out) == {p.name.replace("-", "_") for p in spec.params}
    for p in spec.params:
        value = out[p.name.replace("-", "_")]
        if value is None or value == p.default:
            continue
        # Canonical: what was bound binds again to itself (range, type, form).
        again = p.parse(p.name, value)
        assert again == value and type(again) is type(value), (p.name, value, again)
        if isinstance(value, float):
            assert math.isfinite(value)


COMMANDS_WITH_PARAMS = [c for c in COMMANDS if c.params]


@settings(max_examples=examples(400))
@given(st.sampled_from(COMMANDS).flatmap(
    lambda c: st.tuples(st.just(c), params_for([p.name for p in c.params]))))
def test_every_command_binds_or_refuses_naming_the_parameter(case):
    spec, params = case
    check_binding(spec, params)


@settings(max_examples=examples(300))
@given(st.sampled_from(COMMANDS_WITH_PARAMS).flatmap(
    lambda c: st.tuples(st.just(c), st.sampled_from(c.params), json_values)))
def test_every_parameter_alone_binds_or_refuses_naming_itself(case):
    spec, param, value = case
    # Every other required parameter valid, so the refusal can only be this one's.
    valid = {"channel": "1x1x0", "from": "1x1x0", "to": "2x1x0", "peer_id": "02" + "a" * 64,
             "fee_ppm": 1, "amount_sats": 1000, "action": "get", "actor": "fee"}
    params = {p.name: valid[p.name] for p in spec.params if p.required and p.name != param.name}
    params[param.name] = value
    try:
        bind_params(spec.params, params)
    except RpcError as e:
        assert e.code == JSONRPC2_INVALID_PARAMS
        assert e.message.startswith(f"{param.name}: should be ") or \
            (value is None and e.message == f"missing required parameter: {param.name}"), \
            e.message
        return
    check_binding(spec, params)


def check_option(spec, value) -> object:
    try:
        parsed = spec.parse(value)
    except ConfigError as e:
        msg = str(e)
        assert msg.startswith(f"{spec.option_name}: invalid value '"), msg
        assert msg.endswith(f"accepted: {spec.accepted}"), msg
        assert len(msg) < 600
        return None
    if spec.kind == "int":
        assert type(parsed) is int and spec.minimum <= parsed <= spec.maximum
    elif spec.kind == "float":
        assert type(parsed) is float and math.isfinite(parsed)
        assert spec.minimum <= parsed <= spec.maximum
    elif spec.kind in ("bool", "flag"):
        assert type(parsed) is bool
    elif spec.kind == "enum":
        assert parsed in spec.choices
    # What is stored (the canonical text) reads back as the same value.
    assert spec.parse(spec.format(parsed)) == parsed
    return parsed


@settings(max_examples=examples(500))
@given(st.sampled_from(sorted(SPECS)), json_values)
def test_every_config_key_parses_or_refuses_naming_the_option_and_range(key, value):
    spec = SPECS[key]
    parsed = check_option(spec, value)
    if parsed is None or not spec.runtime:
        return
    why = refusal_of_change(DEFAULTS, key, parsed)
    if why is not None:
        assert why.startswith("revenue-ops-") and f"{key} accepts " in why


@settings(max_examples=examples(800))
@given(st.sampled_from(sorted(k for k, s in SPECS.items() if s.kind in ("int", "float"))),
       st.one_of(st.integers(), st.floats(allow_nan=False, allow_infinity=False),
                 st.integers().map(str)))
def test_numbers_in_range_are_taken_and_others_refused(key, value):
    spec = SPECS[key]
    parsed = check_option(spec, value)
    numeric = float(value) if not isinstance(value, str) else int(value)
    in_range = spec.minimum <= numeric <= spec.maximum
    integral = spec.kind == "float" or float(numeric).is_integer()
    assert (parsed is not None) == (in_range and integral), (key, value)
