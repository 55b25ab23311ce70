"""The lightningd JSON-RPC methods the simulated market answers.

:func:`register` adds them to the host's :class:`MethodTable`. Each handler
is ``handler(node, **params) -> dict`` where ``node.market`` is the
:class:`~revops.sim.market.Market`, ``await node.changed()`` resolves after
the next market advance (for ``wait``) and ``node.lightning_dir`` is the
lightning dir. Responses are shaped as lightningd v26.06 writes them
(field names, optional fields, msat as integers) and parameter errors carry
CLN's own wording (``lightningd/peer_control.c``, ``forwards.c``,
``wait.c``).

Beyond lightningd's methods, the sim answers ``dev-openchannel``,
``dev-closechannel``, ``dev-fault`` and ``dev-ledger`` (the sim's own
books, for comparing the plugin's figures with the truth).
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

from revops.sim.jsonrpc import (
    JSONRPC2_INVALID_PARAMS,
    LIGHTNINGD,
    MethodTable,
    RpcError,
    bad_param,
    cln_token,
    opt,
    p_bool,
    p_msat,
    p_node_id,
    p_number,
    p_real_range,
    p_scid,
    p_sha256,
    p_string,
    p_u32,
    p_u64,
    req,
)
from revops.sim.market import (
    AWAITING_LOCKIN,
    CLOSED,
    CLOSING_STATES,
    NORMAL,
    OFFERED,
    SHUTTING_DOWN,
    SIGEXCHANGE,
    STATUS_BY_NAME,
    STATUS_NAMES,
    STATUS_TEXT,
    Channel,
    Market,
)

CLN_VERSION = "v26.06"
OUR_FEATURES = {"init": "08a0000a8a5961", "node": "88a0000a8a5961", "channel": "",
                "invoice": "02000002024100"}
PEER_FEATURES = "08a0000a8a5961"
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")
_SCID = re.compile(r"^[0-9]+x[0-9]+x[0-9]+$")
_PUBKEY = re.compile(r"^0[23][0-9a-fA-F]{64}$")
WAIT_SUBSYSTEMS = ("invoices", "forwards", "sendpays", "htlcs", "chainmoves", "channelmoves",
                   "networkevents")
WAIT_INDEXES = ("created", "updated", "deleted")


# -- CLN's own parameter types for these methods ---------------------------------------


def p_forward_status(name: str, value: Any) -> int:
    if isinstance(value, str) and value in STATUS_BY_NAME:
        return STATUS_BY_NAME[value]
    raise bad_param(name, value, "Unrecognized status")


def p_index(name: str, value: Any) -> str:
    if isinstance(value, str) and value in WAIT_INDEXES:
        return value
    raise bad_param(name, value, "unknown index")


def p_subsystem(name: str, value: Any) -> str:
    if isinstance(value, str) and value in WAIT_SUBSYSTEMS:
        return value
    raise bad_param(name, value, "unknown subsystem")


def p_feerate_style(name: str, value: Any) -> str:
    """``param_feerate_style``, which words its refusal its own way."""
    if isinstance(value, str) and value in ("perkw", "perkb"):
        return value
    raise RpcError(JSONRPC2_INVALID_PARAMS,
                   f"'{name}' should be 'perkw' or 'perkb', not '{cln_token(value)}'")


def p_msat_u32(name: str, value: Any) -> int:
    """setchannel's feebase: an msat amount that fits a u32."""
    v = p_msat(name, value)
    if v > 0xFFFFFFFF:
        raise bad_param(name, value, "exceeds u32 max")
    return v


p_fraction = p_real_range(0.0, 1.0)
p_seconds = p_real_range(0.0, 1e12)


def p_opener(name: str, value: Any) -> str:
    if value in ("local", "remote"):
        return value
    raise bad_param(name, value, "should be 'local' or 'remote'")


