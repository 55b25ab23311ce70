"""The flow feature's ``revenue-*`` commands: names, parameters (by name or
position), help text; the FlowCoordinator answers them (pure data)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from revops.commandspec import CommandSpec
from revops.jsonrpc import RpcError, bad_param, opt, p_scid
from revops.numbers import NumberRefused, parse_int

MAX_DAYS = 3650


def p_days(lo: int = 1, hi: int = MAX_DAYS) -> Callable[[str, Any], int]:
    """A whole number of days in ``lo..hi``, as a JSON integer or ASCII digits."""
    what = f"should be a whole number of days from {lo} to {hi}"

    def parse(name: str, value: Any) -> int:
        try:
            return parse_int(value, lo, hi)
        except NumberRefused:
            raise bad_param(name, value, what) from None

    return parse


def p_channel(name: str, value: Any) -> str:
    """A short channel id (``BLOCKxTXxOUT``); whether it is one of ours is
    the coordinator's check."""
    try:
        return p_scid(name, value)
    except RpcError:
        raise bad_param(name, value,
                        "should be a short_channel_id such as 812345x1234x0") from None


FLOW_COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec(
        "revenue-dashboard", (opt("window_days", p_days(), 30),),
        "The node's P&L over the last {window_days} days (default 30: the previous 30 UTC "
        "days and today so far): TLV, gross revenue, costs by kind, net profit, margin, "
        "return on capacity, top earners, bleeders, class counts, sync state and warnings.",
        route="flow"),
    CommandSpec(
        "revenue-profitability", (opt("channel", p_channel),),
        "Per-channel profitability over 30 days: revenue (fees earned as the outgoing "
        "channel), costs, net, marginal ROI (annualised), days open, class (profitable, "
        "break-even, underwater, stagnant, zombie), underwater days, bleeder flag, and "
        "lifetime figures. Every open channel, or only {channel} (a short_channel_id).",
        route="flow"),
    CommandSpec(
        "revenue-flow", (opt("channel", p_channel),),
        "Per-channel flow: class over 7 and 30 days (source, sink, balanced, dormant), "
        "volumes in and out over 1/7/30 days, settled and failed forwards, and forwards "
        "failed for lack of liquidity or slots. With {channel}: also its daily buckets and "
        "latest forwards.", route="flow"),
    CommandSpec(
        "revenue-report", (opt("days", p_days(), 30),),
        "Daily financial snapshots of the last {days} days (default 30): local balance, "
        "on-chain funds, TLV, capacity, channels, cumulative revenue and costs, and what "
        "changed between snapshots.", route="flow"),
    CommandSpec(
        "revenue-forwards-sync", (),
        "Sync new forwards and status changes now, and show the state of the local copy "
        "of listforwards: hydration progress, cursors, stored rows, lag, retention.",
        route="flow"),
    CommandSpec(
        "revenue-snapshot", (),
        "Take a financial snapshot now (listpeerchannels and listfunds) and store it; "
        "fails without storing anything if the node does not answer.", route="flow"),
)
