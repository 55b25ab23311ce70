"""``revops-sim fidelity``: the command line of the fidelity check.

::

    revops-sim fidelity                         # own regtest nodes (lightningd, bitcoind on PATH)
    revops-sim fidelity --lightning-dir DIR     # a running node (read-only unless on regtest)
        [--rpc-file NAME] [--report FILE.json] [--verbose] [--work-dir DIR]

Prints the report; exit code 0 when no difference is unexplained, 1 when
one is, 2 when there is nothing to compare with (no node given, and no
``lightningd``/``bitcoind`` on PATH) or the node cannot be reached.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXIT_DIFFERENT = 1
EXIT_UNUSABLE = 2


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--lightning-dir", metavar="DIR",
                   help="a running lightningd's directory (default: start regtest nodes of "
                        "our own with pyln-testing)")
    p.add_argument("--rpc-file", default="lightning-rpc", metavar="NAME",
                   help="its RPC socket's name (default lightning-rpc)")
    p.add_argument("--report", metavar="FILE.json",
                   help="also write the report, with every answer, as JSON")
    p.add_argument("--work-dir", metavar="DIR",
                   help="keep the nodes' directories here (default: temporary, removed)")
    p.add_argument("--verbose", action="store_true",
                   help="list explained differences and skipped probes too")


def main(args: argparse.Namespace) -> int:
    from revops.sim.fidelity.check import (
        check_node,
        check_regtest,
        regtest_available,
        write_report,
    )

    work = Path(args.work_dir).resolve() if args.work_dir else None
    if args.lightning_dir:
        try:
            report = check_node(Path(args.lightning_dir).resolve(), args.rpc_file, work)
        except (FileNotFoundError, ConnectionError, OSError) as e:
            print(f"revops-sim fidelity: cannot reach the node: {e}", file=sys.stderr)
            return EXIT_UNUSABLE
    else:
        why_not = regtest_available()
        if why_not is not None:
            print(f"revops-sim fidelity: {why_not}: give --lightning-dir DIR of a running "
                  "node, or put a Core Lightning build on PATH", file=sys.stderr)
            return EXIT_UNUSABLE
        report = check_regtest(work)
    print(report.text(verbose=args.verbose))
    if args.report:
        write_report(report, Path(args.report))
    return 0 if report.ok else EXIT_DIFFERENT
