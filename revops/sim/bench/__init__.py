"""``revops-sim bench <name>``: the benchmarks. Each lives in its own module
here exposing ``add_arguments(parser)`` and ``main(args) -> int``, listed in
``BENCHES``; they print numbers and ratios and can write a JSON report.
Speed is measured here, never asserted in tests."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# name -> (module, one-line help)
BENCHES: dict[str, tuple[str, str]] = {
    "hydration": ("revops.sim.bench.hydration",
                  "forwards hydration rate vs raw json.loads + executemany; daily-bucket query"),
    "economics": ("revops.sim.bench.economics",
                  "net profit of revops vs static, charge-lnd, CLBOSS-like and oracle fees"),
    "scale": ("revops.sim.bench.scale",
              "a 5,000-channel / 1M-forward node: hydration, cycles, RSS, startup, stop"),
}


@contextlib.contextmanager
def work_dir(keep: str | None, prefix: str) -> Iterator[Path]:
    """The bench's working directory: ``keep`` (created, left in place for
    inspection) or a temporary one removed afterwards."""
    if keep:
        path = Path(keep)
        path.mkdir(parents=True, exist_ok=True)
        yield path
        return
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        yield Path(tmp)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="bench", metavar="NAME", required=True)
    for name, (module, help_text) in BENCHES.items():
        p = sub.add_parser(name, help=help_text)
        mod = importlib.import_module(module)
        mod.add_arguments(p)
        p.set_defaults(func=mod.main)


def main(args: Any) -> int:  # replaced per subcommand by set_defaults
    raise SystemExit("revops-sim bench: choose a benchmark")
