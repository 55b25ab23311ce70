"""Crash consistency: the plugin SIGKILLed at randomised points (seeded, so
every run kills at the same moments) while it hydrates the forwards
history, while a fee cycle has ``setchannel`` calls in flight, and while a
rebalance is being started, then started again; after each, the invariants
are checked against the simulated node's own ledger (``dev-ledger``):

- no fee marked broadcast that was not: per channel, revops' history has
  no more ``broadcast`` changes than the node applied, and when as many,
  the last one is the node's fee;
- no msat lost or double-counted: every forward stored once, exactly the
  node's; the rebalance fees revops counts (jobs, budget) are the node's;
- no budget overrun: spent + reserved never above the limit, and the node
  never paid more than it;
- no invoice label reused: every job has its own, none refused as a
  duplicate.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from pyln.client import RpcError

from revops.sim.cli import default_plugin_command
from revops.sim.harness import Sim
from tests.e2e.conftest import BASE_OPTIONS
from tests.e2e.test_flow_e2e import listforwards_all, stored_forwards
from tests.e2e.test_rebalance_e2e import (
    FAST,
    REFILL,
    chans,
    ledger,
    pin_sink,
    plugin_pid,
    restart_plugin,
    status,
    wait_gone,
)

pytestmark = pytest.mark.e2e

SMALL = Path(__file__).parents[1] / "e2e" / "scenarios" / "small.toml"


def kill_after(sim: Sim, delay: float, call: Any) -> None:
    """Run ``call`` (a plugin command) in a thread and SIGKILL the plugin
    ``delay`` seconds later, whatever it is doing; wait until lightningd
    has seen it go."""
    pid = plugin_pid(sim)
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(call())
        except (RpcError, OSError, ValueError) as e:
            outcome.append(e)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    time.sleep(delay)
    os.kill(pid, signal.SIGKILL)
    worker.join(60)
    wait_gone(sim)


def start_again(sim: Sim, options: dict[str, str]) -> None:
    restart_plugin(sim, default_plugin_command(), options)


# -- hydration ---------------------------------------------------------------------------------

HYDRATE = {"revenue-ops-flow-page-size": "250", "revenue-ops-flow-hydration-rows-per-cycle": "1000",
           "revenue-ops-flow-retention-days": "36500"}
HISTORY = 40_000


@pytest.mark.parametrize("seed", [1501])
def test_killed_while_hydrating_forwards_stores_each_forward_once(revops_sim, seed):
    rng = random.Random(seed)
    sim = revops_sim(HYDRATE, channels=12, forwards=HISTORY, validate=False)
    for _ in range(2):
        # A flow cycle hydrates 1,000 rows in pages of 250, one cycle per
        # 10-minute step: two hours of steps cover 12,000 of the 40,000, so
        # pages are being written when the kill comes.
        kill_after(sim, rng.uniform(0.05, 0.5), lambda: sim.advance(hours=2))
        start_again(sim, HYDRATE)
    sim.advance(hours=12)
    s = sim.rpc.call("revenue-forwards-sync")
    assert s["hydration"]["state"] == "done" and s["lag_forwards"] == 0
    assert s["hydration"]["hydrated"] == HISTORY
    truth = listforwards_all(sim)
    assert stored_forwards(sim) == truth  # each once, none lost, statuses current
    assert s["stored_forwards"] == len(truth)


# -- a fee cycle with setchannel in flight ---------------------------------------------------------

FEES = {"revenue-ops-fee-interval": "3600", "revenue-ops-hill-climb-window-hours": "2",
        "revenue-ops-fee-hysteresis": "0"}


def check_fees(sim: Sim) -> None:
    history = sim.rpc.call("revenue-history", {"limit": 10_000})["history"]
    node = {c["scid"]: c for c in sim.rpc.call("dev-ledger")["channels"]}
    for scid, ch in node.items():
        mine = [h for h in history if h["scid"] == scid and h["outcome"] == "broadcast"]
        assert len(mine) <= ch["fee_updates"], (scid, mine, ch["fee_updates"])
        if mine and len(mine) == ch["fee_updates"]:
            last = max(mine, key=lambda h: h["ts"])
            assert last["new_fee_ppm"] == ch["final_fee_ppm"], (scid, last, ch)


@pytest.mark.parametrize("seed", [2601, 2602])
def test_killed_mid_fee_cycle_never_marks_an_unsent_fee_broadcast(revops_sim, seed):
    rng = random.Random(seed)
    sim = revops_sim(FEES, scenario=SMALL)
    sim.advance(hours=1)
    for _ in range(2):
        # Every setchannel takes 0.25 s: the cycle has calls in flight when killed.
        sim.rpc.call("dev-fault", {"method": "setchannel", "latency": 0.25,
                                   "error_rate": 0.0})
        for c in sim.rpc.call("dev-ledger")["channels"]:
            # Prices the engine will move: a fresh target for every channel.
            sim.rpc.call("revenue-set-fee", [c["scid"], rng.randint(50, 900)])
        kill_after(sim, rng.uniform(0.05, 1.2), lambda: sim.rpc.call("revenue-fee-cycle"))
        sim.rpc.call("dev-fault", {"method": "setchannel", "clear": True})
        start_again(sim, FEES)
        check_fees(sim)  # what the killed run wrote
        sim.advance(hours=2)
        check_fees(sim)
    assert sim.rpc.call("revenue-status")["started"] is True


# -- a rebalance in flight -----------------------------------------------------------------------

BUDGET_SAT = 200


def check_money(sim: Sim) -> None:
    led = ledger(sim)
    st = status(sim)
    jobs = st["recent"] + st["in_flight"]
    done = [j for j in st["recent"] if j["state"] == "succeeded"]
    assert sum(j["fee_msat"] for j in done) == led["rebalance_cost_msat"]
    assert led["rebalance_cost_msat"] <= BUDGET_SAT * 1000
    window = sim.rpc.call("revenue-budget")["windows"][0]
    assert window["spent_msat"] == led["rebalance_cost_msat"]
    assert window["spent_msat"] + window["reserved_msat"] <= BUDGET_SAT * 1000
    assert not any("Duplicate label" in (j.get("reason") or "") for j in jobs)
    labels = [i["label"] for i in sim.rpc.call("listinvoices")["invoices"]
              if i["label"].startswith("revops-rebalance-")]
    assert len(labels) == len(set(labels))


@pytest.mark.parametrize("seed", [3701, 3702])
def test_killed_while_starting_a_rebalance_counts_every_msat_once(refill_sim, seed):
    rng = random.Random(seed)
    options = {**FAST, "revenue-ops-rebalance-budget-daily-sats": str(BUDGET_SAT)}
    sim = refill_sim(options)
    pin_sink(sim)
    sim.rpc.call("dev-payments", {"success_rate": 1.0, "hold_min_s": 60, "hold_max_s": 600})
    c = chans(sim)
    for step in range(2):
        # invoice and sendpay each take a moment: the kill lands somewhere in
        # the start (before the invoice, between invoice and sendpay, after).
        for method in ("invoice", "sendpay"):
            sim.rpc.call("dev-fault", {"method": method, "latency": 0.3, "error_rate": 0.0})
        source = c["src"]["scid"] if step == 0 else c["src-b"]["scid"]
        kill_after(sim, rng.uniform(0.05, 0.9), lambda source=source: sim.rpc.call(
            "revenue-rebalance", [source, c["sink"]["scid"], 100_000, 1000]))
        for method in ("invoice", "sendpay"):
            sim.rpc.call("dev-fault", {"method": method, "clear": True})
        sim.advance(hours=0.25)  # the node carries on without the plugin
        start_again(sim, options)
        sim.advance(hours=0.5)  # reconciliation, then cycles
        check_money(sim)
    sim.advance(hours=2)
    check_money(sim)
    assert status(sim)["in_flight"] == []


@pytest.fixture
def refill_sim(revops_sim):
    def start(options: dict[str, str]) -> Sim:
        return revops_sim({**BASE_OPTIONS, **options}, scenario=REFILL)
    return start
