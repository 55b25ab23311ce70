"""How the flow commands show things (pure: values in, JSON-ready dicts out)."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from revops.flow.buckets import Totals
from revops.flow.forwards import STATUS_NAMES, Forward
from revops.flow.profitability import YEAR_DAYS, ChannelProfit, Costs
from revops.flow.sync import SyncState


def iso_day(day: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(day * 86400))


def forward_json(f: Forward, scid: str) -> dict[str, Any]:
    """A stored forward, seen from channel ``scid``."""
    out: dict[str, Any] = {"created_index": f.created_index,
                           "direction": "out" if f.out_channel == scid else "in",
                           "in_channel": f.in_channel, "out_channel": f.out_channel,
                           "in_msat": f.in_msat, "out_msat": f.out_msat, "fee_msat": f.fee_msat,
                           "status": STATUS_NAMES.get(f.status, "unknown"),
                           "received_time": f.received_time}
    if f.failcode is not None:
        out["failcode"] = f.failcode
    if f.resolved_time is not None:
        out["resolved_time"] = f.resolved_time
    return out


def node_roc(profits: Iterable[ChannelProfit]) -> dict[str, Any]:
    """The node's 30-day P&L over its open channels, and its return on capacity."""
    ps = list(profits)
    capacity = sum(p.capacity_msat for p in ps)
    revenue = sum(p.revenue_msat for p in ps)
    costs = sum(p.costs.running_msat for p in ps)
    span = max((p.window_days for p in ps), default=30.0)
    net = revenue - costs
    return {"capacity_msat": capacity, "revenue_30d_msat": revenue, "costs_30d_msat": costs,
            "net_30d_msat": net,
            "roc_30d": round(net / capacity, 9) if capacity else None,
            "roc_annualised": (round(net / capacity * YEAR_DAYS / max(span, 1.0), 6)
                               if capacity else None)}


def closed_channel(scid: str, window: Totals, costs_30d: Costs, costs_all: Costs,
                   revenue_total_msat: int) -> dict[str, Any]:
    """What is known of a channel that is no longer open (no class, no ROI)."""
    return {"scid": scid, "open": False, "class": None,
            "revenue_30d_msat": window.fees_msat, "costs_30d_msat": costs_30d.running_msat,
            "rebalance_cost_30d_msat": costs_30d.rebalance_msat,
            "net_30d_msat": window.fees_msat - costs_30d.running_msat,
            "revenue_total_msat": revenue_total_msat, "costs_total_msat": costs_all.total_msat,
            "net_total_msat": revenue_total_msat - costs_all.total_msat}


def sync_status(s: SyncState, *, node_created: int | None, stored: int, retention_days: int,
                page_size: int, rows_per_cycle: int, sync_seconds: float, synced_rows: int,
                last_sync: dict[str, Any] | None) -> dict[str, Any]:
    """``revenue-forwards-sync``: the local copy of listforwards."""
    out: dict[str, Any] = {
        "hydration": {
            "state": "done" if not s.hydrating else ("running" if s.begun else "not started"),
            "history_forwards": s.target,
            "hydrated": s.hydrated_rows,
            "remaining": s.remaining(),
            "percent": round(100.0 * s.hydrated_rows / s.target, 2) if s.target else 100.0,
            "finished_at": s.hydrated_at or None,
            # this process's history pages: wall time and rate
            "sync_seconds": round(sync_seconds, 3),
            "rows_per_second": round(synced_rows / sync_seconds) if sync_seconds > 0 else None,
        },
        "cursor": {"created_index": s.created, "updated_index": s.updated,
                   "history_low_index": s.low},
        "node_created_index": node_created,
        "lag_forwards": s.lag(node_created),
        "stored_forwards": stored,
        "retention_days": retention_days,
        "raw_from": iso_day(s.raw_from_day) if s.raw_from_day else None,
        "page_size": page_size,
        "rows_per_cycle": rows_per_cycle,
    }
    if last_sync is not None:
        out["last_sync"] = last_sync
    return out
