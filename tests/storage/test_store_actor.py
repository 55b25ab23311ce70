"""StoreActor through its proxy: overrides, channel state, supervision events, lifecycle."""

from __future__ import annotations

import math
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pykka
import pytest
from peewee import InterfaceError

from actors.store import CheckpointResult, StoreActor, StoreHealth
from revops.clock import DrivenClock
from revops.storage import (
    LATEST_VERSION,
    ChannelStateRow,
    StorageError,
    StorageUnavailable,
)
from revops.storage.models import ConfigOverride
from revops.storage.repos import actor_events

from .v1_schema import V1_CHANNEL_STATES, V1_OVERRIDES, build_v1_database

T = 5.0  # every ask waits at most this long; a healthy call takes milliseconds
START = 1_800_000_000.0
PEER = "02" + "11" * 32


@pytest.fixture
def clock() -> DrivenClock:
    return DrivenClock(START)


@pytest.fixture
def store(db_path: Path, clock: DrivenClock) -> Iterator[pykka.ActorProxy[StoreActor]]:
    ref = StoreActor.start(db_path, clock=clock)
    yield ref.proxy()
    if ref.is_alive():
        ref.stop(timeout=T)


def _state(fee_ppm: int, **extra: object) -> dict[str, object]:
    return {"version": 1, "hill": {"fee_ppm": fee_ppm, "step_ppm": 25}, **extra}


def test_opens_migrates_and_reports(store: pykka.ActorProxy[StoreActor], db_path: Path) -> None:
    assert store.schema_version().get(timeout=T) == LATEST_VERSION
    assert store.path.get(timeout=T) == str(db_path)
    assert store.health().get(timeout=T) == StoreHealth(
        path=str(db_path), ok=True, schema_version=LATEST_VERSION, reason=None
    )


def test_overrides_roundtrip(store: pykka.ActorProxy[StoreActor], clock: DrivenClock) -> None:
    assert store.get_overrides().get(timeout=T) == {}
    assert store.set_override("fee-interval", "600").get(timeout=T) == "600"
    clock.advance_to(START + 60)
    assert store.set_override("dry-run", "true", source="startup").get(timeout=T) == "true"
    assert store.get_overrides().get(timeout=T) == {"dry-run": "true", "fee-interval": "600"}

    clock.advance_to(START + 120)
    assert store.set_override("fee-interval", "900").get(timeout=T) == "900"
    rows = store.get_override_rows().get(timeout=T)
    assert (rows["fee-interval"].value, rows["fee-interval"].source, rows["fee-interval"].updated_at) == (
        "900",
        "rpc",
        START + 120,
    )
    assert (rows["dry-run"].source, rows["dry-run"].updated_at) == ("startup", START + 60)

    assert store.delete_override("fee-interval").get(timeout=T) is True
    assert store.delete_override("fee-interval").get(timeout=T) is False
    assert store.get_overrides().get(timeout=T) == {"dry-run": "true"}


@pytest.mark.parametrize(
    ("key", "value", "error"),
    [
        ("fee-interval", 900, TypeError),
        ("fee-interval", None, TypeError),
        (7, "900", TypeError),
        ("", "900", ValueError),
    ],
)
def test_set_with_wrong_types_changes_nothing(
    store: pykka.ActorProxy[StoreActor], key: object, value: object, error: type[Exception]
) -> None:
    store.set_override("fee-interval", "600").get(timeout=T)
    with pytest.raises(error):
        store.set_override(key, value).get(timeout=T)
    assert store.get_overrides().get(timeout=T) == {"fee-interval": "600"}


def test_set_refused_by_the_database_leaves_the_old_value(
    store: pykka.ActorProxy[StoreActor], db_path: Path
) -> None:
    store.set_override("fee-interval", "600").get(timeout=T)
    # A constraint the store knows nothing about, added from outside as
    # another process could: the write fails inside SQLite.
    conn = sqlite3.connect(db_path)
    conn.executescript(
        "CREATE TRIGGER refuse_update BEFORE UPDATE ON config_override WHEN NEW.value = 'boom'"
        " BEGIN SELECT RAISE(ABORT, 'refused by test trigger'); END;"
        "CREATE TRIGGER refuse_insert BEFORE INSERT ON config_override WHEN NEW.value = 'boom'"
        " BEGIN SELECT RAISE(ABORT, 'refused by test trigger'); END;"
    )
    conn.close()

    with pytest.raises(StorageError, match="refused by test trigger"):
        store.set_override("fee-interval", "boom").get(timeout=T)
    with pytest.raises(StorageError, match="refused by test trigger"):
        store.set_override("new-key", "boom").get(timeout=T)
    assert store.get_overrides().get(timeout=T) == {"fee-interval": "600"}
    # the actor lives on and keeps writing
    assert store.set_override("fee-interval", "700").get(timeout=T) == "700"


