"""The FlowCoordinator driven by ticks and commands, with a fake lightningd
at the RPC seam and a real StoreActor on a file database."""

from __future__ import annotations

import logging

from typing import Any

import pykka
import pytest
from prometheus_client import CollectorRegistry
from pyln.client.plugin import RpcException

from actors.flow import FlowCoordinator
from actors.messages import (
    Command,
    Dependencies,
    EconomicsUpdate,
    FeeStateUpdate,
    Notification,
    Ping,
    RunSoon,
    Tick,
)
from actors.rpc import RpcActor
from actors.store import StoreActor
from revops.clock import DrivenClock
from revops.config import build_startup_config
from revops.flow.classes import ChannelFlow
from revops.flow.commands import FLOW_COMMANDS
from revops.jsonrpc import bind_params
from revops.metrics import Metrics
from tests.actors.fakes import FakeRequest
from tests.flow.conftest import DAY, HOUR, T0
from tests.flow.fake_node import FakeNode

SPECS = {c.name: c for c in FLOW_COMMANDS}
BASE = {"revenue-ops-metrics-address": "off", "revenue-ops-flow-page-size": "100",
        "revenue-ops-flow-hydration-rows-per-cycle": "1000"}


class Recorder(pykka.ThreadingActor):
    """Stands in for a peer coordinator or the Supervisor: keeps what it is told."""

    use_daemon_thread = True

    def __init__(self) -> None:
        super().__init__()
        self.got: list[Any] = []

    def on_receive(self, message: Any) -> Any:
        if message == "get":
            return list(self.got)
        self.got.append(message)
        return None


class Flow:
    """A FlowCoordinator with its RpcActor, StoreActor, peers and parent."""

    def __init__(self, tmp_path: Any, node: FakeNode, options: dict[str, str] | None = None,
                 metrics: Metrics | None = None) -> None:
        self.node = node
        self.metrics = metrics or Metrics(CollectorRegistry())
        self.store_ref = StoreActor.start(tmp_path / "revops.sqlite3", DrivenClock(T0))
        self.rpc_ref = RpcActor.start(lambda timeout: node.transport, 30.0, self.metrics)
        self.peers = {"fee": Recorder.start(), "rebalance": Recorder.start()}
        self.parent = Recorder.start()
        self.config = build_startup_config({**BASE, **(options or {})}).snapshot
        self.ref = FlowCoordinator.start(
            Dependencies(self.rpc_ref, self.store_ref, dict(self.peers)), self.config,
            self.metrics, self.parent)

    @property
    def store(self) -> Any:
        return self.store_ref.proxy()

    def tick(self, now: float) -> dict[str, Any]:
        ack: pykka.Future[Any] = pykka.ThreadingFuture()
        self.ref.tell(Tick(now, ack))
        return ack.get(timeout=60)

    def command(self, name: str, now: float, params: Any = None) -> Any:
        bound = bind_params(SPECS[name].params, params if params is not None else {})
        req = FakeRequest(name)
        self.ref.tell(Command(name, bound, req, now))
        return req.wait()

    def told(self, who: str) -> list[Any]:
        ref = self.parent if who == "parent" else self.peers[who]
        return ref.ask("get", timeout=10)

    def stored(self) -> dict[int, tuple[str, int | None]]:
        rows = self.store.flow_forwards(1, 10**9).get()
        return {f.created_index: (f.status_name, f.fee_msat) for f in rows}

    def stop(self) -> None:
        for ref in (self.ref, self.rpc_ref, self.store_ref, self.parent, *self.peers.values()):
            if ref.is_alive():
                ref.stop()

    def sample(self, name: str, **labels: str) -> float | None:
        return self.metrics.sample(name, labels)


def history(node: FakeNode, n: int, days: float = 20.0, end: float = T0) -> None:
    """``n`` forwards spread evenly over ``days`` before ``end``: three in
    four settled, one in eight failed downstream, one in eight local
    failures for lack of liquidity."""
    a, b, c = node.scids
    step = days * DAY / n
    for i in range(n):
        t = end - days * DAY + i * step
        kind = i % 8
        if kind == 6:
            node.add(a, b, "failed", 2_000_100, 2_000_000, t)
        elif kind == 7:
            node.add(a, c, "local_failed", 500_050, None, t, failcode=4103)
        else:
            out = [b, c, a][i % 3]
            src = a if out != a else b
            node.add(src, out, "settled", 1_000_000 + 100 * (i % 5 + 1), 1_000_000, t)


