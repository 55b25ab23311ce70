"""lightningd's JSON-RPC conventions, as the simulated lightningd applies them.

What a method handler needs to behave like CLN's own commands: the error
codes, parameter binding by name or by position with CLN's exact messages
(``common/json_param.c``), parsers for CLN's parameter types with CLN's
``"<name>: should be <what>: invalid token '<tok>'"`` wording, and the
generic ``filter`` request field (v22.11+).

A method is a :class:`MethodSpec`: its parameters in order (which fixes
both named and positional binding, and the ``help`` usage string) and a
handler ``handler(node, **params) -> dict`` that may be a coroutine function.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any, Callable

# JSON-RPC 2.0 and CLN error codes (common/jsonrpc_errors.h).
JSONRPC2_INVALID_REQUEST = -32600
JSONRPC2_METHOD_NOT_FOUND = -32601
JSONRPC2_INVALID_PARAMS = -32602
LIGHTNINGD = -1
PLUGIN_ERROR = -3
PLUGIN_TERMINATED = -4
PAY_IN_PROGRESS = 200
PAY_RHASH_ALREADY_USED = 201
PAY_UNPARSEABLE_ONION = 202
PAY_DESTINATION_PERM_FAIL = 203
PAY_TRY_OTHER_ROUTE = 204
PAY_ROUTE_NOT_FOUND = 205
PAY_ROUTE_TOO_EXPENSIVE = 206
PAY_INVOICE_EXPIRED = 207
PAY_NO_SUCH_PAYMENT = 208
PAY_UNSPECIFIED_ERROR = 209
PAY_STOPPED_RETRYING = 210
PAY_STATUS_UNEXPECTED = 211
INVOICE_LABEL_ALREADY_EXISTS = 900
INVOICE_PREIMAGE_ALREADY_EXISTS = 901
INVOICE_NOT_FOUND = 905
DATASTORE_DEL_DOES_NOT_EXIST = 1200
DATASTORE_DEL_WRONG_GENERATION = 1201
DATASTORE_UPDATE_ALREADY_EXISTS = 1202
DATASTORE_UPDATE_DOES_NOT_EXIST = 1203
DATASTORE_UPDATE_WRONG_GENERATION = 1204
DATASTORE_UPDATE_HAS_CHILDREN = 1205
DATASTORE_UPDATE_NO_CHILDREN = 1206
WAIT_TIMEOUT = 2000


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
    without their quotes (jsmn gives CLN the inside of a string)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))


def bad_param(name: str, value: Any, what: str) -> RpcError:
    """CLN's ``command_fail_badparam``."""
    return RpcError(JSONRPC2_INVALID_PARAMS, f"{name}: {what}: invalid token '{_token(value)}'")


# -- parameter parsers: (name, raw JSON value) -> Python value -------------

Parser = Callable[[str, Any], Any]

_SCID_RE = re.compile(r"^([0-9]+)x([0-9]+)x([0-9]+)$")
_PUBKEY_RE = re.compile(r"^0[23][0-9a-fA-F]{64}$")
_HEX64_RE = re.compile(r"^[0-9a-fA-F]{64}$")
_AMOUNT_RE = re.compile(r"^([0-9]+)(msat|sat)?$")
_BTC_RE = re.compile(r"^([0-9]+)(?:\.([0-9]{1,11}))?btc$")


