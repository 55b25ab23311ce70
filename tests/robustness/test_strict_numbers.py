"""Finding 4 of issue 15: one strict number parser for commands and config.

Before: digit strings over 4,300 characters and ``"²"`` raised out of the
parameter binding (``-32600 Error while processing``, no parameter named),
``10**400`` raised ``OverflowError`` from ``revenue-config set`` on float
keys, ``"١٢"``, ``"1_0"`` and ``"12\\n"`` were taken as numbers, and a 5 MB
ignore reason was stored. Now each is a -32602 naming the parameter and
the accepted range.
"""

from __future__ import annotations

import json

import pytest

from revops.commands import COMMANDS
from revops.config import SPECS, ConfigError
from revops.jsonrpc import JSONRPC2_INVALID_PARAMS, RpcError, bind_params
from revops.numbers import NumberRefused, clip_token, parse_int, parse_real
from revops.plugin import decode_message

NOT_NUMBERS = ["1" * 4301, "9" * 5000, "²", "١٢", "1_0", "12\n", " 12", "12 ", "+12",
               "0x10", "1e3", "", "nan", "inf", "-0x1", "١", "１２"]
HUGE = [10**400, -(10**400), 10**5000]


def _id(v):
    return "huge" if isinstance(v, int) and abs(v) > 10**30 else repr(v)[:12]


@pytest.mark.parametrize("value", NOT_NUMBERS + HUGE + [True, None, [], {}, 1.5,
                                                        float("nan"), float("inf")], ids=_id)
def test_parse_int_refuses_what_is_not_a_plain_integer(value):
    with pytest.raises(NumberRefused):
        parse_int(value, 0, 10**6)


@pytest.mark.parametrize("value", [v for v in NOT_NUMBERS if v != "1e3"] + HUGE
                         + ["1" * 400, "1e400", "-1e400", "1.5.5", "1__0.5", True,
                            float("inf"), float("-inf"), float("nan")], ids=_id)
def test_parse_real_refuses_what_is_not_a_plain_finite_number(value):
    with pytest.raises(NumberRefused):
        parse_real(value, -1e6, 1e6)


@pytest.mark.parametrize("value,expected", [(12, 12), ("12", 12), (12.0, 12), ("007", 7),
                                            ("0", 0)])
def test_parse_int_takes_json_integers_and_ascii_digits(value, expected):
    assert parse_int(value, 0, 100) == expected


@pytest.mark.parametrize("value,expected", [(1, 1.0), ("0.5", 0.5), (".5", 0.5),
                                            ("1e-05", 1e-05), ("30.0", 30.0), (2.5, 2.5)])
def test_parse_real_takes_json_numbers_and_ascii_decimals(value, expected):
    assert parse_real(value, 0, 100) == expected


def test_range_check_on_huge_ints_needs_no_conversion():
    with pytest.raises(NumberRefused, match="out of range"):
        parse_real(10**400, 0, 1)


def test_negative_text_only_where_the_range_has_negatives():
    with pytest.raises(NumberRefused):
        parse_int("-1", 0, 10)
    assert parse_int("-1", -5, 10) == -1


def _numeric_params():
    out = []
    for cmd in COMMANDS:
        for p in cmd.params:
            try:
                p.parse(p.name, "1")
                p.parse(p.name, 1)
            except RpcError:
                continue
            try:
                p.parse(p.name, "abc")
            except RpcError:
                out.append((cmd, p))  # takes numbers and only numbers
    return out


NUMERIC = _numeric_params()


def test_there_are_numeric_parameters_to_check():
    names = {(c.name, p.name) for c, p in NUMERIC}
    assert ("revenue-history", "limit") in names
    assert ("revenue-set-fee", "ttl_hours") in names
    assert ("revenue-rebalance", "amount_sats") in names
    assert ("revenue-report", "days") in names


def _call(cmd, pname, value):
    """Named params with every other required one given a valid value."""
    valid = {"channel": "1x1x0", "from": "1x1x0", "to": "2x1x0", "peer_id": "02" + "a" * 64,
             "fee_ppm": 1, "amount_sats": 1000, "action": "get", "actor": "fee"}
    params = {p.name: valid[p.name] for p in cmd.params if p.required and p.name != pname}
    params[pname] = value
    return bind_params(cmd.params, params)


@pytest.mark.parametrize("cmd,param", NUMERIC, ids=[f"{c.name}.{p.name}" for c, p in NUMERIC])
@pytest.mark.parametrize("value", NOT_NUMBERS[:8] + HUGE,
                         ids=_id)
