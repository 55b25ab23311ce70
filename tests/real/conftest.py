"""The real-node suite: revops inside real lightningd nodes on regtest.

Everything here runs the installed ``revops-plugin`` in real Core Lightning
nodes started by pyln-testing's ``node_factory`` (bitcoind on regtest, as
many lightningd as a test asks for). It is collected when ``lightningd``
and ``bitcoind`` are on PATH and skipped, with one line saying why,
otherwise. CI puts the build in ``../shared/cln/bin`` on PATH
(``.ci/run``); an operator runs it against their own build with::

    PATH=/path/to/lightning/bin:$PATH pytest -q tests/real

pyln-testing reads its settings from the environment when it is imported:
regtest, no valgrind, no Rust plugins (set here unless already set).
Every test also fails if any node logged ``**BROKEN**`` (pyln-testing's
own teardown check).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

for _key, _value in (("TEST_NETWORK", "regtest"), ("VALGRIND", "0"), ("RUST", "0"),
                     ("TEST_DEBUG", "0")):
    os.environ.setdefault(_key, _value)

_MISSING = [b for b in ("lightningd", "bitcoind") if shutil.which(b) is None]
SKIP_REASON: str | None = None
if _MISSING:
    SKIP_REASON = (f"real-node suite: {' and '.join(_MISSING)} not on PATH "
                   "(PATH=/path/to/cln/bin:$PATH pytest tests/real)")
else:
    try:
        from pyln.testing.fixtures import *  # noqa: F401,F403  (node_factory and friends)
    except ImportError as e:  # pragma: no cover - depends on the machine
        SKIP_REASON = f"real-node suite: pyln-testing is not importable ({e})"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.real)
            if SKIP_REASON is not None:
                item.add_marker(pytest.mark.skip(reason=SKIP_REASON))


def revops_plugin_path() -> str:
    """lightningd wants one executable path: the installed ``revops-plugin``."""
    script = Path(sys.executable).with_name("revops-plugin")
    found = str(script) if script.exists() else shutil.which("revops-plugin")
    if not found:
        pytest.fail("revops-plugin is not installed (pip install -e .)")
    return found


@pytest.fixture
def plugin_path() -> str:
    return revops_plugin_path()


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """One line saying whether the real-node suite ran (CI's log shows it).
    A test counts as failed if any of its phases failed (pyln-testing's
    BROKEN-log check fails at teardown)."""
    rank = {"passed": 0, "skipped": 1, "failed": 2}
    worst: dict[str, str] = {}
    for reports in terminalreporter.stats.values():
        for rep in reports:
            nodeid = getattr(rep, "nodeid", "")
            outcome = getattr(rep, "outcome", None)
            if not nodeid.startswith("tests/real/") or outcome not in rank:
                continue
            if rank[outcome] >= rank[worst.get(nodeid, "passed")]:
                worst[nodeid] = outcome
    if not worst:
        return
    counts = {o: sum(1 for v in worst.values() if v == o) for o in rank}
    where = SKIP_REASON or f"lightningd {_version('lightningd')}, bitcoind {_version('bitcoind')}"
    summary = ", ".join(f"{n} {o}" for o, n in counts.items() if n)
    terminalreporter.write_line(f"real-node suite: {summary} ({where})")


def _version(binary: str) -> str:
    import subprocess
    flag = "--version" if binary == "lightningd" else "-version"
    try:
        out = subprocess.run([binary, flag], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return "?"
    line = out.strip().splitlines()[0] if out.strip() else "?"
    return line.split()[-1]
