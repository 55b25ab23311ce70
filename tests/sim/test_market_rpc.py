"""The market's lightningd RPC methods: schema-valid answers, CLN's filters
and pagination semantics, CLN's parameter errors, and the dev methods."""

from __future__ import annotations

from typing import Any

import pytest

from revops.sim.jsonrpc import (
    JSONRPC2_INVALID_PARAMS,
    JSONRPC2_METHOD_NOT_FOUND,
    LIGHTNINGD,
)
from revops.sim.market import Market
from revops.sim.scenario import default_scenario, generate_scenario
from revops.sim.schemas import validate_response
from tests.sim.market_fixtures import FakeNode, call, method_table, rpc_error

HOUR = 3600.0
TABLE = method_table()


@pytest.fixture(scope="module")
def busy() -> FakeNode:
    """The default node after six hours, one channel closing, one opening."""
    m = Market(default_scenario(), 21)
    m.advance(m.now + 5 * HOUR)
    m.close_channel(m.channel_by_name("sink-2"), "user")
    m.open_channel("freshpeer", 3_000_000, 3_000_000, "local", name="fresh")
    m.advance(m.now + HOUR)
    return FakeNode(m)


def fresh() -> FakeNode:
    m = Market(default_scenario(), 22)
    m.advance(m.now + 2 * HOUR)
    return FakeNode(m)


METHODS = [
    ("getinfo", {}),
    ("listpeers", {}),
    ("listpeerchannels", {}),
    ("listforwards", {}),
    ("listforwards", {"status": "settled"}),
    ("listforwards", {"status": "local_failed"}),
    ("listforwards", {"index": "created", "start": 5, "limit": 20}),
    ("listforwards", {"index": "updated", "start": 3, "limit": 20}),
    ("listchannels", {}),
    ("listnodes", {}),
    ("listfunds", {}),
    ("feerates", {"style": "perkw"}),
    ("feerates", ["perkb"]),
    ("wait", {"subsystem": "forwards", "indexname": "created", "nextvalue": 1}),
    ("wait", ["forwards", "updated", 0]),
    ("wait", {"subsystem": "invoices", "indexname": "created", "nextvalue": 0}),
]


@pytest.mark.parametrize("method,params", METHODS, ids=[f"{m}-{i}" for i, (m, _) in enumerate(METHODS)])
def test_every_method_answers_schema_valid(busy: FakeNode, method: str, params: Any) -> None:
    result = call(TABLE, busy, method, params)  # validates against CLN's schema
    assert isinstance(result, dict) and result


def test_listpeerchannels_covers_every_state_and_filters(busy: FakeNode) -> None:
    m = busy.market
    chans = call(TABLE, busy, "listpeerchannels")["channels"]
    states = {c["state"] for c in chans}
    assert {"CHANNELD_NORMAL", "ONCHAIN"} <= states
    assert len(chans) == len(list(m.listed_channels()))
    congested = m.channel_by_name("congested")
    got = call(TABLE, busy, "listpeerchannels", {"short_channel_id": congested.scid})["channels"]
    assert len(got) == 1 and got[0]["max_accepted_htlcs"] == 30
    assert len(got[0]["htlcs"]) >= m.background_htlcs(congested) >= 15  # looks congested
    twin = m.channel_by_name("twin-a")
    by_peer = call(TABLE, busy, "listpeerchannels", [twin.peer_id])["channels"]
    assert sorted(c["short_channel_id"] for c in by_peer) == sorted(
        [twin.scid, m.channel_by_name("twin-b").scid])
    by_id = call(TABLE, busy, "listpeerchannels", {"channel_id": twin.channel_id})["channels"]
    assert [c["short_channel_id"] for c in by_id] == [twin.scid]
    virgin = call(TABLE, busy, "listpeerchannels",
                  {"short_channel_id": m.channel_by_name("virgin").scid})["channels"][0]
    assert virgin["opener"] == "remote" and virgin["out_payments_offered"] == 0
    unknown = call(TABLE, busy, "listpeerchannels", {"short_channel_id": "1x1x1"})
    assert unknown == {"channels": []}
    filtered = call(TABLE, busy, "listpeerchannels", {},
                    filter={"channels": [{"short_channel_id": True, "spendable_msat": True}]})
    assert all(set(c) <= {"short_channel_id", "spendable_msat"} for c in filtered["channels"])


