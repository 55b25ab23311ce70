"""Our own payments in the simulated lightningd: invoices, sendpay around the
graph and back (a circular rebalance), waitsendpay and listsendpays, the
notifications, the success model (larger amounts fail more often, seeded),
injectable failures, real failures on our own channels, and CLN's errors."""

from __future__ import annotations

import itertools
import random
import threading
from dataclasses import replace
from typing import Any

import pytest
from pyln.client import RpcError as PylnRpcError

from revops.sim.harness import Sim
from revops.sim.jsonrpc import (
    INVOICE_LABEL_ALREADY_EXISTS,
    INVOICE_NOT_FOUND,
    INVOICE_PREIMAGE_ALREADY_EXISTS,
    JSONRPC2_INVALID_PARAMS,
    PAY_DESTINATION_PERM_FAIL,
    PAY_IN_PROGRESS,
    PAY_NO_SUCH_PAYMENT,
    PAY_TRY_OTHER_ROUTE,
)
from revops.sim.market import fee_msat
from revops.sim.payments import payment_secret_for
from revops.sim.scenario import ScenarioError, scenario_from_dict
from revops.sim.schemas import validate_notification, validate_response
from tests.sim.market_fixtures import call, rpc_error
from tests.sim.payment_fixtures import (
    TABLE,
    circular_route,
    node_with_layer,
    quiet_market,
    send_circular,
    settle,
    sink_and_source,
)

AMOUNT = 300_000_000  # 300k sat


def _forced(**knobs: Any) -> Any:
    m = quiet_market(**knobs)
    return node_with_layer(m)


# -- a circular rebalance ---------------------------------------------------------------


def test_circular_rebalance_moves_liquidity_and_charges_market_fees() -> None:
    node = _forced(success_rate=1.0)
    m = node.market
    out_ch, in_ch = sink_and_source(m)
    out0, in0 = out_ch.to_us_msat, in_ch.to_us_msat
    route, inv, sent = send_circular(node, out_ch, in_ch, AMOUNT, "refill-1")
    assert sent["status"] == "pending" and sent["amount_msat"] == AMOUNT
    assert sent["amount_sent_msat"] == route[0]["amount_msat"]
    # In flight: the HTLC holds our first channel's liquidity, nothing moved yet.
    assert out_ch.to_us_msat == out0 and out_ch.spendable_msat() < out0 - AMOUNT
    assert any(h["payment_hash"] == inv["payment_hash"] for h in call(
        TABLE, node, "listpeerchannels", {"short_channel_id": out_ch.scid})["channels"][0]["htlcs"])
    notes = settle(node)
    done = call(TABLE, node, "waitsendpay", {"payment_hash": inv["payment_hash"]})
    assert done["status"] == "complete" and done["payment_preimage"]
    # Balances moved by the amount (out: amount plus the fees of the rest of the route).
    cost = route[0]["amount_msat"] - AMOUNT
    assert out_ch.to_us_msat == out0 - AMOUNT - cost
    assert in_ch.to_us_msat == in0 + AMOUNT
    # The fees are the hops' own, BOLT 7 on what each forwards (gossip's policies).
    expected = 0
    for prev, hop in itertools.pairwise(route):
        policy = next(c for c in call(TABLE, node, "listchannels",
                                      {"short_channel_id": hop["channel"]})["channels"]
                      if c["source"] == prev["id"])
        fee = fee_msat(hop["amount_msat"], policy["base_fee_millisatoshi"],
                       policy["fee_per_millionth"])
        assert prev["amount_msat"] - hop["amount_msat"] == fee
        expected += fee
    assert cost == expected > 0
    # ... at market rates: the competitors' fee into the destination peer is in it.
    assert 50 <= cost * 1_000_000 // AMOUNT <= 5000
    ledger = call(TABLE, node, "dev-ledger")
    assert ledger["rebalance_cost_msat"] == cost and ledger["rebalanced_msat"] == AMOUNT
    assert ledger["net_msat"] == ledger["revenue_msat"] - cost
    assert (ledger["rebalances_succeeded"], ledger["rebalances_failed"]) == (1, 0)
    by_name = {c["name"]: c for c in ledger["channels"]}
    assert by_name[in_ch.name]["rebalanced_in_msat"] == AMOUNT
    assert by_name[in_ch.name]["rebalance_cost_msat"] == cost
    assert by_name[out_ch.name]["rebalanced_out_msat"] == AMOUNT + cost
    report = m.report()
    assert report["rebalance_cost_msat"] == cost and report["rebalanced_msat"] == AMOUNT
    # The invoice is paid, the payment listed, the notifications CLN's.
    [paid] = call(TABLE, node, "listinvoices", {"label": "refill-1"})["invoices"]
    assert paid["status"] == "paid" and paid["amount_received_msat"] == AMOUNT
    assert paid["payment_preimage"] == done["payment_preimage"]
    [listed] = call(TABLE, node, "listsendpays", {"payment_hash": inv["payment_hash"]})["payments"]
    assert listed["status"] == "complete" and listed["updated_index"] == 1
    topics = [t for t, _ in notes if t in ("invoice_payment", "sendpay_success")]
    assert topics == ["invoice_payment", "sendpay_success"]
    for topic, payload in notes:
        if topic in ("invoice_payment", "sendpay_success"):
            validate_notification(topic, payload)
    # Paying the same invoice again: lightningd answers with the completed payment.
    again = call(TABLE, node, "sendpay", {"route": route, "payment_hash": inv["payment_hash"],
                                          "payment_secret": inv["payment_secret"]})
    assert again["status"] == "complete" and len(m.payments.payments) == 1