def _as_int_text(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.isdigit():
        return value
    return None


def p_u32(name: str, value: Any) -> int:
    text = _as_int_text(value)
    if text is None or int(text) > 0xFFFFFFFF:
        raise bad_param(name, value, "should be an unsigned 32 bit integer")
    return int(text)


def p_u64(name: str, value: Any) -> int:
    text = _as_int_text(value)
    if text is None or int(text) > 0xFFFFFFFFFFFFFFFF:
        raise bad_param(name, value, "should be an unsigned 64 bit integer")
    return int(text)


def p_number(name: str, value: Any) -> int:
    text = _as_int_text(value)
    if text is None or int(text) > 0xFFFFFFFF:
        raise bad_param(name, value, "should be an integer")
    return int(text)


def p_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return value == "true"
    raise bad_param(name, value, "should be 'true' or 'false'")


def p_string(name: str, value: Any) -> str:
    if isinstance(value, (dict, list)):
        raise bad_param(name, value, "should be a string")
    return value if isinstance(value, str) else _token(value)


def p_msat(name: str, value: Any) -> int:
    """CLN's ``parse_amount_msat``: 1000, "1000", "1000msat", "1sat", "0.00000001btc"."""
    if isinstance(value, bool):
        raise bad_param(name, value, "should be a millisatoshi amount")
    if isinstance(value, int) and value >= 0:
        return value
    if isinstance(value, str):
        m = _AMOUNT_RE.match(value)
        if m:
            n = int(m.group(1))
            return n * 1000 if m.group(2) == "sat" else n
        m = _BTC_RE.match(value)
        if m:
            frac = (m.group(2) or "").ljust(11, "0")
            return int(m.group(1)) * 100_000_000_000 + int(frac)
    raise bad_param(name, value, "should be a millisatoshi amount")


def p_sat(name: str, value: Any) -> int:
    """CLN's ``parse_amount_sat``: 10, "10", "10sat", "10000msat" (whole sats only)."""
    what = "should be a satoshi amount"
    if isinstance(value, bool):
        raise bad_param(name, value, what)
    if isinstance(value, int) and value >= 0:
        return value
    if isinstance(value, str):
        m = _AMOUNT_RE.match(value)
        if m:
            n = int(m.group(1))
            if m.group(2) == "msat":
                if n % 1000:
                    raise bad_param(name, value, what)
                return n // 1000
            return n
        m = _BTC_RE.match(value)
        if m and len(m.group(2) or "") <= 8:
            return int(m.group(1)) * 100_000_000 + int((m.group(2) or "").ljust(8, "0"))
    raise bad_param(name, value, what)


def p_scid(name: str, value: Any) -> str:
    if isinstance(value, str) and _SCID_RE.match(value):
        return value
    raise bad_param(name, value, "should be a short_channel_id")


def p_node_id(name: str, value: Any) -> str:
    if isinstance(value, str) and _PUBKEY_RE.match(value):
        return value.lower()
    raise bad_param(name, value, "should be a node id")


def p_sha256(name: str, value: Any) -> str:
    if isinstance(value, str) and _HEX64_RE.match(value):
        return value.lower()
    raise bad_param(name, value, "should be a 32 byte hex value")


def p_channel_id(name: str, value: Any) -> str:
    if isinstance(value, str) and _HEX64_RE.match(value):
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


def p_any(name: str, value: Any) -> Any:
    return value


def p_enum(*choices: str) -> Parser:
    """A string from a fixed set (CLN words these per method; this is the
    common ``should be one of ...`` form)."""
    accepted = ", ".join(f"'{c}'" for c in choices)

    def parse(name: str, value: Any) -> str:
        if isinstance(value, str) and value in choices:
            return value
        raise bad_param(name, value, f"should be one of {accepted}")

    return parse


def scid_to_int(scid: str) -> int:
    block, tx, out = (int(x) for x in scid.split("x"))
    return (block << 40) | (tx << 16) | out


# -- parameters and binding ---------------------------------------------------


@dataclass(frozen=True)
class Param:
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


@dataclass(frozen=True)
class MethodSpec:
    name: str
    params: tuple[Param, ...]
    handler: Callable[..., Any]
    category: str = "utility"
    description: str = ""
    allow_extra: bool = False
    dev: bool = False

    @property
    def usage(self) -> str:
        return " ".join(p.usage for p in self.params)

    def bind(self, params: Any) -> dict[str, Any]:
        """Named or positional JSON params -> handler kwargs, as CLN's
        ``param()`` does it (same checks, same messages)."""
        if params is None:
            params = {}
        given: dict[str, Any] = {}
        if isinstance(params, list):
            if len(params) > len(self.params) and not self.allow_extra:
                raise RpcError(JSONRPC2_INVALID_PARAMS,
                               f"too many parameters: got {len(params)}, "
                               f"expected {len(self.params)}")
            for spec, value in zip(self.params, params):
                if value is not None:
                    given[spec.name] = value
        elif isinstance(params, dict):
            names = {p.name for p in self.params}
            for key, value in params.items():
                if key not in names:
                    if self.allow_extra:
                        continue
                    raise RpcError(JSONRPC2_INVALID_PARAMS,
                                   f"unknown parameter: {key}, this may be caused by a "
                                   "failure to autodetect key=value-style parameters. "
                                   "Please try using the -k flag and explicit key=value "
                                   "pairs of parameters.")
                given[key] = value
        else:
            raise RpcError(JSONRPC2_INVALID_PARAMS, "Expected array or object for params")
        out: dict[str, Any] = {}
        for spec in self.params:
            if spec.name in given:
                out[spec.name.replace("-", "_")] = spec.parse(spec.name, given[spec.name])
            elif spec.required:
                raise RpcError(JSONRPC2_INVALID_PARAMS,
                               f"missing required parameter: {spec.name}")
            else:
                out[spec.name.replace("-", "_")] = spec.default
        return out


class MethodTable:
    """The built-in commands of the simulated lightningd, by name."""

    def __init__(self) -> None:
        self._methods: dict[str, MethodSpec] = {}

    def add(self, spec: MethodSpec) -> None:
        if spec.name in self._methods:
            raise ValueError(f"method {spec.name} registered twice")
        self._methods[spec.name] = spec

    def method(self, name: str, *params: Param, category: str = "utility",
               description: str = "", allow_extra: bool = False,
               dev: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator form of :meth:`add`."""
        def register(fn: Callable[..., Any]) -> Callable[..., Any]:
            self.add(MethodSpec(name, tuple(params), fn, category,
                                description or (fn.__doc__ or "").strip().split("\n")[0],
                                allow_extra, dev))
            return fn
        return register

    def get(self, name: str) -> MethodSpec | None:
        return self._methods.get(name)

    def __contains__(self, name: str) -> bool:
        return name in self._methods

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(sorted(self._methods.values(), key=lambda s: s.name))


def unknown_command(method: str) -> RpcError:
    return RpcError(JSONRPC2_METHOD_NOT_FOUND, f"Unknown command '{method}'")


# -- filter (v22.11+) ---------------------------------------------------------

def apply_filter(value: Any, flt: Any) -> Any:
    """CLN's response ``filter``: an object whose ``true`` leaves keep fields;
    an array in the filter applies its single element to every member."""
    if flt is True:
        return value
    if isinstance(flt, dict) and isinstance(value, dict):
        out = {}
        for key, sub in flt.items():
            if key in value:
                out[key] = apply_filter(value[key], sub)
        return out
    if isinstance(flt, list) and isinstance(value, list):
        if not flt:
            return value
        return [apply_filter(v, flt[0]) for v in value]
    # Shape mismatch: CLN keeps the whole member (and warns); so do we.
    return value


def check_filter(flt: Any) -> None:
    """Reject a filter lightningd would reject (must be object/array of true)."""
    if flt is True:
        return
    if isinstance(flt, dict):
        for sub in flt.values():
            check_filter(sub)
        return
    if isinstance(flt, list) and len(flt) <= 1:
        for sub in flt:
            check_filter(sub)
        return
    raise RpcError(JSONRPC2_INVALID_PARAMS,
                   f"filter: Expected object, array or true: invalid token '{_token(flt)}'")


def finite_number(x: float) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)

