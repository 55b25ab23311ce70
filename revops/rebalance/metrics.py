"""The rebalancer's Prometheus series (``metrics.rebalance``).

Counters count what this run of the plugin did (they restart at zero, as
Prometheus expects of counters); gauges are set from the database after
each cycle, so they are right from the first cycle after a restart.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge

RESULTS = ("succeeded", "failed", "no_route", "refused", "dry_run")


class RebalanceMetrics:
    def __init__(self, r: CollectorRegistry) -> None:
        self.attempts = Counter(
            "revops_rebalance_attempts_total",
            "Rebalance attempts by result (succeeded, failed, no_route, refused, dry_run)",
            ["result"], registry=r)
        self.spent = Counter("revops_rebalance_spent_msat_total",
                             "Fees paid for completed rebalances", registry=r)
        self.moved = Counter("revops_rebalance_moved_msat_total",
                             "Liquidity moved into destinations by completed rebalances",
                             registry=r)
        self.budget_remaining = Gauge(
            "revops_rebalance_budget_remaining_msat",
            "What the rebalance budget still allows, per window (daily, weekly)", ["window"],
            registry=r)
        self.budget_reserved = Gauge("revops_rebalance_budget_reserved_msat",
                                     "Fees held by rebalance jobs not settled yet", registry=r)
        self.in_flight = Gauge("revops_rebalance_jobs_in_flight",
                               "Rebalance jobs started and not finished", registry=r)
        self.breakers_open = Gauge("revops_rebalance_breakers_open",
                                   "Channels left alone by the futility breaker", registry=r)
        self.realized_ev = Gauge(
            "revops_rebalance_realized_ev_msat",
            "Realized EV of completed rebalances (revenue credited within the window minus "
            "fees), all channels", ["window"], registry=r)
        self.predicted_ev = Gauge("revops_rebalance_predicted_ev_msat",
                                  "Predicted EV of the same completed rebalances", registry=r)

    def set_realized(self, total: Mapping[str, Any]) -> None:
        self.predicted_ev.set(int(total.get("predicted_ev_msat", 0)))
        for w in (7, 30):
            self.realized_ev.labels(f"{w}d").set(int(total.get(f"realized_ev_{w}d_msat", 0)))