def _attempts(amount: int, seeds: range, per_market: int = 4) -> list[bool]:
    """Circular payments of ``amount`` between random sink/source pairs."""
    outcomes = []
    for seed in seeds:
        node = node_with_layer(quiet_market(seed))
        m = node.market
        rng = random.Random(seed)
        outs = [c for c in m.channels if c.name.startswith(("sink", "bal"))]
        ins = [c for c in m.channels if c.name.startswith(("src", "bal"))]
        for i in range(per_market):
            a = rng.choice(outs)
            b = rng.choice([c for c in ins if c.peer_id != a.peer_id])
            _, inv, _ = send_circular(node, a, b, amount, f"try-{i}")
            settle(node)
            [p] = call(TABLE, node, "listsendpays", {"payment_hash": inv["payment_hash"]})[
                "payments"]
            outcomes.append(p["status"] == "complete")
    return outcomes


def test_larger_amounts_fail_more_often() -> None:
    small = _attempts(100_000_000, range(25))     # 100k sat
    large = _attempts(1_500_000_000, range(25))   # 1.5M sat, same pairs and seeds
    rate_small, rate_large = sum(small) / len(small), sum(large) / len(large)
    assert len(small) == len(large) == 100
    # A clear difference (measured 0.87 vs 0.42), far beyond sampling noise
    # (100 attempts each: a standard error of ~0.05).
    assert rate_small > 0.7 and rate_large < 0.6
    assert rate_small - rate_large > 0.25


def test_same_seed_same_outcomes() -> None:
    def run(seed: int) -> list[tuple[str, int, str | None]]:
        node = node_with_layer(quiet_market(seed, liquidity_factor=3.0))
        m = node.market
        out_ch, in_ch = sink_and_source(m)
        seen = []
        for i in range(6):
            send_circular(node, out_ch, in_ch, 400_000_000, f"d-{i}")
            settle(node)
            p = m.payments.payments[-1]
            seen.append((p.status, p.completed_at or 0,
                         p.failure.erring_node if p.failure else None))
        return seen

    a, b, c = run(5), run(5), run(6)
    assert a == b  # same seed: same outcomes, times and failing nodes
    assert {s for s, _, _ in a} == {"complete", "failed"}
    assert a != c


# -- injectable failures ------------------------------------------------------------------