def test_getinfo_counts_and_fees_collected(busy: FakeNode) -> None:
    info = call(TABLE, busy, "getinfo")
    m = busy.market
    assert info["id"] == m.node_id and info["blockheight"] == m.blockheight
    assert info["num_pending_channels"] == 0  # "fresh" locked in within the hour
    assert info["num_inactive_channels"] == 1  # sink-2 onchain
    assert info["num_active_channels"] == len(list(m.listed_channels())) - 1
    settled_fees = sum(f["fee_msat"] for f in call(TABLE, busy, "listforwards",
                                                   {"status": "settled"})["forwards"])
    assert info["fees_collected_msat"] == settled_fees == m.report()["revenue_msat"]


def test_listforwards_filters_match_brute_force(busy: FakeNode) -> None:
    allf = call(TABLE, busy, "listforwards")["forwards"]
    assert [f["created_index"] for f in allf] == list(range(1, len(allf) + 1))
    sink = busy.market.channel_by_name("sink-1").scid
    src = next(f["in_channel"] for f in allf if f.get("out_channel") == sink)
    for params in ({"out_channel": sink}, {"in_channel": src},
                   {"in_channel": src, "out_channel": sink},
                   {"in_channel": src, "status": "settled"}):
        got = call(TABLE, busy, "listforwards", params)["forwards"]
        want = [f for f in allf
                if all(f.get(k) == v for k, v in params.items())]
        assert got == want and want
    assert call(TABLE, busy, "listforwards", {"in_channel": "9x9x9"}) == {"forwards": []}
    # CLN ignores limit with a channel filter (no LIMIT in that query).
    got = call(TABLE, busy, "listforwards", {"out_channel": sink, "index": "created", "limit": 1})
    assert len(got["forwards"]) > 1


def test_listforwards_updated_index_lists_updated_rows_in_update_order(busy: FakeNode) -> None:
    got = call(TABLE, busy, "listforwards", {"index": "updated"})["forwards"]
    ups = [f["updated_index"] for f in got]
    assert ups == sorted(ups) and len(set(ups)) == len(ups)
    allf = call(TABLE, busy, "listforwards")["forwards"]
    assert len(got) == sum(1 for f in allf if "updated_index" in f)
    assert all(f["status"] in ("settled", "failed") for f in got)
    page = call(TABLE, busy, "listforwards", {"index": "updated", "start": ups[10], "limit": 5})
    assert [f["updated_index"] for f in page["forwards"]] == ups[10:15]
    settled = call(TABLE, busy, "listforwards",
                   {"index": "updated", "status": "settled", "limit": 7})["forwards"]
    assert len(settled) == 7 and all(f["status"] == "settled" for f in settled)


def test_pagination_over_100k_forwards_returns_each_exactly_once() -> None:
    m = Market(generate_scenario(60, 100_000, 4), 4)
    m.advance(m.now + 2 * HOUR)  # live forwards on top, some still offered
    node = FakeNode(m)
    total = len(m.forwards)
    assert total > 100_000
    seen: list[int] = []
    start = 0
    while True:
        page = call(TABLE, node, "listforwards", {"index": "created", "start": start,
                                                  "limit": 10_000}, validate=False)["forwards"]
        if not page:
            break
        seen.extend(f["created_index"] for f in page)
        start = page[-1]["created_index"] + 1
    assert seen == list(range(1, total + 1))
    seen_u: list[int] = []
    start = 0
    while True:
        page = call(TABLE, node, "listforwards", {"index": "updated", "start": start,
                                                  "limit": 10_000}, validate=False)["forwards"]
        if not page:
            break
        seen_u.extend(f["created_index"] for f in page)
        start = page[-1]["updated_index"] + 1
    updated_rows = [r + 1 for r in range(total) if m.forwards.updated[r]]
    assert sorted(seen_u) == updated_rows and len(set(seen_u)) == len(seen_u)
    validate_response("listforwards", call(TABLE, node, "listforwards",
                                           {"index": "created", "start": 99_990, "limit": 50},
                                           validate=False))


def test_wait_returns_at_once_or_blocks_until_the_index_moves() -> None:
    node = fresh()
    st = node.market.forwards
    now = call(TABLE, node, "wait", {"subsystem": "forwards", "indexname": "created",
                                     "nextvalue": 3})
    assert now == {"subsystem": "forwards", "created": st.created_count}
    target = st.created_count + 1
    got = call(TABLE, node, "wait", {"subsystem": "forwards", "indexname": "created",
                                     "nextvalue": target})
    assert got["created"] == target and st.created_count >= target
    row = target - 1
    assert got["forwards"]["in_channel"] == node.market.channels[st.in_ch[row]].scid
    assert got["forwards"]["in_msat"] == st.in_msat[row]
    assert got["forwards"]["status"] in ("offered", "local_failed")
    target = st.updated_count + 1
    got = call(TABLE, node, "wait", ["forwards", "updated", target])
    assert got["updated"] == target
    assert got["forwards"]["status"] == ("settled", "failed")[st.upd_status[target - 1] == 2]


