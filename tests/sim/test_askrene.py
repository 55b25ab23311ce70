"""askrene in the simulated lightningd: layers (create, inform, disable,
age, remove, persistence across a restart) and ``getroutes`` (BOLT 7 fees
per hop, layers honoured, maxfee, its errors and failure explanations)."""

from __future__ import annotations

import itertools
import re
from typing import Any

import pytest

from revops.sim.askrene import UNBOUNDED, Askrene, Layer
from revops.sim.jsonrpc import (
    JSONRPC2_INVALID_PARAMS,
    PAY_INSUFFICIENT_FUNDS,
    PAY_ROUTE_NOT_FOUND,
    RpcError,
)
from revops.sim.market import fee_msat
from revops.sim.schemas import validate_response
from tests.sim.market_fixtures import FakeNode, call, rpc_error
from tests.sim.payment_fixtures import LAYER, TABLE, node_with_layer, quiet_market

# The x of secp256k1's generator: 02/03 + G_X are valid keys no node in the market has.
G_X = "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"

# -- layers -------------------------------------------------------------------------------


def test_layers_keep_what_they_are_told() -> None:
    ask = Askrene()
    ask.load([])
    ask.create("a", False)
    with pytest.raises(RpcError) as err:
        ask.create("a", False)
    assert (err.value.code, err.value.message) == (JSONRPC2_INVALID_PARAMS, "Layer already exists")
    with pytest.raises(RpcError) as err:
        ask.create("auto.mine", True)
    assert err.value.message == "Cannot create auto layer"
    ask.create("p", True)
    assert ask.create("p", True) is ask.get("p")  # persistent: a no-op if it exists
    # Newest first; xpay's own layer is there from the start, as on a node
    # that runs CLN's built-in xpay plugin.
    assert [layer.name for layer in ask.listing()] == ["p", "a", "xpay"]
    c, imp = ask.inform("a", "1x2x3/0", 50_000, "constrained", 100)
    assert imp is None and (c.minimum, c.maximum, c.timestamp) == (0, 49_999, 100)
    c, _ = ask.inform("a", "1x2x3/0", 80_000, "constrained", 101)
    assert c.maximum == 49_999  # keeps the lowest maximum
    c, _ = ask.inform("a", "1x2x3/0", 20_000, "unconstrained", 102)
    assert (c.minimum, c.maximum, c.timestamp) == (20_000, 49_999, 102)
    assert c.to_json("a") == {"layer": "a", "short_channel_id_dir": "1x2x3/0", "timestamp": 102,
                              "minimum_msat": 20_000, "maximum_msat": 49_999}
    _, imp = ask.inform("a", "1x2x3/1", 7_000, "succeeded", 103)
    assert imp is not None and imp.to_json() == {"short_channel_id_dir": "1x2x3/1",
                                                  "timestamp": 103, "amount_msat": 7_000}
    ask.inform("a", "4x5x6/1", 1, "unconstrained", 10)
    assert ask.age("a", 50) == 1 and list(ask.get("a").constraints) == ["1x2x3/0"]
    with pytest.raises(RpcError) as err:
        ask.known("nope")
    assert err.value.message == "layer: Unknown layer: invalid token '\"nope\"'"
    # Only persistent layers are saved, and they come back as they were.
    ask.disable_node("p", "02" + "11" * 32)
    ask.inform("p", "7x8x9/0", 3_000, "constrained", 104)
    saved = dict(ask.dirty())
    assert set(saved) == {"p", "xpay"} and ask.dirty() == []
    again = Askrene()
    again.load([saved["p"]])
    back = again.get("p")
    assert back is not None and back.persistent and back.to_json() == ask.get("p").to_json()
    ask.remove("p")
    assert ask.dirty() == [("p", None)]
    assert Layer("x").constraints == {} and UNBOUNDED == 2**64 - 1


