"""What a plugin declares in its ``getmanifest`` answer, checked the way
lightningd v26.06 checks it (``lightningd/plugin.c``), and how option
values given to lightningd become the typed values a plugin sees in
``init``.

Pure functions and frozen values; the error strings are lightningd's, since
they end up in the node log and in ``plugin start`` errors:

- ``result`` must be an object; ``{"disable": reason}`` stops the plugin;
- ``dynamic``, ``nonnumericids``, ``cancheck`` must be booleans
  (``nonnumericids: false`` is refused since v24.08);
- options need ``name``, ``type`` and ``description``; names are lowercase
  alphanumerics, ``_`` and ``-``; types are ``string``, ``int``, ``bool``,
  ``flag``; ``bool`` and ``flag`` cannot be ``multi``; a flag's default must
  be ``false``; a default must parse as its type; ``deprecated`` is a bool
  or an array of one or two versions (pyln sends ``null``: same as absent);
- rpcmethods need a string ``name``, ``description`` and ``usage``;
- ``subscriptions`` are strings (unknown topics are only logged);
- ``notifications`` may not claim a topic lightningd itself emits;
- ``hooks`` must name hooks lightningd has, once each per plugin; an
  object may carry ``before``/``after`` (plugin names, for the calling
  order) and ``filters`` (only where the hook takes them).

Option values follow ccan/opt as lightningd uses it: ``int`` is C
``strtol(..., 0)`` into a 64-bit long (``'x' is not a number``, ``'x' is out
of range``), ``bool`` is ``true/false/yes/no`` in any case (``1``/``0`` were
refused after v24.08), ``flag`` takes no value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

OPTION_TYPES = ("string", "int", "bool", "flag")

# Hooks lightningd offers (plugin_hook.c REGISTER_PLUGIN_HOOK users). The sim
# calls ``htlc_accepted`` (hook_runner.py); a plugin may register the others
# as on a real node, and they are never called.
KNOWN_HOOKS = frozenset({
    "peer_connected", "commitment_revocation", "db_write", "invoice_payment",
    "openchannel", "openchannel2", "openchannel2_changed", "openchannel2_sign",
    "rbf_channel", "htlc_accepted", "rpc_command", "custommsg",
    "onion_message_recv", "onion_message_recv_secret", "recover",
})
# Hooks registered with REGISTER_PLUGIN_HOOK_STRFILTER / _INTFILTER.
_HOOK_FILTERS = {"rpc_command": str, "custommsg": int}

# Options lightningd itself owns: a plugin cannot take these names.
LIGHTNINGD_OPTIONS = frozenset({
    "network", "mainnet", "testnet", "signet", "regtest", "lightning-dir",
    "rpc-file", "alias", "rgb", "log-level", "log-file", "log-prefix",
    "plugin", "plugin-dir", "disable-plugin", "important-plugin",
    "allow-deprecated-apis", "developer", "conf", "daemon", "addr",
    "bind-addr", "announce-addr", "fee-base", "fee-per-satoshi",
    "htlc-minimum-msat", "htlc-maximum-msat", "max-concurrent-htlcs",
    "database-upgrade", "wallet", "bitcoin-datadir", "proxy",
})

_OPTION_NAME_OK = re.compile(r"^[0-9a-z_-]*$")
_VERSION_RE = re.compile(r"^v[0-9]+\.[0-9]+(\.[0-9]+)?$")
_HEX_RE = re.compile(r"^([0-9a-fA-F]{2})*$")
_LONG_MIN, _LONG_MAX = -(1 << 63), (1 << 63) - 1
_STRTOL_RE = re.compile(r"^[ \t\n\v\f\r]*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$")


def native_topics() -> frozenset[str]:
    """Topics only lightningd may emit: those it has a schema for, plus the
    few internal ones."""
    folder = resources.files("revops.sim").joinpath("cln_schemas", "notification")
    names = {p.name[:-5] for p in folder.iterdir() if p.name.endswith(".json")}
    return frozenset(names | {"deprecated_oneshot", "log"})


class ManifestError(Exception):
    """The manifest is unacceptable; str() is lightningd's message."""


