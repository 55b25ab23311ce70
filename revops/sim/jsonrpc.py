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

import functools
import json
import math
from dataclasses import dataclass
from typing import Any, Callable

from revops import jsonrpc as _shared
from revops.sim.pubkey import on_curve
from revops.jsonrpc import (  # noqa: F401  (re-exported for sim modules)
    JSONRPC2_INVALID_PARAMS,
    JSONRPC2_INVALID_REQUEST,
    JSONRPC2_METHOD_NOT_FOUND,
    Param,
    Parser,
    RpcError,
    bind_params,
    opt,
    p_any,
    req,
)


# -- CLN's wording of a refused parameter ---------------------------------------
#
# lightningd quotes the offending token as it came in the request
# (``json_tok_full``): a string *with* its quotes, ``invalid token '"nope"'``.
# The parsers shared with the plugin (revops/jsonrpc.py) print strings
# without them, so the sim's copies re-quote their refusals.


def cln_token(value: Any) -> str:
    """A parameter's JSON text as lightningd quotes it in errors."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


_token = cln_token


def bad_param(name: str, value: Any, what: str) -> RpcError:
    """CLN's ``command_fail_badparam``."""
    return RpcError(JSONRPC2_INVALID_PARAMS, f"{name}: {what}: invalid token '{cln_token(value)}'")


def _requoted(parse: Parser) -> Parser:
    """A shared parser whose refusal of a string names it as lightningd does."""
    @functools.wraps(parse)
    def wrapped(name: str, value: Any) -> Any:
        try:
            return parse(name, value)
        except RpcError as e:
            tail = f"invalid token '{value}'"
            if (e.code == JSONRPC2_INVALID_PARAMS and isinstance(value, str)
                    and e.message.endswith(tail)):
                raise RpcError(e.code, e.message[:-len(tail)]
                               + f"invalid token '{cln_token(value)}'", e.data) from None
            raise
    return wrapped


p_u32 = _requoted(_shared.p_u32)
p_u64 = _requoted(_shared.p_u64)
p_number = _requoted(_shared.p_number)
p_bool = _requoted(_shared.p_bool)
p_string = _requoted(_shared.p_string)
p_msat = _requoted(_shared.p_msat)
p_sat = _requoted(_shared.p_sat)


def p_node_id(name: str, value: Any) -> str:
    """``param_node_id``: a compressed public key (a point on the curve)."""
    if isinstance(value, str) and on_curve(value):
        return value.lower()
    raise bad_param(name, value, "should be a node id")


p_sha256 = _requoted(_shared.p_sha256)
p_channel_id = _requoted(_shared.p_channel_id)
p_array = _requoted(_shared.p_array)
p_object = _requoted(_shared.p_object)


def p_scid(name: str, value: Any) -> str:
    """``param_short_channel_id``."""
    if isinstance(value, str) and _shared._SCID_RE.match(value):
        return value
    raise bad_param(name, value, "should be a short_channel_id of form NxNxN")


def p_enum(*choices: str) -> Parser:
    return _requoted(_shared.p_enum(*choices))


def p_int_range(lo: int, hi: int) -> Parser:
    return _requoted(_shared.p_int_range(lo, hi))


def p_real_range(lo: float, hi: float) -> Parser:
    return _requoted(_shared.p_real_range(lo, hi))


# JSON-RPC 2.0 and CLN error codes (common/jsonrpc_errors.h).
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
PAY_INSUFFICIENT_FUNDS = 215
PAY_USER_ERROR = 217
PAY_DESTINATION_INSUFFICIENT_CAPACITY = 220
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


# -- parameter parsers: (name, raw JSON value) -> Python value -------------

def scid_to_int(scid: str) -> int:
    block, tx, out = (int(x) for x in scid.split("x"))
    return (block << 40) | (tx << 16) | out


# -- parameters and binding ---------------------------------------------------


@dataclass(frozen=True)
class MethodSpec:
    name: str
    params: tuple[Param, ...]
    handler: Callable[..., Any]
    category: str = "utility"
    description: str = ""
    allow_extra: bool = False
    dev: bool = False
    # Deprecated in v26.06: hidden from ``help`` and refused (-32601)
    # unless the node runs with ``allow-deprecated-apis``.
    deprecated: bool = False

    @property
    def usage(self) -> str:
        return " ".join(p.usage for p in self.params)

    def bind(self, params: Any) -> dict[str, Any]:
        """Named or positional JSON params -> handler kwargs, as CLN's
        ``param()`` does it (same checks, same messages)."""
        return bind_params(self.params, params, self.allow_extra)


class MethodTable:
    """The built-in commands of the simulated lightningd, by name."""

    def __init__(self) -> None:
        self._methods: dict[str, MethodSpec] = {}

    def add(self, spec: MethodSpec) -> None:
        if spec.name in self._methods:
            raise ValueError(f"method {spec.name} registered twice")
        self._methods[spec.name] = spec

    def method(self, name: str, *params: Param, category: str = "utility",
               description: str = "", allow_extra: bool = False, dev: bool = False,
               deprecated: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator form of :meth:`add`."""
        def register(fn: Callable[..., Any]) -> Callable[..., Any]:
            self.add(MethodSpec(name, tuple(params), fn, category,
                                description or (fn.__doc__ or "").strip().split("\n")[0],
                                allow_extra, dev, deprecated))
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

