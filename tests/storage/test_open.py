"""Opening the database: bad files and places become one-line StorageErrors."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from revops.storage import (
    StorageError,
    check_database,
    close_database,
    default_db_path,
    migrate,
    open_database,
    resolve_db_path,
)

from revops.storage.migrations import LATEST_VERSION

from .conftest import running_as_root, unwritable


def _reason(path: Path | str) -> str:
    with pytest.raises(StorageError) as err:
        check_database(path)
    reason = str(err.value)
    assert "\n" not in reason and "Traceback" not in reason
    assert str(path) in reason
    return reason


def _migrated(path: Path, channel_rows: int = 0) -> None:
    db, _ = open_database(path)
    migrate(db, 1.0)
    with db.atomic():
        for i in range(channel_rows):
            db.execute_sql(
                "INSERT INTO channel_state VALUES (?, ?, ?, ?)",
                (f"{i}x1x0", "02" + "ab" * 32, f'{{"version":1,"n":{i}}}', 1.0),
            )
    close_database(db)


def test_new_file_is_created_at_version_0(db_path: Path) -> None:
    assert check_database(db_path) == 0
    assert db_path.is_file()


def test_check_leaves_no_connection_or_wal_behind(db_path: Path) -> None:
    _migrated(db_path)
    assert check_database(db_path) == LATEST_VERSION
    assert not Path(f"{db_path}-wal").exists()


def test_open_sets_the_pragmas(db_path: Path) -> None:
    db, _ = open_database(db_path)
    try:
        assert db.execute_sql("PRAGMA journal_mode").fetchone() == ("wal",)
        assert db.execute_sql("PRAGMA foreign_keys").fetchone() == (1,)
        assert db.execute_sql("PRAGMA cache_size").fetchone() == (-64000,)
        assert db.execute_sql("PRAGMA busy_timeout").fetchone() == (5000,)
        assert db.execute_sql("PRAGMA synchronous").fetchone() == (1,)
    finally:
        close_database(db)


def test_garbage_file_is_refused_and_not_overwritten(db_path: Path) -> None:
    garbage = random.Random(7).randbytes(64 * 1024)
    db_path.write_bytes(garbage)
    assert "is not a SQLite database" in _reason(db_path)
    assert db_path.read_bytes() == garbage


@pytest.mark.parametrize("page", [1, 5, -1])
def test_damaged_page_is_refused_as_corrupt(db_path: Path, page: int) -> None:
    _migrated(db_path, channel_rows=2000)
    page_size = 4096
    pages = db_path.stat().st_size // page_size
    assert pages > 10
    with db_path.open("r+b") as f:
        f.seek((page % pages) * page_size)
        f.write(random.Random(page).randbytes(page_size))
    assert "is corrupt" in _reason(db_path)


def test_path_that_is_a_directory_is_refused(tmp_path: Path) -> None:
    assert "is a directory, not a file" in _reason(tmp_path)


def test_missing_directory_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "no" / "such" / "revops.sqlite3"
    assert f"directory {tmp_path / 'no' / 'such'} does not exist" in _reason(path)
    assert not (tmp_path / "no").exists()


def test_unwritable_directory_is_refused_for_a_new_file(tmp_path: Path) -> None:
    folder = tmp_path / "locked"
    folder.mkdir()
    with unwritable(folder):
        assert f"directory {folder} is not writable" in _reason(folder / "revops.sqlite3")
    assert list(folder.iterdir()) == []


@pytest.mark.skipif(not running_as_root(), reason="root-only: a directory root cannot create files in")
def test_proc_is_refused_as_root() -> None:
    # /proc: even root cannot create a file there, though access() says yes.
    assert "cannot be opened or created" in _reason("/proc/revops-test.sqlite3")


def test_unwritable_directory_is_refused_for_an_existing_file(tmp_path: Path) -> None:
    folder = tmp_path / "locked"
    folder.mkdir()
    _migrated(folder / "revops.sqlite3")
    with unwritable(folder):
        assert f"directory {folder} is not writable" in _reason(folder / "revops.sqlite3")
    assert check_database(folder / "revops.sqlite3") == LATEST_VERSION


def test_read_only_file_is_refused_and_works_once_fixed(db_path: Path) -> None:
    _migrated(db_path, channel_rows=3)
    with unwritable(db_path):
        assert f"is read-only: {db_path} is not writable" in _reason(db_path)
    # trying left nothing behind that keeps failing after the fix (a -shm
    # created read-only would)
    assert check_database(db_path) == LATEST_VERSION


def test_read_only_shm_left_by_someone_else_is_refused(db_path: Path) -> None:
    _migrated(db_path)
    shm = Path(f"{db_path}-shm")
    shm.write_bytes(b"")
    with unwritable(shm):
        assert f"is read-only: {shm} is not writable" in _reason(db_path)


def test_default_and_resolved_paths(tmp_path: Path) -> None:
    lightning_dir = str(tmp_path / "bitcoin")
    assert default_db_path(lightning_dir) == os.path.join(lightning_dir, "revops.sqlite3")
    assert resolve_db_path(None, lightning_dir) == default_db_path(lightning_dir)
    assert resolve_db_path("", lightning_dir) == default_db_path(lightning_dir)
    assert resolve_db_path("data/r.sqlite3", lightning_dir) == os.path.join(lightning_dir, "data/r.sqlite3")
    assert resolve_db_path("/var/lib/r.sqlite3", lightning_dir) == "/var/lib/r.sqlite3"
    assert resolve_db_path("~/r.sqlite3", lightning_dir) == os.path.expanduser("~/r.sqlite3")
