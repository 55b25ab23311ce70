"""Flow classes and channel flow figures on hand-computed cases."""

from __future__ import annotations

import pytest

from revops.flow.buckets import Totals
from revops.flow.classes import FlowParams, channel_flow, flow_class, flow_ratio

P = FlowParams(imbalance_ratio=0.4, dormant_forwards_per_week=1.0)


def t(out_msat: int, in_msat: int, settled_out: int = 1, settled_in: int = 1, **kw: int) -> Totals:
    return Totals(out_volume_msat=out_msat, in_volume_msat=in_msat, settled_out=settled_out,
                  settled_in=settled_in, **kw)


@pytest.mark.parametrize("totals,span,want", [
    # (700 - 300) / 1000 = 0.4: exactly at the threshold is a sink
    (t(700, 300), 7, "sink"),
    (t(300, 700), 7, "source"),
    # (690 - 310) / 1000 = 0.38: balanced
    (t(690, 310), 7, "balanced"),
    (t(1000, 0, settled_in=0), 7, "sink"),
    (t(0, 0, 0, 0), 7, "dormant"),
    # 4 settled in 30.5 days < 1/week * 30.5 / 7 = 4.36: dormant
    (t(10, 0, settled_out=4, settled_in=0), 30.5, "dormant"),
    # 5 settled >= 4.36: a sink
    (t(10, 0, settled_out=5, settled_in=0), 30.5, "sink"),
])
def test_flow_class(totals, span, want):
    assert flow_class(totals, span, P) == want


def test_no_dormancy_threshold_means_any_settled_forward_counts():
    p = FlowParams(0.4, 0.0)
    assert flow_class(t(1, 0, settled_out=1, settled_in=0), 30, p) == "sink"
    assert flow_class(t(0, 0, 0, 0), 30, p) == "dormant"


def test_flow_ratio():
    assert flow_ratio(t(750, 250)) == 0.5
    assert flow_ratio(t(0, 0)) is None


def test_channel_flow_reads_each_window():
    windows = {
        1: Totals(out_volume_msat=10, in_volume_msat=1, settled_out=1, settled_in=1,
                  liquidity_failed_out=2, local_failed_out=3),
        7: Totals(out_volume_msat=70, in_volume_msat=30, settled_out=7, settled_in=3,
                  fees_msat=7, liquidity_failed_out=5, local_failed_out=6),
        30: Totals(out_volume_msat=300, in_volume_msat=700, settled_out=30, settled_in=70,
                   fees_msat=30),
    }
    f = channel_flow("1x1x1", windows, {1: 1.5, 7: 7.5, 30: 30.5}, P)
    assert (f.class_7d, f.class_30d) == ("sink", "source")
    assert (f.out_volume_1d_msat, f.out_volume_7d_msat, f.out_volume_30d_msat) == (10, 70, 300)
    assert (f.in_volume_1d_msat, f.in_volume_7d_msat, f.in_volume_30d_msat) == (1, 30, 700)
    assert (f.settled_out_1d, f.settled_out_7d, f.settled_out_30d) == (1, 7, 30)
    assert (f.liquidity_failed_out_1d, f.liquidity_failed_out_7d) == (2, 5)
    assert (f.local_failed_out_1d, f.local_failed_out_7d) == (3, 6)
    assert (f.revenue_7d_msat, f.revenue_30d_msat) == (7, 30)
    assert f.flow_ratio_7d == 0.4 and f.as_dict()["scid"] == "1x1x1"


def test_channel_flow_of_a_channel_without_buckets():
    f = channel_flow("1x1x1", {}, {}, P)
    assert f.class_7d == f.class_30d == "dormant" and f.revenue_30d_msat == 0
