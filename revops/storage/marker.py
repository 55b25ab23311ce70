"""The marker revops leaves in lightningd's datastore: "revops has run on
this node, with the database whose id is X, at path P" (pure).

lightningd's datastore lives in lightningd's own database, so it outlives
ours. At ``init`` the plugin reads the marker before it opens its database:
a missing, zero-length or schema-less database file where the marker says
a database was is refused (the plugin disables itself with the reason and
how to recover) instead of being taken for a new one, which would lose the
rebalance budget already spent, the jobs in flight, the policies and the
overrides. Once the database is open the Supervisor writes the marker with
the database's id (``revops/storage/schema_identity.py``).

The marker is ``["revops", "database"]``, a JSON string
``{"id": ..., "path": ..., "since": ...}``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

KEY = ("revops", "database")
# How an operator removes it (lightning-cli passes a JSON array as the key).
DELETE_COMMAND = "lightning-cli deldatastore '[\"revops\",\"database\"]'"

# What is at the database path when init looks (before opening it).
MISSING, EMPTY, PRESENT = "missing", "empty", "present"


@dataclass(frozen=True)
class Marker:
    db_id: str
    path: str
    since: float  # when this database was first seen by lightningd's datastore

    def to_json(self) -> str:
        return json.dumps({"id": self.db_id, "path": self.path, "since": self.since},
                          separators=(",", ":"))


def parse(listdatastore: Any) -> Marker | None:
    """The marker from a ``listdatastore key=["revops","database"]`` answer
    (None when there is none). Something unreadable under our key is
    treated as a marker with an unknown id: revops has run here."""
    for entry in (listdatastore or {}).get("datastore") or []:
        if tuple(entry.get("key") or ()) != KEY:
            continue
        text = entry.get("string")
        try:
            raw = json.loads(text) if isinstance(text, str) else None
            return Marker(str(raw["id"]), str(raw["path"]), float(raw["since"]))
        except (ValueError, TypeError, KeyError):
            return Marker("unknown", "unknown", 0.0)
    return None


def refusal(marker: Marker | None, path: str, state: str, schema_version: int | None) -> str | None:
    """Why the database at ``path`` must not be used (None: it may).

    ``state`` is what was at ``path`` before anything opened it;
    ``schema_version`` is None when it was not opened (missing or empty),
    0 for a SQLite file with no revops schema.
    """
    if marker is None:
        return None  # first run on this node (or the marker was removed on purpose)
    if state == MISSING:
        what = "does not exist"
    elif state == EMPTY:
        what = "is empty (0 bytes)"
    elif schema_version == 0:
        what = "holds no revops tables"
    else:
        return None
    since = (datetime.fromtimestamp(marker.since, UTC).strftime("%Y-%m-%d %H:%M UTC")
             if marker.since > 0 else "an unknown date")
    where = "" if marker.path in (path, "unknown") else f" (then at {marker.path})"
    return (f"revops has run on this node before with database {marker.db_id}{where}, in use "
            f"since {since}, but {path} {what}: starting afresh would lose the rebalance "
            f"budget already spent, jobs in flight, policies and overrides. Restore the file "
            f"from a backup (or point --revenue-ops-db-path at it); to start afresh on "
            f"purpose, remove the marker with {DELETE_COMMAND} and start the plugin again")


def replaced(marker: Marker | None, db_id: str) -> bool:
    """True when the marker names another database than the one in use
    (the operator moved to another one): it is rewritten, and logged."""
    return marker is not None and marker.db_id != db_id
