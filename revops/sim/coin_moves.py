"""lightningd's coin movements in the simulated node: every msat that moves, once.

Since v25.09 lightningd itself records each balance change as a *move*
(``listchainmoves``, ``listchannelmoves``, the ``coin_movement``
notification) and the bookkeeper plugin builds its accounts from them
(see bookkeeper.py). The sim records the same moves where its market
moves money, so bookkeeper's view agrees with the ledger (``dev-ledger``)
to the msat:

- channel moves (``wallet/coin_mvts``): a settled forward debits the out
  channel ``out_msat`` and credits the in channel ``in_msat``, both
  ``routed`` with the forward's fee; one of our payments (a circular
  rebalance) credits the last channel the amount (``invoice``) and then
  debits the first channel what it sent, with the fee, its ``part_id`` and
  ``group_id`` (lightningd's order: the credit arrives first);
- chain moves: ``channel_open`` (at lock-in; ``opener`` when we funded
  it), ``channel_close`` when the close confirms (debit: our balance) and
  the ``deposit`` of what we got back to the wallet; wallet ``deposit``\\ s.

The node's state at the start of a run is taken as lightningd's own
migration takes an existing node (``wallet.c``, the upgrade that created
these tables): a ``deposit`` for each confirmed wallet output, then per
open channel its ``channel_open`` with the balance it was funded with and a
``journal_entry`` for everything before (the channel's balance now minus
that). Historical forwards have no moves, as on an upgraded node.
Timestamps are whole seconds of the market clock. Pure bookkeeping: the
market calls in, nothing here reads a clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

HRP = {"bitcoin": "bc", "testnet": "tb", "testnet4": "tb", "signet": "tbs", "regtest": "bcrt"}
WALLET = "wallet"


@dataclass(frozen=True, slots=True)
class ChainMove:
    """One on-chain balance change of an account (lightningd's chain_coin_mvt)."""

    created_index: int
    account: str
    credit: int
    debit: int
    timestamp: int
    tag: str
    extra_tags: tuple[str, ...]
    utxo: str
    output_msat: int
    blockheight: int
    peer_id: str | None = None
    spending_txid: str | None = None
    output_count: int = 0

    def to_json(self) -> dict[str, Any]:
        """``json_add_chain_mvt_fields`` (listchainmoves, coin_movement)."""
        out: dict[str, Any] = {"created_index": self.created_index, "account_id": self.account,
                               "credit_msat": self.credit, "debit_msat": self.debit,
                               "timestamp": self.timestamp, "primary_tag": self.tag,
                               "extra_tags": list(self.extra_tags), "utxo": self.utxo}
        if self.peer_id is not None:
            out["peer_id"] = self.peer_id
        if self.spending_txid is not None:
            out["spending_txid"] = self.spending_txid
        out["output_msat"] = self.output_msat
        if self.output_count:
            out["output_count"] = self.output_count
        out["blockheight"] = self.blockheight
        return out


@dataclass(frozen=True, slots=True)
class ChannelMove:
    """One off-chain balance change of a channel (lightningd's channel_coin_mvt)."""

    created_index: int
    account: str
    credit: int
    debit: int
    timestamp: int
    tag: str
    fees: int = 0
    payment_hash: str | None = None
    part_id: int | None = None
    group_id: int | None = None

    def to_json(self, extra_tags: bool = False) -> dict[str, Any]:
        """``json_add_channel_mvt_fields`` (the notification adds an empty
        ``extra_tags`` to look like a chain move)."""
        out: dict[str, Any] = {"created_index": self.created_index, "account_id": self.account,
                               "credit_msat": self.credit, "debit_msat": self.debit,
                               "timestamp": self.timestamp, "primary_tag": self.tag}
        if extra_tags:
            out["extra_tags"] = []
        if self.payment_hash is not None:
            out["payment_hash"] = self.payment_hash
        if self.part_id is not None:
            out["part_id"] = self.part_id
            out["group_id"] = self.group_id
        out["fees_msat"] = self.fees
        return out


class CoinMoves:
    """Every move of the node's life, in created order, per kind."""

    def __init__(self) -> None:
        self.chain: list[ChainMove] = []
        self.channel: list[ChannelMove] = []
        # What bookkeeper learns from listinvoices/listsendpays: a payment's description.
        self.descriptions: dict[str, str] = {}

    def add_chain(self, account: str, credit: int, debit: int, timestamp: int, tag: str,
                  utxo: str, output_msat: int, blockheight: int, *,
                  extra_tags: tuple[str, ...] = (), peer_id: str | None = None,
                  spending_txid: str | None = None, output_count: int = 0) -> ChainMove:
        move = ChainMove(len(self.chain) + 1, account, credit, debit, int(timestamp), tag,
                         extra_tags, utxo, output_msat, blockheight, peer_id, spending_txid,
                         output_count)
        self.chain.append(move)
        return move

    def add_channel(self, account: str, credit: int, debit: int, timestamp: int, tag: str, *,
                    fees: int = 0, payment_hash: str | None = None, part_id: int | None = None,
                    group_id: int | None = None) -> ChannelMove:
        move = ChannelMove(len(self.channel) + 1, account, credit, debit, int(timestamp), tag,
                           fees, payment_hash, part_id, group_id)
        self.channel.append(move)
        return move

    @staticmethod
    def page(moves: list[Any], start: int, limit: int | None) -> list[Any]:
        """Moves with ``created_index >= start`` (at most ``limit``)."""
        first = max(start, 1) - 1
        end = len(moves) if limit is None else min(len(moves), first + limit)
        return moves[first:end]


def notification(move: ChainMove | ChannelMove, node_id: str, network: str) -> dict[str, Any]:
    """The ``coin_movement`` payload for a move (version 2)."""
    head = {"version": 2, "coin_type": HRP.get(network, "bcrt"), "node_id": node_id}
    if isinstance(move, ChainMove):
        return {**head, "type": "chain_mvt", **move.to_json()}
    return {**head, "type": "channel_mvt", **move.to_json(extra_tags=True)}
