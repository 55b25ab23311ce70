"""Coin movements and bookkeeper's answers in the simulated node, against the market's ledger.

A busy default node (forwards settling and failing), circular rebalances
(some failing), a channel opened to us and one closed by us: every msat
bookkeeper reports must be the ledger's (``dev-ledger``), every balance
the channel's, every answer valid under CLN's schemas (``call`` checks),
and the rules of bookkeeper's own code (CLN's plugins/bkpr) hold on
hand-checked cases."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from revops.sim import bookkeeper
from revops.sim.coin_moves import CoinMoves
from revops.sim.jsonrpc import JSONRPC2_INVALID_PARAMS
from revops.sim.market import Market
from revops.sim.scenario import PaymentsSpec, default_scenario
from revops.sim.schemas import validate_notification
from tests.sim.market_fixtures import FakeNode, call, rpc_error
from tests.sim.payment_fixtures import (
    LAYER,
    TABLE,
    send_circular,
    settle,
    sink_and_source,
)

HOUR = 3600.0


@pytest.fixture(scope="module")
def node() -> FakeNode:
    """Twelve busy hours, four rebalances (one forced to fail), a close, an open."""
    m = Market(replace(default_scenario(), payments=PaymentsSpec(success_rate=1.0)), 5)
    node = FakeNode(m)
    call(TABLE, node, "askrene-create-layer", {"layer": LAYER})
    call(TABLE, node, "askrene-disable-node", {"layer": LAYER, "node": m.node_id})
    settle(node, 4 * HOUR)
    out_ch, in_ch = sink_and_source(m)
    for i in range(3):
        send_circular(node, out_ch, in_ch, 200_000 + i, f"refill-{i}")
        settle(node)
    call(TABLE, node, "dev-payments", {"success_rate": 0.0})
    send_circular(node, out_ch, in_ch, 300_000, "refill-fails")
    settle(node)
    call(TABLE, node, "dev-payments", {"success_rate": 1.0})
    m.close_channel(m.channel_by_name("sink-2"), "user")
    m.open_channel("newcomer", 2_000_000, 0, "remote", name="newcomer")
    settle(node, 8 * HOUR)
    return node


def events(node: FakeNode, **params: Any) -> list[dict[str, Any]]:
    return call(TABLE, node, "bkpr-listaccountevents", params)["events"]


def test_routed_income_and_rebalance_fees_are_the_ledgers(node: FakeNode) -> None:
    m = node.market
    ledger = call(TABLE, node, "dev-ledger")
    income = call(TABLE, node, "bkpr-listincome", {"start_time": int(m.start_time)})[
        "income_events"]
    routed = sum(e["credit_msat"] for e in income if e["tag"] == "routed")
    assert routed == ledger["revenue_msat"] > 0
    rebalance_fees = sum(e["debit_msat"] for e in income if e["tag"] == "rebalance_fee")
    assert rebalance_fees == ledger["rebalance_cost_msat"] > 0
    assert ledger["rebalances_succeeded"] == 3 and ledger["rebalances_failed"] == 1
    # A rebalance moves our own money: no invoice income, no invoice_fee.
    assert not [e for e in income if e["tag"] in ("invoice", "invoice_fee")]
    # Per channel too: routed fees are earned on the side that forwarded out.
    by_chan = {c["scid"]: c for c in ledger["channels"]}
    scid_of = {ch.channel_id: ch.scid for ch in m.channels}
    earned: dict[str, int] = {}
    for e in income:
        if e["tag"] == "routed":
            earned[scid_of[e["account"]]] = earned.get(scid_of[e["account"]], 0) + e["credit_msat"]
    assert earned == {s: c["revenue_msat"] for s, c in by_chan.items() if c["revenue_msat"]}


def test_balances_are_the_channels_and_the_wallets(node: FakeNode) -> None:
    m = node.market
    accounts = {a["account"]: a for a in call(TABLE, node, "bkpr-listbalances")["accounts"]}
    for ch in call(TABLE, node, "listpeerchannels")["channels"]:
        if ch["state"] != "CHANNELD_NORMAL":
            continue  # a closed one keeps its last to_us_msat; its account is empty (below)
        acct = accounts[ch["channel_id"]]
        assert acct["balances"] == [{"balance_msat": ch["to_us_msat"], "coin_type": "bcrt"}]
        assert acct["we_opened"] == (ch["opener"] == "local")
        assert acct["peer_id"] == ch["peer_id"]
    funds = call(TABLE, node, "listfunds")["outputs"]
    assert accounts["wallet"]["balances"][0]["balance_msat"] == sum(
        o["amount_msat"] for o in funds if o["status"] == "confirmed")
    closed = m.channel_by_name("sink-2")
    gone = accounts[closed.channel_id]
    assert gone["account_closed"] and gone["account_resolved"]
    assert gone["resolved_at_block"] == closed.spend_height
    assert gone["balances"][0]["balance_msat"] == 0


def test_a_close_moves_the_balance_to_the_wallet_less_the_closing_fee(node: FakeNode) -> None:
    closed = node.market.channel_by_name("sink-2")
    mine = events(node, account=closed.channel_id)
    close = next(e for e in mine if e["tag"] == "channel_close")
    [fee] = [e for e in mine if e["type"] == "onchain_fee"]
    [deposit] = [e for e in events(node, account="wallet")
                 if e["tag"] == "deposit" and e["outpoint"].startswith(close["txid"])]
    assert close["debit_msat"] == closed.to_us_msat
    assert fee["credit_msat"] == close["debit_msat"] - deposit["credit_msat"] > 0
    assert fee["txid"] == close["txid"]
    # The deposit is not income (our own channel paid it), the fee is a cost.
    income = call(TABLE, node, "bkpr-listincome")["income_events"]
    assert not [e for e in income if e.get("outpoint", "").startswith(close["txid"])]
    assert [e["debit_msat"] for e in income if e.get("txid") == close["txid"]] == [
        fee["credit_msat"]]


def test_a_rebalance_is_two_invoice_events_marked_as_one(node: FakeNode) -> None:
    paid = [inv for inv in call(TABLE, node, "listinvoices")["invoices"]
            if inv["status"] == "paid"]
    assert len(paid) == 3
    for inv in paid:
        pair = events(node, payment_id=inv["payment_hash"])
        assert [e["tag"] for e in pair] == ["invoice", "invoice"]
        assert all(e["is_rebalance"] and e["description"] == "rebalance" for e in pair)
        credit, debit = (pair[0], pair[1]) if pair[0]["credit_msat"] else (pair[1], pair[0])
        assert credit["credit_msat"] == inv["amount_received_msat"]
        assert debit["debit_msat"] - debit["fees_msat"] == credit["credit_msat"]
    # The failed one moved nothing.
    failed = next(i for i in call(TABLE, node, "listinvoices")["invoices"]
                  if i["label"] == "refill-fails")
    assert events(node, payment_id=failed["payment_hash"]) == []


def test_events_are_in_time_order_and_moves_page_by_created_index(node: FakeNode) -> None:
    every = events(node)
    stamps = [e["timestamp"] for e in every]
    assert stamps == sorted(stamps)
    moves = call(TABLE, node, "listchannelmoves")["channelmoves"]
    assert [mv["created_index"] for mv in moves] == list(range(1, len(moves) + 1))
    page = call(TABLE, node, "listchannelmoves", {"index": "created", "start": 5, "limit": 3})
    assert page["channelmoves"] == moves[4:7]
    chain = call(TABLE, node, "listchainmoves")["chainmoves"]
    tags = [mv["primary_tag"] for mv in chain]
    assert {"deposit", "channel_open", "channel_close"} <= set(tags)
    assert call(TABLE, node, "wait", {"subsystem": "channelmoves", "indexname": "created",
                                      "nextvalue": 1})["created"] == len(moves)


def test_the_start_of_a_run_is_recorded_as_lightningds_migration_records_a_node(
        node: FakeNode) -> None:
    """Each channel open at start: its funding, then a journal entry for
    its life before the run (the balance now less the funding)."""
    m = node.market
    start = int(m.start_time)
    ch = m.channel_by_name("virgin")  # opened by the peer: we funded nothing
    mine = events(node, account=ch.channel_id)
    assert mine[0]["tag"] == "channel_open" and mine[0]["credit_msat"] == 0
    sink = m.channel_by_name("sink-1")  # we funded it all; part of it left since
    first = events(node, account=sink.channel_id)[:2]
    assert [e["tag"] for e in first] == ["channel_open", "journal_entry"]
    assert first[0]["credit_msat"] == sink.capacity_msat
    assert first[1]["debit_msat"] == sink.capacity_msat - sink.spec.local_sat * 1000
    assert {e["timestamp"] for e in first} <= {start, start + 2}


def test_coin_movement_notifications_carry_every_new_move(node: FakeNode) -> None:
    notes = [p for t, p in node.notifications if t == "coin_movement"]
    moves = node.market.coin_moves
    chan = [n for n in notes if n["type"] == "channel_mvt"]
    # Every move made during the run (the start's journal entries are not notified).
    during = [c.created_index for c in moves.channel if c.tag != "journal_entry"]
    assert [n["created_index"] for n in chan] == during
    for n in notes[:50]:
        validate_notification("coin_movement", n)
    opened = [p for t, p in node.notifications if t == "channel_opened"]
    assert [o["id"] for o in opened] == [node.market.channel_by_name("newcomer").peer_id]


def test_bookkeeper_refuses_what_it_refuses(node: FakeNode) -> None:
    err = rpc_error(TABLE, node, "bkpr-listaccountevents", {"account": "nope"})
    assert (err.code, err.message) == (JSONRPC2_INVALID_PARAMS, "Account 'nope' not found")
    err = rpc_error(TABLE, node, "bkpr-listaccountevents",
                    {"account": "wallet", "payment_id": "00" * 32})
    assert err.message == "Can only specify one of {account} or {payment_id}"
    err = rpc_error(TABLE, node, "bkpr-listincome", {"consolidate_fees": "yes"})
    assert err.message == "consolidate_fees: should be 'true' or 'false': invalid token '\"yes\"'"
    err = rpc_error(TABLE, node, "listchainmoves", {"index": "updated"})
    assert err.message == "index must be 'created', since chainmoves are never updated"
    err = rpc_error(TABLE, node, "listchannelmoves", {"start": 3})
    assert err.message == "Can only specify {start} with {index}"


def test_channel_apy_by_hand() -> None:
    """One channel funded with 1,000,000 sat at block 100, routing 2 sat
    of fees out on 300,000 msat and 5 in on 100,000, at block 243: 144
    blocks, so the outbound APY is 2/1e9 * 52364/144 * 100 %."""
    moves = CoinMoves()
    moves.add_chain("c1", 1_000_000_000, 0, 1000, "channel_open", "aa:0", 1_000_000_000, 100,
                    extra_tags=("opener",), peer_id="02" + "11" * 32)
    moves.add_channel("c1", 0, 300_000, 1100, "routed", fees=2, payment_hash="01" * 32)
    moves.add_channel("c1", 100_000, 0, 1200, "routed", fees=5, payment_hash="02" * 32)
    [c1, net] = bookkeeper.channels_apy(moves, 243)
    assert c1["account"] == "c1" and net["account"] == "net"
    assert (c1["routed_out_msat"], c1["fees_out_msat"], c1["fees_in_msat"]) == (300_000, 2, 5)
    assert c1["utilization_out"] == "0.0300%" and c1["utilization_in"] == "0.0100%"
    assert c1["apy_out"] == f"{2 / 1e9 * 52364 / 144 * 100:.4f}%"
    assert c1["apy_total"] == f"{7 / 1e9 * 52364 / 144 * 100:.4f}%"
    assert "utilization_in_initial" not in c1  # they put nothing in at the start
    # Outside the time window: no channel events, no entry.
    assert bookkeeper.channels_apy(moves, 243, start_time=1200) == []
