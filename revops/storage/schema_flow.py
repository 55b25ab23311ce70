"""The flow feature's tables (schema v4)."""

from __future__ import annotations

from peewee import SqliteDatabase
from playhouse.migrate import SqliteMigrator

from revops.storage.base import BaseModel


def v4_flow(db: SqliteDatabase, migrator: SqliteMigrator) -> None:
    """Reserved for the flow feature's tables (written with that feature)."""


MODELS: tuple[type[BaseModel], ...] = ()