def test_setchannel_semantics_and_warnings() -> None:
    node = fresh()
    m = node.market
    sink = m.channel_by_name("sink-3")
    res = call(TABLE, node, "setchannel", {"id": sink.scid, "feebase": "2sat", "feeppm": 321})
    (entry,) = res["channels"]
    assert entry["short_channel_id"] == sink.scid and entry["fee_base_msat"] == 2000
    assert entry["fee_proportional_millionths"] == 321 and sink.fee_ppm == 321
    assert sink.old_until == m.now + 600  # default enforcedelay after an increase
    res = call(TABLE, node, "setchannel", [sink.channel_id, None, None, 0, "999999999sat"])
    (entry,) = res["channels"]
    assert entry["maximum_htlc_out_msat"] == sink.max_possible_send_msat()
    assert "warning_htlcmax_too_high" in entry
    assert ("warning_htlcmin_too_low" in entry) == (sink.peer_htlc_min_msat > 0)
    lnd_like = next(c for c in m.channels if c.peer_htlc_min_msat > 0 and c.state == "CHANNELD_NORMAL")
    (entry,) = call(TABLE, node, "setchannel", {"id": lnd_like.scid, "htlcmin": 1})["channels"]
    assert entry["minimum_htlc_out_msat"] == lnd_like.peer_htlc_min_msat
    assert entry["warning_htlcmin_too_low"] == "Set minimum_htlc_out_msat to minimum allowed by peer"
    twins = call(TABLE, node, "setchannel", {"id": m.channel_by_name("twin-a").peer_id,
                                             "feeppm": 500})["channels"]
    assert len(twins) == 2
    everyone = call(TABLE, node, "setchannel", {"id": "all", "feeppm": 400, "enforcedelay": 0})
    assert len(everyone["channels"]) == len(list(m.listed_channels()))
    assert m.report()["fee_updates"] == 1 + 2 + len(everyone["channels"])
    gossip = call(TABLE, node, "listchannels", {"source": m.node_id})["channels"]
    assert {c["fee_per_millionth"] for c in gossip} == {400}


@pytest.mark.parametrize("method,params,code,message", [
    ("listforwards", {"status": "bogus"}, JSONRPC2_INVALID_PARAMS,
     "status: Unrecognized status: invalid token '\"bogus\"'"),
    ("listforwards", {"index": "sideways"}, JSONRPC2_INVALID_PARAMS,
     "index: unknown index: invalid token '\"sideways\"'"),
    ("listforwards", {"start": 5}, JSONRPC2_INVALID_PARAMS, "Can only specify {start} with {index}"),
    ("listforwards", {"limit": 5}, JSONRPC2_INVALID_PARAMS, "Can only specify {limit} with {index}"),
    ("listforwards", {"in_channel": "1x1x1", "index": "created", "start": 2},
     JSONRPC2_INVALID_PARAMS, "Cannot use start with in_channel or out_channel"),
    ("listforwards", {"in_channel": "nope"}, JSONRPC2_INVALID_PARAMS,
     "in_channel: should be a short_channel_id of form NxNxN: invalid token '\"nope\"'"),
    ("listforwards", {"index": "created", "limit": -1}, JSONRPC2_INVALID_PARAMS,
     "limit: should be an unsigned 32 bit integer: invalid token '-1'"),
    ("listforwards", {"frobnicate": 1}, JSONRPC2_INVALID_PARAMS, "unknown parameter: frobnicate"),
    ("setchannel", {}, JSONRPC2_INVALID_PARAMS, "missing required parameter: id"),
    ("setchannel", {"id": "1x2x3"}, JSONRPC2_INVALID_PARAMS,
     "id: Short channel id not found: invalid token '\"1x2x3\"'"),
    ("setchannel", {"id": "ab" * 32}, JSONRPC2_INVALID_PARAMS,
     f"id: Channel id not found: invalid token '\"{'ab' * 32}\"'"),
    ("setchannel", {"id": "02" + "11" * 32}, JSONRPC2_INVALID_PARAMS,
     f"id: should be a channel ID or short channel ID: invalid token '\"02{'11' * 32}\"'"),
    ("setchannel", {"id": "all", "feebase": 2**32}, JSONRPC2_INVALID_PARAMS,
     "feebase: exceeds u32 max: invalid token '4294967296'"),
    ("setchannel", {"id": "all", "feeppm": "lots"}, JSONRPC2_INVALID_PARAMS,
     "feeppm: should be an integer: invalid token '\"lots\"'"),
    ("setchannel", {"id": "all", "htlcmin": 10, "htlcmax": 5}, LIGHTNINGD,
     "htlcmax cannot be less than htlcmin"),
    ("feerates", {"style": "perbyte"}, JSONRPC2_INVALID_PARAMS,
     "'style' should be 'perkw' or 'perkb', not '\"perbyte\"'"),
    ("feerates", {}, JSONRPC2_INVALID_PARAMS, "missing required parameter: style"),
    ("wait", {"subsystem": "blocks", "indexname": "created", "nextvalue": 1},
     JSONRPC2_INVALID_PARAMS, "subsystem: unknown subsystem: invalid token '\"blocks\"'"),
    ("wait", ["forwards", "created", "soon"], JSONRPC2_INVALID_PARAMS,
     "nextvalue: should be an unsigned 64 bit integer: invalid token '\"soon\"'"),
    ("listpeerchannels", {"id": "zz"}, JSONRPC2_INVALID_PARAMS,
     "id: should be a node id: invalid token '\"zz\"'"),
    ("listchannels", {"source": "03"}, JSONRPC2_INVALID_PARAMS,
     "source: should be a node id: invalid token '\"03\"'"),
    ("getinfo", ["extra"], JSONRPC2_INVALID_PARAMS, "too many parameters: got 1, expected 0"),
    ("listfunnels", {}, JSONRPC2_METHOD_NOT_FOUND, "Unknown command 'listfunnels'"),
])
def test_parameter_errors_are_clns(busy: FakeNode, method: str, params: Any, code: int,
                                   message: str) -> None:
    err = rpc_error(TABLE, busy, method, params)
    assert err.code == code
    assert err.message.startswith(message), err.message