def expected(node: FakeNode) -> dict[int, tuple[str, int | None]]:
    return {r["created_index"]: (r["status"], r.get("fee_msat")) for r in node.rows}


@pytest.fixture
def node() -> FakeNode:
    return FakeNode()


@pytest.fixture
def flow(tmp_path, node):
    f = Flow(tmp_path, node)
    yield f
    f.stop()


# -- hydration ---------------------------------------------------------------------------

def test_history_is_hydrated_newest_first_over_bounded_cycles(flow, node):
    history(node, 2500)
    out = flow.tick(T0)
    assert out["history_rows"] == 1000 and out["hydrating"] is True
    assert set(flow.stored()) == set(range(1501, 2501))  # the newest 1000
    assert any(isinstance(m, RunSoon) and m.coordinator == "flow" for m in flow.told("parent"))
    flow.tick(T0 + 300)
    flow.tick(T0 + 600)
    out = flow.tick(T0 + 900)
    assert out["hydrating"] is False and out["sync_lag"] == 0
    assert flow.stored() == expected(node)
    history_calls = [p for m, p in node.transport.calls
                     if m == "listforwards" and p["index"] == "created" and p["start"] <= 2500]
    assert all(p["limit"] <= 100 for p in history_calls)
    assert not any(p.get("index") is None for m, p in node.transport.calls
                   if m == "listforwards")  # never unpaginated


