"""How a tunable is described and parsed: :class:`OptionSpec` (name, type,
range, default, meaning) and its strict parser (pure).

Parsing is strict and total: a value is accepted only if it is of the
option's type and inside its range; NaN and infinities never pass. Every
rejection says which option, what was given, and what is accepted.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass
from typing import Any, Callable

from revops.numbers import NumberRefused, clip_token, describe_range, parse_int, parse_real

OPTION_PREFIX = "revenue-ops-"
MAX_STR = 4096  # a path (PATH_MAX)


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
        if self.kind in ("bool", "flag"):
            return "true or false"
        if self.kind == "enum":
            return "one of " + ", ".join(self.choices)
        if self.kind == "address":
            return "'off' or HOST:PORT with an IP address and a port from 0 to 65535"
        if self.kind == "str":
            return f"a string of at most {MAX_STR} characters"
        noun = "an integer" if self.kind == "int" else "a number"
        return describe_range(noun, self.minimum, self.maximum, self.unit)

    def reject(self, raw: Any, why: str = "") -> ConfigError:
        given = clip_token(raw)
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


@dataclass(frozen=True)
class NotAbove:
    """A rule across two tunables: ``low`` may not be above ``high`` (with
    ``off_when_zero``, no rule while ``high`` is 0, its "none" value). A
    snapshot that breaks one is never built: contradicting startup options
    disable the plugin, a ``revenue-config set`` or ``reset`` that would
    break one is refused."""

    low: str
    high: str
    why: str  # what would go wrong, for the operator
    off_when_zero: bool = False

    def applies(self, values: Any) -> bool:
        return not (self.off_when_zero and values[self.high] == 0)

    def broken(self, values: Any) -> str | None:
        """Why ``values`` break this rule, naming both options (None: they don't)."""
        lo, hi = values[self.low], values[self.high]
        if not self.applies(values) or lo <= hi:
            return None
        return (f"{OPTION_PREFIX}{self.low} ({plain_number(lo)}) is above "
                f"{OPTION_PREFIX}{self.high} ({plain_number(hi)}): {self.why}")


def plain_number(x: Any) -> str:
    """``2500``, ``0.08``: a value as an operator writes it."""
    return repr(x) if isinstance(x, float) and not x.is_integer() else str(
        int(x) if isinstance(x, float) else x)


def _parse_bool(spec: OptionSpec, raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in ("true", "false"):
        return raw.strip().lower() == "true"
    raise spec.reject(raw)


def _parse_number(spec: OptionSpec, raw: Any) -> int | float:
    lo = spec.minimum if spec.minimum is not None else -math.inf
    hi = spec.maximum if spec.maximum is not None else math.inf
    try:
        if spec.kind == "int":
            return parse_int(raw, int(lo) if math.isfinite(lo) else -(1 << 64),
                             int(hi) if math.isfinite(hi) else 1 << 64)
        return parse_real(raw, lo, hi)
    except NumberRefused as e:
        raise spec.reject(raw, str(e)) from None


def _parse_enum(spec: OptionSpec, raw: Any) -> str:
    if isinstance(raw, str) and raw.strip() in spec.choices:
        return raw.strip()
    raise spec.reject(raw)


def _parse_str(spec: OptionSpec, raw: Any) -> str:
    if isinstance(raw, str) and len(raw) <= MAX_STR:
        return raw
    raise spec.reject(raw, f"more than {MAX_STR} characters" if isinstance(raw, str) else "")


def _parse_address(spec: OptionSpec, raw: Any) -> str:
    if not isinstance(raw, str):
        raise spec.reject(raw)
    text = raw.strip()
    if text == "off":
        return text
    host, sep, port = text.rpartition(":")
    try:
        parse_int(port, 0, 65535)
    except NumberRefused:
        raise spec.reject(raw) from None
    if not sep:
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
