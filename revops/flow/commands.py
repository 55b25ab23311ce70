"""The flow feature's ``revenue-*`` commands: names, parameters (by name or
position), help text; the FlowCoordinator answers them (pure data)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from revops.commandspec import CommandSpec
from revops.jsonrpc import bad_param, opt

_SCID = re.compile(r"^[0-9]+x[0-9]+x[0-9]+$")
MAX_DAYS = 3650


def p_days(lo: int = 1, hi: int = MAX_DAYS) -> Callable[[str, Any], int]:
    """A whole number of days in ``lo..hi``, as a JSON integer or digits."""
    what = f"should be a whole number of days from {lo} to {hi}"

    def parse(name: str, value: Any) -> int:
        if isinstance(value, bool):
            raise bad_param(name, value, what)
        if isinstance(value, int):
            n = value
        elif isinstance(value, float) and value.is_integer():
            n = int(value)
        elif isinstance(value, str) and value.strip().isdigit():
            n = int(value.strip())
        else:
            raise bad_param(name, value, what)
        if not lo <= n <= hi:
            raise bad_param(name, value, what)
        return n

    return parse


def p_channel(name: str, value: Any) -> str:
    """A short channel id (``BLOCKxTXxOUT``); whether it is one of ours is
    the coordinator's check."""
    if isinstance(value, str) and _SCID.match(value.strip()):
        return value.strip()
    raise bad_param(name, value, "should be a short_channel_id such as 812345x1234x0")


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
