"""The node's daily financial snapshot and the report over snapshots (pure).

A snapshot is what the node holds and has earned at one instant: total
local balance in its channels, on-chain funds (``listfunds`` outputs),
capacity and count of its open channels, and its cumulative revenue and
costs as revops knows them (so the difference between two snapshots is
what was earned and spent between them). One is taken per UTC day and on
demand. A snapshot is never made of zeros the node did not say: when
``listpeerchannels`` or ``listfunds`` failed, or both came back empty, it
is skipped (and the caller logs why).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from revops.channels import ChannelFacts
from revops.flow.buckets import day_of
from revops.flow.forwards import msat

# Channel states whose funds are no longer in the channel (the closing
# transaction is confirmed: they are in listfunds' outputs, or gone).
FUNDS_LEFT_STATES = frozenset({"FUNDING_SPEND_SEEN", "ONCHAIN", "CLOSED"})
LISTFUNDS_FILTER: dict[str, Any] = {"outputs": [{"amount_msat": True, "status": True}]}


@dataclass(frozen=True)
class Snapshot:
    ts: float
    trigger: str  # daily | manual
    local_balance_msat: int
    onchain_msat: int
    capacity_msat: int
    channels: int
    revenue_msat: int  # cumulative, every forward revops knows of
    costs_msat: int  # cumulative, every cost recorded
    complete: bool  # False while the forwards history was still being hydrated

    @property
    def day(self) -> int:
        return day_of(self.ts)

    @property
    def tlv_msat(self) -> int:
        """Total value: local balances plus on-chain funds."""
        return self.local_balance_msat + self.onchain_msat

    def as_dict(self) -> dict[str, Any]:
        return {"ts": self.ts, "trigger": self.trigger, "tlv_msat": self.tlv_msat,
                "local_balance_msat": self.local_balance_msat,
                "onchain_msat": self.onchain_msat, "capacity_msat": self.capacity_msat,
                "channels": self.channels, "revenue_msat": self.revenue_msat,
                "costs_msat": self.costs_msat, "net_msat": self.revenue_msat - self.costs_msat,
                "complete": self.complete}


def onchain_msat(listfunds: Mapping[str, Any] | None) -> int | None:
    """Sum of the wallet's unspent outputs; None if the answer has none listed
    (``outputs`` missing: not an answer we can trust as zero)."""
    if not isinstance(listfunds, Mapping) or not isinstance(listfunds.get("outputs"), list):
        return None
    total = 0
    for o in listfunds["outputs"]:
        if isinstance(o, Mapping) and o.get("status") != "spent":
            total += msat(o.get("amount_msat")) or 0
    return total


@dataclass(frozen=True)
class Balances:
    local_msat: int
    capacity_msat: int
    channels: int


def balances(channels: Iterable[ChannelFacts]) -> Balances:
    """Local balance of every channel still holding funds; capacity and
    count of the active ones."""
    local = capacity = count = 0
    for c in channels:
        if c.state not in FUNDS_LEFT_STATES:
            local += c.local_msat
        if c.active:
            capacity += c.capacity_msat
            count += 1
    return Balances(local, capacity, count)


def take(now: float, trigger: str, channels: Sequence[ChannelFacts] | None,
         listfunds: Mapping[str, Any] | None, revenue_msat: int, costs_msat: int,
         complete: bool) -> Snapshot | str:
    """A snapshot, or the reason to skip it (the node answered nothing)."""
    if channels is None:
        return "listpeerchannels did not answer"
    onchain = onchain_msat(listfunds)
    if onchain is None:
        return "listfunds did not answer"
    if not channels and not listfunds.get("outputs"):  # type: ignore[union-attr]
        return "the node listed no channels and no on-chain outputs"
    b = balances(channels)
    return Snapshot(ts=now, trigger=trigger, local_balance_msat=b.local_msat,
                    onchain_msat=onchain, capacity_msat=b.capacity_msat, channels=b.channels,
                    revenue_msat=revenue_msat, costs_msat=costs_msat, complete=complete)


def report(snapshots: Sequence[Snapshot], days: int) -> dict[str, Any]:
    """``revenue-report``: the snapshots of the period, oldest first, each
    with what changed since the one before, and the period's totals."""
    rows = []
    prev: Snapshot | None = None
    for s in snapshots:
        row = s.as_dict()
        if prev is not None:
            row["since_previous"] = {
                "seconds": round(s.ts - prev.ts, 3),
                "revenue_msat": s.revenue_msat - prev.revenue_msat,
                "costs_msat": s.costs_msat - prev.costs_msat,
                "tlv_change_msat": s.tlv_msat - prev.tlv_msat,
            }
        rows.append(row)
        prev = s
    out: dict[str, Any] = {"days": days, "count": len(rows), "snapshots": rows}
    if len(snapshots) >= 2:
        first, last = snapshots[0], snapshots[-1]
        revenue = last.revenue_msat - first.revenue_msat
        costs = last.costs_msat - first.costs_msat
        out["period"] = {
            "from": first.ts, "to": last.ts,
            "revenue_msat": revenue, "costs_msat": costs, "net_msat": revenue - costs,
            "tlv_change_msat": last.tlv_msat - first.tlv_msat,
            "complete": all(s.complete for s in snapshots),
        }
    return out
