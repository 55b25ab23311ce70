"""The dashboard's arithmetic on a hand-made node (pure)."""

from __future__ import annotations

from revops.channels import parse_channels
from revops.flow.buckets import Totals
from revops.flow.classes import FlowParams, channel_flow
from revops.flow.dashboard import SyncView, build
from revops.flow.profitability import Costs, channel_profit
from tests.actors.fakes import channel, peer
from tests.flow.conftest import T0

A, B, GONE = "100x1x0", "101x1x0", "90x1x0"
FACTS = parse_channels({"channels": [
    channel(A, peer(1), local_msat=600_000_000, capacity_msat=1_000_000_000),
    channel(B, peer(2), local_msat=200_000_000, capacity_msat=1_000_000_000)]})
WINDOW = {A: Totals(fees_msat=500_000, settled_out=10, settled_in=3, out_volume_msat=9_000_000),
          B: Totals(fees_msat=20_000, settled_out=4, settled_in=8, failed_in=2,
                    liquidity_failed_out=5),
          GONE: Totals(fees_msat=5_000, settled_out=1, local_failed_in=1)}
COSTS = {B: Costs(rebalance_msat=300_000), GONE: Costs(close_msat=1_000)}
SYNCED = SyncView(False, 100, 100, 0)


def profits():
    return {s: channel_profit(s, capacity_msat=1_000_000_000, local_msat=0, age_days=200.0,
                              window=WINDOW[s], window_costs=COSTS.get(s, Costs()),
                              span_days=30.0, now=T0) for s in (A, B)}


def flows():
    return {s: channel_flow(s, {30: WINDOW[s]}, {30: 30.0}, FlowParams()) for s in (A, B)}


def test_dashboard_figures():
    d = build(now=T0, window_days=30, span_days=30.0, channels=FACTS, window=WINDOW,
              window_costs=COSTS, profits=profits(), flows=flows(), onchain_msat=500_000_000,
              sync=SYNCED)
    assert d["gross_revenue_msat"] == 525_000  # the closed channel's fees count too
    assert d["costs_msat"] == 301_000 and d["costs"]["close_msat"] == 1_000
    assert d["net_profit_msat"] == 224_000
    assert d["margin"] == round(224_000 / 525_000, 6)
    assert d["tlv_msat"] == 800_000_000 + 500_000_000
    assert d["capacity_msat"] == 2_000_000_000 and d["channels"] == 2
    assert d["roc"] == round(224_000 / 2_000_000_000, 9)
    assert d["roc_annualised"] == round(224_000 / 2_000_000_000 * 365 / 30, 6)
    assert d["forwards"] == {"settled": 11, "failed": 2, "local_failed": 1,
                             "liquidity_failed": 5, "volume_msat": 9_000_000}
    assert [(e["scid"], e["open"], e["net_msat"]) for e in d["top_earners"]] == [
        (A, True, 500_000), (B, True, -280_000), (GONE, False, 4_000)]
    assert [b["scid"] for b in d["bleeders"]] == [B]
    assert d["classes"]["profitable"] == 1 and d["classes"]["underwater"] == 1
    assert d["sync"]["hydrating"] is False
    assert any("cost more in rebalancing" in w for w in d["warnings"])


def test_unknowns_are_null_with_a_warning_never_zero():
    d = build(now=T0, window_days=7, span_days=7.0, channels=None, window={}, window_costs={},
              profits={}, flows={}, onchain_msat=None, sync=SyncView(True, 10, 100, 90, "boom"))
    assert d["tlv_msat"] is None and d["onchain_msat"] is None and d["capacity_msat"] is None
    assert d["margin"] is None and d["roc"] is None
    text = " ".join(d["warnings"])
    assert "listpeerchannels" in text and "listfunds" in text and "10 of 100" in text
    assert "boom" in text
