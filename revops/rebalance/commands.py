"""The rebalancer's ``revenue-*`` commands (pure data; the
RebalanceCoordinator answers them)."""

from __future__ import annotations

from revops.commandspec import CommandSpec
from revops.jsonrpc import opt, p_bool, p_int_range, p_sat, p_scid, req

REBALANCE_COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec(
        "revenue-rebalance",
        (req("from", p_scid), req("to", p_scid), req("amount_sats", p_sat),
         opt("max_fee_ppm", p_int_range(0, 100_000))),
        "Move amount_sats out of channel 'from' and back in through channel 'to' (a "
        "circular rebalance), under the same budget and safety checks as the automatic "
        "ones. max_fee_ppm defaults to what the destination's expected revenue allows; an "
        "unprofitable refill is refused with its reason. Answers once the payment is "
        "started; revenue-rebalance-status follows it.", route="rebalance"),
    CommandSpec(
        "revenue-rebalance-status", (opt("limit", p_int_range(1, 1000), 20),),
        "Rebalance jobs in flight, the last results, the futility breaker, the budget, and "
        "did it pay: realized vs predicted EV per channel and in total.", route="rebalance"),
    CommandSpec(
        "revenue-rebalance-cycle", (opt("dry_run", p_bool),),
        "Run a rebalance cycle now and return its decisions: destinations, sources, EV, "
        "refusals with reasons, jobs started. dry_run=true computes and reports without "
        "paying (the default is the configured dry-run).", route="rebalance"),
    CommandSpec(
        "revenue-budget", (),
        "The rebalance budget: limit, spent, reserved and remaining in each window (daily, "
        "and weekly when set).", route="rebalance"),
)
