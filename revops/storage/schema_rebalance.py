"""The rebalance feature's tables (schema v5)."""

from __future__ import annotations

from peewee import SqliteDatabase
from playhouse.migrate import SqliteMigrator

from revops.storage.base import BaseModel


def v5_rebalance(db: SqliteDatabase, migrator: SqliteMigrator) -> None:
    """Reserved for the rebalance feature's tables (written with that feature)."""


MODELS: tuple[type[BaseModel], ...] = ()