def test_an_interrupted_hydration_resumes_and_stores_each_forward_once(tmp_path, node):
    history(node, 2500)
    # An old HTLC still in flight when hydration starts.
    old = node.rows[99]
    old["status"] = "offered"
    del old["updated_index"], old["resolved_time"]
    first = Flow(tmp_path, node)
    first.tick(T0)
    # The 3rd page of the next cycle fails: what came before it stays stored.
    calls = {"n": 0}

    def third_history_page(p: Any) -> bool:
        if p.get("index") == "created" and p["start"] <= 1500:
            calls["n"] += 1
            return calls["n"] == 3
        return False

    node.faults["listforwards"] = third_history_page
    out = first.tick(T0 + 300)
    assert "injected fault" in out["sync_error"]
    assert set(first.stored()) == set(range(1301, 2501))
    first.stop()  # the plugin goes away mid-hydration
    del node.faults["listforwards"]
    # Meanwhile: new forwards, and a status change of an old one.
    a, b, _ = node.scids
    late = node.add(a, b, "offered", 1_000_500, 1_000_000, T0 + 400)
    node.resolve(late, "settled", T0 + 401)
    node.resolve(100, "failed", T0 + 402)  # not hydrated yet: stored early, then kept

    second = Flow(tmp_path, node)
    starts = []
    for k in range(4):
        second.tick(T0 + 600 + k * 300)
    for m, p in node.transport.calls:
        if m == "listforwards" and p["index"] == "created" and p["start"] < 1301:
            starts.append(p["start"])
    assert max(starts) == 1201  # resumed below what was stored, never refetched it
    assert second.stored() == expected(node)
    assert second.stored()[100] == ("failed", 500)
    # The buckets kept page by page equal the buckets computed from scratch.
    days = range(int((T0 - 21 * DAY) // DAY), int(T0 // DAY) + 2)
    assert second.store.flow_rebuild_days(list(days)).get().empty
    assert second.command("revenue-forwards-sync", T0 + 2000)["stored_forwards"] == 2501
    second.stop()


def test_status_changes_are_applied_in_place(flow, node):
    a, b, _ = node.scids
    first = node.add(a, b, "offered", 1_000_700, 1_000_000, T0 - HOUR)
    flow.tick(T0)
    assert flow.stored() == {first: ("offered", 700)}
    node.resolve(first, "settled", T0 + 10)
    flow.tick(T0 + 600)
    assert flow.stored() == {first: ("settled", 700)}
    assert flow.sample("revops_revenue_msat_total") == 700


def test_forward_events_bring_new_forwards_without_waiting_for_a_cycle(flow, node):
    a, b, _ = node.scids
    flow.tick(T0)
    created = node.add(a, b, "settled", 1_000_300, 1_000_000, T0 + 5)

    def handled() -> None:
        # A sync asked for while handling a message queues behind what is
        # already queued: the second barrier passes after it.
        flow.ref.ask(Ping(), timeout=10)
        flow.ref.ask(Ping(), timeout=10)

    flow.ref.tell(Notification("forward_event", {"status": "settled"}, T0 + 6))
    handled()
    assert created not in flow.stored()  # a sync ran a few seconds ago: not yet
    before = len(node.transport.calls)
    for _ in range(3):  # a burst of events: coalesced
        flow.ref.tell(Notification("forward_event", {"status": "settled"}, T0 + 61))
    handled()
    assert flow.stored() == {created: ("settled", 300)}
    syncs = [p for m, p in node.transport.calls[before:] if m == "listforwards"
             and p["index"] == "created"]
    assert len(syncs) == 1


def test_without_wait_the_top_index_is_found_by_probing(flow, node):
    node.has_wait = False
    history(node, 777)
    flow.tick(T0)
    assert flow.stored() == expected(node)


# -- figures ---------------------------------------------------------------------------------

def test_economics_and_flows_are_told_to_the_fee_and_rebalance_coordinators(flow, node):
    history(node, 400, days=10)
    flow.tick(T0)
    for peer in ("fee", "rebalance"):
        (msg,) = [m for m in flow.told(peer) if isinstance(m, EconomicsUpdate)]
        assert msg.now == T0 and set(msg.economics) == set(node.scids)
        assert set(msg.flows) == set(node.scids)
        for scid, econ in msg.economics.items():
            f = msg.flows[scid]
            assert isinstance(f, ChannelFlow)
            assert econ.revenue_30d_msat == node.fee_by_out().get(scid, 0) == f.revenue_30d_msat
            assert econ.cost_30d_msat == 0 and econ.underwater_days == 0.0
            # funded at block 100+i, the tip at 100 + 144 * 100: about 100 days
            assert 99.9 < econ.days_open <= 100.0
            assert econ.outbound_volume_7d_msat == f.out_volume_7d_msat
            assert econ.klass in ("profitable", "break-even", "stagnant")
    a, _b, c = node.scids
    flows = next(m for m in flow.told("rebalance") if isinstance(m, EconomicsUpdate)).flows
    # Every eighth forward failed locally on c for lack of liquidity; the
    # 7-day window at midnight is the 7 previous whole days.
    assert flows[c].liquidity_failed_out_7d == sum(
        1 for r in node.rows if r["status"] == "local_failed"
        and r["received_time"] >= T0 - 7 * DAY) > 0
    assert flows[a].local_failed_out_7d == 0


def test_zombies_come_from_the_fee_engine(flow, node):
    history(node, 100, days=5)
    scid = node.scids[0]
    flow.ref.tell(FeeStateUpdate(T0, {}, zombies=frozenset({scid})))
    flow.tick(T0)
    out = flow.command("revenue-profitability", T0, {"channel": scid})
    assert out["channels"][0]["class"] == "zombie"
    assert flow.sample("revops_channel_class", scid=scid, **{"class": "zombie"}) == 1


def test_costs_make_bleeders_and_reach_the_dashboard(flow, node):
    history(node, 200, days=5)
    a = node.scids[0]
    assert flow.store.record_channel_cost(T0 - DAY, a, "rebalance", 9_000_000, "hash-1").get()
    assert not flow.store.record_channel_cost(T0 - DAY, a, "rebalance", 9_000_000,
                                              "hash-1").get()  # counted once
    flow.store.record_channel_cost(T0 - 2 * DAY, a, "open", 3_000_000, "txid-1").get()
    flow.tick(T0)
    d = flow.command("revenue-dashboard", T0, [30])
    fees = sum(node.fee_by_out().values())
    assert d["gross_revenue_msat"] == fees
    assert d["costs"] == {"rebalance_msat": 9_000_000, "open_msat": 3_000_000, "close_msat": 0,
                          "other_msat": 0, "total_msat": 12_000_000}
    assert d["net_profit_msat"] == fees - 12_000_000
    assert d["margin"] == round((fees - 12_000_000) / fees, 6)
    assert [b["scid"] for b in d["bleeders"]] == [a]
    assert d["tlv_msat"] == 3 * 400_000_000 + 2_000_000_000
    assert d["capacity_msat"] == 3_000_000_000 and d["channels"] == 3
    assert d["roc"] == round((fees - 12_000_000) / 3_000_000_000, 9)
    assert any("cost more in rebalancing" in w for w in d["warnings"])
    p = {c["scid"]: c for c in flow.command("revenue-profitability", T0)["channels"]}
    assert p[a]["bleeder"] and p[a]["class"] == "underwater"
    assert p[a]["rebalance_cost_30d_msat"] == 9_000_000 and p[a]["open_cost_msat"] == 3_000_000
    assert flow.sample("revops_channel_costs_msat_total", kind="rebalance") == 9_000_000


def test_dashboard_window_is_whole_days_plus_today(flow, node):
    a, b, _ = node.scids
    node.add(a, b, "settled", 1_000_900, 1_000_000, T0 - 3 * DAY + 10)   # 3 days ago
    node.add(a, b, "settled", 1_000_050, 1_000_000, T0 + 2 * HOUR)       # today
    flow.tick(T0 + 6 * HOUR)
    assert flow.command("revenue-dashboard", T0 + 6 * HOUR, {"window_days": 2})[
        "gross_revenue_msat"] == 50
    three = flow.command("revenue-dashboard", T0 + 6 * HOUR, {"window_days": 3})
    assert three["gross_revenue_msat"] == 950 and three["span_days"] == 3.25
    assert three["top_earners"][0]["scid"] == b


def test_metrics_are_set_from_the_database_after_a_restart(tmp_path, node):
    history(node, 300, days=5)
    first = Flow(tmp_path, node)
    first.tick(T0)
    fees = node.fee_by_out()
    names = ("revops_revenue_msat_total",)
    before = {n: first.sample(n) for n in names}
    assert before["revops_revenue_msat_total"] == sum(fees.values())
    b = node.scids[1]
    assert first.sample("revops_channel_revenue_msat_total", scid=b) == fees[b]
    settled = sum(1 for r in node.rows if r["status"] == "settled")
    assert first.sample("revops_forwards_total", status="settled") == settled
    assert first.sample("revops_forwards_failed_liquidity_total", scid=node.scids[2]) == \
        sum(1 for r in node.rows if r["status"] == "local_failed")
    first.stop()
    second = Flow(tmp_path, node)  # a new process: fresh registry
    second.tick(T0 + 600)
    assert {n: second.sample(n) for n in names} == before
    assert second.sample("revops_channel_revenue_msat_total", scid=b) == fees[b]
    assert second.sample("revops_forwards_total", status="settled") == settled
    # A channel closes: its series go.
    second.ref.tell(Notification("channel_state_changed",
                                 {"short_channel_id": b, "new_state": "ONCHAIN"}, T0 + 700))
    node.channels = [c for c in node.channels if c["short_channel_id"] != b]
    second.tick(T0 + 1200)
    assert second.sample("revops_channel_revenue_msat_total", scid=b) is None
    assert second.sample("revops_revenue_msat_total") == sum(fees.values())
    second.stop()


# -- snapshots and retention -------------------------------------------------------------------

def test_one_snapshot_a_day_and_none_when_the_node_does_not_answer(flow, node):
    assert flow.tick(T0)["snapshot"] == "taken"
    assert "snapshot" not in flow.tick(T0 + 600)
    node.faults["listfunds"] = lambda p: True
    assert flow.tick(T0 + DAY)["snapshot"] == "skipped: listfunds did not answer"
    with pytest.raises(RpcException) as e:
        flow.command("revenue-snapshot", T0 + DAY + 10)
    assert "not taken" in str(e.value)
    del node.faults["listfunds"]
    assert flow.tick(T0 + DAY + 600)["snapshot"] == "taken"  # retried the same day
    manual = flow.command("revenue-snapshot", T0 + DAY + 700)["snapshot"]
    assert manual["trigger"] == "manual" and manual["onchain_msat"] == 2_000_000_000
    r = flow.command("revenue-report", T0 + DAY + 800, {"days": 7})
    assert [s["trigger"] for s in r["snapshots"]] == ["daily", "daily", "manual"]
    assert all(s["tlv_msat"] == 1_200_000_000 + 2_000_000_000 for s in r["snapshots"])


def test_retention_prunes_raw_rows_and_keeps_daily_figures(tmp_path, node):
    history(node, 400, days=40)
    f = Flow(tmp_path, node, {"revenue-ops-flow-retention-days": "14"})
    try:
        out = f.tick(T0)
        assert out["pruned"] > 0
        kept = f.stored()
        assert kept and all(node.rows[i - 1]["received_time"] >= T0 - 14 * DAY for i in kept)
        d = f.command("revenue-dashboard", T0, {"window_days": 60})
        assert d["gross_revenue_msat"] == sum(node.fee_by_out().values())
        sync = f.command("revenue-forwards-sync", T0)
        assert sync["raw_from"] == "2025-12-18" and sync["hydration"]["state"] == "done"
    finally:
        f.stop()


# -- commands ------------------------------------------------------------------------------------

def test_unknown_channel_is_a_clear_parameter_error(flow, node):
    flow.tick(T0)
    for name in ("revenue-profitability", "revenue-flow"):
        with pytest.raises(RpcException) as e:
            flow.command(name, T0, {"channel": "999x9x9"})
        assert e.value.code == -32602
        assert "channel: should be the short_channel_id of one of our channels" in \
            e.value.message


def test_flow_of_one_channel_has_its_days_and_latest_forwards(flow, node):
    a, b, _ = node.scids
    node.add(a, b, "settled", 1_000_100, 1_000_000, T0 - DAY + 5)
    node.add(a, b, "local_failed", 2_000_000, None, T0 - 5, failcode=4103)
    flow.tick(T0)
    out = flow.command("revenue-flow", T0, [b])
    assert out["channel"]["liquidity_failed_out_1d"] == 1
    assert out["channel"]["settled_out_7d"] == 1 and out["channel"]["open"] is True
    assert [d["day"] for d in out["daily"]] == ["2025-12-31"]
    assert out["daily"][0]["fees_msat"] == 100 and out["daily"][0]["liquidity_failed_out"] == 1
    assert [(r["created_index"], r["direction"]) for r in out["recent_forwards"]] == \
        [(2, "out"), (1, "out")]
    everyone = flow.command("revenue-flow", T0)
    assert {c["scid"] for c in everyone["channels"]} == set(node.scids)


def test_a_closed_channel_is_still_reported_from_its_history(flow, node):
    a, _b, c = node.scids
    node.add(a, c, "settled", 1_000_400, 1_000_000, T0 - DAY)
    node.channels = [ch for ch in node.channels if ch["short_channel_id"] != c]
    flow.tick(T0)
    out = flow.command("revenue-profitability", T0, {"channel": c})
    assert out["channels"] == [{"scid": c, "open": False, "class": None,
                                "revenue_30d_msat": 400, "costs_30d_msat": 0,
                                "rebalance_cost_30d_msat": 0, "net_30d_msat": 400,
                                "revenue_total_msat": 400, "costs_total_msat": 0,
                                "net_total_msat": 400}]
    assert flow.command("revenue-flow", T0, {"channel": c})["channel"]["open"] is False


def test_forwards_sync_reports_hydration_progress(flow, node):
    history(node, 2500)
    flow.tick(T0)
    s = flow.command("revenue-forwards-sync", T0 + 1)
    assert s["hydration"]["state"] == "running"
    assert (s["hydration"]["history_forwards"], s["hydration"]["hydrated"],
            s["hydration"]["remaining"]) == (2500, 1000, 1500)
    assert s["cursor"]["history_low_index"] == 1501 and s["lag_forwards"] == 1500
    assert s["stored_forwards"] == 1000 and s["page_size"] == 100
    assert flow.sample("revops_sync_lag_forwards") == 1500
    assert flow.sample("revops_forwards_hydrated") == 0


def test_a_cycle_that_ends_after_its_parent_stopped_is_not_an_error(flow, node, caplog):
    """lightningd stopping mid-cycle: the Supervisor is already stopped when
    the cycle reports CycleDone. Nothing to report to is not a crash (it
    was a BROKEN traceback in lightningd's log, twice: the tell and then
    on_failure's own tell)."""
    history(node, 50)
    flow.parent.stop()
    with caplog.at_level("DEBUG"):
        summary = flow.tick(T0)
    assert "error" not in summary
    assert flow.ref.is_alive()
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    # And it goes on working.
    assert flow.tick(T0 + 600) is not None
