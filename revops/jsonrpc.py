"""JSON-RPC conventions shared by the plugin's commands and the simulated
lightningd: error objects, and parameters bound by name or by position
exactly as CLN's ``common/json_param.c`` does, with its messages
(``missing required parameter: x``, ``unknown parameter: y, ...``,
``too many parameters: got N, expected M``, and
``<name>: should be <what>: invalid token '<tok>'`` for a bad value).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

from revops.numbers import NumberRefused, clip_token, describe_range, parse_int, parse_real

JSONRPC2_INVALID_REQUEST = -32600
JSONRPC2_METHOD_NOT_FOUND = -32601
JSONRPC2_INVALID_PARAMS = -32602
LIGHTNINGD = -1


class RpcError(Exception):
    """A JSON-RPC error answer: ``{"code": code, "message": message, "data": data}``."""

    def __init__(self, code: int, message: str, data: dict[str, Any] | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def to_json(self) -> dict[str, Any]:
        err: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            err["data"] = self.data
        return err


def _token(value: Any) -> str:
    """How CLN quotes the offending token: the raw JSON text, strings
    without their quotes (jsmn gives CLN the inside of a string); cut short
    when long (a 5 MB token is not echoed back)."""
    return clip_token(value)


def bad_param(name: str, value: Any, what: str) -> RpcError:
    """CLN's ``command_fail_badparam``."""
    return RpcError(JSONRPC2_INVALID_PARAMS, f"{name}: {what}: invalid token '{_token(value)}'")


Parser = Callable[[str, Any], Any]


def p_any(name: str, value: Any) -> Any:
    return value


# -- parsers for CLN's parameter types: (name, raw JSON value) -> value ------

_SCID_RE = re.compile(r"([0-9]{1,8})x([0-9]{1,8})x([0-9]{1,5})", re.ASCII)
_PUBKEY_RE = re.compile(r"0[23][0-9a-fA-F]{64}", re.ASCII)
_HEX64_RE = re.compile(r"[0-9a-fA-F]{64}", re.ASCII)
_AMOUNT_RE = re.compile(r"([0-9]{1,20})(msat|sat)?", re.ASCII)
_BTC_RE = re.compile(r"([0-9]{1,8})(?:\.([0-9]{1,11}))?btc", re.ASCII)
U32_MAX = 0xFFFFFFFF
U64_MAX = 0xFFFFFFFFFFFFFFFF


def _int_param(what: str, lo: int, hi: int, floats: bool = True) -> Parser:
    def parse(name: str, value: Any) -> int:
        try:
            if isinstance(value, float) and not floats:
                raise NumberRefused("not an integer")
            return parse_int(value, lo, hi)
        except NumberRefused:
            raise bad_param(name, value, what) from None
    return parse


# CLN's own words for its integer types (the ranges are the types'; CLN
# takes no float for them).
p_u32 = _int_param("should be an unsigned 32 bit integer", 0, U32_MAX, floats=False)
p_u64 = _int_param("should be an unsigned 64 bit integer", 0, U64_MAX, floats=False)
p_number = _int_param("should be an integer", 0, U32_MAX, floats=False)


def p_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return value == "true"
    raise bad_param(name, value, "should be 'true' or 'false'")


def p_string(name: str, value: Any) -> str:
    """Any string, as CLN takes it (the simulator's methods); our own
    commands bound theirs with :func:`p_text`."""
    if isinstance(value, (dict, list)):
        raise bad_param(name, value, "should be a string")
    return value if isinstance(value, str) else _token(value)


def p_text(max_len: int) -> Parser:
    """A string (a scalar is taken as its JSON text, as CLN does) of at most
    ``max_len`` characters."""
    def parse(name: str, value: Any) -> str:
        if isinstance(value, (dict, list)):
            raise bad_param(name, value, "should be a string")
        text = value if isinstance(value, str) else _token(value)
        if len(text) > max_len:
            raise bad_param(name, value, f"should be a string of at most {max_len} characters")
        return text
    return parse


def p_msat(name: str, value: Any) -> int:
    """CLN's ``parse_amount_msat``: 1000, "1000", "1000msat", "1sat", "0.00000001btc"."""
    what = "should be a millisatoshi amount"
    if isinstance(value, str):
        m = _AMOUNT_RE.fullmatch(value)
        if m:
            n = int(m.group(1)) * (1000 if m.group(2) == "sat" else 1)
        else:
            m = _BTC_RE.fullmatch(value)
            if not m:
                raise bad_param(name, value, what)
            frac = (m.group(2) or "").ljust(11, "0")
            n = int(m.group(1)) * 100_000_000_000 + int(frac)
        value_n: Any = n
    else:
        value_n = value
    return _amount(name, value, value_n, U64_MAX, what)


def _amount(name: str, value: Any, n: Any, hi: int, what: str) -> int:
    try:
        if isinstance(n, float):
            raise NumberRefused("amounts are integers")
        return parse_int(n, 0, hi)
    except NumberRefused:
        raise bad_param(name, value, what) from None


