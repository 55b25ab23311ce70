"""The operator's tools, for real: Prometheus' own ``promtool`` and server
on our scrape config, alert rules and dashboard queries.

The binaries come from Debian's ``prometheus`` package (2.42; ``.ci/run``
installs it when missing). Where they are not installed each test is
skipped with one line saying so, and pytest's summary says whether the
suite ran.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
ETC = ROOT / "etc"
INSTALL_HINT = "apt-get install prometheus (.ci/run installs it)"


def _which(name: str) -> str | None:
    return shutil.which(name) or next(
        (p for p in (f"/usr/bin/{name}", f"/usr/local/bin/{name}") if Path(p).exists()), None)


@pytest.fixture(scope="session")
def promtool() -> str:
    path = _which("promtool")
    if path is None:
        pytest.skip(f"promtool not installed: {INSTALL_HINT}")
    return path


@pytest.fixture(scope="session")
def prometheus_bin() -> str:
    path = _which("prometheus")
    if path is None:
        pytest.skip(f"prometheus not installed: {INSTALL_HINT}")
    return path


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """One line saying whether the Prometheus tests ran (CI's log shows it)."""
    rank = {"passed": 0, "skipped": 1, "failed": 2}
    outcomes: dict[str, str] = {}
    for reports in terminalreporter.stats.values():
        for rep in reports:
            nodeid = getattr(rep, "nodeid", "")
            outcome = getattr(rep, "outcome", None)
            if not nodeid.startswith("tests/ops/") or outcome not in rank:
                continue
            if rank[outcome] >= rank[outcomes.get(nodeid, "passed")]:
                outcomes[nodeid] = outcome
    if not outcomes:
        return
    counts = {o: sum(1 for v in outcomes.values() if v == o)
              for o in ("passed", "skipped", "failed")}
    summary = ", ".join(f"{n} {o}" for o, n in counts.items() if n)
    path = _which("prometheus")
    where = _version(path) if path else f"not installed: {INSTALL_HINT}"
    terminalreporter.write_line(f"prometheus suite: {summary} ({where})")


def _version(binary: str) -> str:
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True,
                             timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return "prometheus ?"
    first = out.strip().splitlines()[0] if out.strip() else "prometheus ?"
    return first.split(" (")[0]
