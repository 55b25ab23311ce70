"""Schema migrations: from any older revops database to the current schema.

The schema version is the highest row of ``schema_version`` (one row per
applied migration, with when). ``migrate`` applies the missing steps in
order at startup, each in its own ``BEGIN IMMEDIATE`` transaction together
with the row that records it: a failing step leaves the database exactly at
the previous version, and a second process opening the same file waits and
then finds the step done instead of applying it twice. A database newer than
this code is refused, never touched.

Each feature keeps its migration next to its models, in
``revops/storage/schema_<feature>.py`` (v3 fees, v4 flow, v5 rebalance, v6 the
database's identity).

Adding a migration:

1. write ``def vN_what(db, migrator) -> None`` with a docstring saying what
   it changes; write its DDL as it is *at that version* (SQL text, or
   ``playhouse.migrate`` operations through ``migrator``), never through the
   models in ``models.py``, which move on with later versions;
2. append it to ``MIGRATIONS``: its 1-based position is its version;
3. update ``models.py`` to match (``test_models_match_migrated_schema``
   compares them).

Never edit, reorder or remove a released step: databases in the field have
already run it. Fix a mistake with a new step. Foreign keys are off while a
step runs (``SqliteMigrator`` table rebuilds must not cascade deletes) and
``PRAGMA foreign_key_check`` must be clean before its transaction commits.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from peewee import SQL, SqliteDatabase, TextField
from playhouse.migrate import SqliteMigrator

from revops.storage.errors import DRIVER_ERRORS, StorageError

MigrationStep = Callable[[SqliteDatabase, SqliteMigrator], None]


def _v1_initial(db: SqliteDatabase, migrator: SqliteMigrator) -> None:
    """Schema version table, runtime config overrides, channel actor state."""
    db.execute_sql(
        "CREATE TABLE schema_version ("
        " version INTEGER NOT NULL PRIMARY KEY,"
        " applied_at REAL NOT NULL)"
    )
    db.execute_sql(
        "CREATE TABLE config_override ("
        " key TEXT NOT NULL PRIMARY KEY CHECK (key <> ''),"
        " value TEXT NOT NULL CHECK (typeof(value) = 'text'),"
        " updated_at REAL NOT NULL)"
    )
    db.execute_sql(
        "CREATE TABLE channel_state ("
        " scid TEXT NOT NULL PRIMARY KEY CHECK (scid <> ''),"
        " peer_id TEXT NOT NULL,"
        " state TEXT NOT NULL,"
        " updated_at REAL NOT NULL)"
    )


def _v2_supervision_history(db: SqliteDatabase, migrator: SqliteMigrator) -> None:
    """Supervision history (actor_event) and who set an override (config_override.source)."""
    db.execute_sql(
        "CREATE TABLE actor_event ("
        " id INTEGER NOT NULL PRIMARY KEY,"
        " ts REAL NOT NULL,"
        " actor TEXT NOT NULL,"
        " kind TEXT NOT NULL"
        "  CHECK (kind IN ('started', 'crashed', 'restarted', 'escalated')),"
        " detail TEXT NOT NULL DEFAULT '')"
    )
    db.execute_sql("CREATE INDEX actor_event_actor_id ON actor_event (actor, id)")
    # NOT NULL with a constant DEFAULT is a plain ALTER TABLE in SQLite:
    # existing rows read as 'rpc' with no table rebuild.
    migrator.migrate(
        migrator.add_column(
            "config_override",
            "source",
            TextField(constraints=[SQL("DEFAULT 'rpc'")]),
            allow_not_null=True,
        )
    )


from revops.storage.schema_fees import v3_fees  # noqa: E402
from revops.storage.schema_flow import v4_flow  # noqa: E402
from revops.storage.schema_rebalance import v5_rebalance  # noqa: E402
from revops.storage.schema_identity import v6_database_identity  # noqa: E402

MIGRATIONS: list[MigrationStep] = [
    _v1_initial,
    _v2_supervision_history,
    v3_fees,
    v4_flow,
    v5_rebalance,
    v6_database_identity,
]

LATEST_VERSION = len(MIGRATIONS)


def newer_than_known(path: str, version: int, latest: int) -> StorageError:
    return StorageError(
        f"database schema v{version} is newer than this revops (v{latest}): "
        f"{path} was written by a later revops; upgrade revops or set "
        "--revenue-ops-db-path to another file"
    )


def current_version(db: SqliteDatabase) -> int:
    """The schema version on disk: 0 for an empty database."""
    tables = {
        name
        for (name,) in db.execute_sql(
            "SELECT name FROM sqlite_master WHERE type = 'table'"
        ).fetchall()
    }
    if "schema_version" not in tables:
        if tables - {"sqlite_sequence"}:
            raise StorageError(
                f"revops database {db.database} holds tables but no schema_version: "
                "it is not a revops database; set --revenue-ops-db-path to another file"
            )
        return 0
    (version,) = db.execute_sql("SELECT MAX(version) FROM schema_version").fetchone()
    return int(version or 0)


def migrate(
    db: SqliteDatabase, now: float, steps: Sequence[MigrationStep] = MIGRATIONS
) -> int:
    """Bring the open ``db`` to the latest version; return the version reached."""
    latest = len(steps)
    version = current_version(db)
    if version > latest:
        raise newer_than_known(db.database, version, latest)
    migrator = SqliteMigrator(db)
    for target in range(version + 1, latest + 1):
        step = steps[target - 1]
        try:
            with migrator.migration_context(atomic=False), db.atomic(lock_type="IMMEDIATE"):
                if current_version(db) >= target:
                    continue
                step(db, migrator)
                broken = db.execute_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise StorageError(f"foreign keys broken in {sorted({r[0] for r in broken})}")
                db.execute_sql(
                    "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                    (target, now),
                )
        except (StorageError, *DRIVER_ERRORS) as exc:
            raise StorageError(
                f"revops database {db.database}: migration to v{target} "
                f"({step.__name__}) failed and was rolled back: {exc}"
            ) from exc
    return current_version(db)
