"""The deferred database handle and the base model every table's model
derives from (see ``models.py`` for why it never connects by itself)."""

from __future__ import annotations

from peewee import Model, SqliteDatabase

db = SqliteDatabase(None, autoconnect=False)


class BaseModel(Model):
    class Meta:
        database = db
        legacy_table_names = False
