"""The bookkeeper plugin's views of the coin moves (``plugins/bkpr/`` of CLN v26.06).

Bookkeeper is on by default in CLN: it reads lightningd's moves
(coin_moves.py) into accounts (``wallet``, one per channel) and answers
``bkpr-listaccountevents``, ``bkpr-listincome``, ``bkpr-listbalances`` and
``bkpr-channelsapy`` from them. Pure functions of a :class:`CoinMoves`;
the rules, each from the named source file:

- events (``bookkeeper.c`` json_add_events): chain, channel and on-chain
  fee events, each list by (timestamp, created_index), merged by
  timestamp (chain first, then channel, then fees on a tie). A channel
  event carries ``fees_msat`` when non-zero, ``payment_id``/``part_id``
  when it has a payment, ``is_rebalance`` always: a debit ``invoice`` and a
  credit ``invoice`` with the same payment hash are a rebalance
  (``rebalances.c``);
- on-chain fees (``onchain_fee.c``, for what the sim puts on chain):
  what an account's outputs spent in a transaction lost on the way back to
  us (a channel close less the wallet deposit it made);
- income (``incomestmt.c``): external wallet deposits, ``invoice``
  credits, ``invoice`` debits less their fee plus an ``invoice_fee``,
  rebalances only as a ``rebalance_fee``, routed fees on the side that
  forwarded out, ``journal_entry``/``pushed`` as they are, on-chain fees as
  debits; ``start_time < timestamp <= end_time``;
- balances: credits less debits per account, closed accounts included
  (``account_closed``, ``account_resolved``: a mutual close resolves in
  the block that confirms it);
- channel APY (``channelsapy.c``): routed volume and fees per channel in
  a time window, over the channel's opening balance and its age in
  blocks (``BLOCK_YEAR`` = 52,364), percentages with four decimals, and a
  ``net`` roll-up.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from revops.sim.coin_moves import WALLET, ChainMove, ChannelMove, CoinMoves

BLOCK_YEAR = 52364
U32_MAX = 0xFFFFFFFF


@dataclass(frozen=True)
class OnchainFee:
    account: str
    txid: str
    amount: int
    timestamp: int


@dataclass
class Account:
    name: str
    peer_id: str | None = None
    we_opened: bool = False
    opened: ChainMove | None = None
    closed: ChainMove | None = None


def accounts(moves: CoinMoves) -> dict[str, Account]:
    """Every account, the wallet first, then channels as they appeared."""
    out: dict[str, Account] = {WALLET: Account(WALLET)}
    for m in moves.chain:
        acct = out.setdefault(m.account, Account(m.account))
        if m.tag == "channel_open":
            acct.peer_id, acct.we_opened, acct.opened = m.peer_id, "opener" in m.extra_tags, m
        elif m.tag == "channel_close":
            acct.closed = m
    for c in moves.channel:
        out.setdefault(c.account, Account(c.account))
    return out


def rebalances(moves: CoinMoves) -> set[int]:
    """created_index of every channel move that is half of a rebalance."""
    credits: dict[str, int] = {}
    paired: set[int] = set()
    for c in moves.channel:
        if c.tag != "invoice" or c.payment_hash is None:
            continue
        if c.credit:
            credits[c.payment_hash] = c.created_index
        elif c.payment_hash in credits:
            paired.update((c.created_index, credits[c.payment_hash]))
    return paired


def onchain_fees(moves: CoinMoves) -> list[OnchainFee]:
    """Per (account, closing txid): the balance the close took out of the
    account less what came back to the wallet from that transaction."""
    back: dict[str, int] = {}
    for m in moves.chain:
        if m.account == WALLET and m.tag == "deposit":
            txid = m.utxo.split(":")[0]
            back[txid] = back.get(txid, 0) + m.credit
    out = []
    for m in moves.chain:
        if m.tag == "channel_close" and m.spending_txid is not None:
            fee = m.debit - back.get(m.spending_txid, 0)
            if fee > 0:
                out.append(OnchainFee(m.account, m.spending_txid, fee, m.timestamp))
    out.sort(key=lambda f: (f.timestamp, f.account, f.txid))
    return out


def _by_time(items: Iterable[Any]) -> list[Any]:
    return sorted(items, key=lambda m: (m.timestamp, m.created_index))


def _merge(chain: list[Any], channel: list[Any], fees: list[Any]) -> list[tuple[str, Any]]:
    """bookkeeper's three-way merge: lowest timestamp first; on a tie chain,
    then channel, then fee."""
    out: list[tuple[str, Any]] = []
    i = j = k = 0
    while i < len(chain) or j < len(channel) or k < len(fees):
        stamps = [x[n].timestamp for x, n in ((chain, i), (channel, j), (fees, k)) if n < len(x)]
        low = min(stamps)
        if i < len(chain) and chain[i].timestamp == low:
            out.append(("chain", chain[i]))
            i += 1
        elif j < len(channel) and channel[j].timestamp == low:
            out.append(("channel", channel[j]))
            j += 1
        else:
            out.append(("fee", fees[k]))
            k += 1
    return out


# -- bkpr-listaccountevents ------------------------------------------------------------


def chain_event(m: ChainMove, hrp: str) -> dict[str, Any]:
    out: dict[str, Any] = {"account": m.account, "type": "chain", "tag": m.tag,
                           "credit_msat": m.credit, "debit_msat": m.debit, "currency": hrp,
                           "outpoint": m.utxo}
    if m.spending_txid is not None:
        out["txid"] = m.spending_txid
    out["timestamp"] = m.timestamp
    out["blockheight"] = m.blockheight
    return out


def channel_event(c: ChannelMove, hrp: str, moves: CoinMoves, paired: set[int]) -> dict[str, Any]:
    out: dict[str, Any] = {"account": c.account, "type": "channel", "tag": c.tag,
                           "credit_msat": c.credit, "debit_msat": c.debit}
    if c.fees:
        out["fees_msat"] = c.fees
    out["currency"] = hrp
    if c.payment_hash is not None:
        out["payment_id"] = c.payment_hash
        out["part_id"] = c.part_id or 0
        desc = moves.descriptions.get(c.payment_hash)
        if desc is not None and c.tag == "invoice":
            out["description"] = desc
    out["timestamp"] = c.timestamp
    out["is_rebalance"] = c.created_index in paired
    return out


def fee_event(f: OnchainFee, hrp: str) -> dict[str, Any]:
    return {"account": f.account, "type": "onchain_fee", "tag": "onchain_fee",
            "credit_msat": f.amount, "debit_msat": 0, "currency": hrp,
            "timestamp": f.timestamp, "txid": f.txid}


def account_events(moves: CoinMoves, hrp: str, account: str | None = None,
                   payment_id: str | None = None) -> list[dict[str, Any]]:
    """``bkpr-listaccountevents`` (all, one account's, or one payment's)."""
    chain, channel, fees = moves.chain, moves.channel, onchain_fees(moves)
    if account is not None:
        chain = [m for m in chain if m.account == account]
        channel = [c for c in channel if c.account == account]
        fees = [f for f in fees if f.account == account]
    elif payment_id is not None:
        chain = [m for m in chain if m.spending_txid == payment_id]
        channel = [c for c in channel if c.payment_hash == payment_id]
        fees = [f for f in fees if f.txid == payment_id]
    paired = rebalances(moves)
    out = []
    for kind, item in _merge(_by_time(chain), _by_time(channel), fees):
        if kind == "chain":
            out.append(chain_event(item, hrp))
        elif kind == "channel":
            out.append(channel_event(item, hrp, moves, paired))
        else:
            out.append(fee_event(item, hrp))
    return out


# -- bkpr-listincome ----------------------------------------------------------------------


def _income(account: str, tag: str, credit: int, debit: int, hrp: str, timestamp: int,
            description: str | None = None, outpoint: str | None = None,
            txid: str | None = None, payment_id: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"account": account, "tag": tag, "credit_msat": credit,
                           "debit_msat": debit, "currency": hrp, "timestamp": timestamp}
    for key, value in (("description", description), ("outpoint", outpoint), ("txid", txid),
                       ("payment_id", payment_id)):
        if value is not None:
            out[key] = value
    return out


def income(moves: CoinMoves, hrp: str, consolidate_fees: bool = True, start_time: int = 0,
           end_time: int = U32_MAX) -> list[dict[str, Any]]:
    """``bkpr-listincome``: what the node earned and spent."""
    def inside(t: int) -> bool:
        return start_time < t <= end_time

    spent_by = {m.spending_txid for m in moves.chain if m.spending_txid is not None}
    paired = rebalances(moves)
    chain = [m for m in _by_time(moves.chain) if inside(m.timestamp)]
    channel = [c for c in _by_time(moves.channel) if inside(c.timestamp)]
    fees = [f for f in onchain_fees(moves) if inside(f.timestamp)]
    out: list[dict[str, Any]] = []
    for kind, item in _merge(chain, channel, fees):
        if kind == "chain":
            m = item
            # A deposit nothing of ours spent into is income from outside.
            if (m.tag == "deposit" and m.account == WALLET
                    and m.utxo.split(":")[0] not in spent_by):
                out.append(_income(m.account, m.tag, m.credit, m.debit, hrp, m.timestamp,
                                   outpoint=m.utxo))
        elif kind == "channel":
            out.extend(_channel_income(item, hrp, moves, paired))
        else:
            out.append(_income(item.account, "onchain_fee", 0, item.amount, hrp,
                               item.timestamp, txid=item.txid))
    return out


def _channel_income(c: ChannelMove, hrp: str, moves: CoinMoves,
                    paired: set[int]) -> list[dict[str, Any]]:
    if not c.credit and not c.debit:
        return []
    desc = moves.descriptions.get(c.payment_hash or "") if c.tag == "invoice" else None

    def inc(tag: str, credit: int, debit: int) -> dict[str, Any]:
        return _income(c.account, tag, credit, debit, hrp, c.timestamp, description=desc,
                       payment_id=c.payment_hash)

    if c.tag == "invoice":
        rebalance = c.created_index in paired
        out = []
        if not rebalance:
            out.append(inc("invoice", c.credit, c.debit - c.fees if c.debit else 0))
        if c.debit and c.fees:
            out.append(inc("rebalance_fee" if rebalance else "invoice_fee", 0, c.fees))
        return out
    if c.tag == "routed":
        return [inc("routed", c.fees, 0)] if c.debit else []
    if c.tag == "penalty_adj":
        return [inc(c.tag, c.credit, c.debit)] if c.credit else []
    return [inc(c.tag, c.credit, c.debit)]


# -- bkpr-listbalances ----------------------------------------------------------------------


def balances(moves: CoinMoves, hrp: str) -> list[dict[str, Any]]:
    """``bkpr-listbalances``: every account's balance (credits less debits)."""
    total: dict[str, int] = {}
    for m in moves.chain:
        total[m.account] = total.get(m.account, 0) + m.credit - m.debit
    for c in moves.channel:
        total[c.account] = total.get(c.account, 0) + c.credit - c.debit
    out = []
    for acct in accounts(moves).values():
        entry: dict[str, Any] = {"account": acct.name}
        if acct.name != WALLET:
            entry["peer_id"] = acct.peer_id
            entry["we_opened"] = acct.we_opened
            entry["account_closed"] = acct.closed is not None
            entry["account_resolved"] = acct.closed is not None
            if acct.closed is not None:
                entry["resolved_at_block"] = acct.closed.blockheight
        entry["balances"] = [{"balance_msat": max(0, total.get(acct.name, 0)),
                              "coin_type": hrp}]
        out.append(entry)
    return out


