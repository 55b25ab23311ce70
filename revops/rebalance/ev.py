"""Is a refill worth it, and what may it pay (pure, integer msat out).

For moving ``amount`` from a source into a destination:

- revenue: what the moved liquidity is expected to earn at the
  destination's fee over the horizon: the fee on the part of the amount its
  demand would use within ``rebalance-horizon-days`` (liquidity is sold
  once: at most the whole amount, at most the horizon's demand). The fee is
  the destination's *broadcast* fee, falling back to the channel's fee when
  none is recorded, de-rated by the scarcity premium the fee engine adds to
  a depleted channel: the refill itself removes it (that premium lowers the
  price the liquidity will be sold at; pricing EV at it would overpay). A
  fee the operator fixed (static or hive policy) is taken as it is; and
  never above what the channel's liquidity actually sold at over the last
  week (its fees over its volume): a fee raised while the channel sat empty
  has not been shown to sell;
- opportunity: what the source would have sold of the amount within the
  horizon (its own demand beyond what it keeps): usually nothing, since a
  source only gives its surplus;
- max fee: a share (``rebalance-max-fee-share``) of what the destination
  charges for the same amount, and never more than leaves
  ``rebalance-min-profit`` of expected profit;
- the refill is refused, with its reason, when no fee would leave that profit.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from revops.channels import ChannelFacts
from revops.fees.alpha import scarcity_multiplier
from revops.rebalance.bolt7 import share_msat, times


@dataclass(frozen=True)
class EvParams:
    horizon_days: float = 7.0
    max_fee_share: float = 0.5
    min_profit_msat: int = 10_000
    scarcity_threshold: float = 0.30

    @classmethod
    def from_config(cls, cfg: Any) -> EvParams:
        return cls(horizon_days=float(cfg["rebalance-horizon-days"]),
                   max_fee_share=float(cfg["rebalance-max-fee-share"]),
                   min_profit_msat=int(cfg["rebalance-min-profit"]) * 1000,
                   scarcity_threshold=float(cfg["scarcity-threshold"]))


@dataclass(frozen=True)
class Estimate:
    amount_msat: int
    fee_ppm: int  # the destination's fee the revenue is priced at
    revenue_msat: int
    opportunity_msat: int
    max_fee_msat: int
    ok: bool
    reason: str

    def ev_msat(self, fee_msat: int) -> int:
        """Expected profit if the refill costs ``fee_msat``."""
        return self.revenue_msat - self.opportunity_msat - fee_msat

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def expected_fee_ppm(broadcast_ppm: int | None, facts: ChannelFacts, amount_msat: int,
                     scarcity_threshold: float, dynamic: bool = True) -> int:
    """The fee the moved liquidity will be sold at: the broadcast fee (or
    the channel's), without the scarcity premium the refill removes (only a
    dynamically priced channel has one: a static or hive policy's fee is
    the operator's)."""
    fee = facts.fee_ppm if broadcast_ppm is None else int(broadcast_ppm)
    if not dynamic:
        return fee
    now = scarcity_multiplier(facts, scarcity_threshold)
    after = scarcity_multiplier(
        dataclasses.replace(facts, local_msat=min(facts.capacity_msat,
                                                  facts.local_msat + amount_msat)),
        scarcity_threshold)
    if now <= after:
        return fee
    return times(fee, after / now)


MIN_SALES = 5  # forwards a week before the price they fetched is taken as the price


def sold_at_ppm(flow: Any | None) -> int | None:
    """What the channel's outbound liquidity actually sold at lately: its
    fees over its volume in the last week (None with too few sales to say)."""
    if flow is None:
        return None
    volume = int(getattr(flow, "out_volume_7d_msat", 0) or 0)
    settled = int(getattr(flow, "settled_out_7d", 0) or 0)
    if volume <= 0 or settled < MIN_SALES:
        return None
    return int(int(getattr(flow, "revenue_7d_msat", 0) or 0) * 1_000_000 // volume)


def price_ppm(broadcast_ppm: int | None, facts: ChannelFacts, flow: Any | None,
              amount_msat: int, scarcity_threshold: float, dynamic: bool = True) -> int:
    """The fee the moved liquidity is priced at for its EV: the broadcast
    fee (see :func:`expected_fee_ppm`), and never more than what the
    channel's liquidity sold at over the last week: a fee raised while the
    channel was empty has not been shown to sell."""
    fee = expected_fee_ppm(broadcast_ppm, facts, amount_msat, scarcity_threshold, dynamic)
    sold = sold_at_ppm(flow)
    return fee if sold is None else min(fee, sold)


def estimate(amount_msat: int, fee_ppm: int, dest_demand_msat_day: int,
             source_local_msat: int, source_fee_ppm: int, source_demand_msat_day: int,
             p: EvParams) -> Estimate:
    """The EV of moving ``amount_msat`` (see the module docstring)."""
    used = min(amount_msat, times(dest_demand_msat_day, p.horizon_days))
    revenue = share_msat(used, fee_ppm)
    # What the source would sell within the horizon out of what it has left.
    left = source_local_msat - amount_msat
    needed = times(source_demand_msat_day, p.horizon_days)
    short = max(0, min(amount_msat, needed - max(0, left)))
    opportunity = share_msat(short, source_fee_ppm)
    cap = share_msat(amount_msat, fee_ppm * p.max_fee_share)
    room = revenue - opportunity - p.min_profit_msat
    max_fee = min(cap, room)
    if used <= 0:
        return Estimate(amount_msat, fee_ppm, 0, opportunity, 0, False,
                        "unprofitable: no demand at the destination within the horizon")
    if max_fee <= 0:
        return Estimate(
            amount_msat, fee_ppm, revenue, opportunity, 0, False,
            f"unprofitable: {used} msat of demand in {p.horizon_days:g} days at {fee_ppm} ppm "
            f"earns {revenue} msat; minus {opportunity} msat the source would have earned "
            f"and the {p.min_profit_msat} msat minimum profit, nothing is left to pay "
            f"for routing")
    return Estimate(amount_msat, fee_ppm, revenue, opportunity, max_fee, True, "")