def test_failures_are_injectable_by_dev_method_and_scenario() -> None:
    node = _forced()
    m = node.market
    out_ch, in_ch = sink_and_source(m)
    knobs = call(TABLE, node, "dev-payments", {"success_rate": 0.0})
    assert knobs["success_rate"] == 0.0
    before = (out_ch.to_us_msat, in_ch.to_us_msat)
    hashes = []
    for i in range(5):
        _, inv, _ = send_circular(node, out_ch, in_ch, AMOUNT, f"no-{i}")
        hashes.append(inv["payment_hash"])
    notes = settle(node)
    for h in hashes:
        err = rpc_error(TABLE, node, "waitsendpay", {"payment_hash": h})
        assert err.code == PAY_TRY_OTHER_ROUTE
        assert err.message == "failed: WIRE_TEMPORARY_CHANNEL_FAILURE (reply from remote)"
        assert err.data["failcodename"] == "WIRE_TEMPORARY_CHANNEL_FAILURE"
        assert err.data["erring_node"] not in (m.node_id, out_ch.peer_id, in_ch.peer_id) \
            or err.data["erring_node"] == out_ch.peer_id  # a remote hop, not ours
        assert 1 <= err.data["erring_index"] and err.data["status"] == "failed"
    assert (out_ch.to_us_msat, in_ch.to_us_msat) == before  # nothing moved
    failures = [p for t, p in notes if t == "sendpay_failure"]
    assert len(failures) == 5
    for p in failures:
        validate_notification("sendpay_failure", p)
        # lightningd notifies the payment as it stood: still pending.
        assert p["code"] == PAY_TRY_OTHER_ROUTE and p["data"]["status"] == "pending"
        assert "completed_at" not in p["data"] and p["data"]["raw_message"].startswith("1007")
    assert m.ledger()["rebalances_failed"] == 5 and m.rebalance_cost_msat == 0
    call(TABLE, node, "dev-payments", {"success_rate": 1.0})
    for i in range(5):
        send_circular(node, out_ch, in_ch, AMOUNT, f"yes-{i}")
    settle(node)
    assert m.payments.rebalances_succeeded == 5
    assert call(TABLE, node, "dev-payments", {"clear": True})["success_rate"] is None
    # The scenario's knob does the same from the start.
    forced = node_with_layer(quiet_market(success_rate=0.0))
    a, b = sink_and_source(forced.market)
    send_circular(forced, a, b, AMOUNT, "scenario")
    settle(forced)
    assert forced.market.payments.payments[-1].status == "failed"


def test_scenario_payment_keys_are_validated() -> None:
    s = scenario_from_dict({"payments": {"success_rate": 0.25, "hold_s": [1, 2]},
                            "sim": {"sling": True}}, "x.toml")
    assert s.payments.success_rate == 0.25 and s.payments.hold_s == (1.0, 2.0) and s.sling
    for raw, message in [
        ({"payments": {"success_rate": 2}}, "payments.success_rate: must be a probability"),
        ({"payments": {"hold_s": [5, 1]}}, "payments.hold_s: must be [min, max] seconds"),
        ({"payments": {"bogus": 1}}, "payments.bogus: unknown key"),
        ({"sim": {"sling": "yes"}}, "sim.sling: must be true or false"),
    ]:
        with pytest.raises(ScenarioError, match=message.replace("[", r"\[")):
            scenario_from_dict(raw, "x.toml")


# -- failures on our own channels are real ----------------------------------------------------


