"""The fee engine's ``revenue-*`` commands."""

from __future__ import annotations

from revops.commandspec import CommandSpec
from revops.jsonrpc import (
    opt,
    p_bool,
    p_enum,
    p_int_range,
    p_node_id,
    p_real_range,
    p_scid,
    p_text,
    req,
)

FEE_PPM = p_int_range(0, 100_000)
REASON_MAX = 500  # characters of an ignore reason
REASON_MAX = 500  # characters of an ignore reason
BASE_MSAT = p_int_range(0, 100_000)

FEE_COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec(
        "revenue-fees", (opt("channel", p_scid),),
        "Fee state per channel: target and broadcast fee, mode and reason, multipliers, "
        "floor and ceiling, hill-climb and probe state, next evaluation.", route="fee"),
    CommandSpec(
        "revenue-history", (opt("channel", p_scid), opt("limit", p_int_range(1, 10_000), 50)),
        "Fee changes, newest first, with the reason for each (broadcast, failed, dry-run).",
        route="fee"),
    CommandSpec(
        "revenue-fee-cycle", (opt("dry_run", p_bool),),
        "Run a fee cycle now and return its decisions. dry_run=true computes and reports "
        "without sending setchannel (the default is the configured dry-run).", route="fee"),
    CommandSpec(
        "revenue-set-fee",
        (req("channel", p_scid), req("fee_ppm", FEE_PPM), opt("base_msat", BASE_MSAT),
         opt("ttl_hours", p_real_range(0.01, 87_600))),
        "Pin a channel's fee (a manual override, highest priority) for ttl_hours, or until "
        "revenue-unset-fee when no ttl is given.", route="fee"),
    CommandSpec(
        "revenue-unset-fee", (req("channel", p_scid),),
        "Remove a channel's manual fee override; the engine prices it again.", route="fee"),
    CommandSpec(
        "revenue-policy",
        (req("action", p_enum("list", "get", "set", "reset")), opt("peer_id", p_node_id),
         opt("mode", p_enum("dynamic", "static", "passive", "hive")),
         opt("fee_ppm", FEE_PPM), opt("base_msat", BASE_MSAT)),
        "Per-peer fee policy: dynamic (default: the engine prices it), static (fee_ppm "
        "[base_msat] fixed), passive (never touched), hive (0 ppm). "
        "'list', 'get peer_id', 'set peer_id mode [fee_ppm] [base_msat]', 'reset peer_id'.",
        route="fee"),
    CommandSpec(
        "revenue-ignore", (req("peer_id", p_node_id), opt("reason", p_text(REASON_MAX), "")),
        "Never touch this peer's channels: no fee changes, no rebalancing.", route="fee"),
    CommandSpec(
        "revenue-unignore", (req("peer_id", p_node_id),),
        "Manage this peer's channels again.", route="fee"),
    CommandSpec("revenue-list-ignored", (), "Ignored peers, with reason and since when.",
                route="fee"),
    CommandSpec(
        "revenue-probe", (req("channel", p_scid),),
        "Start the zero-fee probe (defibrillator) on a channel: 0 ppm until a forward proves "
        "it alive or the probe times out. Moves no money.", route="fee"),
    CommandSpec(
        "revenue-mempool", (),
        "The mempool reflex: current on-chain fee rate, its 24 h average, intensity and the "
        "fee-floor multiplier.", route="mempool"),
)