def test_every_numeric_parameter_refuses_with_its_name(cmd, param, value):
    with pytest.raises(RpcError) as e:
        _call(cmd, param.name, value)
    assert e.value.code == JSONRPC2_INVALID_PARAMS
    assert e.value.message.startswith(f"{param.name}: should be ")
    assert len(e.value.message) < 400


NUMBER_KEYS = [k for k, s in SPECS.items() if s.kind in ("int", "float")]


@pytest.mark.parametrize("key", NUMBER_KEYS)
@pytest.mark.parametrize("value", NOT_NUMBERS[:8] + HUGE + [float("nan"), "1e400"],
                         ids=_id)
def test_every_number_option_refuses_with_its_name_and_range(key, value):
    spec = SPECS[key]
    if spec.kind == "float" and value == "1e3":
        return
    with pytest.raises(ConfigError) as e:
        spec.parse(value)
    msg = str(e.value)
    assert msg.startswith(f"{spec.option_name}: invalid value ")
    assert f"accepted: {spec.accepted}" in msg
    assert len(msg) < 500


def test_address_port_takes_ascii_digits_only():
    spec = SPECS["metrics-address"]
    assert spec.parse("127.0.0.1:9750") == "127.0.0.1:9750"
    for bad in ("127.0.0.1:²", "127.0.0.1:٩٧٥٠", "127.0.0.1:97_50", "127.0.0.1:" + "9" * 5000):
        with pytest.raises(ConfigError):
            spec.parse(bad)


def test_a_five_megabyte_ignore_reason_is_refused_with_its_limit():
    cmd = next(c for c in COMMANDS if c.name == "revenue-ignore")
    with pytest.raises(RpcError) as e:
        bind_params(cmd.params, {"peer_id": "02" + "a" * 64, "reason": "x" * 5_000_000})
    assert e.value.code == JSONRPC2_INVALID_PARAMS
    assert e.value.message.startswith("reason: should be a string of at most 500 characters")
    assert len(e.value.message) < 400


def test_tokens_are_quoted_short_and_never_fail():
    assert clip_token("x" * 5000).endswith("(5000 characters)")
    assert "digits" in clip_token(10**5000)
    assert clip_token("abc") == "abc"


def test_a_number_literal_too_long_for_python_is_decoded_as_its_digits():
    digits = "7" * 5000
    msg = b'{"jsonrpc":"2.0","id":1,"method":"revenue-history","params":[' \
        + digits.encode() + b"]}"
    with pytest.raises(ValueError):
        json.loads(msg)  # what pyln's own read loop does
    decoded = decode_message(msg)
    assert decoded["params"] == [digits]
    cmd = next(c for c in COMMANDS if c.name == "revenue-history")
    with pytest.raises(RpcError) as e:
        bind_params(cmd.params, decoded["params"][::-1] + [None])
    assert e.value.code == JSONRPC2_INVALID_PARAMS


def raw_call(rpc_path: str, text: str) -> dict:
    """Send JSON text as written: pyln's client cannot encode 5,000 digits."""
    import os
    import socket

    dirfd = os.open(os.path.dirname(rpc_path), os.O_DIRECTORY | os.O_RDONLY)
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(60)
            s.connect(f"/proc/self/fd/{dirfd}/{os.path.basename(rpc_path)}")
            s.sendall(text.encode())
            buf = b""
            while b"\n\n" not in buf:
                chunk = s.recv(65536)
                assert chunk, "connection closed without an answer"
                buf += chunk
    finally:
        os.close(dirfd)
    return json.loads(buf.split(b"\n\n")[0])


@pytest.mark.e2e
def test_a_5000_digit_literal_through_lightningd_gets_a_clear_answer(revops_sim):
    sim = revops_sim()
    for method, params in (("revenue-history", '{"limit":%s}'),
                           ("revenue-config", '["set","rpc-timeout",%s]')):
        answer = raw_call(str(sim.rpc_path), '{"jsonrpc":"2.0","id":1,"method":"%s",'
                          '"params":%s}' % (method, params % ("7" * 5000)))
        assert answer["error"]["code"] == -32602, answer
        assert answer["error"]["message"].startswith(("limit: should be an integer from 1",
                                                      "value: revenue-ops-rpc-timeout"))
        assert len(answer["error"]["message"]) < 600
    assert sim.rpc.call("revenue-status")["started"] is True
