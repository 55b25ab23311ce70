"""Coin movements and the bookkeeper plugin's commands, as the simulated node serves them.

- ``listchainmoves``, ``listchannelmoves`` (lightningd v25.09+,
  ``lightningd/coin_mvts.c``): the moves of coin_moves.py, paginated by
  ``index=created`` with ``start`` and ``limit``;
- ``bkpr-listaccountevents [account] [payment_id]``, ``bkpr-listincome
  [consolidate_fees] [start_time] [end_time]``, ``bkpr-listbalances``,
  ``bkpr-channelsapy [start_time] [end_time]``: bookkeeper's answers
  (bookkeeper.py), with its parameter errors.

The moves are those of the market's ledger, so a plugin's bookkeeping
agrees with ``dev-ledger``: routed income is the ledger's revenue,
``rebalance_fee`` its rebalance cost, balances its channels' ``to_us_msat``.
"""

from __future__ import annotations

from typing import Any

from revops.sim import bookkeeper
from revops.sim.coin_moves import CoinMoves
from revops.sim.jsonrpc import (
    JSONRPC2_INVALID_PARAMS,
    MethodTable,
    RpcError,
    bad_param,
    opt,
    p_sha256,
    p_string,
    p_u32,
    p_u64,
)

INDEXES = ("created", "updated", "deleted")


def p_index(name: str, value: Any) -> str:
    """``param_index``."""
    if isinstance(value, str) and value in INDEXES:
        return value
    raise bad_param(name, value, "unknown index")


def p_bool_word(name: str, value: Any) -> bool:
    """``param_bool``: a JSON boolean, or the strings true/false."""
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return value == "true"
    raise bad_param(name, value, "should be 'true' or 'false'")


def _moves(node: Any) -> CoinMoves:
    return node.market.coin_moves


def _page(kind: str, moves: list[Any], index: str | None, start: int,
          limit: int | None) -> list[Any]:
    if start != 0 and index is None:
        raise RpcError(JSONRPC2_INVALID_PARAMS, "Can only specify {start} with {index}")
    if limit is not None and index is None:
        raise RpcError(JSONRPC2_INVALID_PARAMS, "Can only specify {limit} with {index}")
    if index is not None and index != "created":
        raise RpcError(JSONRPC2_INVALID_PARAMS,
                       f"index must be 'created', since {kind} are never updated")
    return CoinMoves.page(moves, start, limit)


def register(table: MethodTable) -> None:
    """Add the coin-movement and bookkeeper methods to the host's table."""

    @table.method("listchainmoves", opt("index", p_index), opt("start", p_u64, 0),
                  opt("limit", p_u32), category="utility",
                  description="List all chain coin movements")
    def listchainmoves(node: Any, index: str | None, start: int,
                       limit: int | None) -> dict[str, Any]:
        moves = _page("chainmoves", _moves(node).chain, index, start, limit)
        return {"chainmoves": [m.to_json() for m in moves]}

    @table.method("listchannelmoves", opt("index", p_index), opt("start", p_u64, 0),
                  opt("limit", p_u32), category="utility",
                  description="List all channel coin movements")
    def listchannelmoves(node: Any, index: str | None, start: int,
                         limit: int | None) -> dict[str, Any]:
        moves = _page("channelmoves", _moves(node).channel, index, start, limit)
        return {"channelmoves": [m.to_json() for m in moves]}

    @table.method("bkpr-listaccountevents", opt("account", p_string),
                  opt("payment_id", p_sha256), category="bookkeeping",
                  description="List all events for an {account} or {payment_id}")
    def listaccountevents(node: Any, account: str | None,
                          payment_id: str | None) -> dict[str, Any]:
        moves = _moves(node)
        if account is not None and payment_id is not None:
            raise RpcError(JSONRPC2_INVALID_PARAMS,
                           "Can only specify one of {account} or {payment_id}")
        if account is not None and account not in bookkeeper.accounts(moves):
            raise RpcError(JSONRPC2_INVALID_PARAMS, f"Account '{account}' not found")
        return {"events": bookkeeper.account_events(moves, node.market.hrp, account,
                                                     payment_id)}

    @table.method("bkpr-listincome", opt("consolidate_fees", p_bool_word, True),
                  opt("start_time", p_u64, 0), opt("end_time", p_u64, bookkeeper.U32_MAX),
                  category="bookkeeping",
                  description="List all income impacting events")
    def listincome(node: Any, consolidate_fees: bool, start_time: int,
                   end_time: int) -> dict[str, Any]:
        return {"income_events": bookkeeper.income(_moves(node), node.market.hrp,
                                                   consolidate_fees, start_time, end_time)}

    @table.method("bkpr-listbalances", category="bookkeeping",
                  description="List current account balances")
    def listbalances(node: Any) -> dict[str, Any]:
        return {"accounts": bookkeeper.balances(_moves(node), node.market.hrp)}

    @table.method("bkpr-channelsapy", opt("start_time", p_u64, 0),
                  opt("end_time", p_u64, bookkeeper.U32_MAX), category="bookkeeping",
                  description="Stats on channel fund usage")
    def channelsapy(node: Any, start_time: int, end_time: int) -> dict[str, Any]:
        m = node.market
        return {"channels_apy": bookkeeper.channels_apy(_moves(node), m.blockheight,
                                                        start_time, end_time)}
