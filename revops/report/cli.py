"""``revops-report``: the P&L page from the plugin's database, read-only.

    revops-report --html pnl.html                       # ~/.lightning/bitcoin/revops.sqlite3
    revops-report --html pnl.html --lightning-dir DIR   # DIR/revops.sqlite3
    revops-report --html pnl.html --db PATH [--days N]     # default 90; 0: all

Needs no lightningd: it reads the database file (also while the plugin
runs) and writes one HTML file. Exit code 2 with one line on bad
arguments or an unreadable database.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from revops.clock import WallClock
from revops.report import page, pnl
from revops.report.read import ReportError, read_facts
from revops.storage.db import DB_FILENAME

DEFAULT_LIGHTNING_DIR = os.path.join("~", ".lightning", "bitcoin")
DEFAULT_DAYS = 90


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="revops-report",
        description="Render revops' profit and loss as one static HTML page with inline "
                    "charts, from the plugin's database opened read-only.")
    p.add_argument("--html", metavar="FILE", required=True,
                   help="where to write the page ('-' for stdout)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--db", metavar="PATH",
                       help="the plugin's database (its --revenue-ops-db-path)")
    where.add_argument("--lightning-dir", metavar="DIR",
                       help=f"lightningd's network directory, holding {DB_FILENAME} "
                            f"(default {DEFAULT_LIGHTNING_DIR})")
    p.add_argument("--days", type=_days, default=DEFAULT_DAYS, metavar="N",
                   help=f"the last N days of data (default {DEFAULT_DAYS}; 0: all of it)")
    return p


def _days(text: str) -> int | None:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"an integer from 0, not {text!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"an integer from 0, not {n}")
    return None if n == 0 else n


def db_path(args: argparse.Namespace) -> str:
    if args.db:
        return os.path.expanduser(args.db)
    directory = os.path.expanduser(args.lightning_dir or DEFAULT_LIGHTNING_DIR)
    return os.path.join(directory, DB_FILENAME)


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    path = db_path(args)
    try:
        report = pnl.build(read_facts(path, days=args.days))
    except ReportError as e:
        print(f"revops-report: {e}", file=sys.stderr)
        return 2
    html = page.render(report, generated_at=WallClock().now())
    if args.html == "-":
        sys.stdout.write(html)
        return 0
    out = os.path.expanduser(args.html)
    tmp = f"{out}.tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(html)
        os.replace(tmp, out)  # never a half-written page
    except OSError as e:
        print(f"revops-report: cannot write {out}: {e.strerror}", file=sys.stderr)
        return 2
    print(f"revops-report: wrote {out} ({len(report.days)} days, {len(report.channels)} "
          f"channels, {len(report.ledger)} rebalances)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
