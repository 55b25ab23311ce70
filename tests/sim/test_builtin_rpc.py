"""The simulated lightningd's JSON-RPC over its Unix socket: every method it
serves answers schema-valid to pyln's LightningRpc; CLN's envelope and
parameter errors; the datastore's semantics and persistence; filters,
faults, concurrency, and the clock control ``dev-advance``."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from pyln.client import RpcError

from revops.sim.datastore import Datastore
from revops.sim.harness import Sim
from revops.sim.jsonrpc import RpcError as SimRpcError
from revops.sim.jsonstream import JsonStream
from revops.sim.schemas import validate_response

# -- the datastore itself ---------------------------------------------------------


def test_datastore_modes_generations_and_errors(tmp_path) -> None:
    ds = Datastore(tmp_path / "ds.json")
    assert ds.store(("a",), b"x", "must-create", None) == {
        "key": ["a"], "generation": 0, "hex": "78", "string": "x"}
    with pytest.raises(SimRpcError) as err:
        ds.store(("a",), b"y", "must-create", None)
    assert (err.value.code, err.value.message) == (1202, "Key already exists")
    with pytest.raises(SimRpcError) as err:
        ds.store(("b",), b"y", "must-replace", None)
    assert (err.value.code, err.value.message) == (1203, "Key does not exist")
    assert ds.store(("a",), b"y", "must-append", 0)["string"] == "xy"
    with pytest.raises(SimRpcError) as err:
        ds.store(("a",), b"z", "must-replace", 0)
    assert (err.value.code, err.value.message) == (1204, "generation is different")
    with pytest.raises(SimRpcError) as err:
        ds.store(("a",), b"z", "create-or-replace", 1)
    assert (err.value.code, err.value.message) == (
        -32602, "generation only valid with must-replace or must-append")
    assert ds.store(("a",), b"\xff\x00", "create-or-replace", None) == {
        "key": ["a"], "generation": 2, "hex": "ff00"}  # not UTF-8: no "string"
    with pytest.raises(SimRpcError) as err:
        ds.store(("a", "child"), b"z", "must-create", None)
    assert (err.value.code, err.value.message) == (1206, "Parent key [a] exists")
    ds.store(("p", "q", "r"), b"1", "must-create", None)
    with pytest.raises(SimRpcError) as err:
        ds.store(("p", "q"), b"z", "must-create", None)
    assert (err.value.code, err.value.message) == (1205, "Key has children already")
    with pytest.raises(SimRpcError) as err:
        ds.delete(("a",), 7)
    assert (err.value.code, err.value.message) == (1201, "generation is different")
    with pytest.raises(SimRpcError) as err:
        ds.delete(("nope",), None)
    assert (err.value.code, err.value.message) == (1200, "Key does not exist")
    assert ds.delete(("a",), 2)["generation"] == 2


def test_datastore_listing_summarises_deeper_keys(tmp_path) -> None:
    ds = Datastore(None)
    for key in (("b",), ("a", "x", "1"), ("a", "x", "2"), ("a", "y"), ("c", "d")):
        ds.store(key, b"v", "must-create", None)
    assert [e["key"] for e in ds.listing(None)] == [["a"], ["b"], ["c"]]
    assert "hex" not in ds.listing(None)[0] and ds.listing(None)[1]["hex"] == "76"
    assert [e["key"] for e in ds.listing(("a",))] == [["a", "x"], ["a", "y"]]
    assert [e["key"] for e in ds.listing(("a", "x"))] == [["a", "x", "1"], ["a", "x", "2"]]
    assert ds.listing(("zzz",)) == []
    # data bytes + key bytes + separators, as datastoreusage counts them
    assert ds.usage(("a", "x")) == 2 * (1 + len("ax1") + 2)


# -- over the socket ----------------------------------------------------------------

@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sim]:
    """One served node, no plugin, for the read-mostly tests of this module."""
    sim = Sim(tmp_path_factory.mktemp("rpc") / "node").start()
    sim.advance(hours=3)
    yield sim
    sim.stop()


def _sample_calls(sim: Sim) -> list[tuple[str, Any]]:
    chan = sim.rpc.listpeerchannels()["channels"][0]
    us = sim.rpc.getinfo()["id"]
    a, b = [c for c in sim.rpc.listpeerchannels()["channels"]
            if c["state"] == "CHANNELD_NORMAL"][1:3]
    paid = sim.rpc.invoice(50_000, "sample-paid", "to be paid to ourselves")
    return [
        ("check", {"command_to_check": "getinfo"}),
        # payments and askrene (payments_rpc.py)
        ("askrene-create-layer", {"layer": "sample"}),
        ("askrene-disable-node", {"layer": "sample", "node": us}),
        ("askrene-inform-channel", {"layer": "sample",
                                    "short_channel_id_dir": f"{b['short_channel_id']}/0",
                                    "amount_msat": 1000, "inform": "unconstrained"}),
        ("askrene-listlayers", {}),
        ("getroutes", {"source": a["peer_id"], "destination": b["peer_id"],
                       "amount_msat": 10_000_000, "layers": ["sample"],
                       "maxfee_msat": 1_000_000, "final_cltv": 58}),
        ("askrene-age", {"layer": "sample", "cutoff": 0}),
        ("askrene-remove-layer", {"layer": "sample"}),
        ("invoice", {"amount_msat": 1000, "label": "sample-other", "description": "d"}),
        ("listinvoices", {}),
        ("sendpay", {"route": [], "payment_hash": paid["payment_hash"], "amount_msat": 50_000,
                     "payment_secret": paid["payment_secret"]}),
        ("waitsendpay", {"payment_hash": paid["payment_hash"]}),
        ("listsendpays", {}),
        ("delinvoice", {"label": "sample-paid", "status": "paid"}),
        # the rest
        ("help", {}), ("help", {"command": "getinfo"}), ("getinfo", {}), ("listpeers", {}),
        ("listpeers", {"id": chan["peer_id"]}), ("listpeerchannels", {}),
        ("listpeerchannels", {"short_channel_id": chan["short_channel_id"]}),
        ("listforwards", {}), ("listforwards", {"status": "settled"}),
        ("listforwards", {"index": "created", "start": 1, "limit": 5}),
        ("listforwards", {"index": "updated", "start": 1, "limit": 5}),
        ("listchannels", {}), ("listchannels", {"source": chan["peer_id"]}),
        ("listnodes", {}), ("listfunds", {}),
        ("feerates", {"style": "perkw"}), ("feerates", {"style": "perkb"}),
        ("wait", {"subsystem": "forwards", "indexname": "created", "nextvalue": 0}),
        ("setchannel", {"id": chan["short_channel_id"], "feeppm": 250}),
        ("datastore", {"key": ["test", "one"], "string": "hello"}),
        ("listdatastore", {"key": "test"}), ("datastoreusage", {}),
        ("deldatastore", {"key": ["test", "one"]}),
        ("plugin", {"subcommand": "list"}), ("notifications", {"enable": False}),
        ("listconfigs", {}), ("listconfigs", {"config": "fee-base"}),
        ("listclosedchannels", {}), ("listchainmoves", {}), ("listchannelmoves", {}),
        ("listchannelmoves", {"index": "created", "start": 1, "limit": 2}),
        ("bkpr-listaccountevents", {}), ("bkpr-listincome", {}), ("bkpr-listbalances", {}),
        ("bkpr-channelsapy", {}),
    ]


def test_every_method_answers_schema_valid(node: Sim) -> None:
    calls = _sample_calls(node)
    for method, params in calls:
        validate_response(method, node.rpc.call(method, params))
    # Every non-dev command the node lists is covered above (dev-* have no schema).
    listed = {h["command"].split()[0] for h in node.rpc.help()["help"]}
    assert {m for m in listed if not m.startswith("dev-")} == {m for m, _ in calls} | {"stop"}
    assert {"dev-advance", "dev-ledger", "dev-fault", "dev-payments"} <= listed
    assert node.broken_lines() == []  # the node checked its own answers too (--validate)


def test_filter_applies_to_every_method(node: Sim) -> None:
    got = node.rpc.call("listpeerchannels", {}, filter={"channels": [{"short_channel_id": True}]})
    assert got["channels"] and all(list(c) == ["short_channel_id"] for c in got["channels"])
    assert list(node.rpc.call("getinfo", {}, filter={"alias": True})) == ["alias"]
    with pytest.raises(RpcError) as err:
        node.rpc.call("getinfo", {}, filter={"alias": 3})
    assert err.value.error["code"] == -32602


@pytest.mark.parametrize("method, params, error", [
    ("nosuch", {}, {"code": -32601, "message": "Unknown command 'nosuch'"}),
    ("help", {"command": "nosuch"}, {"code": -32601, "message": "Unknown command nosuch"}),
    ("getinfo", {"bogus": 1}, {"code": -32602, "message":
        "unknown parameter: bogus, this may be caused by a failure to autodetect key=value-"
        "style parameters. Please try using the -k flag and explicit key=value pairs of "
        "parameters."}),
    ("datastore", {"string": "x"}, {"code": -32602, "message": "missing required parameter: key"}),
    # As a real v26.06 node answers.
    ("listconfigs", {"config": "nosuch"},
     {"code": -32602, "message": "config: Unknown config option: invalid token '\"nosuch\"'"}),
    ("datastore", {"key": "k"}, {"code": -32602, "message": "Must have either hex or string"}),
    ("datastore", {"key": "k", "hex": "0g"},
     {"code": -32602, "message": "hex: should be a hex value: invalid token '\"0g\"'"}),
    ("datastore", {"key": "k", "string": "x", "mode": "sometimes"}, {"code": -32602, "message":
        "mode: should be 'must-create', 'must-replace', 'create-or-replace', 'must-append', "
        "or 'create-or-append': invalid token '\"sometimes\"'"}),
    ("listdatastore", {"key": []},
     {"code": -32602, "message": "key: should not be empty: invalid token '[]'"}),
    ("plugin", {"subcommand": "restart"},
     {"code": -32602, "message": "Unknown subcommand 'restart'"}),
    ("plugin", ["stop"], {"code": -32602, "message": "missing required parameter: plugin"}),
    ("dev-advance", {"hours": -1}, {"code": -32602, "message":
        "hours: should be a non-negative number of hours: invalid token '-1'"}),
])
def test_errors_are_clns(node: Sim, method: str, params: Any, error: dict[str, Any]) -> None:
    with pytest.raises(RpcError) as err:
        node.rpc.call(method, params)
    assert err.value.error == error


def _raw(sim: Sim, *chunks: bytes, answers: int = 1) -> list[dict[str, Any]]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(str(sim.rpc_path))
    try:
        for chunk in chunks:
            sock.sendall(chunk)
        stream, out = JsonStream(), []
        while len(out) < answers:
            data = sock.recv(65536)
            assert data, "connection closed early"
            out += stream.feed(data)
        return out
    finally:
        sock.close()


def test_envelope_errors_are_lightningds(node: Sim) -> None:
    def error(raw: bytes) -> dict[str, Any]:
        (answer,) = _raw(node, raw)
        return {"id": answer["id"], **answer["error"]}

    assert error(b"[1]") == {"id": None, "code": -32600,
                             "message": "Expected {} for json command"}
    assert error(b'{"jsonrpc":"2.0","method":"getinfo","params":{}}') == {
        "id": None, "code": -32600, "message": "No id"}
    assert error(b'{"id":1,"method":"getinfo","params":{}}') == {
        "id": None, "code": -32600, "message": 'jsonrpc: "2.0" must be specified in the request'}
    assert error(b'{"jsonrpc":"2.0","id":"x","method":"getinfo"}') == {
        "id": "x", "code": -32600, "message": "No params"}
    assert error(b'{"jsonrpc":"2.0","id":2,"method":7,"params":[]}') == {
        "id": 2, "code": -32600, "message": "Expected string for method"}


def test_several_requests_on_one_connection_in_pieces(node: Sim) -> None:
    first = b'{"jsonrpc":"2.0","id":"a","method":"getinfo","params":[]}'
    second = b'{"jsonrpc":"2.0","id":"b","method":"listfunds","params":{}}'
    both = first + second
    answers = _raw(node, both[:10], both[10:70], both[70:], answers=2)
    assert sorted(a["id"] for a in answers) == ["a", "b"]
    assert all("result" in a for a in answers)


def test_many_concurrent_clients(node: Sim) -> None:
    methods = ["getinfo", "listpeerchannels", "listforwards", "listfunds"] * 15
    with ThreadPoolExecutor(12) as pool:
        results = list(pool.map(lambda m: (m, node.rpc.call(m, {})), methods))
    for method, result in results:
        validate_response(method, result)


def test_dev_advance_moves_the_clock_and_wakes_waiters(sim_factory) -> None:
    with sim_factory(tick=600) as sim:
        created = sim.call("wait", {"subsystem": "forwards", "indexname": "created",
                                    "nextvalue": 0})["created"]
        with ThreadPoolExecutor(1) as pool:
            waiting = pool.submit(sim.rpc.call, "wait", {
                "subsystem": "forwards", "indexname": "created", "nextvalue": created + 1})
            summary = sim.advance(hours=2)
            woke = waiting.result(timeout=60)
        assert summary["advanced_seconds"] == 7200 and summary["steps"] == 12
        assert summary["notifications"] > 0
        validate_response("wait", woke)
        assert woke["created"] == created + 1


def test_serve_speed_moves_the_clock_by_itself(sim_factory) -> None:
    with sim_factory(speed=36000) as sim:  # ten simulated hours per second
        woke = sim.rpc.call("wait", {"subsystem": "forwards", "indexname": "created",
                                     "nextvalue": 3})
        validate_response("wait", woke)
        assert woke["created"] == 3


def test_rpc_faults_apply_but_not_to_sim_controls(sim_factory) -> None:
    with sim_factory() as sim:
        sim.call("dev-fault", {"method": "*", "error_rate": 1.0, "code": -1,
                               "message": "injected"})
        with pytest.raises(RpcError) as err:
            sim.rpc.getinfo()
        assert err.value.error == {"code": -1, "message": "injected"}
        sim.advance(hours=0.1)  # dev-* still work, and so does stop below
        sim.call("dev-fault", {"method": "*", "clear": True})
        assert sim.rpc.getinfo()["id"]


def test_datastore_over_rpc_persists_across_restart(sim_factory) -> None:
    first = sim_factory().start()
    rpc = first.rpc
    validate_response("datastore", rpc.datastore(key=["revops", "state"], string="v1"))
    validate_response("datastore", rpc.datastore(key="flat", hex="00ff"))
    replaced = rpc.datastore(key=["revops", "state"], string="v2", mode="must-replace",
                             generation=0)
    assert replaced == {"key": ["revops", "state"], "generation": 1, "hex": "7632",
                        "string": "v2"}
    with pytest.raises(RpcError) as err:
        rpc.datastore(key=["revops"], string="x")
    assert err.value.error == {"code": 1205, "message": "Key has children already"}
    first.stop()
    with first.restarted() as second:
        listed = second.rpc.listdatastore()
        validate_response("listdatastore", listed)
        assert listed["datastore"] == [{"key": ["flat"], "generation": 0, "hex": "00ff"},
                                       {"key": ["revops"]}]
        assert second.rpc.listdatastore(["revops", "state"])["datastore"][0]["string"] == "v2"
        usage = second.rpc.call("datastoreusage", {"key": "revops"})
        validate_response("datastoreusage", usage)
        assert usage["datastoreusage"] == {"key": "[revops]", "total_bytes": 2 + 12}
        assert json.loads((first.lightning_dir / "datastore.json").read_text())
