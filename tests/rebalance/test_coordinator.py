"""The RebalanceCoordinator with a fake lightningd and a real database:
startup reconciliation (a job left before sendpay, one whose sendpay never
reached lightningd, one that completed meanwhile: counted once), polls,
stale reservations, RefillCosts to the fee coordinator."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pykka
import pytest
from pyln.client import RpcError

from actors.messages import Dependencies, RefillCosts, Tick
from actors.rebalance import RebalanceCoordinator
from actors.rpc import RpcActor
from actors.store import StoreActor
from revops.clock import DrivenClock
from revops.config import build_startup_config
from revops.metrics import Metrics
from revops.rebalance.budget import BudgetParams
from revops.storage.repos.rebalance import NewJob
from tests.actors.fakes import FakeTransport, channel, getinfo, peer, sendpay

T0 = 1_767_225_600.0
US = peer(99)
P = BudgetParams(5_000_000, 0)


@pytest.fixture(autouse=True)
def _stop_all_actors() -> Iterator[None]:
    yield
    pykka.ActorRegistry.stop_all(timeout=10)


class Node:
    def __init__(self) -> None:
        self.payments: dict[str, list[dict[str, Any]]] = {}
        self.deleted: list[str] = []
        self.informed: list[dict[str, Any]] = []
        self.channels = [channel("100x1x0", peer(1)), channel("101x1x0", peer(2))]
        self.transport = FakeTransport({
            "getinfo": lambda p: getinfo(node_id=US),
            "listpeerchannels": lambda p: {"channels": list(self.channels)},
            "listsendpays": lambda p: {"payments": list(self.payments.get(p["payment_hash"], []))},
            "waitsendpay": self.waitsendpay,
            "delinvoice": self.delinvoice,
            "askrene-inform-channel": lambda p: self.informed.append(p) or {"constraints": [],
                                                                              "impressions": []},
            "askrene-listlayers": lambda p: {"layers": []},
            "askrene-create-layer": lambda p: {"layers": []},
            "askrene-disable-node": lambda p: {},
            "listpeers": lambda p: {"peers": []},
        })

    def delinvoice(self, p: Any) -> Any:
        self.deleted.append(p["label"])
        return {"label": p["label"], "bolt11": "lnbcrt1revops", "payment_hash": "dd" * 32,
                "amount_msat": 100_000_000, "status": p["status"], "expires_at": 1_767_312_000,
                "created_index": 1}

    def waitsendpay(self, p: Any) -> Any:
        raise RpcError("waitsendpay", p, {
            "code": 204, "message": "failed: WIRE_TEMPORARY_CHANNEL_FAILURE",
            "data": {"erring_index": 2, "erring_channel": "7x7x7", "erring_direction": 0,
                     "failcodename": "WIRE_TEMPORARY_CHANNEL_FAILURE"}})


class FeeStandIn(pykka.ThreadingActor):
    def __init__(self) -> None:
        super().__init__()
        self.got: list[Any] = []

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, RefillCosts):
            self.got.append(message)
        return None

    def refill(self) -> list[Any]:
        return list(self.got)


@pytest.fixture
def world(tmp_path):
    node = Node()
    metrics = Metrics()
    store = StoreActor.start(tmp_path / "revops.sqlite3", DrivenClock(T0))
    rpc = RpcActor.start(lambda timeout: node.transport, 10.0, metrics)
    fee = FeeStandIn.start()
    cfg = build_startup_config({"revenue-ops-rebalance-reservation-timeout": "600"}).snapshot

    def start() -> Any:
        deps = Dependencies(rpc=rpc, store=store, peers={"fee": fee})
        return RebalanceCoordinator.start(deps, cfg, metrics, None)

    return node, store.proxy(), start, fee.proxy(), metrics


def tick(ref: Any, now: float, schedule: str = "cycle") -> dict[str, Any]:
    ack: pykka.Future[Any] = pykka.ThreadingFuture()
    ref.tell(Tick(now, ack, schedule=schedule))
    return ack.get(timeout=30)


def job(store: Any, state: str, phash: str | None, fee: int = 40_000) -> int:
    new = NewJob("native", "auto", "100x1x0", "101x1x0", 100_000_000, fee, 800, 80_000, 40_000)
    job_id, why = store.rebalance_reserve(new, T0, P).get()
    assert why is None
    route = [{"id": peer(1), "channel": "100x1x0", "amount_msat": 100_040_000, "delay": 98},
             {"id": peer(3), "channel": "5x5x5", "amount_msat": 100_020_000, "delay": 58},
             {"id": peer(2), "channel": "7x7x7", "amount_msat": 100_010_000, "delay": 58},
             {"id": US, "channel": "101x1x0", "amount_msat": 100_000_000, "delay": 18}]
    if state != "reserved":
        store.rebalance_update(job_id, T0, state=state, payment_hash=phash,
                               label=f"revops-rebalance-{job_id}",
                               route=json.dumps(route)).get()
    return job_id


def test_startup_resolves_what_a_previous_run_left_open(world):
    node, store, start, fee, metrics = world
    before_send = job(store, "reserved", None)
    completed = job(store, "pending", "aa" * 32)
    failed = job(store, "pending", "bb" * 32)
    in_flight = job(store, "sending", "cc" * 32)
    lost = job(store, "sending", "dd" * 32)  # sendpay never reached lightningd
    node.payments["aa" * 32] = [sendpay("aa" * 32, "complete", 100_000_000, 100_031_000)]
    node.payments["bb" * 32] = [sendpay("bb" * 32, "failed", 100_000_000, 100_040_000)]
    node.payments["cc" * 32] = [sendpay("cc" * 32, "pending", 100_000_000, 100_040_000)]
    ref = start()
    answer = tick(ref, T0 + 60)
    rows = {j: store.rebalance_job(j).get() for j in (before_send, completed, failed, in_flight,
                                                       lost)}
    assert rows[before_send].state == "failed" and "before sendpay" in rows[before_send].reason
    assert rows[completed].state == "succeeded" and rows[completed].fee_msat == 31_000
    assert rows[failed].state == "failed" and "hop 2" in rows[failed].reason
    assert rows[in_flight].state == "sending"  # lightningd still has it: still held
    assert rows[lost].state == "sending"  # not stale before the timeout
    assert answer["in_flight"] == 2 and answer["poll_at"] == T0 + 60 + 30
    usage = store.rebalance_budget(T0 + 60, P).get()
    assert usage.windows[0].spent_msat == 31_000
    assert usage.windows[0].reserved_msat == 80_000
    # The failed one taught askrene: hop 1 passed, hop 2 did not; its invoice went.
    assert [(i["short_channel_id_dir"].split("/")[0], i["inform"]) for i in node.informed
            if i["inform"] != "succeeded"] == [("5x5x5", "unconstrained"),
                                               ("7x7x7", "constrained")]
    assert f"revops-rebalance-{failed}" in node.deleted
    assert f"revops-rebalance-{before_send}" not in node.deleted  # never had an invoice

    # A poll after the timeout: the lost one is stale and released, the other
    # completes; a later poll changes nothing.
    node.payments["cc" * 32] = [sendpay("cc" * 32, "complete", 100_000_000, 100_020_000)]
    answer = tick(ref, T0 + 700, schedule="poll")
    assert answer == {"in_flight": 0, "finished": 2}
    assert store.rebalance_job(lost).get().state == "failed"
    assert "stale" in store.rebalance_job(lost).get().reason
    assert store.rebalance_job(in_flight).get().fee_msat == 20_000
    tick(ref, T0 + 800, schedule="poll")
    usage = store.rebalance_budget(T0 + 800, P).get()
    assert (usage.windows[0].spent_msat, usage.windows[0].reserved_msat) == (51_000, 0)
    costs = store.channel_cost_list(T0).get()
    assert sorted(c[3] for c in costs) == [20_000, 31_000]
    assert metrics.sample("revops_rebalance_attempts_total", {"result": "succeeded"}) == 2


def test_a_restart_after_the_end_counts_nothing_twice(world):
    node, store, start, fee, metrics = world
    done = job(store, "pending", "ee" * 32)
    node.payments["ee" * 32] = [sendpay("ee" * 32, "complete", 100_000_000, 100_025_000)]
    ref = start()
    tick(ref, T0 + 60)
    ref.stop()
    ref = start()  # a new run sees the same payment, already counted
    tick(ref, T0 + 120)
    assert store.rebalance_budget(T0 + 120, P).get().windows[0].spent_msat == 25_000
    assert len(store.channel_cost_list(T0).get()) == 1
    assert store.rebalance_job(done).get().fee_msat == 25_000


def test_each_cycle_tells_the_fee_engine_what_refilling_cost(world):
    node, store, start, fee, metrics = world
    job(store, "pending", "ff" * 32)
    node.payments["ff" * 32] = [sendpay("ff" * 32, "complete", 100_000_000, 100_030_000)]
    ref = start()
    tick(ref, T0 + 60)
    [msg] = fee.refill().get()
    assert msg.ppm == {"101x1x0": 300}
