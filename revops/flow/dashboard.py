"""``revenue-dashboard``: the node's P&L over a window in one JSON (pure).

Revenue is every fee earned in the window (closed channels included: the
node earned it); costs are every channel cost recorded in the window, by
kind; net = revenue - costs; margin = net / revenue; return on capacity
(ROC) = net / capacity of the open channels, plain and annualised. TLV is
the node's total value: local balances plus on-chain funds. Bleeders and
classes come from the 30-day analysis (whatever the window), top earners
from the window. Every figure that could not be known is ``null`` with a
warning saying why, never a made-up zero.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from revops.channels import ChannelFacts
from revops.flow.buckets import ZERO, Totals
from revops.flow.classes import FLOW_CLASSES, ChannelFlow
from revops.flow.profitability import (
    NO_COSTS,
    PROFIT_CLASSES,
    YEAR_DAYS,
    ChannelProfit,
    Costs,
    roc,
)
from revops.flow.snapshot import balances

TOP_N = 5


@dataclass(frozen=True)
class SyncView:
    """How complete the local copy of forwards is."""

    hydrating: bool
    hydrated_rows: int
    target: int
    lag: int
    last_error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"hydrating": self.hydrating, "hydrated_rows": self.hydrated_rows,
                               "history_rows": self.target, "lag_forwards": self.lag}
        if self.last_error:
            out["last_error"] = self.last_error
        return out


def _ratio(num: int, den: int) -> float | None:
    return round(num / den, 6) if den else None


def build(*, now: float, window_days: int, span_days: float,
          channels: Sequence[ChannelFacts] | None, window: Mapping[str, Totals],
          window_costs: Mapping[str, Costs], profits: Mapping[str, ChannelProfit],
          flows: Mapping[str, ChannelFlow], onchain_msat: int | None, sync: SyncView,
          notes: Sequence[str] = (), top_n: int = TOP_N) -> dict[str, Any]:
    warnings: list[str] = list(notes)
    node = sum(window.values(), ZERO)
    costs = sum(window_costs.values(), NO_COSTS)
    revenue = node.fees_msat
    net = revenue - costs.total_msat
    facts = {c.scid: c for c in channels} if channels is not None else {}
    active = {s: c for s, c in facts.items() if c.active}

    out: dict[str, Any] = {"now": now, "window_days": window_days,
                           "span_days": round(span_days, 4)}
    if channels is None:
        warnings.append("channel balances unknown: listpeerchannels did not answer")
        out.update(tlv_msat=None, local_balance_msat=None, capacity_msat=None, channels=None)
        capacity = 0
    else:
        b = balances(channels)
        capacity = b.capacity_msat
        out.update(tlv_msat=None if onchain_msat is None else b.local_msat + onchain_msat,
                   local_balance_msat=b.local_msat, capacity_msat=capacity,
                   channels=b.channels)
    if onchain_msat is None:
        warnings.append("on-chain funds unknown: listfunds did not answer")
    out["onchain_msat"] = onchain_msat
    out.update(
        gross_revenue_msat=revenue,
        costs_msat=costs.total_msat,
        costs=costs.as_dict(),
        net_profit_msat=net,
        margin=_ratio(net, revenue),
        roc=round(roc(net, capacity), 9) if capacity else None,
        roc_annualised=(round(roc(net, capacity) * YEAR_DAYS / max(span_days, 1.0), 6)
                        if capacity else None),
        forwards={"settled": node.settled_in, "failed": node.failed_in,
                  "local_failed": node.local_failed_in,
                  "liquidity_failed": node.liquidity_failed_out,
                  "volume_msat": node.out_volume_msat},
    )

    earners = sorted((s for s, t in window.items() if t.fees_msat > 0),
                     key=lambda s: (-window[s].fees_msat, s))[:top_n]
    out["top_earners"] = [{
        "scid": s,
        "peer_id": facts[s].peer_id if s in facts else None,
        "open": s in active,
        "revenue_msat": window[s].fees_msat,
        "costs_msat": window_costs.get(s, NO_COSTS).total_msat,
        "net_msat": window[s].fees_msat - window_costs.get(s, NO_COSTS).total_msat,
        "settled_out": window[s].settled_out,
        "roc_annualised": (round((window[s].fees_msat - window_costs.get(s, NO_COSTS).total_msat)
                                 / active[s].capacity_msat * YEAR_DAYS / max(span_days, 1.0), 6)
                           if s in active and active[s].capacity_msat else None),
    } for s in earners]

    bleeders = sorted((p for p in profits.values() if p.bleeder),
                      key=lambda p: (p.net_msat, p.scid))
    out["bleeders"] = [{"scid": p.scid, "peer_id": facts[p.scid].peer_id if p.scid in facts
                        else None, "revenue_30d_msat": p.revenue_msat,
                        "rebalance_cost_30d_msat": p.costs.rebalance_msat,
                        "net_30d_msat": p.net_msat} for p in bleeders]
    classes = {k: 0 for k in PROFIT_CLASSES}
    for p in profits.values():
        classes[p.klass] = classes.get(p.klass, 0) + 1
    flow_classes = {k: 0 for k in FLOW_CLASSES}
    for f in flows.values():
        flow_classes[f.class_30d] = flow_classes.get(f.class_30d, 0) + 1
    out["classes"] = classes
    out["flow_classes_30d"] = flow_classes
    out["sync"] = sync.as_dict()

    if sync.hydrating:
        warnings.append(f"forwards history still being stored ({sync.hydrated_rows:,} of "
                        f"{sync.target:,}): older figures are incomplete")
    if sync.lag and not sync.hydrating:
        warnings.append(f"{sync.lag:,} forwards not synced yet")
    if sync.last_error:
        warnings.append(f"last forwards sync failed: {sync.last_error}")
    if classes.get("underwater"):
        warnings.append(f"{classes['underwater']} channel(s) underwater over 30 days")
    if bleeders:
        warnings.append(f"{len(bleeders)} channel(s) cost more in rebalancing than they earned "
                        "over 30 days")
    if classes.get("zombie"):
        warnings.append(f"{classes['zombie']} zombie channel(s) (failed probes)")
    if net < 0:
        warnings.append("net profit over the window is negative")
    out["warnings"] = warnings
    return out