def p_sat(name: str, value: Any) -> int:
    """CLN's ``parse_amount_sat``: 10, "10", "10sat", "10000msat" (whole sats only)."""
    what = "should be a satoshi amount"
    if isinstance(value, str):
        m = _AMOUNT_RE.fullmatch(value)
        if m:
            n = int(m.group(1))
            if m.group(2) == "msat":
                if n % 1000:
                    raise bad_param(name, value, what)
                n //= 1000
        else:
            m = _BTC_RE.fullmatch(value)
            if not m or len(m.group(2) or "") > 8:
                raise bad_param(name, value, what)
            n = int(m.group(1)) * 100_000_000 + int((m.group(2) or "").ljust(8, "0"))
        value_n: Any = n
    else:
        value_n = value
    return _amount(name, value, value_n, U64_MAX // 1000, what)


def p_scid(name: str, value: Any) -> str:
    """``BLOCKxTXxOUT`` within CLN's field sizes (24, 24 and 16 bits)."""
    m = _SCID_RE.fullmatch(value) if isinstance(value, str) else None
    if m and int(m.group(1)) < 1 << 24 and int(m.group(2)) < 1 << 24 \
            and int(m.group(3)) < 1 << 16:
        return value
    raise bad_param(name, value, "should be a short_channel_id")


def p_node_id(name: str, value: Any) -> str:
    if isinstance(value, str) and _PUBKEY_RE.fullmatch(value):
        return value.lower()
    raise bad_param(name, value, "should be a node id")


def p_sha256(name: str, value: Any) -> str:
    if isinstance(value, str) and _HEX64_RE.fullmatch(value):
        return value.lower()
    raise bad_param(name, value, "should be a 32 byte hex value")


def p_channel_id(name: str, value: Any) -> str:
    if isinstance(value, str) and _HEX64_RE.fullmatch(value):
        return value.lower()
    raise bad_param(name, value, "should be a channel id")


def p_array(name: str, value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    raise bad_param(name, value, "should be an array")


def p_object(name: str, value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    raise bad_param(name, value, "should be an object")


def p_enum(*choices: str) -> Parser:
    """A string from a fixed set (CLN words these per method; this is the
    common ``should be one of ...`` form)."""
    accepted = ", ".join(f"'{c}'" for c in choices)

    def parse(name: str, value: Any) -> str:
        if isinstance(value, str) and value in choices:
            return value
        raise bad_param(name, value, f"should be one of {accepted}")

    return parse



@dataclass(frozen=True)
class Param:
    """One parameter of a command: its name, parser, default, and whether
    it is required (required ones come first, as CLN insists)."""

    name: str
    parse: Parser = p_any
    default: Any = None
    required: bool = False

    @property
    def usage(self) -> str:
        return self.name if self.required else f"[{self.name}]"


def req(name: str, parse: Parser = p_any) -> Param:
    return Param(name, parse, required=True)


def opt(name: str, parse: Parser = p_any, default: Any = None) -> Param:
    return Param(name, parse, default=default)


def usage(specs: tuple[Param, ...]) -> str:
    """CLN's usage string: ``id [feebase] [feeppm]``."""
    return " ".join(p.usage for p in specs)


def bind_params(specs: tuple[Param, ...], params: Any,
                allow_extra: bool = False) -> dict[str, Any]:
    """Named (dict) or positional (list) JSON params -> keyword arguments
    (dashes become underscores), parsed, defaults filled in. A JSON null is
    the same as not giving the parameter, as in CLN."""
    if params is None:
        params = {}
    given: dict[str, Any] = {}
    if isinstance(params, list):
        if len(params) > len(specs) and not allow_extra:
            raise RpcError(JSONRPC2_INVALID_PARAMS,
                           f"too many parameters: got {len(params)}, expected {len(specs)}")
        for spec, value in zip(specs, params):
            if value is not None:
                given[spec.name] = value
    elif isinstance(params, dict):
        names = {p.name for p in specs}
        for key, value in params.items():
            if key not in names:
                if allow_extra:
                    continue
                raise RpcError(JSONRPC2_INVALID_PARAMS,
                               f"unknown parameter: {key}, this may be caused by a "
                               "failure to autodetect key=value-style parameters. "
                               "Please try using the -k flag and explicit key=value "
                               "pairs of parameters.")
            if value is not None:
                given[key] = value
    else:
        raise RpcError(JSONRPC2_INVALID_PARAMS, "Expected array or object for params")
    out: dict[str, Any] = {}
    for spec in specs:
        if spec.name in given:
            out[spec.name.replace("-", "_")] = spec.parse(spec.name, given[spec.name])
        elif spec.required:
            raise RpcError(JSONRPC2_INVALID_PARAMS, f"missing required parameter: {spec.name}")
        else:
            out[spec.name.replace("-", "_")] = spec.default
    return out


def p_int_range(lo: int, hi: int, unit: str = "") -> Parser:
    """An integer within [lo, hi] (a JSON number or ASCII digits; see
    ``revops/numbers.py``)."""
    return _int_param("should be " + describe_range("an integer", lo, hi, unit), lo, hi)


def p_real_range(lo: float, hi: float, unit: str = "") -> Parser:
    """A finite number within [lo, hi]."""
    what = "should be " + describe_range("a number", lo, hi, unit)

    def parse(name: str, value: Any) -> float:
        try:
            return parse_real(value, lo, hi)
        except NumberRefused:
            raise bad_param(name, value, what) from None

    return parse
