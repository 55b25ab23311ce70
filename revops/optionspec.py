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
