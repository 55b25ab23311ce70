"""Per-channel profit and loss, its class, bleeders and return on capacity
(pure: figures in, figures out; every amount integer msat).

Over the last 30 days (the window of ``buckets.py``) a channel's:

- revenue: fees it earned as the outgoing channel of settled forwards;
- costs: rebalancing fees paid to fill it, plus any ``close``/``other``
  cost recorded against it in the window. Its open cost is a one-off and
  stays out of the 30-day figures (it is in the lifetime ones);
- net = revenue - costs; marginal ROI = net / capacity, annualised over
  the window (or over the channel's age when it is younger);
- class, first match wins: ``zombie`` (the fee engine gave up on it after
  failed probes), ``stagnant`` (no outbound forward settled and nothing
  spent on it), ``profitable`` (marginal ROI >= ``flow-min-roi``),
  ``underwater`` (marginal ROI <= -``flow-min-roi``), else ``break-even``;
- bleeder: its rebalancing cost exceeded its revenue.

Missing figures are zeros (a channel without a known age is annualised
over the window), never a crash.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from revops.flow.buckets import DAY, ZERO, Totals
from revops.flow.classes import ChannelFlow

PROFIT_CLASSES = ("profitable", "break-even", "underwater", "stagnant", "zombie")
COST_KINDS = ("rebalance", "open", "close", "other")
BLOCKS_PER_DAY = 144
YEAR_DAYS = 365.0


@dataclass(frozen=True)
class ProfitParams:
    min_roi: float = 0.001

    @classmethod
    def from_config(cls, cfg: Any) -> ProfitParams:
        return cls(min_roi=float(cfg["flow-min-roi"]))


@dataclass(frozen=True)
class Costs:
    """Costs by kind, msat."""

    rebalance_msat: int = 0
    open_msat: int = 0
    close_msat: int = 0
    other_msat: int = 0

    @property
    def total_msat(self) -> int:
        return self.rebalance_msat + self.open_msat + self.close_msat + self.other_msat

    @property
    def running_msat(self) -> int:
        """What operating the channel cost (all but the one-off open)."""
        return self.rebalance_msat + self.close_msat + self.other_msat

    def __add__(self, other: Costs) -> Costs:
        return Costs(self.rebalance_msat + other.rebalance_msat,
                     self.open_msat + other.open_msat,
                     self.close_msat + other.close_msat,
                     self.other_msat + other.other_msat)

    @classmethod
    def from_kinds(cls, by_kind: Mapping[str, int]) -> Costs:
        return cls(*(int(by_kind.get(k, 0) or 0) for k in COST_KINDS))

    def as_dict(self) -> dict[str, int]:
        return {"rebalance_msat": self.rebalance_msat, "open_msat": self.open_msat,
                "close_msat": self.close_msat, "other_msat": self.other_msat,
                "total_msat": self.total_msat}


NO_COSTS = Costs()


def days_open(scid: str, blockheight: int | None) -> float | None:
    """Age of a channel from its funding block (in its scid) and the tip."""
    if not blockheight:
        return None
    try:
        block = int(scid.split("x", 1)[0])
    except (ValueError, AttributeError):
        return None
    return max(0, blockheight - block) / BLOCKS_PER_DAY


def annualised(net_msat: int, capacity_msat: int, span_days: float,
               age_days: float | None = None) -> float:
    """``net / capacity`` scaled to a year over the days it was earned in
    (the window, or the channel's age when shorter); 0 without capacity."""
    if capacity_msat <= 0:
        return 0.0
    days = span_days
    if age_days is not None and 0 < age_days < days:
        days = age_days
    days = max(days, 1.0)  # a few hours' figures must not blow up to a year
    return net_msat / capacity_msat * YEAR_DAYS / days


def profit_class(revenue_msat: int, running_cost_msat: int, settled_out: int,
                 marginal_roi: float, zombie: bool, params: ProfitParams) -> str:
    if zombie:
        return "zombie"
    if settled_out == 0 and revenue_msat == 0 and running_cost_msat == 0:
        return "stagnant"
    if marginal_roi >= params.min_roi and revenue_msat > running_cost_msat:
        return "profitable"
    if marginal_roi <= -params.min_roi:
        return "underwater"
    return "break-even"


def is_bleeder(rebalance_cost_msat: int, revenue_msat: int) -> bool:
    return rebalance_cost_msat > 0 and rebalance_cost_msat > revenue_msat


def next_underwater_since(klass: str, since: float | None, now: float) -> float | None:
    """When the channel's current underwater spell began (None: not underwater)."""
    if klass != "underwater":
        return None
    return since if since is not None else now


@dataclass(frozen=True)
class ChannelProfit:
    scid: str
    capacity_msat: int
    local_msat: int
    days_open: float | None
    window_days: float
    revenue_msat: int
    costs: Costs  # running costs in the window (no open cost)
    net_msat: int
    marginal_roi: float
    klass: str
    underwater_days: float
    underwater_since: float | None  # when the current underwater spell began
    bleeder: bool
    settled_out: int
    revenue_total_msat: int  # everything known, all time
    costs_total: Costs  # all time, open cost included
    net_total_msat: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "scid": self.scid, "class": self.klass, "capacity_msat": self.capacity_msat,
            "local_msat": self.local_msat,
            "days_open": None if self.days_open is None else round(self.days_open, 2),
            "window_days": round(self.window_days, 4),
            "revenue_30d_msat": self.revenue_msat,
            "costs_30d_msat": self.costs.running_msat,
            "rebalance_cost_30d_msat": self.costs.rebalance_msat,
            "net_30d_msat": self.net_msat,
            "marginal_roi": round(self.marginal_roi, 6),
            "roc_30d": round(roc(self.net_msat, self.capacity_msat), 9),
            "underwater_days": round(self.underwater_days, 3),
            "bleeder": self.bleeder,
            "settled_out_30d": self.settled_out,
            "revenue_total_msat": self.revenue_total_msat,
            "costs_total_msat": self.costs_total.total_msat,
            "open_cost_msat": self.costs_total.open_msat,
            "net_total_msat": self.net_total_msat,
        }


