"""The StoreActor's rebalance queries on a file database: reservations never
break the budget (also across a restart), a job ends once and its cost is
recorded once, breaker memory persists."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pykka
import pytest

from actors.store import StoreActor
from revops.clock import DrivenClock
from revops.rebalance.breaker import BreakerState
from revops.rebalance.budget import DAY, BudgetParams
from revops.storage.repos.rebalance import NewJob

T0 = 1_767_225_600.0
P = BudgetParams(daily_msat=1_000_000, weekly_msat=0)


@pytest.fixture(autouse=True)
def _stop_all_actors() -> Iterator[None]:
    yield
    pykka.ActorRegistry.stop_all(timeout=10)


def open_store(path) -> Any:
    return StoreActor.start(path, DrivenClock(T0)).proxy()


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "revops.sqlite3"


def job(max_fee: int, dest: str = "2x2x2") -> NewJob:
    return NewJob("native", "auto", "1x1x1", dest, 100_000_000, max_fee, 500, 50_000, 10_000)


def test_reservations_stop_at_the_budget(db_path):
    store = open_store(db_path)
    ids = []
    for _ in range(20):
        job_id, why = store.rebalance_reserve(job(150_000), T0, P).get()
        if job_id is None:
            assert "daily budget" in why
        else:
            ids.append(job_id)
    assert len(ids) == 6  # 6 * 150k = 900k; a 7th would make 1.05M
    u = store.rebalance_budget(T0, P).get()
    assert u.windows[0].reserved_msat == 900_000 and u.remaining_msat == 100_000


def test_the_budget_holds_across_a_restart(db_path):
    store = open_store(db_path)
    for _ in range(4):
        store.rebalance_reserve(job(200_000), T0, P).get()
    pykka.ActorRegistry.stop_all(timeout=10)
    store = open_store(db_path)  # a new run: the held reservations are still there
    assert store.rebalance_budget(T0 + 60, P).get().remaining_msat == 200_000
    assert store.rebalance_reserve(job(200_001), T0 + 60, P).get()[0] is None
    assert store.rebalance_reserve(job(200_000), T0 + 60, P).get()[0] is not None


def test_settling_spends_the_actual_fee_releasing_frees_it_and_days_roll(db_path):
    store = open_store(db_path)
    a, _ = store.rebalance_reserve(job(400_000), T0, P).get()
    b, _ = store.rebalance_reserve(job(400_000), T0, P).get()
    store.rebalance_update(a, T0, state="sending", payment_hash="aa" * 32).get()
    done = store.rebalance_finish(a, T0 + 10, True, 250_000, 100_000_000).get()
    assert done.state == "succeeded" and done.fee_msat == 250_000 and done.reserved_msat == 0
    store.rebalance_finish(b, T0 + 10, False, reason="no luck").get()
    u = store.rebalance_budget(T0 + 10, P).get()
    assert (u.windows[0].spent_msat, u.windows[0].reserved_msat) == (250_000, 0)
    assert store.rebalance_budget(T0 + 10 + DAY, P).get().windows[0].spent_msat == 0
    assert store.rebalance_job(b).get().state == "failed"


def test_a_job_ends_once_and_its_cost_is_recorded_once(db_path):
    store = open_store(db_path)
    a, _ = store.rebalance_reserve(job(400_000), T0, P).get()
    store.rebalance_update(a, T0, state="pending", payment_hash="bb" * 32).get()
    assert store.rebalance_finish(a, T0 + 5, True, 123_000, 100_000_000).get() is not None
    # the poll and the startup reconciliation both see it: the second changes nothing
    assert store.rebalance_finish(a, T0 + 6, True, 123_000, 100_000_000).get() is None
    assert store.rebalance_finish(a, T0 + 7, False).get() is None
    costs = store.channel_cost_list(T0 - 1).get()
    assert [(c[1], c[2], c[3], c[4]) for c in costs] == [("2x2x2", "rebalance", 123_000,
                                                          "bb" * 32)]
    assert store.rebalance_budget(T0 + 8, P).get().windows[0].spent_msat == 123_000
    assert store.rebalance_totals().get() == {"succeeded": 1, "failed": 0, "fee_msat": 123_000,
                                              "moved_msat": 100_000_000}


def test_a_reservation_can_shrink_but_never_grow(db_path):
    store = open_store(db_path)
    a, _ = store.rebalance_reserve(job(400_000), T0, P).get()
    store.rebalance_hold(a, 100_000).get()
    assert store.rebalance_budget(T0, P).get().windows[0].reserved_msat == 100_000
    with pytest.raises(ValueError, match="may only shrink"):
        store.rebalance_hold(a, 100_001).get()


def test_open_jobs_refill_costs_and_breakers(db_path):
    store = open_store(db_path)
    a, _ = store.rebalance_reserve(job(400_000, "3x3x3"), T0, P).get()
    b, _ = store.rebalance_reserve(job(300_000, "3x3x3"), T0, P).get()
    assert [j.id for j in store.rebalance_open_jobs().get()] == [a, b]
    store.rebalance_update(a, T0, state="pending", payment_hash="cc" * 32).get()
    store.rebalance_finish(a, T0 + 1, True, 50_000, 100_000_000).get()
    assert store.rebalance_refill_costs(T0).get() == {"3x3x3": (50_000, 100_000_000)}
    assert [j.id for j in store.rebalance_open_jobs().get()] == [b]
    store.rebalance_save_breakers([BreakerState("3x3x3", 4), BreakerState("4x4x4", 0, T0 + 9)],
                                  T0).get()
    pykka.ActorRegistry.stop_all(timeout=10)
    store = open_store(db_path)
    assert store.rebalance_breakers().get() == {
        "3x3x3": BreakerState("3x3x3", 4), "4x4x4": BreakerState("4x4x4", 0, T0 + 9)}
    assert store.rebalance_delete_breakers(["4x4x4"]).get() == 1
    assert set(store.rebalance_breakers().get()) == {"3x3x3"}
