"""lightningd's own (non-market) RPC methods, as the simulated node serves them.

``help``, ``stop``, ``plugin`` (list/start/stop/startdir/rescan),
``listconfigs`` (in :mod:`revops.sim.configs_rpc`),
``datastore`` / ``listdatastore`` / ``deldatastore`` / ``datastoreusage``,
``notifications``, and the sim's clock control ``dev-advance HOURS``.
Answers and errors are CLN v26.06's (``lightningd/jsonrpc.c``,
``plugin_control.c``, ``datastore.c``); the node they act on is the
:class:`~revops.sim.lightningd.SimNode` passed as the first argument.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any

from revops.sim.datastore import MODES, Key
from revops.sim.jsonrpc import (
    JSONRPC2_INVALID_PARAMS,
    JSONRPC2_METHOD_NOT_FOUND,
    MethodSpec,
    MethodTable,
    RpcError,
    bad_param,
    opt,
    p_bool,
    p_string,
    p_u64,
    req,
)
from revops.sim.rpc_server import current_connection

if TYPE_CHECKING:
    from revops.sim.lightningd import SimNode

PLUGIN_SUBCOMMANDS = ("start", "stop", "startdir", "rescan", "list")
_HEX_RE = re.compile(r"^([0-9a-fA-F]{2})*$")


# -- parsers particular to these commands -------------------------------------

def p_key(name: str, value: Any) -> Key:
    """``param_list_or_string``: a string, or a non-empty array of strings
    (numbers and other primitives count as their text)."""
    if isinstance(value, list):
        if not value:
            raise bad_param(name, value, "should not be empty")
        parts = []
        for item in value:
            if isinstance(item, (dict, list)):
                raise bad_param(name, item, "should be string")
            parts.append(p_string(name, item))
        return tuple(parts)
    if isinstance(value, dict):
        raise bad_param(name, value, "should be string or array")
    return (p_string(name, value),)


def p_escaped_string(name: str, value: Any) -> str:
    if isinstance(value, str):
        return value
    raise bad_param(name, value, "should be a string (without \\u)")


def p_hex(name: str, value: Any) -> bytes:
    if isinstance(value, str) and _HEX_RE.match(value):
        return bytes.fromhex(value)
    raise bad_param(name, value, "should be a hex value")


def p_mode(name: str, value: Any) -> str:
    if isinstance(value, str) and value in MODES:
        return value
    raise bad_param(name, value, "should be 'must-create', 'must-replace', "
                                 "'create-or-replace', 'must-append', or 'create-or-append'")


def p_hours(name: str, value: Any) -> float:
    """A non-negative number of hours (``dev-advance 1.5``)."""
    try:
        hours = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        hours = math.nan
    if not math.isfinite(hours) or hours < 0:
        raise bad_param(name, value, "should be a non-negative number of hours")
    return hours


# -- handlers ------------------------------------------------------------------

def _help(node: SimNode, command: str | None) -> dict[str, Any]:
    """v26.06's ``help``: each command's name and usage only (pyln plugins
    such as feeadjuster look for ``listchannels ... destination`` there);
    deprecated commands are hidden unless the node allows them."""
    entries = [e for e in node.command_help() if _visible(node, e["name"])]
    if command is not None:
        entries = [e for e in entries if e["name"] == command]
        if not entries:
            raise RpcError(JSONRPC2_METHOD_NOT_FOUND, f"Unknown command {command}")
    return {"help": [{"command": f"{e['name']} {e['usage']}"} for e in entries],
            "format-hint": "simple"}


def _visible(node: SimNode, name: str) -> bool:
    spec = node.table.get(name)
    return spec is None or not spec.deprecated or node.config.allow_deprecated_apis


async def _stop(node: SimNode) -> str:
    return await node.stop_from_rpc()


def _subcommand(params: Any) -> str:
    if isinstance(params, list):
        value = params[0] if params else None
    elif isinstance(params, dict):
        value = params.get("subcommand")
    else:
        raise RpcError(JSONRPC2_INVALID_PARAMS, "Expected array or object for params")
    if value is None:
        raise RpcError(JSONRPC2_INVALID_PARAMS, "missing required parameter: subcommand")
    sub = p_string("subcommand", value)
    if sub not in PLUGIN_SUBCOMMANDS:
        raise RpcError(JSONRPC2_INVALID_PARAMS, f"Unknown subcommand '{sub}'")
    return sub


_SUBCOMMAND_PARAMS = {
    "stop": (req("subcommand"), req("plugin", p_string)),
    "startdir": (req("subcommand"), req("directory", p_string)),
    "rescan": (req("subcommand"),),
    "list": (req("subcommand"),),
}


async def _plugin(node: SimNode, params: Any) -> dict[str, Any]:
    sub = _subcommand(params)
    if sub == "start":
        path, options = _start_params(params)
        return await node.plugin_start(path, options)
    spec = MethodSpec("plugin", _SUBCOMMAND_PARAMS[sub], _plugin)
    bound = spec.bind(params)
    if sub == "stop":
        return await node.plugin_stop(bound["plugin"])
    if sub == "startdir":
        return await node.plugin_startdir(bound["directory"])
    if sub == "rescan":
        return await node.plugin_rescan()
    return node.plugin_list("list")


_plugin.raw_params = True  # type: ignore[attr-defined]


def _start_params(params: Any) -> tuple[str, dict[str, str | None]]:
    """``plugin start``: the path, and the plugin options either as an
    ``options`` array of ``key=value`` strings or as extra named params."""
    spec = MethodSpec("plugin", (req("subcommand"), req("plugin", p_string),
                                 opt("options")), _plugin, allow_extra=True)
    bound = spec.bind(params)
    raw_options = bound["options"]
    if raw_options is not None and not isinstance(raw_options, list):
        raise bad_param("options", raw_options, "should be an array")
    options: dict[str, str | None] = {}
    if isinstance(params, list):
        if len(params) > (3 if raw_options is not None else 2):
            raise RpcError(JSONRPC2_INVALID_PARAMS, "Extra parameters must be in object")
    elif raw_options is None:
        for key, value in params.items():
            if key not in ("subcommand", "plugin", "options"):
                options[key] = None if value is True else (
                    value if isinstance(value, str) else p_string(key, value))
    elif any(k not in ("subcommand", "plugin", "options") for k in params):
        raise RpcError(JSONRPC2_INVALID_PARAMS,
                       "Cannot mix 'options' array with keyword options")
    for item in raw_options or ():
        if not isinstance(item, str):
            raise RpcError(JSONRPC2_INVALID_PARAMS, "options array entries must be strings")
        key, eq, value = item.partition("=")
        options[key] = value if eq else None
    return bound["plugin"], options


def _datastore(node: SimNode, key: Key, string: str | None, hex: bytes | None,
               mode: str, generation: int | None) -> dict[str, Any]:
    if string is not None:
        if hex is not None:
            raise RpcError(JSONRPC2_INVALID_PARAMS, "Cannot have both hex and string")
        data = string.encode("utf-8")
    elif hex is None:
        raise RpcError(JSONRPC2_INVALID_PARAMS, "Must have either hex or string")
    else:
        data = hex
    return node.datastore.store(key, data, mode, generation)


def _listdatastore(node: SimNode, key: Key | None) -> dict[str, Any]:
    return {"datastore": node.datastore.listing(key)}


def _deldatastore(node: SimNode, key: Key, generation: int | None) -> dict[str, Any]:
    return node.datastore.delete(key, generation)


def _datastoreusage(node: SimNode, key: Key | None) -> dict[str, Any]:
    if key is not None and key[0] == "":
        key = None
    return {"datastoreusage": {"key": "[" + ",".join(key or ()) + "]",
                               "total_bytes": node.datastore.usage(key)}}


def _notifications(node: SimNode, enable: bool) -> dict[str, Any]:
    conn = current_connection.get()
    if conn is not None:
        conn.notifications_enabled = enable
    return {}


async def _dev_advance(node: SimNode, hours: float) -> dict[str, Any]:
    return await node.advance(hours * 3600.0)


def register(table: MethodTable) -> None:
    """Add the built-in commands to the node's method table."""
    from revops.sim import configs_rpc

    configs_rpc.register(table)
    table.add(MethodSpec("help", (opt("command", p_string),), _help, "utility",
                         "List available commands, or give verbose help on one {command}."))
    table.add(MethodSpec("stop", (), _stop, "utility", "Shut down the lightningd process"))
    table.add(MethodSpec(
        "plugin", (req("subcommand=start|stop|startdir|rescan|list"),), _plugin, "plugin",
        "Control plugins (start, stop, startdir, rescan, list)"))
    table.add(MethodSpec(
        "datastore", (req("key", p_key), opt("string", p_escaped_string), opt("hex", p_hex),
                      opt("mode", p_mode, "must-create"), opt("generation", p_u64)),
        _datastore, "utility", "Add a {key} and {hex}/{string} data to the data store"))
    table.add(MethodSpec("listdatastore", (opt("key", p_key),), _listdatastore, "utility",
                         "List the datastore, optionally only {key}"))
    table.add(MethodSpec("deldatastore", (req("key", p_key), opt("generation", p_u64)),
                         _deldatastore, "utility", "Remove a {key} from the data store"))
    table.add(MethodSpec("datastoreusage", (opt("key", p_key),), _datastoreusage, "utility",
                         "List the datastore usage, starting from an optional {key}"))
    table.add(MethodSpec("notifications", (req("enable", p_bool),), _notifications,
                         "utility", "{enable} notifications"))
    table.add(MethodSpec("dev-advance", (req("hours", p_hours),), _dev_advance, "developer",
                         "Move the simulated clock forward {hours} (revops-sim only)",
                         dev=True))
