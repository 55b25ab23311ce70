"""Flow classes and per-channel flow figures (pure).

Over a window, a channel is:

- ``dormant``: fewer settled forwards through it (in or out) than
  ``flow-dormant-forwards-per-week`` scaled to the window;
- ``sink``: payments mostly leave through it (outbound volume dominates:
  its local balance drains, it needs refills);
- ``source``: payments mostly arrive through it (inbound volume dominates:
  its local balance grows, it can fund refills elsewhere);
- ``balanced``: neither side dominates.

Dominance is the flow ratio ``(out - in) / (out + in)`` against
``flow-imbalance-ratio``: at or above it a sink, at or below its negative
a source. :class:`ChannelFlow` carries the figures the fee engine and the
rebalancer read, for the 1, 7 and 30 day windows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from revops.flow.buckets import ZERO, Totals

FLOW_CLASSES = ("source", "sink", "balanced", "dormant")
WINDOWS = (1, 7, 30)


@dataclass(frozen=True)
class FlowParams:
    imbalance_ratio: float = 0.4
    dormant_forwards_per_week: float = 1.0

    @classmethod
    def from_config(cls, cfg: Any) -> FlowParams:
        return cls(imbalance_ratio=float(cfg["flow-imbalance-ratio"]),
                   dormant_forwards_per_week=float(cfg["flow-dormant-forwards-per-week"]))


def flow_ratio(t: Totals) -> float | None:
    """``(out - in) / (out + in)`` by settled volume; None without volume."""
    out, inn = t.out_volume_msat, t.in_volume_msat
    if out + inn <= 0:
        return None
    return (out - inn) / (out + inn)


def flow_class(t: Totals, span_days: float, params: FlowParams) -> str:
    """The class of a channel whose window of ``span_days`` days totals ``t``."""
    needed = params.dormant_forwards_per_week * max(span_days, 0.0) / 7.0
    ratio = flow_ratio(t)
    if ratio is None or t.settled == 0 or t.settled < needed:
        return "dormant"
    if ratio >= params.imbalance_ratio:
        return "sink"
    if ratio <= -params.imbalance_ratio:
        return "source"
    return "balanced"


@dataclass(frozen=True)
class ChannelFlow:
    """What flowed through one channel lately (for the fee engine and the
    rebalancer). Volumes and revenue in msat; counts of forwards."""

    scid: str
    class_7d: str
    class_30d: str
    flow_ratio_7d: float | None
    flow_ratio_30d: float | None
    out_volume_1d_msat: int
    out_volume_7d_msat: int
    out_volume_30d_msat: int
    in_volume_1d_msat: int
    in_volume_7d_msat: int
    in_volume_30d_msat: int
    settled_out_1d: int
    settled_out_7d: int
    settled_out_30d: int
    settled_in_7d: int
    settled_in_30d: int
    # local_failed with this channel as the outgoing one: demand we lost
    liquidity_failed_out_1d: int
    liquidity_failed_out_7d: int
    local_failed_out_1d: int
    local_failed_out_7d: int
    revenue_7d_msat: int
    revenue_30d_msat: int

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def channel_flow(scid: str, windows: Mapping[int, Totals], spans: Mapping[int, float],
                 params: FlowParams) -> ChannelFlow:
    """A channel's figures from its totals over the 1, 7 and 30 day
    windows (a window it had no bucket in counts as zero)."""
    d1, d7, d30 = (windows.get(n, ZERO) for n in WINDOWS)
    return ChannelFlow(
        scid=scid,
        class_7d=flow_class(d7, spans.get(7, 7.0), params),
        class_30d=flow_class(d30, spans.get(30, 30.0), params),
        flow_ratio_7d=flow_ratio(d7),
        flow_ratio_30d=flow_ratio(d30),
        out_volume_1d_msat=d1.out_volume_msat,
        out_volume_7d_msat=d7.out_volume_msat,
        out_volume_30d_msat=d30.out_volume_msat,
        in_volume_1d_msat=d1.in_volume_msat,
        in_volume_7d_msat=d7.in_volume_msat,
        in_volume_30d_msat=d30.in_volume_msat,
        settled_out_1d=d1.settled_out,
        settled_out_7d=d7.settled_out,
        settled_out_30d=d30.settled_out,
        settled_in_7d=d7.settled_in,
        settled_in_30d=d30.settled_in,
        liquidity_failed_out_1d=d1.liquidity_failed_out,
        liquidity_failed_out_7d=d7.liquidity_failed_out,
        local_failed_out_1d=d1.local_failed_out,
        local_failed_out_7d=d7.local_failed_out,
        revenue_7d_msat=d7.fees_msat,
        revenue_30d_msat=d30.fees_msat,
    )