def test_overrides_and_states_survive_a_restart(db_path: Path, clock: DrivenClock) -> None:
    first = StoreActor.start(db_path, clock=clock).proxy()
    first.set_override("max-fee-ppm", "2500").get(timeout=T)
    first.save_channel_state("800000x1x0", PEER, _state(321)).get(timeout=T)
    first.stop()

    second = StoreActor.start(db_path, clock=clock).proxy()
    assert second.get_overrides().get(timeout=T) == {"max-fee-ppm": "2500"}
    assert second.load_channel_state("800000x1x0").get(timeout=T).state == _state(321)


def test_v1_rows_are_served_after_migration(db_path: Path) -> None:
    build_v1_database(db_path)
    store = StoreActor.start(db_path).proxy()
    assert store.schema_version().get(timeout=T) == LATEST_VERSION
    assert store.get_overrides().get(timeout=T) == {key: value for key, value, _ in V1_OVERRIDES}
    states = store.load_channel_states().get(timeout=T)
    assert len(states) == len(V1_CHANNEL_STATES)
    for scid, peer_id, state_json, updated_at in V1_CHANNEL_STATES:
        assert states[scid] == ChannelStateRow(scid, peer_id, state_json, updated_at)


def test_channel_state_save_load_delete(store: pykka.ActorProxy[StoreActor], clock: DrivenClock) -> None:
    store.save_channel_state("800000x1x0", PEER, _state(100, probe={"active": False})).get(timeout=T)
    store.save_channel_state("800001x2x1", PEER, _state(250)).get(timeout=T)

    one = store.load_channel_state("800000x1x0").get(timeout=T)
    assert (one.scid, one.peer_id, one.updated_at, one.state_version) == ("800000x1x0", PEER, START, 1)
    assert one.state == _state(100, probe={"active": False})
    one.state["hill"]["fee_ppm"] = 1  # a caller's copy; the row does not change
    assert one.state["hill"]["fee_ppm"] == 100

    clock.advance_to(START + 600)
    store.save_channel_state("800000x1x0", PEER, _state(140)).get(timeout=T)
    states = store.load_channel_states().get(timeout=T)
    assert sorted(states) == ["800000x1x0", "800001x2x1"]
    assert (states["800000x1x0"].state, states["800000x1x0"].updated_at) == (_state(140), START + 600)

    assert store.delete_channel_state("800000x1x0").get(timeout=T) is True
    assert store.delete_channel_state("800000x1x0").get(timeout=T) is False
    assert store.load_channel_state("800000x1x0").get(timeout=T) is None
    assert sorted(store.load_channel_states().get(timeout=T)) == ["800001x2x1"]


@pytest.mark.parametrize(
    ("state", "error"),
    [
        ({"hill": {"fee_ppm": 5}}, ValueError),  # no version
        ({"version": "1"}, ValueError),
        ({"version": True}, ValueError),
        ({"version": 1, "fee_ppm": math.nan}, ValueError),
        ({"version": 1, "fee_ppm": math.inf}, ValueError),
        ({"version": 1, "when": object()}, TypeError),
        ([("version", 1)], TypeError),
    ],
)
def test_bad_channel_state_is_refused_and_the_old_one_kept(
    store: pykka.ActorProxy[StoreActor], state: object, error: type[Exception]
) -> None:
    store.save_channel_state("800000x1x0", PEER, _state(100)).get(timeout=T)
    with pytest.raises(error):
        store.save_channel_state("800000x1x0", PEER, state).get(timeout=T)
    assert store.load_channel_state("800000x1x0").get(timeout=T).state == _state(100)


def test_actor_events_newest_first_and_by_actor(store: pykka.ActorProxy[StoreActor]) -> None:
    ids = [
        store.record_actor_event(START + 1, "RpcActor", "started", "").get(timeout=T),
        store.record_actor_event(START + 2, "FeeCoordinator", "started").get(timeout=T),
        store.record_actor_event(START + 3, "RpcActor", "crashed", "TimeoutError: listpeerchannels").get(timeout=T),
        store.record_actor_event(START + 4, "RpcActor", "restarted", "attempt 1 of 3").get(timeout=T),
    ]
    assert ids == sorted(ids)
    events = store.actor_events(10).get(timeout=T)
    assert [(e.ts, e.actor, e.kind) for e in events] == [
        (START + 4, "RpcActor", "restarted"),
        (START + 3, "RpcActor", "crashed"),
        (START + 2, "FeeCoordinator", "started"),
        (START + 1, "RpcActor", "started"),
    ]
    assert events[1].detail == "TimeoutError: listpeerchannels"
    assert [e.kind for e in store.actor_events(2, actor="RpcActor").get(timeout=T)] == ["restarted", "crashed"]

    with pytest.raises(ValueError, match="kind must be one of started, crashed, restarted, escalated"):
        store.record_actor_event(START + 5, "RpcActor", "exploded", "").get(timeout=T)
    with pytest.raises(ValueError, match="limit"):
        store.actor_events(0).get(timeout=T)
    assert len(store.actor_events(10).get(timeout=T)) == 4


