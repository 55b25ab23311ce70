"""Schema migrations: from empty, from a real v1 file with rows, refusals, rollback."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from peewee import SqliteDatabase

from revops.storage import (
    LATEST_VERSION,
    MIGRATIONS,
    StorageError,
    close_database,
    current_version,
    migrate,
    open_database,
)
from revops.storage.models import MODELS

from .v1_schema import (
    V1_CHANNEL_STATES,
    V1_DDL,
    V1_OVERRIDES,
    build_v1_database,
    read_rows,
)

NOW = 1_800_000_000.0


def _open(path: Path) -> SqliteDatabase:
    db, _ = open_database(path)
    return db


def test_latest_version_is_at_least_two() -> None:
    # v2 exists so that the migration mechanism runs on every v1 install.
    assert LATEST_VERSION == len(MIGRATIONS) >= 2


def test_every_migration_says_what_it_does() -> None:
    for step in MIGRATIONS:
        assert step.__doc__ and step.__doc__.strip(), step.__name__


def test_empty_database_migrates_to_latest(db_path: Path) -> None:
    db, version = open_database(db_path)
    assert version == 0
    assert migrate(db, NOW) == LATEST_VERSION
    close_database(db)
    assert read_rows(db_path, "SELECT version, applied_at FROM schema_version ORDER BY version") == [
        (v, NOW) for v in range(1, LATEST_VERSION + 1)
    ]


def test_migrating_twice_changes_nothing(db_path: Path) -> None:
    db = _open(db_path)
    migrate(db, NOW)
    assert migrate(db, NOW + 60) == LATEST_VERSION
    close_database(db)
    assert read_rows(db_path, "SELECT COUNT(*), MAX(applied_at) FROM schema_version") == [
        (LATEST_VERSION, NOW)
    ]


def test_v1_database_with_rows_migrates_without_loss(db_path: Path) -> None:
    build_v1_database(db_path)
    db, version = open_database(db_path)
    assert version == 1
    assert migrate(db, NOW) == LATEST_VERSION
    close_database(db)

    assert read_rows(db_path, "SELECT key, value, updated_at, source FROM config_override ORDER BY key") == sorted(
        (key, value, at, "rpc") for key, value, at in V1_OVERRIDES
    )
    assert read_rows(db_path, "SELECT scid, peer_id, state, updated_at FROM channel_state ORDER BY scid") == sorted(
        V1_CHANNEL_STATES
    )
    assert read_rows(db_path, "SELECT version, applied_at FROM schema_version ORDER BY version") == [
        (1, 1_699_999_000.0)
    ] + [(v, NOW) for v in range(2, LATEST_VERSION + 1)]
    assert read_rows(db_path, "SELECT COUNT(*) FROM actor_event") == [(0,)]
    # v1's constraints came through the ALTER TABLE intact.
    conn = sqlite3.connect(db_path)
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("INSERT INTO config_override (key, value, updated_at) VALUES ('', 'x', 0)")
    conn.close()


def test_migration_1_still_writes_the_released_v1_schema(tmp_path: Path) -> None:
    build_v1_database(tmp_path / "frozen.sqlite3")
    db = _open(tmp_path / "migrated.sqlite3")
    migrate(db, NOW, steps=MIGRATIONS[:1])
    close_database(db)
    schema = "SELECT type, name, sql FROM sqlite_master ORDER BY name"
    assert read_rows(tmp_path / "migrated.sqlite3", schema) == read_rows(tmp_path / "frozen.sqlite3", schema)
    assert len(V1_DDL) == 3


def _columns(db: SqliteDatabase, table: str) -> dict[str, tuple[str, bool, bool]]:
    return {
        name: (kind.upper(), bool(notnull), bool(pk))
        for _cid, name, kind, notnull, _default, pk in db.execute_sql(f"PRAGMA table_info({table})").fetchall()
    }


# peewee field type -> the type the migrations declare for it
SQLITE_TYPE = {"AUTO": "INTEGER", "INT": "INTEGER", "FLOAT": "REAL", "TEXT": "TEXT"}


def test_models_match_migrated_schema(db_path: Path) -> None:
    db = _open(db_path)
    migrate(db, NOW)
    tables = {name for (name,) in db.execute_sql("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()}
    assert tables == {model._meta.table_name for model in MODELS}
    for model in MODELS:
        expected = {
            field.column_name: (SQLITE_TYPE[field.field_type], not field.null, field.primary_key)
            for field in model._meta.sorted_fields
        }
        assert _columns(db, model._meta.table_name) == expected, model.__name__
    close_database(db)


def _fails_after_creating_a_table(db: SqliteDatabase, migrator: object) -> None:
    """Test step: changes the schema, then fails."""
    db.execute_sql("CREATE TABLE half_done (x INTEGER)")
    db.execute_sql("INSERT INTO config_override (key, value, updated_at) VALUES ('', 'x', 0)")


def test_failing_migration_rolls_back_to_previous_version(db_path: Path) -> None:
    db = _open(db_path)
    migrate(db, NOW)
    with pytest.raises(StorageError) as err:
        migrate(db, NOW, steps=[*MIGRATIONS, _fails_after_creating_a_table])
    message = str(err.value)
    assert f"migration to v{LATEST_VERSION + 1} (_fails_after_creating_a_table) failed and was rolled back" in message
    assert "CHECK constraint failed" in message
    assert current_version(db) == LATEST_VERSION
    assert db.execute_sql("SELECT name FROM sqlite_master WHERE name = 'half_done'").fetchall() == []
    close_database(db)


def _breaks_a_foreign_key(db: SqliteDatabase, migrator: object) -> None:
    """Test step: a child row whose parent does not exist."""
    db.execute_sql("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
    db.execute_sql("CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent (id))")
    db.execute_sql("INSERT INTO child VALUES (1, 42)")


def test_migration_leaving_broken_foreign_keys_is_rolled_back(db_path: Path) -> None:
    db = _open(db_path)
    migrate(db, NOW)
    with pytest.raises(StorageError, match=r"foreign keys broken in \['child'\]"):
        migrate(db, NOW, steps=[*MIGRATIONS, _breaks_a_foreign_key])
    assert current_version(db) == LATEST_VERSION
    assert db.execute_sql("SELECT name FROM sqlite_master WHERE name IN ('parent', 'child')").fetchall() == []
    # and foreign keys are enforced again after the migration context
    assert db.execute_sql("PRAGMA foreign_keys").fetchone() == (1,)
    close_database(db)


def test_newer_schema_is_refused_and_left_untouched(db_path: Path) -> None:
    db = _open(db_path)
    migrate(db, NOW)
    db.execute_sql("INSERT INTO schema_version VALUES (?, ?)", (LATEST_VERSION + 1, NOW))
    db.execute_sql("CREATE TABLE from_the_future (x)")
    close_database(db)
    before = read_rows(db_path, "SELECT type, name, sql FROM sqlite_master ORDER BY name")

    newer = f"database schema v{LATEST_VERSION + 1} is newer than this revops (v{LATEST_VERSION})"
    with pytest.raises(StorageError, match=newer.replace("(", r"\(").replace(")", r"\)")):
        open_database(db_path)
    assert read_rows(db_path, "SELECT type, name, sql FROM sqlite_master ORDER BY name") == before

    # migrate() refuses too, for a caller that opened the file another way
    db = SqliteDatabase(str(db_path))
    db.connect()
    with pytest.raises(StorageError, match="is newer than this revops"):
        migrate(db, NOW)
    db.close()


def test_someone_elses_database_is_refused(db_path: Path) -> None:
    conn = sqlite3.connect(db_path)
    conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
    conn.commit()
    conn.close()
    with pytest.raises(StorageError, match="holds tables but no schema_version: it is not a revops database"):
        open_database(db_path)