def test_layer_methods_answer_schema_valid() -> None:
    node = FakeNode(quiet_market())
    us = node.market.node_id
    created = call(TABLE, node, "askrene-create-layer", {"layer": "probe-results"})
    assert created["layers"][0]["layer"] == "probe-results"
    assert call(TABLE, node, "askrene-disable-node", ["probe-results", us]) == {}
    informed = call(TABLE, node, "askrene-inform-channel", {
        "layer": "probe-results", "short_channel_id_dir": "100x1x0/1",
        "amount_msat": "1000sat", "inform": "constrained"})
    assert informed == {"constraints": [{"layer": "probe-results",
                                         "short_channel_id_dir": "100x1x0/1",
                                         "timestamp": int(node.market.now),
                                         "maximum_msat": 999_999}], "impressions": []}
    listed = call(TABLE, node, "askrene-listlayers", {"layer": "probe-results"})["layers"]
    assert listed[0]["disabled_nodes"] == [us] and listed[0]["constraints"][0]["maximum_msat"] \
        == 999_999
    assert call(TABLE, node, "askrene-age", {"layer": "probe-results", "cutoff": 2**40}) == {
        "layer": "probe-results", "num_removed": 1}
    assert call(TABLE, node, "askrene-remove-layer", {"layer": "probe-results"}) == {}
    assert [x["layer"] for x in call(TABLE, node, "askrene-listlayers", {})["layers"]] == ["xpay"]
    for method, params, message in [
        ("askrene-inform-channel", {"layer": "gone", "short_channel_id_dir": "1x1x1/0",
                                    "amount_msat": 1, "inform": "constrained"},
         "layer: Unknown layer: invalid token '\"gone\"'"),
        ("askrene-inform-channel", {"layer": "gone", "short_channel_id_dir": "1x1x1",
                                    "amount_msat": 1, "inform": "constrained"},
         "short_channel_id_dir: should be a short_channel_id_dir: invalid token '\"1x1x1\"'"),
        ("askrene-create-layer", {"layer": "auto.x"}, "Cannot create auto layer"),
        ("askrene-disable-node", {"layer": "gone", "node": us},
         "layer: Unknown layer: invalid token '\"gone\"'"),
    ]:
        err = rpc_error(TABLE, node, method, params)
        assert (err.code, err.message) == (JSONRPC2_INVALID_PARAMS, message)
    call(TABLE, node, "askrene-create-layer", {"layer": "x"})
    err = rpc_error(TABLE, node, "askrene-inform-channel", {
        "layer": "x", "short_channel_id_dir": "1x1x1/0", "amount_msat": 1, "inform": "maybe"})
    assert err.message == "inform: must be constrained/unconstrained/succeeded: invalid token '\"maybe\"'"


def test_persistent_layers_survive_a_restart(sim_factory: Any) -> None:
    sim = sim_factory().start()
    us = sim.rpc.getinfo()["id"]
    sim.rpc.call("askrene-create-layer", {"layer": "keep", "persistent": True})
    sim.rpc.call("askrene-disable-node", {"layer": "keep", "node": us})
    sim.rpc.call("askrene-inform-channel", {"layer": "keep", "short_channel_id_dir": "9x9x9/1",
                                            "amount_msat": 5000, "inform": "unconstrained"})
    sim.rpc.call("askrene-create-layer", {"layer": "forget"})
    before = sim.rpc.call("askrene-listlayers", {"layer": "keep"})
    stored = sim.rpc.listdatastore(["askrene", "layers"])["datastore"]
    assert [d["key"] for d in stored] == [["askrene", "layers", "keep"],
                                          ["askrene", "layers", "xpay"]]
    sim.stop()
    again = sim.restarted().start()
    layers = [x for x in again.rpc.call("askrene-listlayers", {})["layers"]
              if x["layer"] != "xpay"]
    assert [layer["layer"] for layer in layers] == ["keep"]
    assert layers == before["layers"] and layers[0]["persistent"] is True
    validate_response("askrene-listlayers", {"layers": layers})
    again.rpc.call("askrene-remove-layer", {"layer": "keep"})
    assert [d["key"] for d in again.rpc.listdatastore(["askrene", "layers"])["datastore"]] == [
        ["askrene", "layers", "xpay"]]
    again.stop()


# -- getroutes ------------------------------------------------------------------------------


def _peers(node: FakeNode) -> tuple[Any, Any]:
    m = node.market
    a = m.channel_by_name("sink-1")
    b = m.channel_by_name("src-2")
    assert a.peer_id != b.peer_id
    return a, b