@dataclass(frozen=True)
class OptionSpec:
    name: str
    type: str
    description: str
    default: str | None = None   # as text, the way lightningd keeps it
    multi: bool = False
    dynamic: bool = False
    deprecated: bool = False


@dataclass(frozen=True)
class MethodDecl:
    name: str
    usage: str
    description: str
    long_description: str | None = None
    category: str = "plugin"
    deprecated: bool = False

    @property
    def verbose(self) -> str:
        return self.long_description or self.description


@dataclass(frozen=True)
class HookSpec:
    """One hook registration: the hook and the plugins this one must be
    called ``before`` / ``after`` (names or paths, as ``plugin_paths_match``)."""

    name: str
    before: tuple[str, ...] = ()
    after: tuple[str, ...] = ()


@dataclass(frozen=True)
class Manifest:
    options: tuple[OptionSpec, ...] = ()
    methods: tuple[MethodDecl, ...] = ()
    subscriptions: tuple[str, ...] = ()
    hooks: tuple[str, ...] = ()
    notifications: tuple[str, ...] = ()
    dynamic: bool = False
    nonnumericids: bool = True
    cancheck: bool = False
    disable: str | None = None
    hook_specs: tuple[HookSpec, ...] = ()


def _text(value: Any) -> str:
    """A token's text as lightningd's json_strdup gives it: a string without
    its quotes, anything else as written."""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))


def _bool_field(obj: Mapping[str, Any], key: str, label: str) -> bool:
    if key not in obj:
        return False
    value = obj[key]
    if not isinstance(value, bool):
        raise ManifestError(f'{label}: invalid "{key}" field {_text(value)}')
    return value


def _deprecated(value: Any) -> bool:
    if value is None or value is False:
        return False
    if value is True:
        return True
    if not isinstance(value, list) or not 1 <= len(value) <= 2:
        raise ManifestError(
            f'"deprecated" must be an array of 1 or 2 elements, not {_text(value)}')
    for which, version in zip(("start", "end"), value):
        if not isinstance(version, str) or not _VERSION_RE.match(version):
            raise ManifestError(f'invalid "deprecated" {which} version {_text(version)}')
    return True


def check_option_value(spec: OptionSpec, text: str | None) -> str | None:
    """None if ``text`` is acceptable for the option, else lightningd's
    complaint. ``text`` is None for a flag given without a value."""
    if spec.type == "flag":
        return None if text is None else "doesn't allow an argument"
    if text is None:
        return "requires an argument"
    if spec.type == "int":
        m = _STRTOL_RE.match(text)
        if not m:
            return f"'{text}' is not a number"
        if not _LONG_MIN <= _strtol(m) <= _LONG_MAX:
            return f"'{text}' is out of range"
    elif spec.type == "bool":
        if text in ("1", "0"):
            return "boolean plugin arguments must be true or false"
        if text.lower() not in ("true", "false", "yes", "no"):
            return f"Invalid argument '{text}'"
    return None


def _strtol(m: re.Match[str]) -> int:
    sign, digits = m.group(1), m.group(2)
    if digits[:2] in ("0x", "0X"):
        value = int(digits, 16)
    elif len(digits) > 1 and digits[0] == "0":
        value = int(digits, 8)
    else:
        value = int(digits)
    return -value if sign == "-" else value


def typed_value(spec: OptionSpec, text: str | None) -> Any:
    """The JSON value ``init`` carries for a checked option value: ints as
    numbers, bools as booleans (canonicalised), a set flag as ``true``."""
    if spec.type == "flag":
        return True
    assert text is not None
    if spec.type == "int":
        m = _STRTOL_RE.match(text)
        assert m is not None
        return _strtol(m)
    if spec.type == "bool":
        return text.lower() in ("true", "yes")
    return text


