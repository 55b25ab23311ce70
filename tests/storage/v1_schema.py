"""The schema-v1 DDL exactly as the first release wrote it, and sample rows.

Frozen here on purpose, apart from ``revops/storage/migrations.py``: the
tests build v1 databases from this text, so a later edit to migration 1 (or
to the models) cannot quietly make "a v1 database" mean something else.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

V1_DDL = (
    (
        "CREATE TABLE schema_version ("
        " version INTEGER NOT NULL PRIMARY KEY,"
        " applied_at REAL NOT NULL)"
    ),
    (
        "CREATE TABLE config_override ("
        " key TEXT NOT NULL PRIMARY KEY CHECK (key <> ''),"
        " value TEXT NOT NULL CHECK (typeof(value) = 'text'),"
        " updated_at REAL NOT NULL)"
    ),
    (
        "CREATE TABLE channel_state ("
        " scid TEXT NOT NULL PRIMARY KEY CHECK (scid <> ''),"
        " peer_id TEXT NOT NULL,"
        " state TEXT NOT NULL,"
        " updated_at REAL NOT NULL)"
    ),
)

V1_OVERRIDES = [
    ("fee-interval", "600", 1_700_000_000.5),
    ("dry-run", "true", 1_700_000_100.0),
    ("max-fee-ppm", "5000", 1_700_000_200.25),
    ("empty-is-allowed", "", 1_700_000_300.0),
]

V1_CHANNEL_STATES = [
    (
        f"{800_000 + i}x{i % 7}x{i % 2}",
        "02" + f"{i:064x}",
        f'{{"hill":{{"fee_ppm":{100 + i},"step_ppm":25,"revenue_msat":{1_000_000_000_000 + i}}},"version":1}}',
        1_700_000_000.0 + i,
    )
    for i in range(250)
]


def build_v1_database(path: Path, applied_at: float = 1_699_999_000.0) -> None:
    """A genuine v1 revops database with rows, written with plain sqlite3."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = wal")
        conn.execute("BEGIN")
        for statement in V1_DDL:
            conn.execute(statement)
        conn.execute("INSERT INTO schema_version VALUES (1, ?)", (applied_at,))
        conn.executemany("INSERT INTO config_override VALUES (?, ?, ?)", V1_OVERRIDES)
        conn.executemany("INSERT INTO channel_state VALUES (?, ?, ?, ?)", V1_CHANNEL_STATES)
        conn.execute("COMMIT")
    finally:
        conn.close()


def read_rows(path: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()