def test_our_channels_fail_for_real() -> None:
    node = _forced(success_rate=1.0)
    m = node.market
    out_ch, in_ch = sink_and_source(m)
    # More than the first channel can send: channeld refuses, a local failure.
    poor = min((c for c in m.channels if c.state == "CHANNELD_NORMAL" and c.spendable_msat()
                and c.peer_id != in_ch.peer_id), key=lambda c: c.spendable_msat())
    too_much = poor.spendable_msat() + 1
    route = circular_route(node, poor, in_ch, too_much, maxfee=too_much)
    inv = call(TABLE, node, "invoice", {"amount_msat": too_much, "label": "big",
                                        "description": "x"})
    call(TABLE, node, "sendpay", {"route": route, "payment_hash": inv["payment_hash"],
                                  "payment_secret": inv["payment_secret"]})
    settle(node, 1.0)
    err = rpc_error(TABLE, node, "waitsendpay", {"payment_hash": inv["payment_hash"]})
    assert (err.code, err.message) == (PAY_TRY_OTHER_ROUTE,
                                       "failed: WIRE_TEMPORARY_CHANNEL_FAILURE (Capacity exceeded)")
    assert (err.data["erring_index"], err.data["erring_node"], err.data["erring_channel"]) == (
        0, m.node_id, poor.scid)
    # More than the peer can send us on the last channel: its peer fails it.
    full = min((c for c in m.channels if c.peer_id not in (out_ch.peer_id,)
                and c.state == "CHANNELD_NORMAL" and c.name.startswith(("sink", "bal"))),
               key=lambda c: c.receivable_msat())
    amount = full.receivable_msat() + 1_000_000
    assert amount < out_ch.spendable_msat() // 2
    route = circular_route(node, out_ch, full, amount, maxfee=amount)
    inv = call(TABLE, node, "invoice", {"amount_msat": amount, "label": "nowhere",
                                        "description": "x"})
    call(TABLE, node, "sendpay", {"route": route, "payment_hash": inv["payment_hash"],
                                  "payment_secret": inv["payment_secret"]})
    settle(node)
    err = rpc_error(TABLE, node, "waitsendpay", {"payment_hash": inv["payment_hash"]})
    assert err.code == PAY_TRY_OTHER_ROUTE
    assert (err.data["erring_index"], err.data["erring_node"], err.data["erring_channel"]) == (
        len(route) - 1, full.peer_id, full.scid)
    # No free HTLC slot on the first channel.
    tiny = node_with_layer(Market_with_slots(1))
    a, b = sink_and_source(tiny.market)
    send_circular(tiny, a, b, AMOUNT, "slot-1")
    _, inv2, _ = send_circular(tiny, a, b, AMOUNT, "slot-2")
    settle(tiny, 1.0)
    err = rpc_error(TABLE, tiny, "waitsendpay", {"payment_hash": inv2["payment_hash"]})
    assert err.message == "failed: WIRE_TEMPORARY_CHANNEL_FAILURE (Too many HTLCs)"


def Market_with_slots(slots: int) -> Any:
    from revops.sim.market import Market
    m = quiet_market(success_rate=1.0)
    scenario = m.scenario
    chans = tuple(replace(c, max_accepted_htlcs=slots) if c.name.startswith("sink") else c
                  for c in scenario.channels)
    return Market(replace(scenario, channels=chans), 1)


# -- CLN's errors ---------------------------------------------------------------------------


