"""Hand-made channel facts and flow figures for the rebalancer's unit tests."""

from __future__ import annotations

from revops.channels import ChannelFacts
from revops.flow.classes import ChannelFlow

SAT = 1000


def peer(n: int) -> str:
    return "02" + f"{n:064x}"


def facts(scid: str, n: int, capacity_sat: int, local_sat: int, fee_ppm: int = 100,
          **kw) -> ChannelFacts:
    cap, local = capacity_sat * SAT, local_sat * SAT
    reserve = cap // 100
    return ChannelFacts(
        scid=scid, peer_id=kw.pop("peer_id", peer(n)), state=kw.pop("state", "CHANNELD_NORMAL"),
        opener="local", capacity_msat=cap, local_msat=local,
        spendable_msat=max(0, local - reserve), receivable_msat=max(0, cap - local - reserve),
        htlcs_in_flight=0, max_accepted_htlcs=483, fee_base_msat=0, fee_ppm=fee_ppm, **kw)


def flow(scid: str, out_7d_sat: int = 0, settled_7d: int = 0, liquidity_failed_7d: int = 0,
         revenue_7d_msat: int = 0, out_1d_sat: int = 0, settled_1d: int = 0,
         liquidity_failed_1d: int = 0) -> ChannelFlow:
    return ChannelFlow(
        scid=scid, class_7d="sink", class_30d="sink", flow_ratio_7d=None, flow_ratio_30d=None,
        out_volume_1d_msat=out_1d_sat * SAT, out_volume_7d_msat=out_7d_sat * SAT,
        out_volume_30d_msat=out_7d_sat * SAT, in_volume_1d_msat=0, in_volume_7d_msat=0,
        in_volume_30d_msat=0, settled_out_1d=settled_1d, settled_out_7d=settled_7d,
        settled_out_30d=settled_7d, settled_in_7d=0, settled_in_30d=0,
        liquidity_failed_out_1d=liquidity_failed_1d, liquidity_failed_out_7d=liquidity_failed_7d,
        local_failed_out_1d=0, local_failed_out_7d=liquidity_failed_7d,
        revenue_7d_msat=revenue_7d_msat, revenue_30d_msat=revenue_7d_msat)
