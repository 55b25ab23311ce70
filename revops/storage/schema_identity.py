"""The database's identity (schema v6): a random id made once, when the
database is created (or first migrated to v6), and never changed.

It tells one revops database from another: lightningd's datastore keeps the
id of the database the plugin last ran with (``revops/storage/marker.py``),
so an empty or missing file where a database used to be is noticed instead
of silently taken for a new one, and rebalance invoice labels carry it, so
a new database never reuses a label lightningd still holds.
"""

from __future__ import annotations

import secrets

from peewee import FloatField, SqliteDatabase, TextField
from playhouse.migrate import SqliteMigrator

from revops.storage.base import BaseModel

ID_HEX_CHARS = 16  # 64 random bits


def new_database_id() -> str:
    return secrets.token_hex(ID_HEX_CHARS // 2)


def v6_database_identity(db: SqliteDatabase, migrator: SqliteMigrator) -> None:
    """database_identity: one row, the database's random id and when it was made."""
    db.execute_sql(
        "CREATE TABLE database_identity ("
        " id TEXT NOT NULL PRIMARY KEY CHECK (length(id) > 0),"
        " created_at REAL NOT NULL)"
    )
    db.execute_sql(
        "INSERT INTO database_identity (id, created_at) "
        "SELECT ?, COALESCE(MIN(applied_at), 0) FROM schema_version",
        (new_database_id(),),
    )


class DatabaseIdentity(BaseModel):
    """The database's random id (one row)."""

    id = TextField(primary_key=True)
    created_at = FloatField()


MODELS = (DatabaseIdentity,)
