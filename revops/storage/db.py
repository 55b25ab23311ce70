"""Opening the revops database: where it lives, pragmas, and the checks.

``open_database`` is the one way in. It turns everything that can be wrong
with the file (a directory in its place, a missing directory, garbage or a
damaged page, no write permission, a schema from a newer revops) into a
:class:`StorageError` with a one-line reason, before anything else runs. The
plugin calls ``check_database`` while answering ``init`` (a few ms, plus a
``quick_check`` scan that costs ~0.2 s per 130 MB) so that a bad file
becomes an init ``disable`` with that reason; the StoreActor then opens the
same file for good and migrates it.
"""

from __future__ import annotations

import os

from peewee import SqliteDatabase

from revops.storage.errors import StorageError, storage_errors
from revops.storage.marker import EMPTY, MISSING, PRESENT
from revops.storage.migrations import LATEST_VERSION, current_version, newer_than_known

DB_FILENAME = "revops.sqlite3"
BUSY_TIMEOUT_S = 5.0
SQLITE_MAGIC = b"SQLite format 3\x00"

# WAL: readers never block the writer. synchronous=NORMAL is safe with WAL
# (a power cut may lose the last commits, never consistency) and keeps a
# commit free of fsync. cache_size is in KiB when negative: 64 MB at most.
PRAGMAS: tuple[tuple[str, object], ...] = (
    ("journal_mode", "wal"),
    ("foreign_keys", 1),
    ("cache_size", -64000),
    ("busy_timeout", int(BUSY_TIMEOUT_S * 1000)),
    ("synchronous", "normal"),
)


def database_state(path: str) -> str:
    """What is at ``path`` before anything opens it: ``missing``, ``empty``
    (0 bytes: SQLite would take it for a new database) or ``present``."""
    try:
        return EMPTY if os.path.getsize(path) == 0 else PRESENT
    except FileNotFoundError:
        return MISSING
    except OSError:
        return PRESENT  # unreadable: open_database says why


def default_db_path(lightning_dir: str) -> str:
    return os.path.join(lightning_dir, DB_FILENAME)


def resolve_db_path(configured: str | None, lightning_dir: str) -> str:
    """The option's path, relative ones taken from the lightning dir."""
    if not configured:
        return default_db_path(lightning_dir)
    path = os.path.expanduser(configured)
    return path if os.path.isabs(path) else os.path.join(lightning_dir, path)


def new_database() -> SqliteDatabase:
    return SqliteDatabase(None, autoconnect=False)


def open_database(
    path: str | os.PathLike[str], database: SqliteDatabase | None = None
) -> tuple[SqliteDatabase, int]:
    """Open, check and return ``(database, schema version on disk)``.

    The connection belongs to the calling thread (peewee's are per thread).
    ``database`` is the deferred one to initialise (the models' ``db`` in the
    StoreActor), else a fresh one. Version 0 is a new, empty database;
    migrating is the caller's next step.
    """
    path = os.fspath(path)
    _check_path(path)
    db = database if database is not None else new_database()
    db.init(path, pragmas=list(PRAGMAS), timeout=BUSY_TIMEOUT_S)
    try:
        with storage_errors(path):
            db.connect()
            _check_integrity(db, path)
            _check_writable(db)
            version = current_version(db)
        if version > LATEST_VERSION:
            raise newer_than_known(path, version, LATEST_VERSION)
    except BaseException:
        if not db.is_closed():
            db.close()
        raise
    return db, version


def check_database(path: str | os.PathLike[str]) -> int:
    """Raise StorageError with the reason if ``path`` is unusable, else its version.

    Creates the file when it does not exist (the StoreActor would anyway).
    """
    db, version = open_database(path)
    close_database(db)
    return version


def close_database(db: SqliteDatabase) -> None:
    """Fold the WAL back into the file, then close: nothing left to replay."""
    if db.is_closed():
        return
    try:
        if not db.in_transaction():
            db.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        if db.in_transaction():
            db.rollback()
        db.close()


def _check_path(path: str) -> None:
    if os.path.isdir(path):
        raise StorageError(f"revops database {path} is a directory, not a file")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise StorageError(f"revops database {path}: directory {parent} does not exist")
    # Checked before SQLite opens anything: on a read-only database SQLite
    # would still create a -shm file with the database's read-only mode,
    # which then keeps failing after the operator has fixed the file.
    if not os.access(parent, os.W_OK | os.X_OK):
        raise StorageError(
            f"revops database {path}: directory {parent} is not writable "
            "(the database and its -wal and -shm files live there)"
        )
    for name in (path, f"{path}-wal", f"{path}-shm"):
        if os.path.exists(name) and not os.access(name, os.R_OK | os.W_OK):
            raise StorageError(
                f"revops database {path} is read-only: {name} is not writable; "
                "check its permissions"
            )
    try:
        with open(path, "rb") as f:
            head = f.read(len(SQLITE_MAGIC))
    except FileNotFoundError:
        return
    except OSError as exc:
        raise StorageError(f"revops database {path} cannot be read ({exc.strerror})") from exc
    if head and head != SQLITE_MAGIC:
        raise StorageError(
            f"revops database {path} is not a SQLite database (corrupt, or another "
            "program's file); move it aside or set --revenue-ops-db-path to another file"
        )


def _check_integrity(db: SqliteDatabase, path: str) -> None:
    rows = db.execute_sql("PRAGMA quick_check").fetchall()
    if rows != [("ok",)]:
        first = " ".join(str(rows[0][0]).split()) if rows else "no answer"
        if len(first) > 120:
            first = first[:117] + "..."
        raise StorageError(
            f"revops database {path} is corrupt (quick_check: {first}); "
            "move it aside or set --revenue-ops-db-path to another file"
        )


def _check_writable(db: SqliteDatabase) -> None:
    # BEGIN IMMEDIATE takes the write lock (fails on a read-only file), and
    # changing the schema touches a page (fails where no journal can be made).
    db.execute_sql("BEGIN IMMEDIATE")
    try:
        db.execute_sql("CREATE TABLE revops_write_probe (x)")
    finally:
        # SQLite rolls back by itself after some errors (I/O, full disk).
        if db.connection().in_transaction:
            db.execute_sql("ROLLBACK")
