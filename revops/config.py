"""Every tunable of revops: its name, type, range, default and meaning, and
the immutable :class:`ConfigSnapshot` a cycle binds to.

Each tunable is a ``--revenue-ops-<key>`` startup option and, unless marked
startup-only, can be changed at runtime with ``revenue-config set``. Values
are layered: built-in default, then the startup option lightningd passed,
then a runtime override stored in the database (the most recent explicit
act of the operator, so it survives restarts; ``reset`` removes it).

Parsing is strict and total: a value is accepted only if it is of the
option's type and inside its range; NaN and infinities never pass. Every
rejection says which option, what was given, and what is accepted.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, Iterable, Mapping

OPTION_PREFIX = "revenue-ops-"


class ConfigError(ValueError):
    """A value that an option does not accept; the message is for the operator."""


@dataclass(frozen=True)
class OptionSpec:
    """One tunable."""

    key: str
    kind: str  # "int" | "float" | "bool" | "flag" | "enum" | "str" | "address"
    default: Any
    description: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    unit: str = ""
    runtime: bool = True  # False: startup-only (needs a restart to change)
    check: Callable[[Any], str | None] | None = None  # extra rule: message or None

    @property
    def option_name(self) -> str:
        return OPTION_PREFIX + self.key

    @property
    def accepted(self) -> str:
        """What this option accepts, in words."""
        unit = f" ({self.unit})" if self.unit else ""
        if self.kind in ("bool", "flag"):
            return "true or false"
        if self.kind == "enum":
            return "one of " + ", ".join(self.choices)
        if self.kind == "address":
            return "'off' or HOST:PORT with an IP address and a port from 0 to 65535"
        if self.kind == "str":
            return "a string"
        noun = "an integer" if self.kind == "int" else "a number"
        lo = _fmt_num(self.minimum) if self.minimum is not None else None
        hi = _fmt_num(self.maximum) if self.maximum is not None else None
        if lo is not None and hi is not None:
            return f"{noun} from {lo} to {hi}{unit}"
        if lo is not None:
            return f"{noun} of at least {lo}{unit}"
        if hi is not None:
            return f"{noun} of at most {hi}{unit}"
        return noun + unit

    def reject(self, raw: Any, why: str = "") -> ConfigError:
        given = raw if isinstance(raw, str) else repr(raw)
        why = f" ({why})" if why else ""
        return ConfigError(
            f"{self.option_name}: invalid value '{given}'{why}; accepted: {self.accepted}")

    def parse(self, raw: Any) -> Any:
        """A raw value (from lightningd's init, JSON-RPC, or the database)
        to a typed value, or :class:`ConfigError`."""
        value = _PARSERS[self.kind](self, raw)
        if self.check is not None:
            problem = self.check(value)
            if problem:
                raise self.reject(raw, problem)
        return value

    def format(self, value: Any) -> str:
        """The canonical text form, as stored and as shown."""
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, float):
            return repr(value)
        return str(value)


def _fmt_num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def _parse_bool(spec: OptionSpec, raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in ("true", "false"):
        return raw.strip().lower() == "true"
    raise spec.reject(raw)


def _parse_number(spec: OptionSpec, raw: Any) -> int | float:
    if isinstance(raw, bool):
        raise spec.reject(raw)
    value: int | float
    if spec.kind == "int":
        if isinstance(raw, int):
            value = raw
        elif isinstance(raw, float) and math.isfinite(raw) and raw.is_integer():
            value = int(raw)
        elif isinstance(raw, str):
            try:
                value = int(raw.strip(), 10)
            except ValueError:
                raise spec.reject(raw) from None
        else:
            raise spec.reject(raw)
    else:
        if isinstance(raw, (int, float)):
            value = float(raw)
        elif isinstance(raw, str):
            try:
                value = float(raw.strip())
            except ValueError:
                raise spec.reject(raw) from None
        else:
            raise spec.reject(raw)
        if not math.isfinite(value):
            raise spec.reject(raw, "not a finite number")
    if spec.minimum is not None and value < spec.minimum:
        raise spec.reject(raw, "out of range")
    if spec.maximum is not None and value > spec.maximum:
        raise spec.reject(raw, "out of range")
    return value


def _parse_enum(spec: OptionSpec, raw: Any) -> str:
    if isinstance(raw, str) and raw.strip() in spec.choices:
        return raw.strip()
    raise spec.reject(raw)


def _parse_str(spec: OptionSpec, raw: Any) -> str:
    if isinstance(raw, str):
        return raw
    raise spec.reject(raw)


def _parse_address(spec: OptionSpec, raw: Any) -> str:
    if not isinstance(raw, str):
        raise spec.reject(raw)
    text = raw.strip()
    if text == "off":
        return text
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise spec.reject(raw)
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        raise spec.reject(raw, "host must be an IP address") from None
    return text


_PARSERS: dict[str, Callable[[OptionSpec, Any], Any]] = {
    "int": _parse_number,
    "float": _parse_number,
    "bool": _parse_bool,
    "flag": _parse_bool,
    "enum": _parse_enum,
    "str": _parse_str,
    "address": _parse_address,
}


def parse_address(text: str) -> tuple[str, int] | None:
    """``"127.0.0.1:9750"`` -> ``("127.0.0.1", 9750)``; ``"off"`` -> None."""
    if text == "off":
        return None
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)


# --- the tunables -----------------------------------------------------------
# Later features append theirs here; the plugin registers every entry with
# lightningd and `revenue-config` serves them all.

OPTIONS: tuple[OptionSpec, ...] = (
    OptionSpec("db-path", "str", "",
               "SQLite database file (default: <lightning-dir>/revops.sqlite3)",
               runtime=False),
    OptionSpec("metrics-address", "address", "127.0.0.1:9750",
               "Prometheus metrics endpoint HOST:PORT, or 'off'", runtime=False),
    OptionSpec("rpc-timeout", "float", 30.0,
               "Seconds before an RPC call to lightningd is given up",
               minimum=1, maximum=600, unit="seconds"),
    OptionSpec("fee-interval", "int", 3600, "Seconds between fee cycles",
               minimum=60, maximum=86400, unit="seconds"),
    OptionSpec("rebalance-interval", "int", 1800, "Seconds between rebalance cycles",
               minimum=60, maximum=86400, unit="seconds"),
    OptionSpec("flow-interval", "int", 600,
               "Seconds between forwards sync / flow analysis cycles",
               minimum=60, maximum=86400, unit="seconds"),
    OptionSpec("dry-run", "flag", False,
               "Compute, record and report every decision; move no money and send no setchannel"),
    OptionSpec("actor-restart-limit", "int", 5,
               "Restarts of one actor allowed within actor-restart-window before escalating",
               minimum=1, maximum=100),
    OptionSpec("actor-restart-window", "int", 600,
               "Window for actor-restart-limit", minimum=10, maximum=86400, unit="seconds"),
    OptionSpec("channel-workers", "int", 4,
               "Worker threads shared by all channel actors", minimum=1, maximum=16,
               runtime=False),
)


def option_table(extra: Iterable[OptionSpec] = ()) -> Mapping[str, OptionSpec]:
    table = {spec.key: spec for spec in (*OPTIONS, *extra)}
    return MappingProxyType(table)


SPECS: Mapping[str, OptionSpec] = option_table()


def lookup(key: str, specs: Mapping[str, OptionSpec] = SPECS) -> OptionSpec:
    """Find a tunable by key, accepting the full option name too."""
    k = key[len(OPTION_PREFIX):] if key.startswith(OPTION_PREFIX) else key
    k = k.lstrip("-")
    k = k[len(OPTION_PREFIX):] if k.startswith(OPTION_PREFIX) else k
    if k not in specs:
        raise ConfigError(f"unknown config key '{key}'; known keys: {', '.join(sorted(specs))}")
    return specs[k]


@dataclass(frozen=True)
class ConfigSnapshot:
    """One immutable view of every tunable. A cycle takes one and uses it
    from start to end; a change publishes a new snapshot with the next
    generation number."""

    generation: int
    values: Mapping[str, Any]
    sources: Mapping[str, str] = field(default_factory=dict)  # key -> default|option|override

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def __getattr__(self, name: str) -> Any:
        try:
            return self.values[name.replace("_", "-")]
        except KeyError:
            raise AttributeError(name) from None

    def with_value(self, key: str, value: Any, source: str) -> ConfigSnapshot:
        values = dict(self.values)
        values[key] = value
        sources = dict(self.sources)
        sources[key] = source
        return ConfigSnapshot(self.generation + 1, MappingProxyType(values),
                              MappingProxyType(sources))


@dataclass(frozen=True)
class StartupConfig:
    """What init produced: the layered values and the startup-option layer
    (so a `reset` knows what to fall back to), plus overrides that were
    stored but are no longer valid (reported, not applied)."""

    snapshot: ConfigSnapshot
    option_values: Mapping[str, Any]
    ignored_overrides: tuple[str, ...] = ()


def build_startup_config(options: Mapping[str, Any],
                         overrides: Mapping[str, str] = MappingProxyType({}),
                         specs: Mapping[str, OptionSpec] = SPECS) -> StartupConfig:
    """Layer defaults, lightningd's init ``options`` and stored overrides.

    A bad startup option raises :class:`ConfigError` (the plugin disables
    itself with that message). A stored override that no longer parses (a
    range changed between versions) is ignored and reported.
    """
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    option_values: dict[str, Any] = {}
    for key, spec in specs.items():
        values[key] = spec.default
        sources[key] = "default"
        raw = options.get(spec.option_name)
        if raw is None or (spec.kind == "str" and raw == "" and spec.default == ""):
            continue
        value = spec.parse(raw)
        # lightningd passes every option's default in init; only a value
        # that differs from it is the operator's choice.
        if value != spec.default:
            option_values[key] = value
            values[key] = value
            sources[key] = "option"
    ignored: list[str] = []
    for key, raw in sorted(overrides.items()):
        spec = specs.get(key)
        if spec is None or not spec.runtime:
            ignored.append(f"{key}={raw}: not a runtime-settable key")
            continue
        try:
            values[key] = spec.parse(raw)
        except ConfigError as e:
            ignored.append(str(e))
            continue
        sources[key] = "override"
    snap = ConfigSnapshot(1, MappingProxyType(values), MappingProxyType(sources))
    return StartupConfig(snap, MappingProxyType(option_values), tuple(ignored))


def describe(snapshot: ConfigSnapshot, key: str,
             specs: Mapping[str, OptionSpec] = SPECS) -> dict[str, Any]:
    """One key as ``revenue-config get`` shows it."""
    spec = specs[key]
    value = snapshot.values[key]
    return {
        "key": key,
        "option": spec.option_name,
        "value": value,
        "default": spec.default,
        "source": snapshot.sources.get(key, "default"),
        "runtime": spec.runtime,
        "accepted": spec.accepted,
        "description": spec.description,
    }
