"""StoreActor: the one owner of the revops database connection.

Other actors call it through a proxy and get frozen dataclasses or plain
values back; it never asks another actor. Threads: ``__init__`` runs in the
caller's thread and touches nothing; ``on_start`` (open, check, migrate),
every method and ``on_stop`` (checkpoint the WAL, close) run in the actor's
own thread, which is the only thread that ever holds the connection.

If the database cannot be opened at start, the actor does not die (a dead
store restarted by its supervisor would fail the same way, in a loop): it
stays up, reports the one-line reason in ``health()``, and answers every
data call with :class:`StorageUnavailable` carrying that reason. The plugin
normally learns this earlier, from ``check_database`` during ``init``.

Each feature adds its queries as a mixin (``actors/store_fees.py``,
``store_flow.py``, ``store_rebalance.py``) over its own repos and tables, so
the features grow without touching each other.

Callers should ask (``proxy.method(...).get(timeout=...)``) for writes they
depend on: as with any pykka actor, an exception in a fire-and-forget
(``defer``) call stops the actor, whose ``on_failure`` still closes the file.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import pykka

from actors.store_fees import FeeStore
from actors.store_flow import FlowStore
from actors.store_rebalance import RebalanceStore
from revops.clock import Clock, WallClock
from revops.storage import models
from revops.storage.db import close_database, open_database
from revops.storage.errors import StorageError, StorageUnavailable, storage_errors
from revops.storage.migrations import migrate
from revops.storage.repos import actor_events, channel_states, overrides
from revops.storage.repos.actor_events import ActorEventRow
from revops.storage.repos.channel_states import ChannelStateRow
from revops.storage.repos.overrides import OverrideRow
from revops.storage.schema_identity import DatabaseIdentity

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoreHealth:
    path: str
    ok: bool
    schema_version: int  # 0 when the database could not be opened
    reason: str | None  # why not ok, one line


@dataclass(frozen=True)
class CheckpointResult:
    busy: bool  # a reader kept part of the WAL from being folded back
    wal_frames: int
    checkpointed_frames: int


def _text(name: str, value: object, *, empty_ok: bool = False) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, not {type(value).__name__}")
    if not empty_ok and not value:
        raise ValueError(f"{name} must not be empty")
    return value


class StoreActor(FeeStore, FlowStore, RebalanceStore, pykka.ThreadingActor):
    def __init__(self, path: str | os.PathLike[str], clock: Clock | None = None) -> None:
        super().__init__()
        self.path = os.fspath(path)
        self._clock: Clock = clock if clock is not None else WallClock()
        self._version = 0
        self._failure: str | None = "not started"

    # lifecycle (actor thread)

    def on_start(self) -> None:
        try:
            open_database(self.path, models.db)
            with storage_errors(self.path):
                self._version = migrate(models.db, now=self._clock.now())
        except Exception as exc:  # a bug must not become a restart loop either
            if not isinstance(exc, StorageError):
                logger.exception("opening %s", self.path)
                exc = StorageError(
                    f"revops database {self.path} failed to open: {type(exc).__name__}: {exc}"
                )
            self._failure = str(exc)
            self._close()
            logger.error("storage unavailable: %s", exc)
            return
        self._failure = None
        logger.info("storage open: %s (schema v%d)", self.path, self._version)

    def on_stop(self) -> None:
        self._close()

    def on_failure(
        self,
        exception_type: type[BaseException] | None,
        exception_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._close()

    def _close(self) -> None:
        try:
            close_database(models.db)
        except Exception as exc:  # noqa: BLE001  (closing must not raise out of a pykka hook)
            logger.warning("closing %s: %s", self.path, exc)

    def _require(self) -> None:
        if self._failure is not None:
            raise StorageUnavailable(self._failure)

    # status

    def health(self) -> StoreHealth:
        return StoreHealth(
            path=self.path,
            ok=self._failure is None,
            schema_version=self._version,
            reason=self._failure,
        )

    def schema_version(self) -> int:
        self._require()
        return self._version

    def database_id(self) -> str:
        """The database's random id (``revops/storage/schema_identity.py``)."""
        self._require()
        row = DatabaseIdentity.select().order_by(DatabaseIdentity.created_at).first()
        if row is None:
            raise StorageUnavailable(f"revops database {self.path} has no identity row")
        return str(row.id)

    def checkpoint(self) -> CheckpointResult:
        """Fold the WAL back into the database file and truncate it."""
        self._require()
        with storage_errors(self.path):
            busy, log, done = models.db.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        return CheckpointResult(busy=bool(busy), wal_frames=log, checkpointed_frames=done)

    # config overrides

    def get_overrides(self) -> dict[str, str]:
        self._require()
        with storage_errors(self.path):
            return {key: row.value for key, row in overrides.all_rows().items()}

    def get_override_rows(self) -> dict[str, OverrideRow]:
        """With who set each and when, for ``revenue-config list``."""
        self._require()
        with storage_errors(self.path):
            return overrides.all_rows()

    def set_override(self, key: str, value: str, source: str = "rpc") -> str:
        """Write, commit, read back; return the value as stored.

        On any failure nothing changes (the transaction rolls back) and the
        exception goes to the caller.
        """
        _text("key", key)
        _text("value", value, empty_ok=True)
        _text("source", source)
        self._require()
        with storage_errors(self.path):
            with models.db.atomic():
                overrides.upsert(key, value, source, self._clock.now())
            row = overrides.get(key)
        if row is None:
            raise StorageError(f"revops database {self.path}: override {key!r} not found after writing it")
        return row.value

    def delete_override(self, key: str) -> bool:
        """True when there was an override to delete."""
        _text("key", key)
        self._require()
        with storage_errors(self.path), models.db.atomic():
            return overrides.delete(key)

    # channel actor state

    def load_channel_states(self) -> dict[str, ChannelStateRow]:
        self._require()
        with storage_errors(self.path):
            return channel_states.all_rows()

    def load_channel_state(self, scid: str) -> ChannelStateRow | None:
        _text("scid", scid)
        self._require()
        with storage_errors(self.path):
            return channel_states.get(scid)

    def save_channel_state(self, scid: str, peer_id: str, state: Mapping[str, Any]) -> None:
        _text("scid", scid)
        _text("peer_id", peer_id)
        state_json = channel_states.encode_state(state)
        self._require()
        with storage_errors(self.path), models.db.atomic():
            channel_states.upsert(scid, peer_id, state_json, self._clock.now())

    def save_channel_states(self, rows: list[tuple[str, str, Mapping[str, Any]]]) -> int:
        """Save many channels' states in one transaction (a fee cycle's worth):
        all or nothing."""
        encoded = []
        for scid, peer_id, state in rows:
            _text("scid", scid)
            _text("peer_id", peer_id)
            encoded.append((scid, peer_id, channel_states.encode_state(state)))
        self._require()
        with storage_errors(self.path), models.db.atomic():
            channel_states.upsert_many(encoded, self._clock.now())
        return len(encoded)

    def delete_channel_state(self, scid: str) -> bool:
        """Prune a closed channel's state; True when there was one."""
        _text("scid", scid)
        self._require()
        with storage_errors(self.path), models.db.atomic():
            return channel_states.delete(scid)

    # supervision history

    def record_actor_event(self, ts: float, actor: str, kind: str, detail: str = "") -> int:
        """Append one event (kind: started, crashed, restarted, escalated); return its id."""
        _text("actor", actor)
        _text("detail", detail, empty_ok=True)
        if kind not in actor_events.KINDS:
            raise ValueError(f"kind must be one of {', '.join(actor_events.KINDS)}, not {kind!r}")
        self._require()
        with storage_errors(self.path), models.db.atomic():
            return actor_events.record(float(ts), actor, kind, detail)

    def actor_events(self, limit: int = 100, actor: str | None = None) -> list[ActorEventRow]:
        """Newest first, at most ``limit``, optionally one actor's only."""
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise ValueError(f"limit must be a positive integer, not {limit!r}")
        if actor is not None:
            _text("actor", actor)
        self._require()
        with storage_errors(self.path):
            return actor_events.recent(limit, actor)
