"""Storage failures, reduced to one line a human can act on.

Whatever goes wrong with the database file (corrupt, unwritable, locked,
written by a newer revops) reaches the plugin as a :class:`StorageError`
whose text is a single line: the plugin hands it to lightningd as its init
``disable`` reason, so it must read well there and never be a traceback.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

import peewee


class StorageError(Exception):
    """The database cannot be used; ``str()`` is a one-line reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(" ".join(reason.split()))

    @property
    def reason(self) -> str:
        return str(self)


class StorageUnavailable(StorageError):
    """The StoreActor could not open its database at start and serves nothing."""


# SQLite's own words, and what they mean for an operator.
_EXPLAINED = {
    "file is not a database": "is not a SQLite database (corrupt, or another program's file)",
    "database disk image is malformed": "is corrupt (database disk image is malformed)",
    "unable to open database file": (
        "cannot be opened or created (unable to open database file): "
        "check that its directory exists and is writable"
    ),
    "attempt to write a readonly database": (
        "is read-only (attempt to write a readonly database): "
        "check the permissions of the file and of its directory"
    ),
    "database is locked": "is locked by another process (database is locked)",
    "disk i/o error": "cannot be read or written (disk I/O error)",
}

DRIVER_ERRORS = (peewee.PeeweeException, sqlite3.Error, OSError)


def explain(path: str, exc: BaseException) -> StorageError:
    """A StorageError naming ``path`` and what the driver's error means."""
    message = str(exc).strip() or type(exc).__name__
    meaning = _EXPLAINED.get(message.splitlines()[0].lower())
    if meaning is None:
        meaning = f"failed: {message}"
    return StorageError(f"revops database {path} {meaning}")


@contextmanager
def storage_errors(path: str) -> Iterator[None]:
    """Turn driver and OS errors raised inside into a :class:`StorageError`."""
    try:
        yield
    except StorageError:
        raise
    except DRIVER_ERRORS as exc:
        raise explain(path, exc) from exc