def test_sendpay_and_waitsendpay_errors() -> None:
    node = _forced(success_rate=1.0)
    m = node.market
    out_ch, in_ch = sink_and_source(m)
    route = circular_route(node, out_ch, in_ch, AMOUNT)
    inv = call(TABLE, node, "invoice", {"amount_msat": AMOUNT, "label": "e", "description": "x"})
    h, secret = inv["payment_hash"], inv["payment_secret"]
    err = rpc_error(TABLE, node, "waitsendpay", {"payment_hash": h})
    assert (err.code, err.message) == (PAY_NO_SUCH_PAYMENT, f"Never attempted payment part 0 for '{h}'")
    bad = [{**route[0], "channel": "1x1x1"}] + route[1:]
    err = rpc_error(TABLE, node, "sendpay", {"route": bad, "payment_hash": h})
    assert (err.code, err.message) == (PAY_TRY_OTHER_ROUTE, "No connection to first peer found")
    assert err.data == {"erring_index": 0, "failcode": 16394,
                        "failcodename": "WIRE_UNKNOWN_NEXT_PEER", "erring_node": m.node_id}
    err = rpc_error(TABLE, node, "sendpay", {"route": route, "payment_hash": h,
                                             "amount_msat": AMOUNT + 1})
    assert (err.code, err.message) == (
        JSONRPC2_INVALID_PARAMS, (f"Do not specify msatoshi ({AMOUNT + 1}msat) without partid: "
                                  f"if you do, it must be exactly the final amount ({AMOUNT}msat)"))
    err = rpc_error(TABLE, node, "sendpay", {"route": [{"id": out_ch.peer_id}], "payment_hash": h})
    assert (err.code, err.message) == (JSONRPC2_INVALID_PARAMS,
                                       "missing required parameter: amount_msat")
    err = rpc_error(TABLE, node, "sendpay", {"route": [{**route[0], "amount_msat": "lots"}],
                                             "payment_hash": h})
    assert err.message == "amount_msat: should be a millisatoshi amount: invalid token '\"lots\"'"
    # v26.06's hop names work as well as the old ones (getroutes' path hops).
    first = call(TABLE, node, "sendpay", {"payment_hash": h, "payment_secret": secret, "route": [
        {"node_id_out": r["id"], "short_channel_id_dir": f"{r['channel']}/0",
         "amount_out_msat": r["amount_msat"], "cltv_out": r["delay"]} for r in route]})
    assert first["status"] == "pending"
    # Pending: the same attempt answers pending again; another group must wait.
    again = call(TABLE, node, "sendpay", {"route": route, "payment_hash": h,
                                          "payment_secret": secret, "groupid": 1})
    assert again["created_index"] == first["created_index"]
    err = rpc_error(TABLE, node, "sendpay", {"route": route, "payment_hash": h})  # groupid 2
    assert (err.code, err.message) == (
        PAY_IN_PROGRESS, "Payment with groupid=1 still in progress, cannot retry before that completes.")
    err = rpc_error(TABLE, node, "waitsendpay", {"payment_hash": h, "timeout": 0})
    assert (err.code, err.message) == (PAY_IN_PROGRESS, "Timed out while waiting")
    settle(node)
    assert call(TABLE, node, "waitsendpay", {"payment_hash": h})["status"] == "complete"
    # A fee short by one msat at the second hop: that hop's node refuses it.
    inv2 = call(TABLE, node, "invoice", {"amount_msat": AMOUNT, "label": "cheap", "description": "x"})
    route2 = circular_route(node, out_ch, in_ch, AMOUNT)
    cheap = [{**r, "amount_msat": r["amount_msat"] - (1 if i < 2 else 0)}
             for i, r in enumerate(route2)]
    call(TABLE, node, "sendpay", {"route": cheap, "payment_hash": inv2["payment_hash"],
                                  "payment_secret": inv2["payment_secret"]})
    settle(node)
    err = rpc_error(TABLE, node, "waitsendpay", {"payment_hash": inv2["payment_hash"]})
    assert err.data["failcodename"] == "WIRE_FEE_INSUFFICIENT" and err.data["erring_index"] == 2
    assert err.data["erring_node"] == route2[1]["id"] and err.data["erring_channel"] == route2[2]["channel"]
    # Without the payment secret our own invoice refuses it: a permanent failure.
    inv3 = call(TABLE, node, "invoice", {"amount_msat": AMOUNT, "label": "nosecret", "description": "x"})
    call(TABLE, node, "sendpay", {"route": circular_route(node, out_ch, in_ch, AMOUNT),
                                  "payment_hash": inv3["payment_hash"]})
    settle(node)
    err = rpc_error(TABLE, node, "waitsendpay", {"payment_hash": inv3["payment_hash"]})
    assert (err.code, err.data["failcodename"], err.data["erring_node"]) == (
        PAY_DESTINATION_PERM_FAIL, "WIRE_INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS", m.node_id)
    # A payment to another node (a probe): that node does not know the hash.
    rival = next(c["node"] for c in m._competitors if c["peer"] == out_ch.peer_id)
    probe_route = circular_route(node, out_ch, in_ch, AMOUNT)[:1]
    hop = next(c for c in call(TABLE, node, "listchannels", {"source": out_ch.peer_id})[
        "channels"] if c["destination"] == rival)
    probe = [{**probe_route[0], "amount_msat": 1_000_000 + fee_msat(
        1_000_000, hop["base_fee_millisatoshi"], hop["fee_per_millionth"]), "delay": 18 + 40},
        {"id": rival, "channel": hop["short_channel_id"], "amount_msat": 1_000_000, "delay": 18}]
    call(TABLE, node, "sendpay", {"route": probe, "payment_hash": "ab" * 32})
    settle(node)
    err = rpc_error(TABLE, node, "waitsendpay", {"payment_hash": "ab" * 32})
    assert (err.code, err.data["erring_node"], err.data["erring_index"]) == (
        PAY_DESTINATION_PERM_FAIL, rival, 2)
    validate_response("listsendpays", call(TABLE, node, "listsendpays", {}))
    failed = call(TABLE, node, "listsendpays", {"status": "failed"})["payments"]
    assert {p["payment_hash"] for p in failed} == {inv2["payment_hash"], inv3["payment_hash"],
                                                   "ab" * 32}
    paged = call(TABLE, node, "listsendpays", {"index": "created", "start": 2, "limit": 2})
    assert [p["created_index"] for p in paged["payments"]] == [2, 3]
    err = rpc_error(TABLE, node, "listsendpays", {"payment_hash": h, "bolt11": inv["bolt11"]})
    assert err.message == "Can only specify one of {bolt11} or {payment_hash}"
    by_bolt11 = call(TABLE, node, "listsendpays", {"bolt11": inv["bolt11"]})["payments"]
    assert [p["payment_hash"] for p in by_bolt11] == [h]
    err = rpc_error(TABLE, node, "listsendpays", {"bolt11": "lnbc1garbage"})
    assert err.message == "Invalid invstring: Bad bech32 string"