def test_getroutes_fees_are_bolt7_per_hop_and_layers_hold() -> None:
    node = node_with_layer(quiet_market())
    m = node.market
    a, b = _peers(node)
    amount = 250_000_000
    found = call(TABLE, node, "getroutes", {
        "source": a.peer_id, "destination": b.peer_id, "amount_msat": amount,
        "layers": [LAYER], "maxfee_msat": amount, "final_cltv": 58})
    [route] = found["routes"]
    path = route["path"]
    assert route["amount_msat"] == amount and route["final_cltv"] == 58
    assert 0 < found["probability_ppm"] == route["probability_ppm"] <= 1_000_000
    assert path[0]["node_id_in"] == a.peer_id and path[-1]["node_id_out"] == b.peer_id
    assert path[-1]["amount_out_msat"] == amount and path[-1]["cltv_out"] == 58
    for hop, nxt in itertools.pairwise(path):
        assert hop["node_id_out"] == nxt["node_id_in"]
        assert (hop["amount_out_msat"], hop["cltv_out"]) == (nxt["amount_in_msat"], nxt["cltv_in"])
    for hop in path:
        scid, d = hop["short_channel_id_dir"].split("/")
        [policy] = [c for c in call(TABLE, node, "listchannels",
                                    {"short_channel_id": scid})["channels"]
                    if c["source"] == hop["node_id_in"]]
        assert policy["direction"] == int(d) and policy["destination"] == hop["node_id_out"]
        assert hop["amount_in_msat"] - hop["amount_out_msat"] == fee_msat(
            hop["amount_out_msat"], policy["base_fee_millisatoshi"], policy["fee_per_millionth"])
        assert hop["cltv_in"] - hop["cltv_out"] == policy["delay"]
        assert "next_node_id" not in hop  # v26.06: the old names only when deprecated APIs are on
        assert m.node_id not in (hop["node_id_in"], hop["node_id_out"])  # disabled: avoided
    # Our node disabled still receives: a circle from peer A back to us,
    # never through us on the way (askrene disables a node's own directions).
    home = call(TABLE, node, "getroutes", {
        "source": a.peer_id, "destination": m.node_id, "amount_msat": amount,
        "layers": [LAYER], "maxfee_msat": amount, "final_cltv": 18})["routes"][0]["path"]
    assert home[-1]["node_id_out"] == m.node_id
    assert m.node_id not in [h["node_id_in"] for h in home]
    assert home[-1]["short_channel_id_dir"].split("/")[0] in {c.scid for c in m.channels}
    # Larger amounts: a less likely route.
    bigger = call(TABLE, node, "getroutes", {
        "source": a.peer_id, "destination": b.peer_id, "amount_msat": amount * 8,
        "layers": [LAYER], "maxfee_msat": amount * 8, "final_cltv": 58})
    assert bigger["probability_ppm"] < found["probability_ppm"]
    # Knowledge in a layer moves the route: its first hop cannot carry it any more.
    first = path[0]["short_channel_id_dir"]
    call(TABLE, node, "askrene-inform-channel", {"layer": LAYER, "short_channel_id_dir": first,
                                                 "amount_msat": amount,
                                                 "inform": "constrained"})
    moved = call(TABLE, node, "getroutes", {
        "source": a.peer_id, "destination": b.peer_id, "amount_msat": amount,
        "layers": [LAYER], "maxfee_msat": amount, "final_cltv": 58})
    assert first not in [h["short_channel_id_dir"] for h in moved["routes"][0]["path"]]
    # maxfee below the cheapest route's fees.
    err = rpc_error(TABLE, node, "getroutes", {
        "source": a.peer_id, "destination": b.peer_id, "amount_msat": amount,
        "layers": [LAYER], "maxfee_msat": 10, "final_cltv": 58})
    assert (err.code, err.message) == (PAY_ROUTE_NOT_FOUND,
                                       "Could not find route without excessive cost")


def test_getroutes_from_our_node_with_auto_layers() -> None:
    node = FakeNode(quiet_market())
    m = node.market
    _, b = _peers(node)
    amount = 100_000_000
    found = call(TABLE, node, "getroutes", {
        "source": m.node_id, "destination": b.peer_id, "amount_msat": amount,
        "layers": ["auto.localchans", "auto.sourcefree"], "maxfee_msat": amount,
        "final_cltv": 18})
    hop0 = found["routes"][0]["path"][0]
    assert hop0["node_id_in"] == m.node_id
    assert hop0["amount_in_msat"] == hop0["amount_out_msat"] and hop0["cltv_in"] == hop0["cltv_out"]
    # auto.localchans knows our side exactly: a channel without enough to send is not used.
    empty = m.channel_by_name("virgin")
    assert empty.spendable_msat() == 0
    around = call(TABLE, node, "getroutes", {
        "source": m.node_id, "destination": empty.peer_id, "amount_msat": amount,
        "layers": ["auto.localchans"], "maxfee_msat": amount, "final_cltv": 18})
    used = [h["short_channel_id_dir"].split("/")[0] for h in around["routes"][0]["path"]]
    assert empty.scid not in used and len(used) > 1  # around, through the wider graph
    # Without auto.localchans askrene only knows the capacity: it takes the direct hop.
    direct = call(TABLE, node, "getroutes", {
        "source": m.node_id, "destination": empty.peer_id, "amount_msat": amount,
        "layers": [], "maxfee_msat": amount, "final_cltv": 18})
    assert [h["short_channel_id_dir"].split("/")[0]
            for h in direct["routes"][0]["path"]] == [empty.scid]


