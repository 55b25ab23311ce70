"""``listconfigs``, as lightningd v26.06 answers it (``lightningd/configs.c``).

``{"configs": {name: entry}}`` with one entry per option: lightningd's own
first (the values the simulated node actually uses: CLN's mainnet
defaults for fees, CLTV and confirmations, this node's alias, colour,
network and directory), then every option of every plugin, in
registration order, with the plugin that registered it. An entry is

- ``{"set": bool, "source": ...}`` for a flag,
- ``{"value_str"|"value_int"|"value_msat"|"value_bool": v, "source": ...}``
  for an option with a value (an option with no value and no default is
  left out, as lightningd leaves it out),
- ``{"values_str"|"values_int": [...], "sources": [...]}`` for a multi option,

plus ``"plugin": path`` for plugin options and ``"dynamic": true`` for
options ``setconfig`` may change. ``source`` is ``default``, ``cmdline``
(``--option`` and scenario options: lightningd's command line), or
``pluginstart`` (options given to ``plugin start``).

``listconfigs config=NAME`` gives that one entry; an unknown name is
lightningd's ``config: Unknown config option: invalid token '"NAME"'``.
lightningd's developer options (``dev-*``) are listed only when set, and
the sim sets none; the built-in plugins' options (askrene, bcli, xpay, ...)
are absent because the sim runs no built-in plugins (it answers their
methods itself).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from revops.sim.jsonrpc import MethodTable, bad_param, opt, p_string
from revops.sim.market import FUNDING_CONFIRMS, OUR_CLTV_DELTA, TO_SELF_DELAY
from revops.sim.plugin_manifest import typed_value
from revops.sim.scenario import (
    CLN_DEFAULT_FEE_BASE_MSAT,
    CLN_DEFAULT_FEE_PPM,
    MAX_ACCEPTED_HTLCS,
)

if TYPE_CHECKING:
    from revops.sim.lightningd import SimNode

U64_MAX = 0xFFFFFFFFFFFFFFFF
CLTV_FINAL = 18
RESCAN_BLOCKS = 15
DEFAULT_PORT = 9735

# One of lightningd's own options: (name, kind, value of this node, source).
# Kinds: flag, bool, int, msat, str, multi_str, multi_int. Order: lightningd's.
Entry = tuple[str, str, Callable[["SimNode"], Any], Callable[["SimNode"], str]]


def _default(node: SimNode) -> str:
    return "default"


def _cmdline(node: SimNode) -> str:
    return "cmdline"


def _const(value: Any) -> Callable[[SimNode], Any]:
    return lambda node: value


def _deprecated_source(node: SimNode) -> str:
    return "cmdline" if node.config.allow_deprecated_apis else "default"


LIGHTNINGD_OPTIONS: tuple[Entry, ...] = (
    ("developer", "flag", _const(True), _cmdline),  # the dev-* methods exist
    ("lightning-dir", "str", lambda n: n.lightning_dir, _cmdline),
    ("network", "str", lambda n: n.market.network, _cmdline),
    ("testnet", "flag", _const(False), _default),
    ("testnet4", "flag", _const(False), _default),
    ("signet", "flag", _const(False), _default),
    ("mainnet", "flag", _const(False), _default),
    ("regtest", "flag", _const(False), _default),
    ("rpc-file", "str", _const("lightning-rpc"), _default),
    ("allow-deprecated-apis", "bool", lambda n: n.config.allow_deprecated_apis,
     _deprecated_source),
    ("plugin", "multi_str", lambda n: list(n.config.plugins), _cmdline),
    ("plugin-dir", "multi_str", _const([]), _cmdline),
    ("clear-plugins", "flag", _const(False), _default),
    ("disable-plugin", "multi_str", _const([]), _cmdline),
    ("important-plugin", "multi_str", _const([]), _cmdline),
    ("always-use-proxy", "bool", _const(False), _default),
    ("daemon", "flag", _const(False), _default),
    ("experimental-dual-fund", "flag", _const(False), _default),
    ("experimental-simple-close", "flag", _const(False), _default),
    ("experimental-splicing", "flag", _const(False), _default),
    ("experimental-shutdown-wrong-funding", "flag", _const(False), _default),
    ("rgb", "str", lambda n: n.market.color, _default),
    ("alias", "str", lambda n: n.market.alias, _default),
    ("pid-file", "str", lambda n: f"{n.lightning_dir}/lightningd-{n.market.network}.pid",
     _default),
    ("ignore-fee-limits", "bool", _const(False), _default),
    ("watchtime-blocks", "int", _const(TO_SELF_DELAY), _default),
    ("funding-confirms", "int", _const(FUNDING_CONFIRMS), _default),
    ("require-confirmed-inputs", "bool", _const(False), _default),
    ("cltv-delta", "int", _const(OUR_CLTV_DELTA), _default),
    ("cltv-final", "int", _const(CLTV_FINAL), _default),
    ("commit-time", "int", _const(10), _default),
    ("fee-base", "int", _const(CLN_DEFAULT_FEE_BASE_MSAT), _default),
    ("rescan", "int", _const(RESCAN_BLOCKS), _default),
    ("fee-per-satoshi", "int", _const(CLN_DEFAULT_FEE_PPM), _default),
    ("htlc-minimum-msat", "msat", _const(0), _default),
    ("htlc-maximum-msat", "msat", _const(U64_MAX), _default),
    ("max-concurrent-htlcs", "int", _const(MAX_ACCEPTED_HTLCS), _default),
    ("max-dust-htlc-exposure-msat", "msat", _const(50_000_000), _default),
    ("min-capacity-sat", "int", _const(10_000), _default),
    ("addr", "multi_str", _const([]), _cmdline),
    ("bind-addr", "multi_str", _const([]), _cmdline),
    ("announce-addr", "multi_str", _const([]), _cmdline),
    ("announce-addr-discovered", "str", _const("auto"), _default),
    ("announce-addr-discovered-port", "int", _const(DEFAULT_PORT), _default),
    ("offline", "flag", _const(False), _default),
    ("autolisten", "bool", _const(False), _default),
    ("accept-htlc-tlv-type", "multi_int", _const([]), _cmdline),
    ("disable-dns", "flag", _const(False), _default),
    ("hsm-passphrase", "flag", _const(False), _default),
    ("rpc-file-mode", "str", _const("0600"), _default),
    ("commit-fee", "int", _const(100), _default),
    ("commit-feerate-offset", "int", _const(5), _default),
    ("min-emergency-msat", "msat", _const(25_000_000), _default),
    ("subdaemon", "multi_str", _const([]), _cmdline),
    ("invoices-onchain-fallback", "flag", _const(False), _default),
    ("i-promise-to-fix-broken-api-user", "multi_str", _const([]), _cmdline),
    ("log-level", "str", _const("debug"), _default),
    ("log-timestamps", "bool", _const(True), _default),
    ("log-prefix", "str", _const(""), _default),
    ("log-file", "multi_str", lambda n: [f"{n.lightning_dir}/log"], _cmdline),
    ("payment-fronting-node", "multi_str", _const([]), _cmdline),
    ("message-padding", "bool", _const(False), _default),
    ("autoconnect-seeker-peers", "int", _const(10), _default),
)
DYNAMIC = frozenset({"min-capacity-sat"})  # lightningd's own setconfig-able options here


def _lightningd_entry(node: SimNode, name: str, kind: str, value: Any,
                      source: str) -> dict[str, Any]:
    if kind == "flag":
        entry: dict[str, Any] = {"set": bool(value), "source": source}
    elif kind.startswith("multi_"):
        field = "values_int" if kind == "multi_int" else "values_str"
        entry = {field: list(value), "sources": [source] * len(value)}
    else:
        entry = {f"value_{kind}": value, "source": source}
    if name in DYNAMIC:
        entry["dynamic"] = True
    return entry


def _plugin_entries(node: SimNode) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every registered plugin option that lightningd would list, in order."""
    for plugin in node.plugins:
        source = "pluginstart" if plugin.dynamic_start else "cmdline"
        for spec in plugin.manifest.options:
            given = plugin.option_values.get(spec.name) or []
            if spec.deprecated and not given:
                continue  # hidden, as lightningd hides deprecated options
            if spec.type == "flag":
                entry: dict[str, Any] = {"set": bool(given),
                                         "source": source if given else "default"}
            elif spec.multi:
                kind = "int" if spec.type == "int" else "str"
                entry = {f"values_{kind}": [typed_value(spec, v) for v in given],
                         "sources": [source] * len(given)}
            else:
                text = given[-1] if given else spec.default
                if text is None:
                    continue  # no value and no default: lightningd shows nothing
                kind = {"int": "int", "bool": "bool"}.get(spec.type, "str")
                entry = {f"value_{kind}": typed_value(spec, text),
                         "source": source if given else "default"}
            entry["plugin"] = plugin.path
            if spec.dynamic:
                entry["dynamic"] = True
            yield spec.name, entry


def configs(node: SimNode, config: str | None = None) -> dict[str, Any]:
    """The ``configs`` object (one option, or all)."""
    out: dict[str, Any] = {}
    for name, kind, value, source in LIGHTNINGD_OPTIONS:
        if config is None or config == name:
            out[name] = _lightningd_entry(node, name, kind, value(node), source(node))
    for name, entry in _plugin_entries(node):
        if config is None or config == name:
            out[name] = entry
    if config is not None and not out and not any(
            spec.name == config for p in node.plugins for spec in p.manifest.options):
        raise bad_param("config", config, "Unknown config option")
    return out


def _listconfigs(node: SimNode, config: str | None) -> dict[str, Any]:
    return {"configs": configs(node, config)}


def register(table: MethodTable) -> None:
    table.method("listconfigs", opt("config", p_string), category="utility",
                 description="List all configuration options, or with [config], just that one.")(
        _listconfigs)