def test_setchannel_refuses_closing_channels_and_peers_without_active_ones(busy: FakeNode) -> None:
    m = busy.market
    closing = m.channel_by_name("sink-2")
    err = rpc_error(TABLE, busy, "setchannel", {"id": closing.scid, "feeppm": 5})
    assert err.message == f"id: Channel in state ONCHAIN: invalid token '\"{closing.scid}\"'"
    err = rpc_error(TABLE, busy, "setchannel", {"id": closing.peer_id, "feeppm": 5})
    assert (err.code, err.message) == (LIGHTNINGD,
                                       "Could not find any active channels of peer with that id")


def test_listchannels_shows_ours_and_competitors(busy: FakeNode) -> None:
    m = busy.market
    sink = m.channel_by_name("sink-1")
    both = call(TABLE, busy, "listchannels", {"short_channel_id": sink.scid})["channels"]
    assert sorted(c["direction"] for c in both) == [0, 1]
    ours = next(c for c in both if c["source"] == m.node_id)
    assert (ours["fee_per_millionth"], ours["base_fee_millisatoshi"]) == (sink.fee_ppm, sink.fee_base)
    to_peer = call(TABLE, busy, "listchannels", {"destination": sink.peer_id})["channels"]
    rivals = [c for c in to_peer if c["source"] != m.node_id]
    assert len(rivals) == sink.spec.competitors and all(c["active"] for c in rivals)
    # Rivals' fees come from the peer's competing-fee distribution: mostly far above 10 ppm.
    rival_fees = [c["fee_per_millionth"] for c in call(TABLE, busy, "listchannels")["channels"]
                  if c["source"] != m.node_id and c["destination"] in {ch.peer_id for ch in m.channels}]
    assert sorted(rival_fees)[len(rival_fees) // 2] >= 100
    nodes = call(TABLE, busy, "listnodes")["nodes"]
    ids = {n["nodeid"] for n in nodes}
    assert m.node_id in ids and sink.peer_id in ids and {c["source"] for c in rivals} <= ids
    one = call(TABLE, busy, "listnodes", [sink.peer_id])["nodes"]
    assert [n["nodeid"] for n in one] == [sink.peer_id]
    unknown = "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"  # G
    assert call(TABLE, busy, "listchannels", {"source": unknown}) == {"channels": []}


def test_listfunds_and_listpeers_follow_channel_states(busy: FakeNode) -> None:
    m = busy.market
    funds = call(TABLE, busy, "listfunds")
    by_state = {c["state"] for c in funds["channels"]}
    assert {"CHANNELD_NORMAL", "ONCHAIN"} <= by_state
    closed = m.channel_by_name("sink-2")
    # Its close paid our side to the wallet (less the closing fee: we opened it).
    close = next(mv for mv in m.coin_moves.chain
                 if mv.tag == "channel_close" and mv.account == closed.channel_id)
    assert any(o["txid"] == close.spending_txid and 0 < o["amount_msat"] <= closed.to_us_msat
               for o in funds["outputs"])
    peers = call(TABLE, busy, "listpeers")["peers"]
    twin = m.channel_by_name("twin-a").peer_id
    assert next(p for p in peers if p["id"] == twin)["num_channels"] == 2
    assert call(TABLE, busy, "listpeers", {"id": twin})["peers"][0]["id"] == twin


def test_dev_methods_drive_the_market() -> None:
    node = fresh()
    m = node.market
    res = call(TABLE, node, "dev-fault", {"method": "listforwards", "error_rate": 1, "code": -7,
                                          "message": "db locked", "latency": 0.5})
    assert res["faults"][0]["method"] == "listforwards"
    latency, err = m.rpc_fault("listforwards")
    assert latency == 0.5 and err is not None and (err.code, err.message) == (-7, "db locked")
    call(TABLE, node, "dev-fault", {"method": "listforwards", "clear": True})
    assert m.rpc_fault("listforwards") == (0.0, None)
    assert rpc_error(TABLE, node, "dev-fault", {"method": "x", "error_rate": 2}).code == \
        JSONRPC2_INVALID_PARAMS
    opened = call(TABLE, node, "dev-openchannel", {"peer": "newbie", "capacity_sat": 1_000_000})
    assert opened["state"] == "CHANNELD_AWAITING_LOCKIN"
    closing = call(TABLE, node, "dev-closechannel", {"id": "src-1"})
    assert closing["state"] == "CHANNELD_SHUTTING_DOWN"
    assert rpc_error(TABLE, node, "dev-closechannel", {"id": "src-1"}).code == LIGHTNINGD
    assert rpc_error(TABLE, node, "dev-closechannel", {"id": "nope"}).message == \
        "id: Unknown channel: invalid token '\"nope\"'"
    m.advance(m.now + 3 * HOUR)
    ledger = call(TABLE, node, "dev-ledger")
    settled = call(TABLE, node, "listforwards", {"status": "settled"})["forwards"]
    assert ledger["revenue_msat"] == sum(f["fee_msat"] for f in settled)
    assert ledger["forwards_settled"] == len(settled)
    assert sum(c["revenue_msat"] for c in ledger["channels"]) == ledger["revenue_msat"]
    report = m.report()
    for key in ("scenario", "seed", "days", "revenue_msat", "rebalance_cost_msat", "net_msat",
                "forwards_settled", "forwards_failed", "fee_updates", "channels"):
        assert key in report
    assert {"scid", "name", "peer_id", "revenue_msat", "final_fee_ppm", "fee_updates"} <= \
        set(report["channels"][0])


def test_answers_stay_schema_valid_through_every_channel_state() -> None:
    """Open and close channels and check the channel-listing methods at
    each state change (each call validates against CLN's schema)."""
    node = fresh()
    m = node.market
    call(TABLE, node, "dev-openchannel", {"peer": "late", "capacity_sat": 2_000_000,
                                          "local_sat": 0, "opener": "remote", "name": "late"})
    call(TABLE, node, "dev-closechannel", {"id": "bal-3", "cause": "remote"})
    seen: set[str] = set()
    for _ in range(3):  # shutting down, negotiating, complete: seconds apart
        for method in ("listpeerchannels", "listfunds", "getinfo", "listchannels"):
            call(TABLE, node, method)
        seen.add(m.channel_by_name("bal-3").state)
        m.advance(m.now + 5.5)
    pending_seen = False
    for _ in range(130):
        notes = m.advance(m.now + 600)
        if not any(t == "channel_state_changed" for t, _ in notes) and seen:
            continue
        for method in ("listpeerchannels", "listfunds", "listpeers", "getinfo", "listchannels"):
            call(TABLE, node, method)
        seen |= {c.state for c in m.channels if c.name in ("late", "bal-3")}
        info = call(TABLE, node, "getinfo")
        pending_seen |= info["num_pending_channels"] == 1
    assert {"CHANNELD_AWAITING_LOCKIN", "CHANNELD_NORMAL", "CHANNELD_SHUTTING_DOWN",
            "CLOSINGD_SIGEXCHANGE", "CLOSINGD_COMPLETE", "ONCHAIN", "CLOSED"} <= seen
    assert pending_seen
    late = call(TABLE, node, "listpeerchannels", {"short_channel_id": m.channel_by_name("late").scid})
    assert late["channels"][0]["opener"] == "remote"
    assert m.channel_by_name("bal-3").scid not in {
        c["short_channel_id"] for c in call(TABLE, node, "listpeerchannels")["channels"]}