def test_getroutes_errors_and_explanations() -> None:
    node = node_with_layer(quiet_market())
    m = node.market
    a, b = _peers(node)
    base = {"source": a.peer_id, "destination": b.peer_id, "amount_msat": 1_000_000,
            "layers": [LAYER], "maxfee_msat": 100_000, "final_cltv": 18}
    for change, code, message in [
        ({"layers": ["nope"]}, JSONRPC2_INVALID_PARAMS, "layers: unknown layer: invalid token '\"nope\"'"),
        ({"amount_msat": 0}, JSONRPC2_INVALID_PARAMS, "amount must be non-zero"),
        ({"maxparts": 0}, JSONRPC2_INVALID_PARAMS, "maxparts must be non-zero"),
        ({"maxdelay": 3000}, 217, "maximum delay allowed is 2016"),
        ({"source": "02" + G_X}, PAY_ROUTE_NOT_FOUND, f"Unknown source node 02{G_X}"),
        ({"destination": "03" + G_X}, PAY_ROUTE_NOT_FOUND, f"Unknown destination node 03{G_X}"),
        ({"source": "02" + "00" * 32}, JSONRPC2_INVALID_PARAMS,
         f"source: should be a node id: invalid token '\"02{'00' * 32}\"'"),  # not a point
        ({"source": m.node_id}, PAY_ROUTE_NOT_FOUND,
         (f"We could not find a usable set of paths. All {len(m.channels)} channels to the "
          "source are disabled.")),
        ({"amount_msat": 10**15}, PAY_INSUFFICIENT_FUNDS,
         "We could not find a usable set of paths. Total source capacity is only "),
        ({"maxdelay": 20}, PAY_ROUTE_NOT_FOUND, "Could not find route without excessive delays"),
        ({"final_cltv": "soon"}, JSONRPC2_INVALID_PARAMS,
         "final_cltv: should be an unsigned 32 bit integer: invalid token '\"soon\"'"),
    ]:
        err = rpc_error(TABLE, node, "getroutes", {**base, **change})
        assert err.code == code and err.message.startswith(message), err.message
    # A peer whose every channel a layer disables.
    lonely = m.channel_by_name("dead-1")
    rivals = [c["node"] for c in m._competitors if c["peer"] == lonely.peer_id]
    call(TABLE, node, "askrene-create-layer", {"layer": "alone"})
    for rival in rivals:
        call(TABLE, node, "askrene-disable-node", {"layer": "alone", "node": rival})
    err = rpc_error(TABLE, node, "getroutes", {**base, "destination": lonely.peer_id,
                                               "layers": [LAYER, "alone"]})
    assert (err.code, err.message) == (
        PAY_ROUTE_NOT_FOUND, (f"We could not find a usable set of paths. All {len(rivals) + 1} "
                              "channels to the destination are disabled."))
    # More than any competitor's channel into the destination can carry: only
    # our direct pair would, and our node (disabled) forwards nothing.
    big = max(c["capacity_msat"] for c in m._competitors if c["peer"] == b.peer_id) + 1
    err = rpc_error(TABLE, node, "getroutes", {**base, "amount_msat": big,
                                               "maxfee_msat": big})
    assert err.code == PAY_ROUTE_NOT_FOUND
    # The first hop it cannot take: our channel with A too small, or our
    # (disabled) side of our channel with B.
    assert re.fullmatch(rf"We could not find a usable set of paths\. The shortest path is "
                        rf"{a.scid}->{b.scid}, but ({a.scid}/[01] isn't big enough to carry "
                        rf"\d+msat|{b.scid}/[01] marked disabled by gossip message)\.",
                        err.message), err.message