def test_actor_events_are_bounded(store: pykka.ActorProxy[StoreActor], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(actor_events, "KEEP", 3)
    for i in range(7):
        store.record_actor_event(START + i, "RpcActor", "crashed", f"#{i}").get(timeout=T)
    assert [e.detail for e in store.actor_events(100).get(timeout=T)] == ["#6", "#5", "#4"]


def test_checkpoint_folds_the_wal_back(store: pykka.ActorProxy[StoreActor], db_path: Path) -> None:
    for i in range(50):
        store.save_channel_state(f"{i}x1x0", PEER, _state(i)).get(timeout=T)
    wal = Path(f"{db_path}-wal")
    assert wal.stat().st_size > 0
    result = store.checkpoint().get(timeout=T)
    assert isinstance(result, CheckpointResult) and result.busy is False
    assert wal.stat().st_size == 0


def test_stop_checkpoints_and_closes(db_path: Path) -> None:
    ref = StoreActor.start(db_path)
    store = ref.proxy()
    for i in range(50):
        store.save_channel_state(f"{i}x1x0", PEER, _state(i)).get(timeout=T)
    assert Path(f"{db_path}-wal").stat().st_size > 0
    ref.stop(timeout=T)
    wal = Path(f"{db_path}-wal")
    assert not wal.exists() or wal.stat().st_size == 0
    # everything is in the main file: read it with the WAL out of the picture
    conn = sqlite3.connect(f"file:{db_path}?immutable=1", uri=True)
    assert conn.execute("SELECT COUNT(*) FROM channel_state").fetchone() == (50,)
    conn.close()


def test_a_crash_in_a_deferred_call_still_closes_the_database(db_path: Path) -> None:
    ref = StoreActor.start(db_path)
    store = ref.proxy()
    for i in range(20):
        store.save_channel_state(f"{i}x1x0", PEER, _state(i)).get(timeout=T)
    store.set_override.defer("fee-interval", 900)  # TypeError with nobody to tell: pykka stops the actor
    assert ref.actor_stopped.wait(timeout=T)
    # actor_stopped is set before on_failure runs; the thread ends after it
    for thread in threading.enumerate():
        if thread.name.startswith("StoreActor-"):
            thread.join(timeout=T)
    wal = Path(f"{db_path}-wal")
    assert not wal.exists() or wal.stat().st_size == 0


def test_only_the_actor_thread_holds_a_connection(store: pykka.ActorProxy[StoreActor]) -> None:
    store.set_override("fee-interval", "600").get(timeout=T)
    assert threading.current_thread() is threading.main_thread()
    with pytest.raises(InterfaceError):
        ConfigOverride.select().count()


@pytest.mark.parametrize("kind", ["garbage", "newer"])
def test_unusable_database_keeps_the_actor_up_and_says_why(db_path: Path, kind: str) -> None:
    if kind == "garbage":
        db_path.write_bytes(b"not a database at all" * 100)
        expected = "is not a SQLite database"
    else:
        build_v1_database(db_path)
        conn = sqlite3.connect(db_path)
        conn.execute("INSERT INTO schema_version VALUES (99, 0)")
        conn.commit()
        conn.close()
        expected = f"database schema v99 is newer than this revops (v{LATEST_VERSION})"

    ref = StoreActor.start(db_path)
    store = ref.proxy()
    health = store.health().get(timeout=T)
    assert (health.ok, health.schema_version) == (False, 0)
    assert expected in health.reason and "\n" not in health.reason
    for call in (store.get_overrides, store.load_channel_states, store.schema_version, store.checkpoint):
        with pytest.raises(StorageUnavailable) as err:
            call().get(timeout=T)
        assert str(err.value) == health.reason
    with pytest.raises(StorageUnavailable):
        store.set_override("fee-interval", "600").get(timeout=T)
    # no crash, so nothing for a supervisor to restart in a loop
    assert ref.is_alive()
    ref.stop(timeout=T)
    assert not Path(f"{db_path}-wal").exists()


def test_an_unexpected_error_at_start_is_reported_not_looped(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_migrate(db: object, now: float) -> int:
        raise RuntimeError("bug in a migration\nsecond line")

    monkeypatch.setattr("actors.store.migrate", broken_migrate)
    ref = StoreActor.start(db_path)
    health = ref.proxy().health().get(timeout=T)
    assert health.ok is False
    assert health.reason == f"revops database {db_path} failed to open: RuntimeError: bug in a migration second line"
    with pytest.raises(StorageUnavailable):
        ref.proxy().get_overrides().get(timeout=T)
    assert ref.is_alive()
