"""The simulated node's log file, written the way lightningd writes its own.

Each line is ``<time> <LEVEL> <source>: <message>`` with lightningd's level
column (``DEBUG  ``, ``INFO   ``, ``UNUSUAL``, ``**BROKEN**``) and sources
such as ``plugin-<name>``, ``plugin-manager`` or ``lightningd``, so a reader
used to CLN's log finds things where they expect. The time is the
*simulated* time: the same seed writes the same log.

Plugins send ``log`` notifications with level ``debug``, ``info``,
``warn`` or ``error`` (lightningd also takes ``unusual``, ``broken`` and
``trace``); :func:`parse_level` maps them as ``log_level_parse`` does.
"""

from __future__ import annotations

import datetime as _dt
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

# Ordered as lightningd's enum log_level.
LEVELS = ("io", "trace", "debug", "info", "unusual", "broken")
_RANK = {name: i for i, name in enumerate(LEVELS)}
_ALIASES = {"warn": "unusual", "error": "broken"}
_COLUMN = {
    "io": "IO     ",
    "trace": "TRACE  ",
    "debug": "DEBUG  ",
    "info": "INFO   ",
    "unusual": "UNUSUAL",
    "broken": "**BROKEN**",
}


def parse_level(text: str) -> str | None:
    """lightningd's ``log_level_parse``: a canonical level name, or None."""
    text = text.lower()
    if text in _RANK:
        return text
    return _ALIASES.get(text)


def at_least(level: str, floor: str) -> bool:
    return _RANK[level] >= _RANK[floor]


def iso_time(t: float) -> str:
    stamp = _dt.datetime.fromtimestamp(t, tz=_dt.UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


class NodeLog:
    """Append-only log; optionally echoes important lines to stderr.

    ``echo`` decides per line whether it also goes to ``stream`` (``run``
    shows unusual and broken lines on the terminal, as lightningd does
    when it logs to the console).
    """

    def __init__(self, path: Path | None, clock: Callable[[], float],
                 echo: Callable[[str, str, str], bool] | None = None,
                 stream: TextIO | None = None) -> None:
        self._clock = clock
        self._echo = echo
        self._stream = stream if stream is not None else sys.stderr
        # Line-buffered so a test (or an operator's tail -f) sees each line as written.
        self._file: TextIO | None = (
            open(path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115 - closed by close()
            if path is not None else None)

    def log(self, source: str, level: str, message: str) -> None:
        line = f"{iso_time(self._clock())} {_COLUMN[level]} {source}: {message}"
        if self._file is not None:
            self._file.write(line + "\n")
        if self._echo is not None and self._echo(source, level, message):
            print(line, file=self._stream, flush=True)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def echo_at_least(floor: str) -> Callable[[str, str, str], bool]:
    """An echo rule: every line at ``floor`` or above, plus every plugin
    death (lightningd logs those at info, but on a terminal run they explain
    why the plugin's work stopped)."""

    def rule(source: str, level: str, message: str) -> bool:
        return at_least(level, floor) or (
            at_least(level, "info") and message.startswith("Killing plugin"))

    return rule
