"""Every tunable of revops: its name, type, range, default and meaning, and
the immutable :class:`ConfigSnapshot` a cycle binds to.

Each tunable is a ``--revenue-ops-<key>`` startup option and, unless marked
startup-only, can be changed at runtime with ``revenue-config set``. Values
are layered: built-in default, then the startup option lightningd passed,
then a runtime override stored in the database (the most recent explicit
act of the operator, so it survives restarts; ``reset`` removes it).

Each feature declares its own tunables next to its logic (``FEE_OPTIONS``
in ``revops/fees/options.py`` and so on); this module puts them together
with the backbone's. Parsing lives in ``revops/optionspec.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Iterable, Mapping

from revops.optionspec import (  # noqa: F401  (re-exported)
    OPTION_PREFIX,
    ConfigError,
    NotAbove,
    OptionSpec,
    parse_address,
    plain_number,
)


# --- the tunables -----------------------------------------------------------
# The plugin registers every entry with lightningd and `revenue-config`
# serves them all.

BACKBONE_OPTIONS: tuple[OptionSpec, ...] = (
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
    OptionSpec("actor-restart-window", "int", 3600,
               "Window for actor-restart-limit", minimum=10, maximum=86400, unit="seconds"),
    OptionSpec("channel-workers", "int", 4,
               "Worker threads shared by all channel actors", minimum=1, maximum=16,
               runtime=False),
)


def _feature_options() -> tuple[OptionSpec, ...]:
    from revops.features import FEATURES
    return tuple(opt for feature in FEATURES for opt in feature.options)


OPTIONS: tuple[OptionSpec, ...] = BACKBONE_OPTIONS + _feature_options()


def _feature_rules() -> tuple[NotAbove, ...]:
    from revops.features import FEATURES
    return tuple(rule for feature in FEATURES for rule in feature.rules)


RULES: tuple[NotAbove, ...] = _feature_rules()


def broken_rules(values: Mapping[str, Any], keys: Iterable[str] | None = None,
                 rules: tuple[NotAbove, ...] = RULES) -> list[str]:
    """Why ``values`` contradict themselves: one message per broken rule
    (only rules about one of ``keys`` when given)."""
    wanted = None if keys is None else set(keys)
    return [msg for rule in rules
            if wanted is None or rule.low in wanted or rule.high in wanted
            if (msg := rule.broken(values)) is not None]


def refusal_of_change(snapshot: ConfigSnapshot, key: str, value: Any,
                      rules: tuple[NotAbove, ...] = RULES) -> str | None:
    """Why setting ``key`` to ``value`` would contradict another key, with
    what ``key`` accepts today (None: it does not)."""
    values = dict(snapshot.values)
    values[key] = value
    for rule in rules:
        if key not in (rule.low, rule.high) or rule.broken(values) is None:
            continue
        if key == rule.low:
            bound = f"at most {plain_number(values[rule.high])} while {rule.high} is " \
                    f"{plain_number(values[rule.high])}"
        elif rule.off_when_zero:
            bound = f"0 or at least {plain_number(values[rule.low])} while {rule.low} is " \
                    f"{plain_number(values[rule.low])}"
        else:
            bound = f"at least {plain_number(values[rule.low])} while {rule.low} is " \
                    f"{plain_number(values[rule.low])}"
        return f"{rule.broken(values)}; {key} accepts {bound}"
    return None




def option_table(extra: Iterable[OptionSpec] = ()) -> Mapping[str, OptionSpec]:
    table: dict[str, OptionSpec] = {}
    for spec in (*OPTIONS, *extra):
        if spec.key in table:
            raise ValueError(f"tunable {spec.key} declared twice")
        table[spec.key] = spec
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

    A bad startup option, or options that contradict each other
    (:data:`RULES`), raise :class:`ConfigError` (the plugin disables itself
    with that message, which names the options). A stored override that no longer parses (a
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
    contradictions = broken_rules(values)
    if contradictions:
        raise ConfigError("contradicting options: " + "; ".join(contradictions))
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
    _drop_contradicting_overrides(values, sources, option_values, specs, ignored)
    snap = ConfigSnapshot(1, MappingProxyType(values), MappingProxyType(sources))
    return StartupConfig(snap, MappingProxyType(option_values), tuple(ignored))


def _drop_contradicting_overrides(values: dict[str, Any], sources: dict[str, str],
                                  option_values: Mapping[str, Any],
                                  specs: Mapping[str, OptionSpec], ignored: list[str]) -> None:
    """Stored overrides that contradict another key now (a startup option
    changed since they were set) are ignored and reported: the key falls
    back to its option or default, which the startup check found coherent."""
    for _ in range(len(RULES) + 1):
        broken = [r for r in RULES if r.broken(values) is not None]
        if not broken:
            return
        for rule in broken:
            message = rule.broken(values)
            for key in (rule.low, rule.high):
                if sources.get(key) == "override":
                    ignored.append(f"{key}: stored override ignored: {message}")
                    values[key] = option_values.get(key, specs[key].default)
                    sources[key] = "option" if key in option_values else "default"


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


def example_config(specs: Iterable[OptionSpec] = OPTIONS) -> str:
    """The lightningd config snippet in ``etc/lightningd-config.example``:
    every option with its meaning, accepted values and default."""
    lines = ["# revops: example lightningd config snippet (every option, with its default).",
             "# Append to ~/.lightning/config (or the network's config) and restart lightningd,",
             "# or start the plugin at runtime: lightning-cli plugin start /path/to/revops-plugin",
             "# Options marked [runtime] can also be changed later with",
             "#   lightning-cli revenue-config set <key> <value>",
             "# Regenerate this file with: python -m revops.config > etc/lightningd-config.example",
             "",
             "plugin=/usr/local/bin/revops-plugin",
             ""]
    for spec in specs:
        lines.append(f"# {spec.description}.")
        lines.append(f"# Accepted: {spec.accepted}. "
                     + ("[runtime]" if spec.runtime else "[startup only]"))
        if spec.kind == "flag":
            lines.append(f"#{spec.option_name}")
        elif spec.default == "":
            lines.append(f"#{spec.option_name}=")
        else:
            lines.append(f"#{spec.option_name}={spec.format(spec.default)}")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(example_config(), end="")
