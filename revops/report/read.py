"""Reading the plugin's database for the report, read-only.

The file is opened through SQLite's URI ``mode=ro`` (and ``query_only``):
no write can happen, whether the plugin is running (WAL lets a reader in
beside the writer) or not. The queries are the storage layer's own
(``revops.storage.repos``) on the storage layer's deferred handle; this
runs in the report's own process, where no StoreActor holds it, and the
handle is closed and reset when done.

A database from an older revops lacks some tables: their sections are
empty. One from a newer revops is refused (its tables may mean something
else by then).
"""

from __future__ import annotations

import os
import sqlite3
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

import peewee

from revops.flow.buckets import DAY
from revops.report import pnl
from revops.report.facts import CostRow, Facts, Table
from revops.storage.base import db
from revops.storage.errors import StorageError
from revops.storage.migrations import LATEST_VERSION, current_version
from revops.storage.repos import channel_states, flow, rebalance
from revops.storage.repos.fees import FeeChange
from revops.storage.schema_fees import FeeHistory

ALL = 10**12  # a LIMIT that is no limit
# peewee wraps the driver's errors in its own classes
DB_ERRORS = (sqlite3.DatabaseError, peewee.DatabaseError)
ADVICE_ROWS = 1000


class ReportError(Exception):
    """The database cannot be read for a report; the message says why."""


def read_facts(path: str, days: int | None = None) -> Facts:
    """Everything the report shows, over the last ``days`` days of data
    (all of it when None). Fee history is read for the channels the page
    draws only."""
    with read_only(path):
        tables = _tables()
        try:
            version = current_version(db)
        except StorageError as e:
            raise ReportError(str(e)) from e
        if version > LATEST_VERSION:
            raise ReportError(f"{path} has schema v{version}, newer than this revops "
                              f"(v{LATEST_VERSION}): upgrade revops to report on it")
        latest = _latest_ts(tables)
        since = -float(ALL) if days is None or latest is None else latest - days * DAY
        facts = Facts(
            path=path,
            schema_version=version,
            buckets=tuple(_buckets(tables, since)),
            snapshots=tuple(flow.snapshots(since, limit=ALL)) if "flow_snapshot" in tables
            else (),
            costs=tuple(_costs(tables, since)),
            jobs=tuple(_jobs(tables, since)),
            peers={scid: row.peer_id for scid, row in channel_states.all_rows().items()}
            if "channel_state" in tables else {},
            last_forward_ts=_scalar("SELECT max(received_time) FROM forward")
            if "forward" in tables else None,
            capacity_advice=tuple(_advice(tables)),
        )
        charted = pnl.fee_charted(facts)
        return replace(facts, fee_changes=tuple(_fee_changes(tables, since, charted)))


@contextmanager
def read_only(path: str) -> Iterator[None]:
    """The storage layer's handle on ``path``, read-only, for this thread."""
    path = os.path.abspath(path)
    if not os.path.isfile(path):
        raise ReportError(f"no revops database at {path} (see --db and --lightning-dir)")
    uri = f"file:{urllib.parse.quote(path)}?mode=ro"
    db.init(uri, uri=True, pragmas=[("query_only", 1)], timeout=5.0)
    try:
        try:
            db.connect()
            db.execute_sql("SELECT count(*) FROM sqlite_master").fetchone()
        except DB_ERRORS as e:
            raise ReportError(f"{path} cannot be read as a SQLite database: {e}") from e
        yield
    except DB_ERRORS as e:
        raise ReportError(f"{path}: {e}") from e
    finally:
        if not db.is_closed():
            db.close()
        db.init(None)


def _tables() -> set[str]:
    return {name for (name,) in
            db.execute_sql("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()}


def _scalar(sql: str) -> float | None:
    row = db.execute_sql(sql).fetchone()
    return None if row is None or row[0] is None else float(row[0])


def _latest_ts(tables: set[str]) -> float | None:
    """The newest thing the database knows of: the report's "as of"."""
    queries = {"forward": "SELECT max(received_time) FROM forward",
               "flow_snapshot": "SELECT max(ts) FROM flow_snapshot",
               "fee_history": "SELECT max(ts) FROM fee_history",
               "channel_cost": "SELECT max(ts) FROM channel_cost",
               "rebalance_job": "SELECT max(updated_at) FROM rebalance_job",
               "flow_daily": f"SELECT (max(day) + 1) * {DAY} - 1 FROM flow_daily"}
    found = [_scalar(q) for t, q in queries.items() if t in tables]
    known = [t for t in found if t is not None]
    return max(known) if known else None


def _buckets(tables: set[str], since: float) -> list:
    if "flow_daily" not in tables:
        return []
    row = db.execute_sql("SELECT min(day), max(day) FROM flow_daily").fetchone()
    if row[0] is None:
        return []
    first = max(int(row[0]), int(since // DAY))
    return flow.read_buckets(first, int(row[1]))


def _costs(tables: set[str], since: float) -> list[CostRow]:
    if "channel_cost" not in tables:
        return []
    rows = flow.costs_list(since, limit=ALL)  # newest first
    return [CostRow(float(ts), scid, kind, int(amount)) for ts, scid, kind, amount, _ in
            reversed(rows)]


def _fee_changes(tables: set[str], since: float, scids: list[str]) -> list[FeeChange]:
    if "fee_history" not in tables or not scids:
        return []
    q = (FeeHistory.select().where((FeeHistory.ts >= since) & FeeHistory.scid.in_(scids))
         .order_by(FeeHistory.ts, FeeHistory.id))
    return [FeeChange(m.ts, m.scid, m.old_fee_ppm, m.new_fee_ppm, m.base_msat, m.mode,
                      m.reason, m.outcome) for m in q]


def _jobs(tables: set[str], since: float) -> list:
    if "rebalance_job" not in tables or "rebalance_reservation" not in tables:
        return []
    done = [j for j in rebalance.recent_jobs(ALL) if (j.completed_at or j.updated_at) >= since]
    return sorted(done + rebalance.open_jobs(), key=lambda j: (j.created_at, j.id))


def _advice(tables: set[str]) -> list[Table]:
    """Any table of the capacity planner (issue 16: ``capacity*``), listed as is."""
    out = []
    for name in sorted(t for t in tables if t.startswith("capacity")):
        cur = db.execute_sql(f'SELECT * FROM "{name}" LIMIT {ADVICE_ROWS}')
        columns = tuple(d[0] for d in cur.description)
        out.append(Table(name, columns, tuple(tuple(r) for r in cur.fetchall())))
    return out
