"""The flow feature's Prometheus series (``metrics.flow``).

Counters count what revops knows of the node's whole history, so they
survive restarts: at start they are set from the database
(:meth:`FlowMetrics.init_node`, :meth:`FlowMetrics.track_channel`), then
grow by what each sync adds.
Per-channel series are labelled by ``scid`` only and removed when the
channel closes (:meth:`FlowMetrics.forget_channel`). A scrape never
triggers an RPC: the FlowCoordinator updates these as it works.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge

from revops.flow.buckets import BucketDelta, Totals
from revops.flow.forwards import FINAL_STATUSES
from revops.flow.profitability import COST_KINDS, Costs


class FlowMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.revenue = Counter(
            "revops_revenue_msat", "Fees earned by settled forwards (all known history)",
            registry=r)
        self.channel_revenue = Counter(
            "revops_channel_revenue_msat", "Fees earned as the outgoing channel", ["scid"],
            registry=r)
        self.forwards = Counter(
            "revops_forwards", "Forwards by final status (settled, failed, local_failed)",
            ["status"], registry=r)
        self.failed_liquidity = Counter(
            "revops_forwards_failed_liquidity",
            "Forwards failed locally for lack of outbound liquidity or HTLC slots, by "
            "outgoing channel (demand lost)", ["scid"], registry=r)
        self.costs = Counter(
            "revops_channel_costs_msat", "Channel costs recorded (rebalance, open, close, other)",
            ["kind"], registry=r)
        self.local_balance = Gauge(
            "revops_node_local_balance_msat", "Our balance in channels still holding funds",
            registry=r)
        self.onchain = Gauge(
            "revops_node_onchain_msat", "On-chain wallet funds (listfunds outputs)", registry=r)
        self.capacity = Gauge(
            "revops_node_capacity_msat", "Capacity of active channels", registry=r)
        self.channel_class = Gauge(
            "revops_channel_class", "1 for a channel's profitability class", ["scid", "class"],
            registry=r)
        self.channel_flow_class = Gauge(
            "revops_channel_flow_class", "1 for a channel's 30-day flow class",
            ["scid", "class"], registry=r)
        self.sync_lag = Gauge(
            "revops_sync_lag_forwards", "Forwards lightningd has that revops has not stored yet",
            registry=r)
        self.hydrated = Gauge(
            "revops_forwards_hydrated", "1 once the forwards history is fully stored",
            registry=r)
        self.node_initialised = False
        self._costs_seen = Costs()
        self._channels: set[str] = set()  # open channels with per-channel series
        self._classes: dict[str, str] = {}
        self._flow_classes: dict[str, str] = {}
        for status in FINAL_STATUSES:
            self.forwards.labels(status)
        for kind in COST_KINDS:
            self.costs.labels(kind)

    def init_node(self, by_channel: Mapping[str, Totals], costs: Costs) -> None:
        """Set the node-wide counters from the database, once per process
        (a restarted coordinator finds them set and leaves them)."""
        if self.node_initialised:
            return
        self.node_initialised = True
        total = sum(t.fees_msat for t in by_channel.values())
        if total:
            self.revenue.inc(total)
        counts = {"settled": 0, "failed": 0, "local_failed": 0}
        for t in by_channel.values():
            # Every forward has an incoming channel: node-wide counts come from that side.
            counts["settled"] += t.settled_in
            counts["failed"] += t.failed_in
            counts["local_failed"] += t.local_failed_in
        for status, n in counts.items():
            if n:
                self.forwards.labels(status).inc(n)
        self.set_costs(costs)

    def track_channel(self, scid: str, all_time: Totals | None) -> None:
        """An open channel seen for the first time: its counters start at
        its known history, then grow with :meth:`add`."""
        if scid in self._channels:
            return
        self._channels.add(scid)
        t = all_time if all_time is not None else Totals()
        self.channel_revenue.labels(scid).inc(t.fees_msat)
        self.failed_liquidity.labels(scid).inc(t.liquidity_failed_out)

    def add(self, delta: BucketDelta) -> None:
        """What a sync added (counters only go up: a decrease is ignored)."""
        total = sum(delta.fees_msat.values())
        if total > 0:
            self.revenue.inc(total)
        for scid, fees in delta.fees_msat.items():
            if fees > 0 and scid in self._channels:
                self.channel_revenue.labels(scid).inc(fees)
        for scid, n in delta.liquidity_failed.items():
            if n > 0 and scid in self._channels:
                self.failed_liquidity.labels(scid).inc(n)
        for status, n in delta.forwards.items():
            if n > 0:
                self.forwards.labels(status).inc(n)

    def set_costs(self, total: Costs) -> None:
        """Costs recorded so far (the rebalancer records them straight in the
        database): the counters grow by what is new since the last call."""
        seen = self._costs_seen
        for kind, new, old in zip(COST_KINDS, _by_kind(total), _by_kind(seen)):
            if new > old:
                self.costs.labels(kind).inc(new - old)
        self._costs_seen = total

    def set_classes(self, profit: Mapping[str, str], flow: Mapping[str, str]) -> None:
        for gauge, book, new in ((self.channel_class, self._classes, profit),
                                 (self.channel_flow_class, self._flow_classes, flow)):
            for scid, klass in new.items():
                old = book.get(scid)
                if old == klass:
                    continue
                if old is not None:
                    _remove(gauge, scid, old)
                gauge.labels(scid, klass).set(1)
                book[scid] = klass

    def forget_channel(self, scid: str) -> None:
        """Remove a closed channel's series."""
        self._channels.discard(scid)
        for metric in (self.channel_revenue, self.failed_liquidity):
            _remove(metric, scid)
        for gauge, book in ((self.channel_class, self._classes),
                            (self.channel_flow_class, self._flow_classes)):
            old = book.pop(scid, None)
            if old is not None:
                _remove(gauge, scid, old)

    def tracked(self) -> set[str]:
        return set(self._channels)


def _by_kind(c: Costs) -> tuple[int, int, int, int]:
    return (c.rebalance_msat, c.open_msat, c.close_msat, c.other_msat)


def _remove(metric: Any, *labels: str) -> None:
    try:
        metric.remove(*labels)
    except KeyError:
        pass
