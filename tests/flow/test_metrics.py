"""The flow series: set from the database once per process, only up, and
per-channel series gone with their channel."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from revops.flow.buckets import BucketDelta, Totals
from revops.flow.metrics import FlowMetrics
from revops.flow.profitability import Costs

A, B = "100x1x0", "200x1x0"


def sample(r: CollectorRegistry, name: str, **labels: str) -> float | None:
    return r.get_sample_value(name, labels)


def test_counters_start_from_history_once_and_only_go_up():
    r = CollectorRegistry()
    m = FlowMetrics(r)
    history = {A: Totals(fees_msat=700, settled_in=3, failed_in=1, local_failed_in=2,
                         liquidity_failed_out=4),
               B: Totals(fees_msat=300, settled_in=1)}
    m.init_node(history, Costs(rebalance_msat=50))
    m.init_node(history, Costs(rebalance_msat=50))  # a restarted coordinator: no double count
    assert sample(r, "revops_revenue_msat_total") == 1000
    assert sample(r, "revops_forwards_total", status="settled") == 4
    assert sample(r, "revops_forwards_total", status="local_failed") == 2
    assert sample(r, "revops_channel_costs_msat_total", kind="rebalance") == 50
    m.track_channel(A, history[A])
    m.track_channel(A, history[A])
    assert sample(r, "revops_channel_revenue_msat_total", scid=A) == 700
    assert sample(r, "revops_forwards_failed_liquidity_total", scid=A) == 4
    m.add(BucketDelta({A: 25, B: 10}, {A: 1}, {"settled": 2, "failed": -1}))
    assert sample(r, "revops_revenue_msat_total") == 1035
    assert sample(r, "revops_channel_revenue_msat_total", scid=A) == 725
    assert sample(r, "revops_channel_revenue_msat_total", scid=B) is None  # not tracked (closed)
    assert sample(r, "revops_forwards_total", status="failed") == 1  # never down
    m.set_costs(Costs(rebalance_msat=80, open_msat=5))
    m.set_costs(Costs(rebalance_msat=80, open_msat=5))
    assert sample(r, "revops_channel_costs_msat_total", kind="rebalance") == 80
    assert sample(r, "revops_channel_costs_msat_total", kind="open") == 5


def test_class_series_follow_the_class_and_go_with_the_channel():
    r = CollectorRegistry()
    m = FlowMetrics(r)
    m.track_channel(A, None)
    m.set_classes({A: "profitable"}, {A: "sink"})
    m.set_classes({A: "underwater"}, {A: "sink"})
    assert sample(r, "revops_channel_class", scid=A, **{"class": "profitable"}) is None
    assert sample(r, "revops_channel_class", scid=A, **{"class": "underwater"}) == 1
    assert sample(r, "revops_channel_flow_class", scid=A, **{"class": "sink"}) == 1
    m.forget_channel(A)
    assert sample(r, "revops_channel_class", scid=A, **{"class": "underwater"}) is None
    assert sample(r, "revops_channel_flow_class", scid=A, **{"class": "sink"}) is None
    assert sample(r, "revops_channel_revenue_msat_total", scid=A) is None
    assert m.tracked() == set()