def init_options(specs: Sequence[OptionSpec],
                 values: Mapping[str, Sequence[str | None]]) -> dict[str, Any]:
    """``init``'s ``options`` object (json_add_plugin_options): every option
    that was set or has a default, in manifest order; ``multi`` ones as arrays."""
    out: dict[str, Any] = {}
    for spec in specs:
        given = values.get(spec.name)
        if not given and spec.default is None:
            continue
        texts: Sequence[str | None] = given if given else (spec.default,)
        if spec.multi:
            out[spec.name] = [typed_value(spec, t) for t in texts]
        else:
            out[spec.name] = typed_value(spec, texts[-1])
    return out


def _option(raw: Any) -> OptionSpec:
    if not isinstance(raw, dict) or not all(k in raw for k in ("name", "type", "description")):
        raise ManifestError('An option is missing either "name", "description" or "type"')
    name = _text(raw["name"])
    label = f"--{name}"
    if not _OPTION_NAME_OK.match(name):
        raise ManifestError("Option \"name\" must be lowercase alphanumeric, plus _ or -'")
    deprecated = _deprecated(raw.get("deprecated"))
    multi = _bool_field(raw, "multi", label)
    dynamic = _bool_field(raw, "dynamic", label)
    typ = raw["type"]
    default = raw.get("default")
    if typ == "flag":
        if default is not None and default is not False:
            raise ManifestError(f"{label} type flag default must be 'false' not {_text(default)}")
        if multi:
            raise ManifestError("flag type cannot be multi")
        default_text = None
    elif typ in ("string", "int", "bool"):
        if typ == "bool" and multi:
            raise ManifestError("bool type cannot be multi")
        default_text = None if default is None else _text(default)
        spec = OptionSpec(name, typ, _text(raw["description"]))
        if default_text is not None:
            problem = check_option_value(spec, default_text)
            if problem:
                raise ManifestError(f"Invalid default '{default_text}': {problem}")
    else:
        raise ManifestError(
            'Only "string", "int", "bool", and "flag" options are supported')
    return OptionSpec(name, typ, _text(raw["description"]), default_text, multi, dynamic,
                      deprecated)


def _method(raw: Any) -> MethodDecl:
    shown = _text(raw)
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
        raise ManifestError(f'rpcmethod does not have a string "name": {shown}')
    if not isinstance(raw.get("description"), str):
        raise ManifestError(f'rpcmethod does not have a string "description": {shown}')
    long_desc = raw.get("long_description")
    if long_desc is not None and not isinstance(long_desc, str):
        raise ManifestError(f'"long_description" is not a string: {shown}')
    if "usage" not in raw:
        raise ManifestError('"usage" not provided by plugin')
    if not isinstance(raw["usage"], str):
        raise ManifestError(f'"usage" is not a string: {shown}')
    category = raw.get("category")
    return MethodDecl(raw["name"], raw["usage"], raw["description"], long_desc,
                      _text(category) if category is not None else "plugin",
                      _deprecated(raw.get("deprecated")))


