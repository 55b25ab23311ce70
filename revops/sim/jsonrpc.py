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

import math
from dataclasses import dataclass
from typing import Any, Callable

from revops.jsonrpc import (  # noqa: F401  (re-exported for sim modules)
    p_u32,
    p_u64,
    p_number,
    p_bool,
    p_string,
    p_msat,
    p_sat,
    p_scid,
    p_node_id,
    p_sha256,
    p_channel_id,
    p_array,
    p_object,
    p_enum,
    Parser,
    JSONRPC2_INVALID_PARAMS,
    JSONRPC2_INVALID_REQUEST,
    JSONRPC2_METHOD_NOT_FOUND,
    Param,
    RpcError,
    _token,
    bad_param,
    bind_params,
    opt,
    p_any,
    p_real_range,
    req,
)

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

