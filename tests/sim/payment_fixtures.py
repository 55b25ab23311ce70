"""Helpers for the payment, askrene and sling tests: a quiet market (no
payment demand, so only our own payments move balances), the payment
methods' table, and a circular route built the way a rebalancer builds
it (our hop out, askrene's path between the two peers, the hop back)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from revops.sim import market_rpc, payments_rpc
from revops.sim.jsonrpc import MethodTable
from revops.sim.market import Channel, Market, fee_msat
from revops.sim.scenario import PaymentsSpec, default_scenario
from tests.sim.market_fixtures import FakeNode, call

LAYER = "mine"
FINAL_CLTV = 18


def payments_table() -> MethodTable:
    table = MethodTable()
    market_rpc.register(table)
    payments_rpc.register(table)
    return table


TABLE = payments_table()


def quiet_market(seed: int = 1, **payments: Any) -> Market:
    """The default node's channels and graph, without payment demand."""
    scenario = replace(default_scenario(), flows=(),
                       payments=replace(PaymentsSpec(), **payments))
    return Market(scenario, seed)


def node_with_layer(m: Market) -> FakeNode:
    """A FakeNode whose askrene layer ``mine`` keeps routes off our node."""
    node = FakeNode(m)
    call(TABLE, node, "askrene-create-layer", {"layer": LAYER})
    call(TABLE, node, "askrene-disable-node", {"layer": LAYER, "node": m.node_id})
    return node


def circular_route(node: FakeNode, out_ch: Channel, in_ch: Channel, amount: int,
                   maxfee: int | None = None) -> list[dict[str, Any]]:
    """sendpay hops for ``amount`` out through ``out_ch``, back in through ``in_ch``."""
    m = node.market
    fee_last = fee_msat(amount, in_ch.spec.peer_fee_base_msat, in_ch.spec.peer_fee_ppm)
    found = call(TABLE, node, "getroutes", {
        "source": out_ch.peer_id, "destination": in_ch.peer_id,
        "amount_msat": amount + fee_last, "layers": [LAYER],
        "maxfee_msat": maxfee if maxfee is not None else amount // 20,
        "final_cltv": FINAL_CLTV + 40})
    path = found["routes"][0]["path"]
    route = [{"id": out_ch.peer_id, "channel": out_ch.scid,
              "amount_msat": path[0]["amount_in_msat"], "delay": path[0]["cltv_in"]}]
    route += [{"id": h["node_id_out"], "channel": h["short_channel_id_dir"].split("/")[0],
               "amount_msat": h["amount_out_msat"], "delay": h["cltv_out"]} for h in path]
    route.append({"id": m.node_id, "channel": in_ch.scid, "amount_msat": amount,
                  "delay": FINAL_CLTV})
    return route


def send_circular(node: FakeNode, out_ch: Channel, in_ch: Channel, amount: int,
                  label: str) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
    """Invoice ourselves and sendpay it around; (route, invoice, sendpay answer)."""
    route = circular_route(node, out_ch, in_ch, amount)
    inv = call(TABLE, node, "invoice", {"amount_msat": amount, "label": label,
                                        "description": "rebalance"})
    sent = call(TABLE, node, "sendpay", {"route": route, "payment_hash": inv["payment_hash"],
                                         "payment_secret": inv["payment_secret"]})
    return route, inv, sent


def settle(node: FakeNode, seconds: float = 120.0) -> list[tuple[str, dict[str, Any]]]:
    """Advance the market (payments resolve); the notifications it emitted."""
    notes = node.market.advance(node.market.now + seconds)
    node.notifications.extend(notes)
    return notes


def sink_and_source(m: Market) -> tuple[Channel, Channel]:
    """A channel with plenty to send (a sink) and one with room to receive
    (a source), with different peers."""
    out_ch = max((c for c in m.channels if c.name.startswith("sink")),
                 key=lambda c: c.spendable_msat())
    in_ch = max((c for c in m.channels if c.name.startswith("src")
                 and c.peer_id != out_ch.peer_id), key=lambda c: c.receivable_msat())
    return out_ch, in_ch
