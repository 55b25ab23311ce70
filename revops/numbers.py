"""The one strict number parser: every number a command parameter, a
startup option, a ``revenue-config set`` or a stored override carries goes
through :func:`parse_int` or :func:`parse_real` (pure).

What passes:

- a JSON number (never a boolean): an integer, or for an integer parameter
  a float with an integral value; finite, inside ``[lo, hi]``;
- a string of ASCII digits only (``-`` in front only where the range has
  negative values; for reals also one ``.`` and an exponent), at most
  :data:`MAX_TEXT` characters, nothing around it.

What never passes, whatever the range: non-ASCII digits (``"²"``,
``"١٢"``, which ``str.isdigit`` and ``int()`` take), ``"1_0"`` (which
``int()`` takes), surrounding whitespace or a newline (which ``int()``
strips), NaN and infinities, and numbers too long to be a value: Python
refuses to turn a string of more than 4,300 digits into an ``int``, and a
float cannot hold ``10**400``; both are refused here, with the range, before
any conversion is tried.

A refusal is :class:`NumberRefused` whose text says why in a few words; the
caller names the parameter or option and the accepted range.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

# Longer than any value in any of our ranges (2.1e18 msat has 19 digits), and
# short enough that converting it costs nothing.
MAX_TEXT = 32
_INT_TEXT = re.compile(r"-?[0-9]+", re.ASCII)
_REAL_TEXT = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?", re.ASCII)


class NumberRefused(ValueError):
    """A value that is not an acceptable number; ``str()`` says why."""


def _check_text(text: str, pattern: re.Pattern[str], noun: str) -> None:
    if len(text) > MAX_TEXT:
        raise NumberRefused(f"{len(text)} characters, more than any {noun} it accepts")
    if not pattern.fullmatch(text):
        raise NumberRefused(f"not {noun} in ASCII digits")


def parse_int(value: Any, lo: int, hi: int) -> int:
    """An integer in ``[lo, hi]`` from a JSON value (see the module doc)."""
    if isinstance(value, bool):
        raise NumberRefused("a boolean, not an integer")
    if isinstance(value, int):
        n = value
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise NumberRefused("not a finite number")
        if not value.is_integer():
            raise NumberRefused("not a whole number")
        n = int(value)
    elif isinstance(value, str):
        _check_text(value, _INT_TEXT, "an integer")
        if value.startswith("-") and lo >= 0:
            raise NumberRefused("negative")
        n = int(value, 10)
    else:
        raise NumberRefused(f"a {_json_type(value)}, not an integer")
    if not lo <= n <= hi:  # exact for ints of any size: no conversion
        raise NumberRefused("out of range")
    return n


def parse_real(value: Any, lo: float, hi: float) -> float:
    """A finite float in ``[lo, hi]`` from a JSON value (see the module doc)."""
    if isinstance(value, bool):
        raise NumberRefused("a boolean, not a number")
    if isinstance(value, int):
        # Compared as an int first: float(10**400) raises OverflowError.
        if not lo <= value <= hi:
            raise NumberRefused("out of range")
        x = float(value)
    elif isinstance(value, float):
        x = value
    elif isinstance(value, str):
        _check_text(value, _REAL_TEXT, "a number")
        x = float(value)
    else:
        raise NumberRefused(f"a {_json_type(value)}, not a number")
    if not math.isfinite(x):
        raise NumberRefused("not a finite number")
    if not lo <= x <= hi:
        raise NumberRefused("out of range")
    return x


def describe_range(noun: str, lo: float | None, hi: float | None, unit: str = "") -> str:
    """``an integer from 1 to 10000 (seconds)`` and the like."""
    unit = f" ({unit})" if unit else ""
    a = _fmt(lo) if lo is not None else None
    b = _fmt(hi) if hi is not None else None
    if a is not None and b is not None:
        return f"{noun} from {a} to {b}{unit}"
    if a is not None:
        return f"{noun} of at least {a}{unit}"
    if b is not None:
        return f"{noun} of at most {b}{unit}"
    return noun + unit


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return type(value).__name__


def clip_token(value: Any, limit: int = 200) -> str:
    """A value as an error message may quote it: JSON text, strings without
    their quotes (as CLN quotes a token), cut to ``limit`` characters with
    the full length said. Never fails: an int too long for ``str()`` is
    described instead of rendered."""
    if isinstance(value, str):
        text = value
    elif isinstance(value, int) and not isinstance(value, bool) \
            and value.bit_length() > 128:
        # Not rendered: str() refuses past 4,300 digits and is slow before.
        return f"<an integer of about {int(value.bit_length() * 0.30103) + 1} digits>"
    else:
        try:
            text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        except (TypeError, ValueError):
            text = repr(value)
    if len(text) > limit:
        return f"{text[:limit]}... ({len(text)} characters)"
    return text