# -- bkpr-channelsapy -----------------------------------------------------------------------


@dataclass
class _Apy:
    account: str
    routed_in: int = 0
    routed_out: int = 0
    fees_in: int = 0
    fees_out: int = 0
    push_in: int = 0
    push_out: int = 0
    lease_in: int = 0
    lease_out: int = 0
    our_start: int = 0
    total_start: int = 0
    start_block: int = 0
    end_block: int = 0

    def add(self, other: _Apy) -> None:
        for name in ("routed_in", "routed_out", "fees_in", "fees_out", "push_in", "push_out",
                     "lease_in", "lease_out", "our_start", "total_start"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.start_block = min(self.start_block, other.start_block)
        self.end_block = max(self.end_block, other.end_block)


def _pct(x: float) -> str:
    return f"{x * 100:.4f}%"


def _apy(earned: int, capital: int, blocks: int) -> str:
    return f"{earned / capital * BLOCK_YEAR / blocks * 100:.4f}%"


def _apy_json(a: _Apy) -> dict[str, Any]:
    theirs = a.total_start - a.our_start
    blocks = a.end_block - a.start_block + 1
    total_fees = a.fees_in + a.fees_out
    out: dict[str, Any] = {
        "account": a.account, "routed_out_msat": a.routed_out, "routed_in_msat": a.routed_in,
        "lease_fee_paid_msat": a.lease_out, "lease_fee_earned_msat": a.lease_in,
        "pushed_out_msat": a.push_out, "pushed_in_msat": a.push_in,
        "our_start_balance_msat": a.our_start, "channel_start_balance_msat": a.total_start,
        "fees_out_msat": a.fees_out, "fees_in_msat": a.fees_in,
        "utilization_out": _pct(a.routed_out / a.total_start)}
    if a.our_start:
        out["utilization_out_initial"] = _pct(a.routed_out / a.our_start)
    out["utilization_in"] = _pct(a.routed_in / a.total_start)
    if theirs:
        out["utilization_in_initial"] = _pct(a.routed_in / theirs)
    out["apy_out"] = _apy(a.fees_out, a.total_start, blocks)
    if a.our_start:
        out["apy_out_initial"] = _apy(a.fees_out, a.our_start, blocks)
    out["apy_in"] = _apy(a.fees_in, a.total_start, blocks)
    if theirs:
        out["apy_in_initial"] = _apy(a.fees_in, theirs, blocks)
    out["apy_total"] = _apy(total_fees, a.total_start, blocks)
    if a.our_start:
        # (bookkeeper divides by the channel's whole start balance here too)
        out["apy_total_initial"] = _apy(total_fees, a.total_start, blocks)
    return out


def channels_apy(moves: CoinMoves, blockheight: int, start_time: int = 0,
                 end_time: int = U32_MAX) -> list[dict[str, Any]]:
    """``bkpr-channelsapy``: per channel account with channel events in the
    window (by account name), then ``net``."""
    accts = accounts(moves)
    per: dict[str, _Apy] = {}
    for c in sorted((c for c in moves.channel if start_time < c.timestamp <= end_time),
                    key=lambda c: c.account):
        acct = accts.get(c.account)
        if acct is None or acct.opened is None:
            continue
        a = per.setdefault(c.account, _Apy(c.account))
        if c.tag in ("routed", "invoice"):
            a.routed_in += c.credit
            a.routed_out += c.debit
            if c.tag == "routed":
                if c.credit:
                    a.fees_in += c.fees
                else:
                    a.fees_out += c.fees
        elif c.tag == "pushed":
            a.push_in += c.credit
            a.push_out += c.debit
        elif c.tag == "lease_fee":
            a.lease_in += c.credit
            a.lease_out += c.debit
    out = []
    net = _Apy("net", start_block=U32_MAX, end_block=0)
    for name in sorted(per):
        a, acct = per[name], accts[name]
        assert acct.opened is not None
        a.start_block = acct.opened.blockheight
        a.our_start = acct.opened.credit - a.push_out - a.lease_out + a.push_in + a.lease_in
        a.total_start = acct.opened.output_msat
        a.end_block = acct.closed.blockheight if acct.closed is not None else blockheight
        out.append(_apy_json(a))
        net.add(a)
    if net.total_start:
        out.append(_apy_json(net))
    return out