def p_int(name: str, value: Any) -> int:
    if isinstance(value, bool):
        raise bad_param(name, value, "should be an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.match(r"^-?[0-9]+$", value):
        return int(value)
    raise bad_param(name, value, "should be an integer")


# -- response builders -------------------------------------------------------------


def _market(node: Any) -> Market:
    return node.market


def channel_json(m: Market, ch: Channel) -> dict[str, Any]:
    """One listpeerchannels entry, in lightningd's field order."""
    us = m.node_id
    perkb = m.feerate_perkb()
    peer_min = ch.peer_htlc_min_msat
    entry: dict[str, Any] = {
        "peer_id": ch.peer_id,
        "peer_connected": True,
        "reestablished": True,
        "channel_type": {"bits": [12, 22], "names": ["static_remotekey/even", "anchors/even"]},
    }
    if ch.ignore_fee_limits:  # lightningd shows it only when set
        entry["ignore_fee_limits"] = True
    entry.update({
        "updates": {
            "local": {"htlc_minimum_msat": ch.htlc_min_msat, "htlc_maximum_msat": ch.htlc_max_msat,
                      "cltv_expiry_delta": 34, "fee_base_msat": ch.fee_base,
                      "fee_proportional_millionths": ch.fee_ppm},
            "remote": {"htlc_minimum_msat": peer_min,
                       "htlc_maximum_msat": ch.max_possible_send_msat(),
                       "cltv_expiry_delta": 40, "fee_base_msat": ch.spec.peer_fee_base_msat,
                       "fee_proportional_millionths": ch.spec.peer_fee_ppm},
        },
        "last_stable_connection": int(m.start_time) - 3600,
        "state": ch.state,
    })
    if ch.state in COMMITTED_STATES:
        # The commitment transaction we could broadcast now, and its fee.
        entry["scratch_txid"] = _derived_hex("commitment", ch.funding_txid, ch.in_offered,
                                             ch.out_offered)
        entry["last_tx_fee_msat"] = commitment_fee_msat(perkb // 4)
    entry.update({
        "lost_state": False,
        "feerate": {"perkw": max(253, perkb // 4), "perkb": perkb},
        "owner": "channeld" if ch.state in (NORMAL, AWAITING_LOCKIN, "CHANNELD_SHUTTING_DOWN")
        else ("closingd" if ch.state.startswith("CLOSINGD") else "onchaind"),
    })
    if ch.scid is not None:
        entry["short_channel_id"] = ch.scid
        entry["direction"] = ch.direction(us)
    entry["channel_id"] = ch.channel_id
    entry["funding_txid"] = ch.funding_txid
    entry["funding_outnum"] = ch.funding_outnum
    # lightningd sets our shutdown script (a wallet address) when the channel opens.
    close_to = close_script(ch)
    entry["close_to_addr"] = taproot_address(m, close_to)
    entry["close_to"] = close_to
    entry["private"] = ch.spec.private
    entry["opener"] = ch.spec.opener
    if ch.closer is not None:
        entry["closer"] = ch.closer
    entry["alias"] = {"local": ch.alias_local, "remote": ch.alias_remote}
    entry["features"] = ["option_static_remotekey", "option_anchors"]
    local_funds = ch.capacity_msat if ch.spec.opener == "local" else 0
    entry["funding"] = {"local_funds_msat": local_funds,
                        "remote_funds_msat": ch.capacity_msat - local_funds,
                        "pushed_msat": 0}
    if ch.spec.opener == "local":
        entry["funding"]["psbt"] = funding_psbt(ch)  # v25.12+: the PSBT we funded it with
    entry["funding"]["withheld"] = False
    entry["to_us_msat"] = ch.to_us_msat
    entry["min_to_us_msat"] = ch.min_to_us_msat
    entry["max_to_us_msat"] = ch.max_to_us_msat
    entry["total_msat"] = ch.capacity_msat
    entry["fee_base_msat"] = ch.fee_base
    entry["fee_proportional_millionths"] = ch.fee_ppm
    entry["dust_limit_msat"] = 546_000
    entry["their_max_htlc_value_in_flight_msat"] = 0xFFFFFFFFFFFFFFFF
    entry["our_max_htlc_value_in_flight_msat"] = 0xFFFFFFFFFFFFFFFF
    entry["their_reserve_msat"] = ch.reserve_msat
    entry["our_reserve_msat"] = ch.reserve_msat
    usable = ch.state == NORMAL
    entry["spendable_msat"] = ch.spendable_msat() if usable else 0
    entry["receivable_msat"] = ch.receivable_msat() if usable else 0
    entry["minimum_htlc_in_msat"] = 0
    entry["minimum_htlc_out_msat"] = ch.htlc_min_msat
    entry["maximum_htlc_out_msat"] = ch.htlc_max_msat
    entry["their_to_self_delay"] = 144
    entry["our_to_self_delay"] = 144
    entry["max_accepted_htlcs"] = ch.spec.max_accepted_htlcs
    entry["state_changes"] = list(ch.state_changes)
    entry["status"] = [f"{ch.state}:{STATUS_TEXT.get(ch.state, 'Channel ready for use.')}"]
    entry["in_payments_offered"] = ch.in_offered
    entry["in_offered_msat"] = ch.in_offered_msat
    entry["in_payments_fulfilled"] = ch.in_fulfilled
    entry["in_fulfilled_msat"] = ch.in_fulfilled_msat
    entry["out_payments_offered"] = ch.out_offered
    entry["out_offered_msat"] = ch.out_offered_msat
    entry["out_payments_fulfilled"] = ch.out_fulfilled
    entry["out_fulfilled_msat"] = ch.out_fulfilled_msat
    entry["htlcs"] = _htlcs_json(m, ch)
    return entry


# States in which a channel has a commitment transaction lightningd could sign.
COMMITTED_STATES = (NORMAL, AWAITING_LOCKIN, SHUTTING_DOWN, SIGEXCHANGE)
# An anchor commitment with no HTLCs: its weight and its two 330-sat anchors.
_COMMITMENT_WEIGHT = 1116
_ANCHORS_SAT = 660
_BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_HRP = {"bitcoin": "bc", "testnet": "tb", "testnet4": "tb", "signet": "tb", "regtest": "bcrt"}


def _derived_hex(*parts: object, length: int = 64) -> str:
    return hashlib.sha256(":".join(str(p) for p in parts).encode()).hexdigest()[:length]


def commitment_fee_msat(feerate_perkw: int) -> int:
    """What our commitment transaction pays, as ``last_tx_fee_msat``."""
    return (feerate_perkw * _COMMITMENT_WEIGHT // 1000 + _ANCHORS_SAT) * 1000


def close_script(ch: Channel) -> str:
    """Our shutdown scriptpubkey for the channel: a P2TR wallet output."""
    return "5120" + _derived_hex("close-to", ch.funding_txid)


def taproot_address(m: Market, script: str) -> str:
    """A bech32m-looking address for a P2TR script (not checksummed)."""
    data = bytes.fromhex(script[4:])
    bits = "".join(f"{b:08b}" for b in data)
    words = "".join(_BECH32[int(bits[i:i + 5].ljust(5, "0"), 2)] for i in range(0, len(bits), 5))
    return f"{_HRP.get(m.network, 'bcrt')}1p{words}{_derived_hex('checksum', script)[:6]}"


def funding_psbt(ch: Channel) -> str:
    """A base64 PSBT-shaped blob standing for the funding PSBT."""
    raw = b"psbt\xff" + bytes.fromhex(_derived_hex("psbt", ch.funding_txid)) * 4
    return base64.b64encode(raw).decode()


def closed_channel_json(m: Market, ch: Channel) -> dict[str, Any]:
    """One listclosedchannels entry (lightningd's json_add_closed_channel)."""
    entry: dict[str, Any] = {"peer_id": ch.peer_id, "channel_id": ch.channel_id}
    if ch.scid is not None:
        entry["short_channel_id"] = ch.scid
    entry["alias"] = {"local": ch.alias_local, "remote": ch.alias_remote}
    entry["opener"] = ch.spec.opener
    if ch.closer is not None:
        entry["closer"] = ch.closer
    entry["private"] = ch.spec.private
    entry["channel_type"] = {"bits": [12, 22],
                             "names": ["static_remotekey/even", "anchors/even"]}
    # Each HTLC added and removed signs about two commitments a side.
    commitments = 1 + 2 * (ch.in_offered + ch.out_offered)
    entry["total_local_commitments"] = commitments
    entry["total_remote_commitments"] = commitments
    entry["total_htlcs_sent"] = ch.next_out_htlc
    entry["funding_txid"] = ch.funding_txid
    entry["funding_outnum"] = ch.funding_outnum
    entry["leased"] = False
    if ch.spec.opener == "local":
        entry["funding_psbt"] = funding_psbt(ch)
    entry["funding_withheld"] = False
    entry["total_msat"] = ch.capacity_msat
    entry["final_to_us_msat"] = ch.to_us_msat
    entry["min_to_us_msat"] = ch.min_to_us_msat
    entry["max_to_us_msat"] = ch.max_to_us_msat
    entry["last_commitment_txid"] = _derived_hex("commitment", ch.funding_txid, "last")
    entry["last_commitment_fee_msat"] = commitment_fee_msat(m.feerate_perkb() // 4)
    entry["close_cause"] = close_cause(ch)
    entry["last_stable_connection"] = int(m.start_time) - 3600
    return entry


def close_cause(ch: Channel) -> str:
    """Why the channel closed: the cause of its move to CHANNELD_SHUTTING_DOWN."""
    return next((c["cause"] for c in ch.state_changes if c["new_state"] == SHUTTING_DOWN),
                "unknown")


def _htlcs_json(m: Market, ch: Channel) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for hid, (amount, phash, expiry) in ch.htlcs_in.items():
        entry = {"direction": "in", "id": hid, "amount_msat": amount, "expiry": expiry,
                 "payment_hash": phash, "state": "RCVD_ADD_ACK_REVOCATION"}
        held = m.holding.get((ch.idx, hid))
        if held is not None and held.waiting_on is not None:
            entry["status"] = f"Waiting for the htlc_accepted hook of plugin {held.waiting_on}"
        out.append(entry)
    for hid, (amount, phash, expiry) in ch.htlcs_out.items():
        out.append({"direction": "out", "id": hid, "amount_msat": amount, "expiry": expiry,
                    "payment_hash": phash, "state": "SENT_ADD_ACK_REVOCATION"})
    # Other traffic's HTLCs, so a congested channel looks congested.
    n = m.background_htlcs(ch) if ch.state == NORMAL else 0
    bucket = int(m.now // 300)
    for k in range(n):
        h = int(m.payment_hash(-(ch.idx * 1_000_003 + bucket * 997 + k))[:12], 16)
        incoming = k % 2 == 0
        out.append({"direction": "in" if incoming else "out", "id": 10_000_000 + h % 10_000_000,
                    "amount_msat": 1000 * (1 + h % 200_000),
                    "expiry": m.blockheight + 20 + h % 100,
                    "payment_hash": m.payment_hash(-(ch.idx * 1_000_003 + bucket * 997 + k)),
                    "state": "RCVD_ADD_ACK_REVOCATION" if incoming else "SENT_ADD_ACK_REVOCATION"})
    return out


# -- the methods ------------------------------------------------------------------------


def register(table: MethodTable) -> None:
    """Add every market-backed method to the host's table (and the
    coin-movement and bookkeeper ones, bookkeeper_rpc.py)."""
    from revops.sim import bookkeeper_rpc

    bookkeeper_rpc.register(table)

    @table.method("getinfo", category="utility", description="Show information about this node")
    def getinfo(node: Any) -> dict[str, Any]:
        m = _market(node)
        pending = active = inactive = 0
        for ch in m.listed_channels():
            if ch.state == AWAITING_LOCKIN:
                pending += 1
            elif ch.state in (NORMAL, "CHANNELD_SHUTTING_DOWN", "CLOSINGD_SIGEXCHANGE"):
                active += 1
            else:
                inactive += 1
        return {
            "id": m.node_id, "alias": m.alias, "color": m.color,
            "num_peers": len(m.peers()), "num_pending_channels": pending,
            "num_active_channels": active, "num_inactive_channels": inactive,
            "address": [],
            "binding": [],  # the sim binds no peer-to-peer address (the RPC socket is not one)
            "version": CLN_VERSION, "blockheight": m.blockheight, "network": m.network,
            "fees_collected_msat": m.fees_collected_msat(),
            "lightning-dir": getattr(node, "lightning_dir", "."),
            "our_features": dict(OUR_FEATURES),
        }

    @table.method("listpeers", opt("id", p_node_id), opt("level", p_string), category="network",
                  description="Show current peers, if {level} is set, include logs for {id}")
    def listpeers(node: Any, id: str | None, level: str | None) -> dict[str, Any]:
        if level is not None and level not in ("io", "trace", "debug", "info", "unusual", "broken"):
            raise bad_param("level", level, "should be 'io', 'debug', 'info', or 'unusual'")
        m = _market(node)
        peers = []
        for pid, chans in m.peers().items():
            if id is not None and pid != id:
                continue
            peers.append({"id": pid, "connected": True, "num_channels": len(chans),
                          "netaddr": [f"127.0.0.1:{9735 + chans[0].idx + 1}"],
                          "features": PEER_FEATURES})
        return {"peers": peers}

    @table.method("listpeerchannels", opt("id", p_node_id), opt("short_channel_id", p_scid),
                  opt("channel_id", p_sha256), category="network",
                  description="Show channels with direct peers.")
    def listpeerchannels(node: Any, id: str | None, short_channel_id: str | None,
                         channel_id: str | None) -> dict[str, Any]:
        m = _market(node)
        out = []
        for ch in m.listed_channels():
            if id is not None and ch.peer_id != id:
                continue
            if short_channel_id is not None and short_channel_id not in (
                    ch.scid, ch.alias_local, ch.alias_remote):
                continue
            if channel_id is not None and ch.channel_id != channel_id:
                continue
            out.append(channel_json(m, ch))
        return {"channels": out}

    @table.method("listclosedchannels", opt("id", p_node_id), category="channels",
                  description="Show historical (dead) channels.")
    def listclosedchannels(node: Any, id: str | None) -> dict[str, Any]:
        m = _market(node)
        return {"closedchannels": [closed_channel_json(m, ch) for ch in m.channels
                                   if ch.state == CLOSED and (id is None or ch.peer_id == id)]}

    @table.method("listforwards", opt("status", p_forward_status), opt("in_channel", p_scid),
                  opt("out_channel", p_scid), opt("index", p_index), opt("start", p_u64),
                  opt("limit", p_u32), category="channels",
                  description="List all forwarded payments and their information optionally "
                              "filtering by [status], [in_channel] and [out_channel]")
    def listforwards(node: Any, status: int | None, in_channel: str | None,
                     out_channel: str | None, index: str | None, start: int | None,
                     limit: int | None) -> dict[str, Any]:
        start = start or 0
        if start != 0 and index is None:
            raise RpcError(JSONRPC2_INVALID_PARAMS, "Can only specify {start} with {index}")
        if limit is not None and index is None:
            raise RpcError(JSONRPC2_INVALID_PARAMS, "Can only specify {limit} with {index}")
        if (in_channel or out_channel) and start != 0:
            raise RpcError(JSONRPC2_INVALID_PARAMS,
                           "Cannot use start with in_channel or out_channel")
        m = _market(node)
        return {"forwards": [m.forward_json(r) for r in
                             select_forwards(m, status, in_channel, out_channel, index, start,
                                             limit)]}

    @table.method("wait", req("subsystem", p_subsystem), req("indexname", p_index),
                  req("nextvalue", p_u64), category="utility",
                  description="Wait for {subsystem} {indexname} to reach or exceed {nextvalue}")
    async def wait(node: Any, subsystem: str, indexname: str, nextvalue: int) -> dict[str, Any]:
        m = _market(node)
        waited = False
        while True:
            value = wait_index(m, subsystem, indexname)
            if value >= nextvalue:
                break
            waited = True
            await node.changed()
        response: dict[str, Any] = {"subsystem": subsystem, indexname: value}
        if waited and subsystem == "forwards" and indexname != "deleted":
            # lightningd answers a pending wait at the increment that reached
            # nextvalue, with that change's details.
            response[indexname] = nextvalue
            response["forwards"] = wait_details(m, indexname, nextvalue)
        elif waited and subsystem in ("sendpays", "invoices"):
            from revops.sim import payments_rpc
            details = payments_rpc.wait_details(m, subsystem, indexname, nextvalue)
            if details is not None:
                response[indexname] = nextvalue
                response[subsystem] = details
        return response

    @table.method("setchannel", req("id", p_string), opt("feebase", p_msat_u32),
                  opt("feeppm", p_number), opt("htlcmin", p_msat), opt("htlcmax", p_msat),
                  opt("enforcedelay", p_number, 600), opt("ignorefeelimits", p_bool),
                  category="channels",
                  description="Sets fees and/or htlc_max for channel with {id} (either peer ID, "
                              "channel ID, short channel ID or 'all').")
    def setchannel(node: Any, id: str, feebase: int | None, feeppm: int | None,
                   htlcmin: int | None, htlcmax: int | None, enforcedelay: int,
                   ignorefeelimits: bool | None) -> dict[str, Any]:
        m = _market(node)
        chans = resolve_setchannel_id(m, id)
        if htlcmin is not None and htlcmax is not None and htlcmax < htlcmin:
            raise RpcError(LIGHTNINGD, "htlcmax cannot be less than htlcmin")
        return {"channels": [m.set_channel(ch, feebase, feeppm, htlcmin, htlcmax, enforcedelay,
                                           ignorefeelimits) for ch in chans]}

    @table.method("listchannels", opt("short_channel_id", p_scid), opt("source", p_node_id),
                  opt("destination", p_node_id), category="network",
                  description="Show channels known to gossip, optionally filtered by "
                              "{short_channel_id}, {source} or {destination}")
    def listchannels(node: Any, short_channel_id: str | None, source: str | None,
                     destination: str | None) -> dict[str, Any]:
        if sum(x is not None for x in (short_channel_id, source, destination)) > 1:
            raise RpcError(JSONRPC2_INVALID_PARAMS, "Can only specify one of "
                           "`short_channel_id`, `source` or `destination`")
        m = _market(node)
        return {"channels": m.gossip_channels(short_channel_id, source, destination)}

    @table.method("listnodes", opt("id", p_node_id), category="network",
                  description="Show node {id} (or all known nodes, if not specified)")
    def listnodes(node: Any, id: str | None) -> dict[str, Any]:
        m = _market(node)
        return {"nodes": [n for n in m.gossip_nodes() if id is None or n["nodeid"] == id]}

    @table.method("listfunds", opt("spent", p_bool, False), category="utility",
                  description="Show available funds from the internal wallet")
    def listfunds(node: Any, spent: bool) -> dict[str, Any]:
        m = _market(node)
        outputs = m.outputs()
        chans = []
        for ch in m.listed_channels():
            entry: dict[str, Any] = {"peer_id": ch.peer_id, "connected": True, "state": ch.state}
            if ch.scid is not None:
                entry["short_channel_id"] = ch.scid
            entry.update({"our_amount_msat": ch.to_us_msat, "amount_msat": ch.capacity_msat,
                          "funding_txid": ch.funding_txid, "funding_output": ch.funding_outnum,
                          "channel_id": ch.channel_id})
            chans.append(entry)
        return {"outputs": outputs, "channels": chans}

    @table.method("feerates", req("style", p_feerate_style), category="bitcoin",
                  description="Return feerate estimates, either satoshi-per-kw ({style} perkw) "
                              "or satoshi-per-kb ({style} perkb).")
    def feerates(node: Any, style: str) -> dict[str, Any]:
        return feerates_json(_market(node), style)

    @table.method("dev-openchannel", req("peer", p_string), req("capacity_sat", p_u64),
                  opt("local_sat", p_u64), opt("opener", p_opener, "local"),
                  opt("name", p_string), category="developer", dev=True,
                  description="Simulate a channel funded now with {peer} (alias or node id)")
    def dev_openchannel(node: Any, peer: str, capacity_sat: int, local_sat: int | None,
                        opener: str, name: str | None) -> dict[str, Any]:
        m = _market(node)
        if capacity_sat <= 0:
            raise bad_param("capacity_sat", capacity_sat, "should be a positive integer")
        if local_sat is None:
            local_sat = capacity_sat if opener == "local" else 0
        if local_sat > capacity_sat:
            raise bad_param("local_sat", local_sat, "should not exceed capacity_sat")
        peer_id = peer.lower() if _PUBKEY.match(peer) else None
        alias = peer
        if peer_id is not None:
            alias = next((c.peer_alias for c in m.channels if c.peer_id == peer_id), peer[:16])
        try:
            ch = m.open_channel(alias, capacity_sat, local_sat, opener, name, peer_id)
        except ValueError as e:
            raise bad_param("name", name, str(e)) from None
        return {"name": ch.name, "peer_id": ch.peer_id, "channel_id": ch.channel_id,
                "state": ch.state}

    @table.method("dev-closechannel", req("id", p_string), opt("cause", p_string, "user"),
                  category="developer", dev=True,
                  description="Simulate a mutual close of channel {id} (scid, channel id or "
                              "scenario name) starting now")
    def dev_closechannel(node: Any, id: str, cause: str) -> dict[str, Any]:
        m = _market(node)
        if cause not in ("user", "local", "remote"):
            raise bad_param("cause", cause, "should be 'user', 'local' or 'remote'")
        ch = m.channel_by_scid(id) or m.channel_by_name(id) or (
            m.channel_by_id(id) if _HEX64.match(id) else None)
        if ch is None or not ch.listed():
            raise bad_param("id", id, "Unknown channel")
        if ch.state not in (NORMAL, AWAITING_LOCKIN):
            raise RpcError(LIGHTNINGD, f"Channel is in state {ch.state}")
        m.close_channel(ch, cause)
        return {"name": ch.name, "short_channel_id": ch.scid, "channel_id": ch.channel_id,
                "state": ch.state}

    @table.method("dev-fault", req("method", p_string), opt("error_rate", p_fraction, 1.0),
                  opt("code", p_int, LIGHTNINGD), opt("message", p_string, "Injected fault"),
                  opt("latency", p_seconds, 0.0), opt("duration", p_seconds, 1e9),
                  opt("clear", p_bool, False), category="developer", dev=True,
                  description="Inject (or {clear}) an RPC fault on {method} ('*' for all): "
                              "{error_rate}, {code}, {message}, {latency} seconds, for "
                              "{duration} simulated seconds")
    def dev_fault(node: Any, method: str, error_rate: float, code: int, message: str,
                  latency: float, duration: float, clear: bool) -> dict[str, Any]:
        m = _market(node)
        if clear:
            m.clear_fault(method)
        else:
            m.set_fault(method, error_rate, code, message, latency, duration)
        return {"faults": m.active_faults()}

    @table.method("dev-ledger", category="developer", dev=True,
                  description="The simulated market's own books: revenue, costs, per channel")
    def dev_ledger(node: Any) -> dict[str, Any]:
        return _market(node).ledger()


# -- helpers (pure functions of the market; tested directly) --------------------------------


def resolve_setchannel_id(m: Market, id: str) -> list[Channel]:
    """lightningd's param_channel_or_all, with its error wording."""
    can_set = (NORMAL, AWAITING_LOCKIN)
    if id == "all":
        return [c for c in m.listed_channels() if c.state in can_set]
    if _PUBKEY.match(id):
        pid = id.lower()
        peer_chans = m.peers().get(pid)
        if peer_chans is not None:
            chans = [c for c in peer_chans if c.state in can_set]
            if not chans:
                raise RpcError(LIGHTNINGD, "Could not find any active channels of peer with that id")
            return chans
    if _HEX64.match(id):
        # CLN looks channel ids up among channels that still talk to the peer.
        ch = m.channel_by_id(id)
        if ch is None or ch.state not in (NORMAL, AWAITING_LOCKIN, SHUTTING_DOWN, SIGEXCHANGE):
            raise bad_param("id", id, "Channel id not found")
    elif _SCID.match(id):
        ch = m.channel_by_scid(id)
        if ch is None or not ch.listed():
            raise bad_param("id", id, "Short channel id not found")
    else:
        raise bad_param("id", id, "should be a channel ID or short channel ID")
    if ch.state not in can_set:
        raise bad_param("id", id, f"Channel in state {ch.state}")
    return [ch]


def select_forwards(m: Market, status: int | None, in_channel: str | None,
                    out_channel: str | None, index: str | None, start: int,
                    limit: int | None) -> list[int]:
    """Rows listforwards returns, as CLN's forwarding_first selects them:
    with a channel filter every match in created order (no start/limit);
    ``index=updated``: rows with updated_index >= start in updated order
    (never-updated rows have none and are not listed); otherwise rows with
    created_index >= start in created order. O(page) for paged reads."""
    st = m.forwards
    if in_channel or out_channel:
        cin = m.channel_by_scid(in_channel) if in_channel else None
        cout = m.channel_by_scid(out_channel) if out_channel else None
        if (in_channel and cin is None) or (out_channel and cout is None):
            return []
        if cin is not None:
            rows = st.by_in.get(cin.idx, ())
            want_out = cout.idx if cout is not None else None
            return [r for r in rows
                    if (want_out is None or st.out_ch[r] == want_out)
                    and (status is None or st.status[r] == status)]
        rows = st.by_out.get(cout.idx, ())  # type: ignore[union-attr]
        return [r for r in rows if status is None or st.status[r] == status]
    cap = limit if limit is not None else len(st) + 1
    out: list[int] = []
    if cap == 0:
        return out
    if index == "updated":
        log, upd, sts = st.upd_log, st.updated, st.status
        for pos in range(max(start, 1) - 1, len(log)):
            r = log[pos]
            if upd[r] != pos + 1:
                continue  # superseded by a later update of the same row
            if status is not None and sts[r] != status:
                continue
            out.append(r)
            if len(out) >= cap:
                break
        return out
    sts = st.status
    n = len(st)
    first = max(start, 1) - 1
    if status is None:
        return list(range(first, min(n, first + cap)))
    for r in range(first, n):
        if sts[r] == status:
            out.append(r)
            if len(out) >= cap:
                break
    return out


def wait_index(m: Market, subsystem: str, indexname: str) -> int:
    if subsystem in ("chainmoves", "channelmoves"):
        moves = m.coin_moves.chain if subsystem == "chainmoves" else m.coin_moves.channel
        return len(moves) if indexname == "created" else 0
    if subsystem != "forwards":
        from revops.sim import payments_rpc
        value = payments_rpc.wait_index(m, subsystem, indexname)
        return 0 if value is None else value  # no htlcs or moves in the sim
    if indexname == "created":
        return m.forwards.created_count
    if indexname == "updated":
        return m.forwards.updated_count
    return 0


def wait_details(m: Market, indexname: str, value: int) -> dict[str, Any]:
    """The ``forwards`` object of a wait answer: the change that took the
    index to ``value`` (status at that change, channels, in amount)."""
    st = m.forwards
    if indexname == "created":
        row = value - 1
        status = st.status[row]
        if st.updated[row] or status == OFFERED:
            status = OFFERED  # it was inserted as offered, updated later
    else:
        row = st.upd_log[value - 1]
        status = st.upd_status[value - 1]
    out: dict[str, Any] = {"status": STATUS_NAMES[status],
                           "in_channel": m.channels[st.in_ch[row]].scid,
                           "in_htlc_id": st.in_htlc[row], "in_msat": st.in_msat[row]}
    oc = st.out_ch[row]
    if oc >= 0:
        out["out_channel"] = m.channels[oc].scid
    return out


# Weights (vbytes*4) lightningd uses for its onchain_fee_estimates.
_OPEN_WEIGHT, _MUTUAL_WEIGHT, _UNILATERAL_WEIGHT = 702, 673, 1112
_NONANCHOR_WEIGHT, _HTLC_TIMEOUT_WEIGHT, _HTLC_SUCCESS_WEIGHT = 598, 663, 703


def feerates_json(m: Market, style: str) -> dict[str, Any]:
    perkb = m.feerate_perkb()
    conv = (lambda kb: max(253, kb // 4)) if style == "perkw" else (lambda kb: max(1012, kb))
    est = {2: perkb * 2, 6: perkb * 3 // 2, 12: perkb, 100: perkb // 2}
    body: dict[str, Any] = {
        "opening": conv(est[12]),
        "mutual_close": conv(est[100]),
        "unilateral_close": conv(est[6]),
        "unilateral_anchor_close": conv(est[100]),
        "penalty": conv(est[12]),
        "splice": conv(est[12]),
        "min_acceptable": conv(est[100] // 2),
        "max_acceptable": conv(est[2] * 10),
        "floor": conv(1012),
        "estimates": [{"blockcount": n, "feerate": conv(v), "smoothed_feerate": conv(v)}
                      for n, v in est.items()],
    }
    perkw = {k: max(253, v // 4) for k, v in est.items()}
    return {style: body, "onchain_fee_estimates": {
        "opening_channel_satoshis": perkw[12] * _OPEN_WEIGHT // 1000,
        "mutual_close_satoshis": perkw[100] * _MUTUAL_WEIGHT // 1000,
        "unilateral_close_satoshis": perkw[6] * _UNILATERAL_WEIGHT // 1000,
        "unilateral_close_nonanchor_satoshis": perkw[6] * _NONANCHOR_WEIGHT // 1000,
        "htlc_timeout_satoshis": perkw[6] * _HTLC_TIMEOUT_WEIGHT // 1000,
        "htlc_success_satoshis": perkw[6] * _HTLC_SUCCESS_WEIGHT // 1000,
    }}


__all__ = [
    "CLOSING_STATES",
    "channel_json",
    "feerates_json",
    "register",
    "resolve_setchannel_id",
    "select_forwards",
    "wait_details",
    "wait_index",
]