def parse_manifest(response: Any, native: frozenset[str] | None = None) -> Manifest:
    """Check a full ``getmanifest`` response object; raise ManifestError."""
    result = response.get("result") if isinstance(response, dict) else None
    if not isinstance(result, dict):
        raise ManifestError(f"Invalid/missing result tok in '{_text(response)}'")
    if "disable" in result:
        return Manifest(disable=_text(result["disable"]))
    dynamic = _bool_field(result, "dynamic", "getmanifest")
    features = result.get("featurebits")
    if isinstance(features, dict):
        for value in features.values():
            if not isinstance(value, str) or not _HEX_RE.match(value):
                raise ManifestError("Featurebits returned by plugin is not a valid "
                                    f"hexadecimal string: {_text(value)}")
    nonnumeric = True
    if "nonnumericids" in result:
        if not isinstance(result["nonnumericids"], bool):
            raise ManifestError(f"Invalid nonnumericids: {_text(result['nonnumericids'])}")
        if not result["nonnumericids"]:
            raise ManifestError("Plugin does not allow nonnumericids")
    cancheck = False
    if "cancheck" in result:
        if not isinstance(result["cancheck"], bool):
            raise ManifestError(f"Invalid cancheck: {_text(result['cancheck'])}")
        cancheck = result["cancheck"]

    native = native_topics() if native is None else native
    topics: list[str] = []
    notes = result.get("notifications")
    if notes is not None:
        if not isinstance(notes, list):
            raise ManifestError('"result.notifications" is not an array')
        for i, obj in enumerate(notes):
            if not isinstance(obj, dict):
                raise ManifestError(f'"result.notifications[{i}]" is not an object')
            method = obj.get("method")
            if not isinstance(method, str):
                raise ManifestError(
                    f'"result.notifications[{i}].name" missing or not a string.')
            if method in native:
                raise ManifestError(
                    f'plugin attempted to register a native notification topic "{method}", '
                    "these may however only be sent by lightningd")
            topics.append(method)

    raw_options = result.get("options")
    if raw_options is None:
        raise ManifestError('"result.options" was not found in the manifest')
    if not isinstance(raw_options, list):
        raise ManifestError('"result.options" is not an array')
    options = tuple(_option(o) for o in raw_options)

    raw_methods = result.get("rpcmethods")
    if raw_methods is None:
        raise ManifestError('"result.rpcmethods" missing')
    if not isinstance(raw_methods, list):
        raise ManifestError('"result.rpcmethods" is not an array')
    methods = tuple(_method(m) for m in raw_methods)

    subs: list[str] = []
    raw_subs = result.get("subscriptions")
    if raw_subs is not None:
        if not isinstance(raw_subs, list):
            raise ManifestError('"result.subscriptions" is not an array')
        for i, s in enumerate(raw_subs):
            if not isinstance(s, str):
                raise ManifestError(f"result.subscriptions[{i}] is not a string: '{_text(s)}'")
            subs.append(s)

    hook_specs = tuple(_hooks(result.get("hooks") or ()))
    hooks = [h.name for h in hook_specs]

    return Manifest(options, methods, tuple(subs), tuple(hooks), tuple(topics), dynamic,
                    nonnumeric, cancheck, hook_specs=hook_specs)


def _hooks(raw: Any) -> list[HookSpec]:
    """``plugin_hooks_add`` + ``plugin_hook_register``'s checks."""
    out: list[HookSpec] = []
    for h in raw:
        if isinstance(h, dict):
            name = h.get("name")
            if name is None:
                raise ManifestError(f"no name in hook obj {_text(h)}")
            before, after = _names(h.get("before")), _names(h.get("after"))
            filters = h.get("filters")
        else:
            name, before, after, filters = h, (), (), None
        name = _text(name)
        if name not in KNOWN_HOOKS:
            raise ManifestError(f"Unknown hook name {name}")
        if filters is not None:
            kind = _HOOK_FILTERS.get(name)
            if kind is None:
                raise ManifestError(f"Hook {name} does not allow filters")
            if not isinstance(filters, list):
                raise ManifestError("filters token must be an array")
            for f in filters:
                if kind is str and not isinstance(f, str):
                    raise ManifestError(f"filters must be array of strings, not '{_text(f)}'")
                if kind is int and (not isinstance(f, int) or isinstance(f, bool) or f < 0):
                    raise ManifestError("filters must be array of unsigned integers, not "
                                        f"'{_text(f)}'")
        if any(s.name == name for s in out):
            raise ManifestError(f"Registered for hook {name} multiple times")
        out.append(HookSpec(name, before, after))
    return out


def _names(raw: Any) -> tuple[str, ...]:
    """A ``before``/``after`` list (lightningd takes each element's text)."""
    if not isinstance(raw, list):
        return ()
    return tuple(_text(x) for x in raw)
