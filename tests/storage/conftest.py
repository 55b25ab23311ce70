"""Fixtures for the storage tests: file databases under tmp_path, no actor left behind."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pykka
import pytest


@pytest.fixture(autouse=True)
def _stop_all_actors() -> Iterator[None]:
    yield
    pykka.ActorRegistry.stop_all(timeout=10)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "revops.sqlite3"


def running_as_root() -> bool:
    return os.geteuid() == 0


@contextmanager
def unwritable(path: Path) -> Iterator[None]:
    """Make ``path`` (file or directory) unwritable for this process, honestly.

    A normal user: chmod. Root ignores modes, so root marks it immutable
    (chattr +i, which binds root too) and skips where the filesystem or the
    container does not allow that.
    """
    if not running_as_root():
        mode = path.stat().st_mode
        path.chmod(0o555 if path.is_dir() else 0o444)
        try:
            yield
        finally:
            path.chmod(mode)
        return
    try:
        subprocess.run(["chattr", "+i", str(path)], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"running as root and chattr +i is not available here: {exc}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True, capture_output=True)