def channel_profit(scid: str, *, capacity_msat: int, local_msat: int, age_days: float | None,
                   window: Totals = ZERO, window_costs: Costs = NO_COSTS, span_days: float = 30.0,
                   revenue_total_msat: int = 0, costs_total: Costs = NO_COSTS,
                   zombie: bool = False, underwater_since: float | None = None,
                   now: float = 0.0, params: ProfitParams = ProfitParams()) -> ChannelProfit:
    revenue = window.fees_msat
    running = window_costs.running_msat
    net = revenue - running
    roi = annualised(net, capacity_msat, span_days, age_days)
    klass = profit_class(revenue, running, window.settled_out, roi, zombie, params)
    since = next_underwater_since(klass, underwater_since, now)
    return ChannelProfit(
        scid=scid, capacity_msat=capacity_msat, local_msat=local_msat, days_open=age_days,
        window_days=span_days, revenue_msat=revenue,
        costs=Costs(window_costs.rebalance_msat, 0, window_costs.close_msat,
                    window_costs.other_msat),
        net_msat=net, marginal_roi=roi, klass=klass,
        underwater_days=0.0 if since is None else max(0.0, now - since) / DAY,
        underwater_since=since,
        bleeder=is_bleeder(window_costs.rebalance_msat, revenue),
        settled_out=window.settled_out,
        revenue_total_msat=revenue_total_msat, costs_total=costs_total,
        net_total_msat=revenue_total_msat - costs_total.total_msat,
    )


def economics(p: ChannelProfit, flow: ChannelFlow | None) -> Any:
    """The fee engine's view of a channel (``revops.fees.alpha.ChannelEconomics``)."""
    from revops.fees.alpha import ChannelEconomics
    return ChannelEconomics(
        klass=p.klass,
        revenue_30d_msat=p.revenue_msat,
        cost_30d_msat=p.costs.running_msat,
        marginal_roi=p.marginal_roi,
        underwater_days=p.underwater_days,
        days_open=p.days_open,
        outbound_volume_7d_msat=flow.out_volume_7d_msat if flow is not None else 0,
    )


def roc(net_msat: int, capacity_msat: int) -> float:
    """Plain return on capacity over a period (not annualised)."""
    return net_msat / capacity_msat if capacity_msat > 0 else 0.0