def test_self_payment_with_an_empty_route() -> None:
    node = _forced()
    inv = call(TABLE, node, "invoice", {"amount_msat": "5000sat", "label": 42,
                                        "description": "to me"})
    err = rpc_error(TABLE, node, "sendpay", {"route": [], "payment_hash": inv["payment_hash"]})
    assert err.message == "Self-payment requires amount_msat"
    done = call(TABLE, node, "sendpay", {"route": [], "payment_hash": inv["payment_hash"],
                                         "amount_msat": 5_000_000,
                                         "payment_secret": inv["payment_secret"]})
    assert done["status"] == "complete" and done["destination"] == node.market.node_id
    assert call(TABLE, node, "listinvoices", {"label": "42"})["invoices"][0]["status"] == "paid"
    assert node.market.rebalance_cost_msat == 0


# -- invoices ---------------------------------------------------------------------------------


def test_invoices_list_delete_and_errors() -> None:
    node = _forced()
    m = node.market
    inv = call(TABLE, node, "invoice", {"amount_msat": 1000, "label": "a", "description": "x",
                                        "expiry": 60})
    assert inv["payment_secret"] == payment_secret_for(
        m.payments.invoice_by_hash(inv["payment_hash"]).preimage)
    anyamount = call(TABLE, node, "invoice", ["any", "b", "whatever", 3600, None,
                                              "11" * 32])
    assert anyamount["created_index"] == 2
    err = rpc_error(TABLE, node, "invoice", {"amount_msat": 0, "label": "c", "description": "x"})
    assert err.message == "amount_msat: should be positive msat or 'any': invalid token '0'"
    err = rpc_error(TABLE, node, "invoice", {"amount_msat": 5, "label": "a", "description": "x"})
    assert (err.code, err.message) == (INVOICE_LABEL_ALREADY_EXISTS, "Duplicate label 'a'")
    err = rpc_error(TABLE, node, "invoice", {"amount_msat": 5, "label": "d", "description": "x",
                                             "preimage": "11" * 32})
    assert (err.code, err.message) == (INVOICE_PREIMAGE_ALREADY_EXISTS, "preimage already used")
    listed = call(TABLE, node, "listinvoices", {})["invoices"]
    assert [i["label"] for i in listed] == ["a", "b"] and "amount_msat" not in listed[1]
    assert call(TABLE, node, "listinvoices", {"invstring": inv["bolt11"]})["invoices"][0]["label"] == "a"
    assert call(TABLE, node, "listinvoices", {"payment_hash": anyamount["payment_hash"]})[
        "invoices"][0]["label"] == "b"
    assert [i["label"] for i in call(TABLE, node, "listinvoices", {
        "index": "created", "start": 2})["invoices"]] == ["b"]
    err = rpc_error(TABLE, node, "listinvoices", {"label": "a", "payment_hash": "00" * 32})
    assert err.message == ("Can only specify one of {label}, {invstring}, {payment_hash} "
                           "or {offer_id}")
    settle(node, 61)
    assert call(TABLE, node, "listinvoices", {"label": "a"})["invoices"][0]["status"] == "expired"
    err = rpc_error(TABLE, node, "delinvoice", {"label": "a", "status": "unpaid"})
    assert (err.code, err.message, err.data) == (
        906, "Invoice status is expired not unpaid",
        {"current_status": "expired", "expected_status": "unpaid"})
    gone = call(TABLE, node, "delinvoice", {"label": "a", "status": "expired"})
    assert gone["label"] == "a" and gone["status"] == "expired"
    err = rpc_error(TABLE, node, "delinvoice", {"label": "a", "status": "expired"})
    assert (err.code, err.message) == (INVOICE_NOT_FOUND, "Unknown invoice")
    desc = call(TABLE, node, "delinvoice", {"label": "b", "status": "unpaid", "desconly": True})
    assert "description" not in desc
    err = rpc_error(TABLE, node, "delinvoice", {"label": "b", "status": "unpaid",
                                                "desconly": True})
    assert (err.code, err.message) == (908, "Invoice description already removed")
    assert call(TABLE, node, "wait", {"subsystem": "invoices", "indexname": "created",
                                      "nextvalue": 2})["created"] == 2


