"""The P&L page's tests. pytest's summary says whether the page was opened
in Chromium or why not (CI's log shows it)."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from tests.report.chromium import find_chromium

CHROMIUM_TEST = "test_the_page_opens_in_chromium_without_a_console_error"


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    rank = {"passed": 0, "skipped": 1, "failed": 2}
    worst: str | None = None
    for reports in terminalreporter.stats.values():
        for rep in reports:
            if CHROMIUM_TEST not in getattr(rep, "nodeid", ""):
                continue
            outcome = getattr(rep, "outcome", None)
            if outcome in rank and (worst is None or rank[outcome] >= rank[worst]):
                worst = outcome
    if worst is None:
        return
    binary = find_chromium()
    where = "not installed: apt-get install chromium" if binary is None else _version(binary)
    terminalreporter.write_line(f"report in headless Chromium: {worst} ({where})")


def _version(binary: str) -> str:
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True,
                             timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "chromium ?"
    return " ".join(out.split()[:2]) or "chromium ?"
