"""Circular routes from askrene's answer: our hop out, its path, the hop back;
the getroutes request carries the last hop's fee and delay."""

from __future__ import annotations

import pytest

from revops.rebalance.bolt7 import HopPolicy, hop_fee
from revops.rebalance.routes import (
    RouteError,
    circular,
    direction,
    remote_hops,
    request,
)
from tests.rebalance.helpers import peer

US, A, X, B = peer(1), peer(2), peer(3), peer(4)
LAST = HopPolicy(1000, 100, 40)
AMOUNT = 500_000_000


def path(amount_to_b: int) -> list[dict]:
    """A -> X -> B as askrene answers, X charging 0 + 200 ppm, A 0 + 50 ppm."""
    x_in = amount_to_b + amount_to_b * 200 // 1_000_000
    a_in = x_in + x_in * 50 // 1_000_000
    return [
        {"short_channel_id_dir": "10x1x0/0", "node_id_in": A, "node_id_out": X,
         "amount_in_msat": a_in, "amount_out_msat": x_in, "cltv_in": 18 + 40 + 40 + 40,
         "cltv_out": 18 + 40 + 40},
        {"short_channel_id_dir": "11x1x0/1", "node_id_in": X, "node_id_out": B,
         "amount_in_msat": x_in, "amount_out_msat": amount_to_b, "cltv_in": 18 + 40 + 40,
         "cltv_out": 18 + 40},
    ]


def test_request_asks_for_the_amount_plus_the_last_hops_fee():
    req = request(A, B, AMOUNT, 200_000, LAST, 18)
    fee_b = hop_fee(AMOUNT, 1000, 100)
    assert (req.source, req.destination) == (A, B)
    assert req.amount_msat == AMOUNT + fee_b
    assert req.maxfee_msat == 200_000 - fee_b
    assert req.final_cltv == 18 + 40


def test_request_refuses_when_the_last_hop_alone_costs_too_much():
    with pytest.raises(RouteError, match="exceeds the max fee"):
        request(A, B, AMOUNT, 1000, LAST, 18)


def test_circular_route_out_through_path_and_back():
    fee_b = hop_fee(AMOUNT, 1000, 100)
    p = path(AMOUNT + fee_b)
    r = circular(p, US, "1x1x1", A, "2x2x2", B, AMOUNT, LAST, 18)
    assert [h.node_id for h in r.hops] == [A, X, B, US]
    assert [h.scid for h in r.hops] == ["1x1x1", "10x1x0", "11x1x0", "2x2x2"]
    assert r.hops[0].amount_msat == p[0]["amount_in_msat"]
    assert r.hops[-1].amount_msat == AMOUNT and r.hops[-1].delay == 18
    assert r.hops[-2].amount_msat - r.hops[-1].amount_msat == fee_b
    assert r.fee_msat == p[0]["amount_in_msat"] - AMOUNT
    # every hop's fee is paid: what a node gets minus what it forwards
    for prev, nxt in zip(r.hops, r.hops[1:]):
        assert prev.amount_msat >= nxt.amount_msat and prev.delay >= nxt.delay
    assert r.to_json()[0] == {"id": A, "channel": "1x1x1", "amount_msat": r.hops[0].amount_msat,
                              "delay": r.hops[0].delay}


@pytest.mark.parametrize("mangle, why", [
    (lambda p: [], "empty path"),
    (lambda p: [{**p[0], "node_id_in": X}, p[1]], "does not start"),
    (lambda p: [p[0], {**p[1], "node_id_out": X}], "does not end"),
    (lambda p: [p[0], {**p[1], "amount_out_msat": 1}], "delivers less"),
    (lambda p: [p[0], {**p[1], "cltv_out": 18}], "final CLTV"),
    (lambda p: [{**p[0], "node_id_out": US}, p[1]], "crosses our own node"),
])
def test_a_path_that_cannot_make_our_route_is_refused(mangle, why):
    p = mangle(path(AMOUNT + hop_fee(AMOUNT, 1000, 100)))
    with pytest.raises(RouteError, match=why):
        circular(p, US, "1x1x1", A, "2x2x2", B, AMOUNT, LAST, 18)


def test_remote_hops_are_the_ones_between_other_nodes_with_their_direction():
    p = path(AMOUNT + hop_fee(AMOUNT, 1000, 100))
    r = circular(p, US, "1x1x1", A, "2x2x2", B, AMOUNT, LAST, 18)
    hops = remote_hops(r, US)
    assert [(i, s) for i, s, _ in hops] == [(1, f"10x1x0/{direction(A, X)}"),
                                           (2, f"11x1x0/{direction(X, B)}")]
    assert hops[0][2] == r.hops[1].amount_msat
    assert direction(A, X) == 0 and direction(X, A) == 1
