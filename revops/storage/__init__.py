"""revops storage: one SQLite file (WAL), peewee models, versioned migrations.

Only the StoreActor (``actors/store.py``) holds a connection; everyone else
asks it and gets frozen dataclasses back. The plugin calls
``check_database(path)`` while answering ``init`` so that an unusable file
disables the plugin with the reason instead of failing later.

- ``errors``: StorageError, one-line reasons
- ``db``: path, pragmas, opening and its checks, clean close
- ``migrations``: schema versions and how to add one
- ``models``: the current schema as peewee models
- ``repos``: the queries, one module per table
"""

from revops.storage.db import (
    DB_FILENAME,
    PRAGMAS,
    check_database,
    close_database,
    default_db_path,
    open_database,
    resolve_db_path,
)
from revops.storage.errors import StorageError, StorageUnavailable
from revops.storage.migrations import (
    LATEST_VERSION,
    MIGRATIONS,
    current_version,
    migrate,
)
from revops.storage.repos.actor_events import ActorEventRow
from revops.storage.repos.channel_states import ChannelStateRow
from revops.storage.repos.overrides import OverrideRow

__all__ = [
    "DB_FILENAME",
    "LATEST_VERSION",
    "MIGRATIONS",
    "PRAGMAS",
    "ActorEventRow",
    "ChannelStateRow",
    "OverrideRow",
    "StorageError",
    "StorageUnavailable",
    "check_database",
    "close_database",
    "current_version",
    "default_db_path",
    "migrate",
    "open_database",
    "resolve_db_path",
]