# -- over the socket, with a plugin ------------------------------------------------------------


def test_payments_over_the_socket_survive_a_plugin_restart(
        sim_factory: Any, hello_plugin: str) -> None:
    """Everything schema-checked by the node itself (--validate), pyln as
    the client; the payment is lightningd's, so a plugin that sent it and
    was restarted finds it complete, its cost counted once."""
    sim: Sim = sim_factory(plugins=[hello_plugin]).start()
    rpc = sim.rpc
    us = rpc.getinfo()["id"]
    chans = [c for c in rpc.listpeerchannels()["channels"] if c["state"] == "CHANNELD_NORMAL"]
    out_ch = max(chans, key=lambda c: c["spendable_msat"])
    in_ch = max((c for c in chans if c["peer_id"] != out_ch["peer_id"]),
                key=lambda c: c["receivable_msat"])
    rpc.call("dev-payments", {"success_rate": 1.0})
    rpc.call("askrene-create-layer", {"layer": "mine"})
    rpc.call("askrene-disable-node", {"layer": "mine", "node": us})
    remote = in_ch["updates"]["remote"]
    fee_last = fee_msat(AMOUNT, remote["fee_base_msat"], remote["fee_proportional_millionths"])
    found = rpc.call("getroutes", {"source": out_ch["peer_id"], "destination": in_ch["peer_id"],
                                   "amount_msat": AMOUNT + fee_last, "layers": ["mine"],
                                   "maxfee_msat": AMOUNT // 20, "final_cltv": 18 + 40})
    path = found["routes"][0]["path"]
    route = ([{"id": out_ch["peer_id"], "channel": out_ch["short_channel_id"],
               "amount_msat": path[0]["amount_in_msat"], "delay": path[0]["cltv_in"]}]
             + [{"id": h["node_id_out"], "channel": h["short_channel_id_dir"].split("/")[0],
                 "amount_msat": h["amount_out_msat"], "delay": h["cltv_out"]} for h in path]
             + [{"id": us, "channel": in_ch["short_channel_id"], "amount_msat": AMOUNT,
                 "delay": 18}])
    inv = rpc.call("invoice", {"amount_msat": AMOUNT, "label": "via-plugin",
                               "description": "rebalance"})
    sent = rpc.call("hello-call", {"method": "sendpay", "params": {
        "route": route, "payment_hash": inv["payment_hash"],
        "payment_secret": inv["payment_secret"]}})
    validate_response("sendpay", sent)
    assert rpc.call("wait", {"subsystem": "sendpays", "indexname": "created",
                             "nextvalue": 1})["created"] == 1
    # The plugin goes away with the payment in flight, and comes back.
    rpc.plugin_stop("hello_plugin.py")
    waiter: dict[str, Any] = {}

    def wait() -> None:
        waiter["answer"] = sim.rpc.call("waitsendpay", {"payment_hash": inv["payment_hash"]})

    t = threading.Thread(target=wait)
    t.start()
    sim.advance(hours=0.05)
    t.join(timeout=60)
    assert waiter["answer"]["status"] == "complete"
    rpc.call("plugin", {"subcommand": "start", "plugin": hello_plugin})
    [listed] = rpc.call("hello-call", {"method": "listsendpays", "params": {
        "payment_hash": inv["payment_hash"]}})["payments"]
    assert listed["status"] == "complete"
    ledger = rpc.call("dev-ledger")
    assert ledger["rebalance_cost_msat"] == route[0]["amount_msat"] - AMOUNT
    assert ledger["rebalances_succeeded"] == 1
    for method, params in [("listsendpays", {}), ("listinvoices", {}),
                           ("waitsendpay", {"payment_hash": inv["payment_hash"]}),
                           ("askrene-listlayers", {})]:
        validate_response(method, rpc.call(method, params))
    with pytest.raises(PylnRpcError) as err:
        rpc.call("waitsendpay", {"payment_hash": "cd" * 32})
    assert err.value.error["code"] == PAY_NO_SUCH_PAYMENT
    # A failing one: its error over the socket, its sendpay_failure checked by the node.
    rpc.call("dev-payments", {"success_rate": 0.0})
    inv2 = rpc.call("invoice", {"amount_msat": AMOUNT, "label": "doomed", "description": "x"})
    rpc.call("sendpay", {"route": route, "payment_hash": inv2["payment_hash"],
                         "payment_secret": inv2["payment_secret"]})
    sim.advance(hours=0.05)
    with pytest.raises(PylnRpcError) as err:
        rpc.call("waitsendpay", {"payment_hash": inv2["payment_hash"]})
    assert err.value.error["code"] == PAY_TRY_OTHER_ROUTE
    assert err.value.error["data"]["failcodename"] == "WIRE_TEMPORARY_CHANNEL_FAILURE"
    assert rpc.call("dev-ledger")["rebalances_failed"] == 1
    # The generic RPC faults reach these methods too.
    rpc.call("dev-fault", {"method": "getroutes", "code": 205, "message": "Injected fault"})
    with pytest.raises(PylnRpcError) as err:
        rpc.call("getroutes", {"source": out_ch["peer_id"], "destination": in_ch["peer_id"],
                               "amount_msat": 1000, "layers": [], "maxfee_msat": 1000,
                               "final_cltv": 18})
    assert err.value.error == {"code": 205, "message": "Injected fault"}
    rpc.call("dev-fault", {"method": "getroutes", "clear": True})
    sim.stop()  # checks the node logged no schema violation (BROKEN)


def test_wait_on_sendpays_and_invoices_indexes() -> None:
    node = _forced(success_rate=1.0)
    out_ch, in_ch = sink_and_source(node.market)
    _, inv, sent = send_circular(node, out_ch, in_ch, AMOUNT, "waited")
    now = call(TABLE, node, "wait", {"subsystem": "sendpays", "indexname": "created",
                                     "nextvalue": 1})
    assert now == {"subsystem": "sendpays", "created": 1}
    # Blocks until the payment resolves (FakeNode: the market moves on), then
    # says what changed, as lightningd's wait does.
    done = call(TABLE, node, "wait", {"subsystem": "sendpays", "indexname": "updated",
                                      "nextvalue": 1})
    assert done == {"subsystem": "sendpays", "updated": 1, "sendpays": {
        "status": "complete", "partid": 0, "groupid": 1, "payment_hash": inv["payment_hash"]}}
    paid = call(TABLE, node, "wait", {"subsystem": "invoices", "indexname": "updated",
                                      "nextvalue": 1})
    assert paid["updated"] == 1 and sent["created_index"] == 1
