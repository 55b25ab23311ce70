"""Our node's own payments in the simulated market: routes, invoices, sendpay.

One :class:`PaymentEngine` lives on each :class:`~revops.sim.market.Market`
(``market.payments``) and holds what lightningd and its askrene plugin hold
for the node's life: invoices, payments (sendpay), askrene's layers, and
the part of the network graph beyond our peers. No I/O, no wall time: the
RPC layer (``payments_rpc.py``) calls in, and payments resolve inside
``Market.advance`` (``market.schedule``), in time order with forwards.

The graph. Our channels (both directions, as gossip shows them), the
competitors' channels to our peers (``market._competitors``) and a sparse
*backbone* between those competitor nodes (``PaymentsSpec``: links per
node, lognormal fees). Our peers reach each other only through it, so a
circular rebalance ``us -A-> peerA -> rival -> ... -> rival -> peerB -B-> us``
pays peer A's fee towards its rival, the backbone, the rival's fee into
peer B (the competing fee a sender pays to reach B) and peer B's own fee
towards us: market rates.

``getroutes`` is askrene's, over this graph (routing.py).

A payment (``sendpay``) puts an HTLC on our first channel at once and
resolves after ``uniform(hold_s)`` simulated seconds (a failure further
along comes back sooner). Its fate is drawn when it is sent, from its own
RNG stream (``seed``, ``created_index``): each remote hop passes with
``(1 - hop_fail_rate) * (1 - liquidity_factor * amount / capacity)``, or
all remote hops together with ``success_rate`` when that knob is set;
lightningd's checks are exact: fee and CLTV delta per hop (the policy the
forwarding node has now), htlc_minimum/maximum, a channel that does not
join the two nodes (WIRE_UNKNOWN_NEXT_PEER), our first channel's
spendable balance and HTLC slots (a local failure, "Capacity exceeded" /
"Too many HTLCs"), and, when the payment comes back to us, our last
channel's inbound liquidity and slots and the invoice
(``invoice_check_payment``: unknown, paid, expired, secret, amount). On
success the first channel pays ``route[0].amount_msat``, the last one
receives the amount, the difference is the rebalance cost in the ledger,
the invoice is paid, and ``invoice_payment`` and ``sendpay_success`` go
out; on failure nothing moves and ``sendpay_failure`` carries lightningd's
routing-failure object (erring index, node, channel, direction, failcode).

The ``htlc_accepted`` hook: while a plugin has it, our payment's HTLC,
once it reaches our last channel, is held for the hook (``market.hold``)
before the invoice check, and goes on with the verdict: ``continue`` (with
the hook's ``invoice_msat`` if it gave one), ``fail`` (the payment fails
at its destination, us, with the hook's failure message, or as an
unreadable reply for a ``failure_onion``), ``resolve`` (the payment
succeeds with the hook's preimage and the invoice stays unpaid).

Deviations from CLN, by design: a route through our own node in the
middle fails there (WIRE_TEMPORARY_CHANNEL_FAILURE; lightningd would
forward it: disable our node in askrene to keep routes off it); payments
to another node always fail at that node with
WIRE_INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS (as a probe does); bolt11
strings are well-formed but not signed; no MPP (partid) payments are
split or combined; all of it lasts the node's life (the market is rebuilt
on restart; persistent askrene layers are in the datastore).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import math
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from revops.sim import routing
from revops.sim.askrene import Askrene
from revops.sim.htlc_hook import HeldHtlc, OnionPayload, Verdict, encode_payload
from revops.sim.jsonrpc import (
    INVOICE_LABEL_ALREADY_EXISTS,
    INVOICE_NOT_FOUND,
    INVOICE_PREIMAGE_ALREADY_EXISTS,
    JSONRPC2_INVALID_PARAMS,
    PAY_DESTINATION_PERM_FAIL,
    PAY_IN_PROGRESS,
    PAY_RHASH_ALREADY_USED,
    PAY_TRY_OTHER_ROUTE,
    PAY_UNPARSEABLE_ONION,
    RpcError,
)
from revops.sim.market import NORMAL, OUR_CLTV_DELTA, fee_msat
from revops.sim.routing import Edge, msat_text, node_id_idx
from revops.sim.scenario import PaymentsSpec

if TYPE_CHECKING:
    from revops.sim.market import Channel, Market

INVOICE_STATUS_UNEXPECTED = 906
INVOICE_NO_DESCRIPTION = 908

# BOLT 4 failure codes.
BADONION, PERM, NODE, UPDATE = 0x8000, 0x4000, 0x2000, 0x1000
WIRE_TEMPORARY_CHANNEL_FAILURE = UPDATE | 7
WIRE_AMOUNT_BELOW_MINIMUM = UPDATE | 11
WIRE_FEE_INSUFFICIENT = UPDATE | 12
WIRE_INCORRECT_CLTV_EXPIRY = UPDATE | 13
WIRE_CHANNEL_DISABLED = UPDATE | 20
WIRE_UNKNOWN_NEXT_PEER = PERM | 10
WIRE_INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS = PERM | 15
FAILCODE_NAMES = {
    WIRE_TEMPORARY_CHANNEL_FAILURE: "WIRE_TEMPORARY_CHANNEL_FAILURE",
    WIRE_AMOUNT_BELOW_MINIMUM: "WIRE_AMOUNT_BELOW_MINIMUM",
    WIRE_FEE_INSUFFICIENT: "WIRE_FEE_INSUFFICIENT",
    WIRE_INCORRECT_CLTV_EXPIRY: "WIRE_INCORRECT_CLTV_EXPIRY",
    WIRE_CHANNEL_DISABLED: "WIRE_CHANNEL_DISABLED",
    WIRE_UNKNOWN_NEXT_PEER: "WIRE_UNKNOWN_NEXT_PEER",
    WIRE_INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS: "WIRE_INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS",
}

PEER_CLTV_DELTA = 40
RIVAL_CLTV_DELTA = 80
BACKBONE_CLTV_DELTA = 40
DEFAULT_INVOICE_EXPIRY = 7 * 24 * 3600
_BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_HRP = {"bitcoin": "lnbc", "testnet": "lntb", "testnet4": "lntb", "signet": "lntbs",
        "regtest": "lnbcrt"}


def _sha(*parts: object) -> str:
    return hashlib.sha256(":".join(str(p) for p in parts).encode()).hexdigest()


def failure_message(failcode: int, htlc_msat: int, blockheight: int) -> str:
    """A BOLT 4 failure message as hex: the failcode and its data (for
    channel failures, an empty ``channel_update``)."""
    data = b""
    if failcode == WIRE_INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS:
        data = htlc_msat.to_bytes(8, "big") + blockheight.to_bytes(4, "big")
    elif failcode in (WIRE_AMOUNT_BELOW_MINIMUM, WIRE_FEE_INSUFFICIENT):
        data = htlc_msat.to_bytes(8, "big") + bytes(2)
    elif failcode == WIRE_INCORRECT_CLTV_EXPIRY:
        data = bytes(4) + bytes(2)
    elif failcode == WIRE_CHANNEL_DISABLED:
        data = bytes(2) + bytes(2)
    elif failcode & UPDATE:
        data = bytes(2)
    return (failcode.to_bytes(2, "big") + data).hex()


def payment_secret_for(preimage: str) -> str:
    """lightningd's ``invoice_secret``: SHA256 of the preimage with its
    first bit flipped."""
    raw = bytearray(bytes.fromhex(preimage))
    raw[0] ^= 1
    return hashlib.sha256(bytes(raw)).hexdigest()


# -- invoices and payments -------------------------------------------------------


@dataclass
class Invoice:
    label: str
    payment_hash: str
    preimage: str
    secret: str
    amount_msat: int | None
    description: str | None
    created_at: int
    expires_at: int
    bolt11: str
    created_index: int
    updated_index: int = 0
    paid: bool = False
    pay_index: int = 0
    amount_received_msat: int = 0
    paid_at: int = 0

    def status(self, now: float) -> str:
        if self.paid:
            return "paid"
        return "expired" if now >= self.expires_at else "unpaid"

    def to_json(self, now: float) -> dict[str, Any]:
        """lightningd's ``json_add_invoice_fields``."""
        status = self.status(now)
        out: dict[str, Any] = {"label": self.label, "bolt11": self.bolt11,
                               "payment_hash": self.payment_hash}
        if self.amount_msat is not None:
            out["amount_msat"] = self.amount_msat
        out["status"] = status
        if status == "paid":
            out["pay_index"] = self.pay_index
            out["amount_received_msat"] = self.amount_received_msat
            out["paid_at"] = self.paid_at
            out["payment_preimage"] = self.preimage
        if self.description is not None:
            out["description"] = self.description
        out["expires_at"] = self.expires_at
        out["created_index"] = self.created_index
        if self.updated_index:
            out["updated_index"] = self.updated_index
        return out


@dataclass(frozen=True)
class RouteHop:
    """One hop of a sendpay route: the node at its end, the channel that
    reaches it, the amount and CLTV that node expects."""

    node_id: str
    scid: str
    amount_msat: int
    delay: int


@dataclass(frozen=True)
class Failure:
    """lightningd's routing failure object, plus the error it makes."""

    code: int
    failcode: int
    detail: str
    erring_index: int
    erring_node: str | None
    erring_channel: str | None = None
    erring_direction: int = 0
    # The decrypted failure message of a remote failure (or the one the
    # htlc_accepted hook gave), as hex.
    raw_message: str | None = None
    # A reply nobody could decrypt (the hook's failure_onion), hex.
    onionreply: str | None = None

    @property
    def message(self) -> str:
        if self.onionreply is not None:
            return "Malformed error reply"
        return f"failed: {FAILCODE_NAMES.get(self.failcode, 'WIRE_UNKNOWN')} ({self.detail})"

    def fields(self) -> dict[str, Any]:
        """``json_add_routefail_info`` (or, for an unreadable reply, the
        ``onionreply``)."""
        if self.onionreply is not None:
            return {"onionreply": self.onionreply}
        out: dict[str, Any] = {"erring_index": self.erring_index, "failcode": self.failcode}
        if self.failcode in FAILCODE_NAMES:
            out["failcodename"] = FAILCODE_NAMES[self.failcode]
        if self.erring_node is not None:
            out["erring_node"] = self.erring_node
        if self.erring_channel is not None:
            out["erring_channel"] = self.erring_channel
            out["erring_direction"] = self.erring_direction
        if self.raw_message is not None:
            out["raw_message"] = self.raw_message
        return out


@dataclass
class Payment:
    created_index: int
    payment_hash: str
    groupid: int
    partid: int
    destination: str | None
    amount_msat: int
    amount_sent_msat: int
    created_at: int
    route: tuple[RouteHop, ...]
    label: str | None = None
    bolt11: str | None = None
    description: str | None = None
    payment_secret: str | None = None
    status: str = "pending"
    completed_at: int | None = None
    preimage: str | None = None
    updated_index: int = 0
    failure: Failure | None = None
    first_channel: int = -1
    htlc_id: int = -1

    def fields(self, with_description: bool = True) -> dict[str, Any]:
        """lightningd's ``json_add_payment_fields`` (sendpay and waitsendpay's
        schemas have no ``description``)."""
        out: dict[str, Any] = {"created_index": self.created_index, "id": self.created_index,
                               "payment_hash": self.payment_hash, "groupid": self.groupid}
        if self.updated_index:
            out["updated_index"] = self.updated_index
        if self.partid:
            out["partid"] = self.partid
        if self.destination is not None:
            out["destination"] = self.destination
        if self.amount_msat > 0:
            out["amount_msat"] = self.amount_msat
        out["amount_sent_msat"] = self.amount_sent_msat
        out["created_at"] = self.created_at
        if self.completed_at is not None:
            out["completed_at"] = self.completed_at
        out["status"] = self.status
        if self.preimage is not None:
            out["payment_preimage"] = self.preimage
        if self.label is not None:
            out["label"] = self.label
        if self.bolt11 is not None:
            out["bolt11"] = self.bolt11
        if with_description and self.description is not None:
            out["description"] = self.description
        return out


@dataclass
class _Plan:
    """A payment's fate, drawn when it is sent."""

    resolve_at: float
    failure: Failure | None = None
    # Checked when the HTLC reaches us: our last channel, the invoice.
    last_channel: int = -1


@dataclass
class Knobs:
    """The payment model's knobs: the scenario's, or ``dev-payments``'."""

    hold_s: tuple[float, float]
    hop_fail_rate: float
    liquidity_factor: float
    success_rate: float | None

    @classmethod
    def of(cls, spec: PaymentsSpec) -> Knobs:
        return cls(spec.hold_s, spec.hop_fail_rate, spec.liquidity_factor, spec.success_rate)

    def to_json(self) -> dict[str, Any]:
        return {"hold_s": list(self.hold_s), "hop_fail_rate": self.hop_fail_rate,
                "liquidity_factor": self.liquidity_factor, "success_rate": self.success_rate}


@dataclass
class _Indexes:
    created: int = 0
    updated: int = 0
    deleted: int = 0
    # (index name, value) -> details of the change, for ``wait``.
    details: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)

    def bump(self, name: str, details: dict[str, Any]) -> int:
        value = getattr(self, name) + 1
        setattr(self, name, value)
        self.details[(name, value)] = details
        return value


class PaymentEngine:
    """Invoices, payments, askrene's layers and the graph beyond our peers."""

    def __init__(self, market: Market) -> None:
        self.m = market
        self.spec = market.scenario.payments
        self.knobs = Knobs.of(self.spec)
        self.askrene = Askrene()
        self.invoices: dict[str, Invoice] = {}
        self._invoice_by_hash: dict[str, Invoice] = {}
        self.payments: list[Payment] = []
        self.invoice_index = _Indexes()
        self.sendpay_index = _Indexes()
        self._pay_index = 0
        self._bolt11_hashes: dict[str, str] = {}
        self._notes: list[tuple[str, dict[str, Any]]] = []
        # The ledger of our own payments.
        self.payments_sent = 0
        self.rebalanced_msat = 0
        self.rebalances_succeeded = 0
        self.rebalances_failed = 0
        self._backbone = self._make_backbone()
        self._static_in: dict[str, list[Edge]] = {}
        self._static_by_scid: dict[str, list[Edge]] = {}
        self._static_nodes: set[str] = set()
        for e in self._static_edges():
            self._static_in.setdefault(e.dst, []).append(e)
            self._static_by_scid.setdefault(e.scid, []).append(e)
            self._static_nodes.update((e.src, e.dst))

    # -- notifications from RPC calls (the host delivers them at once) ------------

    def take_notes(self) -> list[tuple[str, dict[str, Any]]]:
        notes, self._notes = self._notes, []
        return notes

    # -- the backbone and static edges ---------------------------------------------

    def _make_backbone(self) -> list[dict[str, Any]]:
        """Channels between competitor nodes: a random tree (so every rival
        reaches every other) plus random links up to ``backbone_links`` each."""
        rivals = [c["node"] for c in self.m._competitors]
        links = self.spec.backbone_links
        if len(rivals) < 2 or links <= 0:
            return []
        rng = random.Random(f"{self.m.seed}:backbone")
        order = list(rivals)
        rng.shuffle(order)
        pairs: list[tuple[str, str]] = []
        seen: set[frozenset[str]] = set()
        degree = dict.fromkeys(rivals, 0)

        def link(a: str, b: str) -> None:
            key = frozenset((a, b))
            if a == b or key in seen:
                return
            seen.add(key)
            pairs.append((a, b))
            degree[a] += 1
            degree[b] += 1

        for i in range(1, len(order)):
            link(order[i], order[rng.randrange(i)])
        for a in order:
            for _ in range(max(0, links - degree[a])):
                link(a, order[rng.randrange(len(order))])
        used = {c["scid"] for c in self.m._competitors}
        used.update(ch.scid for ch in self.m.channels if ch.scid)
        height = self.m.blockheight
        med, sigma = math.log(self.spec.backbone_fee_ppm), self.spec.backbone_fee_sigma
        out = []
        for a, b in pairs:
            scid = f"{max(1, height - rng.randint(1000, 200_000))}x{rng.randint(1, 3000)}x" \
                   f"{rng.randint(0, 1)}"
            while scid in used:
                scid = f"{max(1, height - rng.randint(1000, 200_000))}x{rng.randint(1, 3000)}x0"
            used.add(scid)
            n1, n2 = sorted((a, b))
            cap = rng.choice([5, 10, 20, 50]) * 1_000_000_000
            out.append({"scid": scid, "nodes": (n1, n2), "capacity_msat": cap,
                        "base": (rng.choice([0, 0, 1000]), rng.choice([0, 0, 1000])),
                        "ppm": (int(rng.lognormvariate(med, sigma)),
                                int(rng.lognormvariate(med, sigma))),
                        "last_update": int(self.m.start_time - rng.randint(60, 7 * 86400))})
        return out

    def _static_edges(self) -> Iterable[Edge]:
        for c in self.m._competitors:
            d = node_id_idx(c["node"], c["peer"])
            hmax = c["capacity_msat"] * 99 // 100
            yield Edge(c["scid"], d, c["node"], c["peer"], c["base"], c["ppm"],
                       RIVAL_CLTV_DELTA, 1000, hmax, c["capacity_msat"])
            yield Edge(c["scid"], 1 - d, c["peer"], c["node"], 1000, c["peer_ppm"],
                       PEER_CLTV_DELTA, 1000, hmax, c["capacity_msat"])
        for b in self._backbone:
            n1, n2 = b["nodes"]
            hmax = b["capacity_msat"] * 99 // 100
            yield Edge(b["scid"], 0, n1, n2, b["base"][0], b["ppm"][0], BACKBONE_CLTV_DELTA,
                       1000, hmax, b["capacity_msat"])
            yield Edge(b["scid"], 1, n2, n1, b["base"][1], b["ppm"][1], BACKBONE_CLTV_DELTA,
                       1000, hmax, b["capacity_msat"])

    def backbone_gossip(self, scid: str | None, source: str | None,
                        destination: str | None) -> list[dict[str, Any]]:
        """listchannels entries for the backbone (the market adds ours and
        the competitors')."""
        out = []
        for b in self._backbone:
            if scid is not None and b["scid"] != scid:
                continue
            for d in (0, 1):
                src, dst = b["nodes"][d], b["nodes"][1 - d]
                if (source is not None and src != source) or \
                        (destination is not None and dst != destination):
                    continue
                out.append({
                    "source": src, "destination": dst, "short_channel_id": b["scid"],
                    "direction": d, "public": True, "amount_msat": b["capacity_msat"],
                    "message_flags": 1, "channel_flags": d, "active": True,
                    "last_update": b["last_update"], "base_fee_millisatoshi": b["base"][d],
                    "fee_per_millionth": b["ppm"][d], "delay": BACKBONE_CLTV_DELTA,
                    "htlc_minimum_msat": 1000,
                    "htlc_maximum_msat": b["capacity_msat"] * 99 // 100, "features": ""})
        return out

    # -- our channels as edges --------------------------------------------------------

    def _our_edges(self, ch: Channel) -> tuple[Edge, Edge]:
        us = self.m.node_id
        d = ch.direction(us)
        active = ch.state == NORMAL
        assert ch.scid is not None
        out = Edge(ch.scid, d, us, ch.peer_id, ch.fee_base, ch.fee_ppm, OUR_CLTV_DELTA,
                   ch.htlc_min_msat, ch.htlc_max_msat, ch.capacity_msat, active, ch.idx)
        back = Edge(ch.scid, 1 - d, ch.peer_id, us, ch.spec.peer_fee_base_msat,
                    ch.spec.peer_fee_ppm, PEER_CLTV_DELTA, ch.peer_htlc_min_msat,
                    ch.max_possible_send_msat(), ch.capacity_msat, active, ch.idx)
        return out, back

    def _our_channels(self, localchans: bool) -> Iterable[Channel]:
        for ch in self.m.channels:
            if ch.scid is None or not ch.listed():
                continue
            if ch.gossip_visible or (localchans and ch.state == NORMAL):
                yield ch

    def _known_nodes(self, localchans: bool) -> set[str]:
        nodes = set(self._static_nodes)
        for ch in self._our_channels(localchans):
            nodes.update((self.m.node_id, ch.peer_id))
        return nodes

    # -- getroutes --------------------------------------------------------------------

    def getroutes(self, source: str, destination: str, amount: int, layers: list[str],
                  maxfee: int, final_cltv: int, maxdelay: int, maxparts: int) -> dict[str, Any]:
        """askrene's ``getroutes`` (routing.py) on the market's graph now."""
        localchans = "auto.localchans" in layers
        ours_in: dict[str, list[Edge]] = {}
        local: dict[str, int] = {}
        for ch in self._our_channels(localchans):
            out, back = self._our_edges(ch)
            ours_in.setdefault(out.dst, []).append(out)
            ours_in.setdefault(back.dst, []).append(back)
            if localchans:
                usable = ch.state == NORMAL
                local[out.scidd] = ch.spendable_msat() if usable else 0
                local[back.scidd] = ch.receivable_msat() if usable else 0
        view = routing.view_of(self.askrene, layers, source, self._static_in, ours_in, local)
        return routing.getroutes(view, self._known_nodes(localchans), destination, amount,
                                 maxfee, final_cltv, maxdelay, maxparts)

    # -- invoices ------------------------------------------------------------------------

    def create_invoice(self, amount: int | None, label: str, description: str, expiry: int,
                       preimage: str | None) -> dict[str, Any]:
        """``invoice``: the answer lightningd gives (with its warnings)."""
        now = int(self.m.now)
        if len(label.encode()) > 128:
            raise RpcError(JSONRPC2_INVALID_PARAMS, f"Label '{label}' over 128 bytes")
        if preimage is None:
            preimage = _sha("preimage", self.m.seed, label, self.invoice_index.created + 1,
                            len(self.payments))
        phash = hashlib.sha256(bytes.fromhex(preimage)).hexdigest()
        if phash in self._invoice_by_hash:
            raise RpcError(INVOICE_PREIMAGE_ALREADY_EXISTS, "preimage already used")
        if label in self.invoices:
            raise RpcError(INVOICE_LABEL_ALREADY_EXISTS, f"Duplicate label '{label}'")
        bolt11 = self._bolt11(amount, phash)
        index = self.invoice_index.bump("created", {"status": "unpaid", "label": label,
                                                    "bolt11": bolt11})
        inv = Invoice(label, phash, preimage, payment_secret_for(preimage), amount, description,
                      now, now + expiry, bolt11, index)
        self.invoices[label] = inv
        self._invoice_by_hash[phash] = inv
        note: dict[str, Any] = {}
        if amount is not None:
            note["msat"] = amount
        note.update({"preimage": preimage, "label": label})
        self._notes.append(("invoice_creation", note))
        out: dict[str, Any] = {"payment_hash": phash, "expires_at": inv.expires_at,
                               "bolt11": bolt11, "payment_secret": inv.secret,
                               "created_index": index}
        need = amount or 1
        inbound = [c.receivable_msat() for c in self.m.channels if c.state == NORMAL]
        if need >= sum(inbound):
            out["warning_capacity"] = "Insufficient incoming channel capacity to pay invoice"
        elif not any(r >= need for r in inbound):
            out["warning_mpp"] = "The invoice is only payable by MPP-capable payers."
        return out

    def _bolt11(self, amount: int | None, phash: str) -> str:
        """A well-formed looking, unsigned BOLT 11 string (the sim never
        decodes it: it maps it back to its payment hash)."""
        hrp = _HRP.get(self.m.network, "lnbcrt") + (f"{amount * 10}p" if amount else "")
        raw = b"".join(bytes.fromhex(_sha("bolt11", phash, i)) for i in range(10))
        data = "".join(_BECH32[b & 31] for b in raw[:300])
        text = f"{hrp}1{data}"
        self._bolt11_hashes[text] = phash
        return text

    def hash_of_bolt11(self, bolt11: str) -> str | None:
        return self._bolt11_hashes.get(bolt11)

    def invoice_by_hash(self, phash: str) -> Invoice | None:
        return self._invoice_by_hash.get(phash)

    def list_invoices(self, label: str | None, payment_hash: str | None, index: str | None,
                      start: int, limit: int | None) -> list[dict[str, Any]]:
        now = self.m.now
        if label is not None:
            inv = self.invoices.get(label)
            return [inv.to_json(now)] if inv is not None else []
        if payment_hash is not None:
            inv = self._invoice_by_hash.get(payment_hash)
            return [inv.to_json(now)] if inv is not None else []
        key = (lambda i: i.updated_index) if index == "updated" else (lambda i: i.created_index)
        rows = sorted((i for i in self.invoices.values() if key(i) >= max(start, 1 if
                                                                          index == "updated" else 0)),
                      key=key)
        if limit is not None:
            rows = rows[:limit]
        return [i.to_json(now) for i in rows]

    def delete_invoice(self, label: str, status: str, desconly: bool) -> dict[str, Any]:
        inv = self.invoices.get(label)
        if inv is None:
            raise RpcError(INVOICE_NOT_FOUND, "Unknown invoice")
        actual = inv.status(self.m.now)
        if actual != status:
            raise RpcError(INVOICE_STATUS_UNEXPECTED, f"Invoice status is {actual} not {status}",
                           {"current_status": actual, "expected_status": status})
        if desconly:
            if inv.description is None:
                raise RpcError(INVOICE_NO_DESCRIPTION, "Invoice description already removed")
            inv.description = None
            return inv.to_json(self.m.now)
        out = inv.to_json(self.m.now)
        del self.invoices[label]
        del self._invoice_by_hash[inv.payment_hash]
        self.invoice_index.bump("deleted", {"status": actual, "label": label,
                                            "bolt11": inv.bolt11})
        return out

    # -- sendpay ---------------------------------------------------------------------------

    def payments_for(self, phash: str) -> list[Payment]:
        return [p for p in self.payments if p.payment_hash == phash]

    def find_payment(self, phash: str, partid: int, groupid: int | None) -> Payment | None:
        mine = self.payments_for(phash)
        if groupid is None:
            groupid = max((p.groupid for p in mine), default=0)
        return next((p for p in mine if p.partid == partid and p.groupid == groupid), None)

    def sendpay(self, route: list[RouteHop], payment_hash: str, label: str | None,
                amount_msat: int | None, bolt11: str | None, payment_secret: str | None,
                partid: int, groupid: int | None, description: str | None) -> dict[str, Any]:
        """lightningd's ``json_sendpay``: the pending answer, or RpcError."""
        if partid and amount_msat is None:
            raise RpcError(JSONRPC2_INVALID_PARAMS, "Must specify msatoshi with partid")
        if groupid is None:
            groupid = max((p.groupid for p in self.payments_for(payment_hash)), default=0) + 1
        if not route:
            if amount_msat is None:
                raise RpcError(JSONRPC2_INVALID_PARAMS, "Self-payment requires amount_msat")
            if partid:
                raise RpcError(JSONRPC2_INVALID_PARAMS,
                               "Self-payment does not allow (non-zero) partid")
            return self._self_payment(payment_hash, groupid, amount_msat, label, bolt11,
                                      description, payment_secret)
        final = route[-1].amount_msat
        if amount_msat is not None and not partid and amount_msat != final:
            raise RpcError(JSONRPC2_INVALID_PARAMS,
                           f"Do not specify msatoshi ({msat_text(amount_msat)}) without partid: "
                           f"if you do, it must be exactly the final amount ({msat_text(final)})")
        if partid and amount_msat is not None and final > amount_msat:
            raise RpcError(JSONRPC2_INVALID_PARAMS,
                           f"Final amount {msat_text(final)} is greater than "
                           f"{msat_text(amount_msat)}, despite MPP")
        if partid and payment_secret is None:
            raise RpcError(JSONRPC2_INVALID_PARAMS, "partid requires payment_secret")
        done = self._check_progress(payment_hash, final, partid, groupid, route[-1].node_id)
        if done is not None:
            return done
        us = self.m.node_id
        first = route[0]
        ch = self._first_channel(first)
        if ch is None:
            raise RpcError(PAY_TRY_OTHER_ROUTE, "No connection to first peer found", {
                "erring_index": 0, "failcode": WIRE_UNKNOWN_NEXT_PEER,
                "failcodename": FAILCODE_NAMES[WIRE_UNKNOWN_NEXT_PEER], "erring_node": us})
        if first.amount_msat < ch.htlc_min_msat:
            fail = Failure(PAY_TRY_OTHER_ROUTE, WIRE_AMOUNT_BELOW_MINIMUM, "First peer not ready",
                           0, us, ch.scid, node_id_idx(us, ch.peer_id))
            raise RpcError(PAY_TRY_OTHER_ROUTE, fail.message, fail.fields())
        index = self.sendpay_index.bump("created", self._wait_details(
            "pending", partid, groupid, payment_hash))
        p = Payment(index, payment_hash, groupid, partid, route[-1].node_id, final,
                    first.amount_msat, int(self.m.now), tuple(route), label, bolt11, description,
                    payment_secret, first_channel=ch.idx)
        self.payments.append(p)
        self.payments_sent += 1
        if bolt11 is not None:
            self._bolt11_hashes.setdefault(bolt11, payment_hash)
        # The HTLC leaves on our first channel now.
        p.htlc_id = ch.next_out_htlc
        ch.next_out_htlc += 1
        ch.out_offered += 1
        ch.out_offered_msat += first.amount_msat
        ch.htlcs_out[p.htlc_id] = (first.amount_msat, payment_hash,
                                   self.m.blockheight + 1 + first.delay)
        ch.in_flight_out_msat += first.amount_msat
        plan = self._plan(p, ch)
        self.m.schedule(plan.resolve_at, self._resolve, p, plan)
        return {"message": "Monitor status with listpays or waitsendpay",
                **p.fields(with_description=False)}

    def _check_progress(self, phash: str, msat: int, partid: int, groupid: int,
                        destination: str) -> dict[str, Any] | None:
        """lightningd's ``check_progress``: earlier attempts at this hash."""
        have_complete = False
        for p in self.payments_for(phash):
            if p.status == "complete":
                have_complete = True
                if p.partid != partid:
                    continue
                if p.amount_msat != msat:
                    raise RpcError(PAY_RHASH_ALREADY_USED,
                                   f"Already succeeded with amount {msat_text(p.amount_msat)} "
                                   f"(not {msat_text(msat)})")
                if p.destination and p.destination != destination:
                    raise RpcError(PAY_RHASH_ALREADY_USED, f"Already succeeded to {p.destination}")
                return p.fields(with_description=False)
            if p.status == "pending":
                if p.groupid != groupid:
                    raise RpcError(PAY_IN_PROGRESS,
                                   f"Payment with groupid={p.groupid} still in progress, cannot "
                                   "retry before that completes.")
                if bool(p.partid) != bool(partid):
                    raise RpcError(PAY_IN_PROGRESS, "Already have "
                                   f"{'parallel' if p.partid else 'non-parallel'} payment in "
                                   "progress")
                if p.partid == partid:
                    if p.amount_msat != msat:
                        raise RpcError(PAY_RHASH_ALREADY_USED,
                                       f"Already pending with amount {msat_text(p.amount_msat)} "
                                       f"(not {msat_text(msat)})")
                    return {"message": "Monitor status with listpays or waitsendpay",
                            **p.fields(with_description=False)}
            if p.partid == partid and p.groupid == groupid:
                raise RpcError(PAY_RHASH_ALREADY_USED,
                               f"There already is a payment with payment_hash={phash}, "
                               f"groupid={groupid}, partid={partid}. Either change the partid, "
                               "or wait for the payment to complete and start a new group.")
        if have_complete:
            raise RpcError(PAY_RHASH_ALREADY_USED, "Already succeeded other parts")
        return None

    def _first_channel(self, hop: RouteHop) -> Channel | None:
        """``find_channel_for_htlc_add``: a channel with that peer, by scid
        or our local alias, that can take an HTLC."""
        for ch in self.m.channels:
            if ch.peer_id != hop.node_id or ch.state != NORMAL:
                continue
            if hop.scid in (ch.scid, ch.alias_local):
                return ch
        return None

    def _edge_between(self, scid: str, src: str, dst: str) -> Edge | None:
        for e in self._static_by_scid.get(scid, ()):
            if e.src == src and e.dst == dst:
                return e
        for ch in self.m.channels:
            if ch.scid is None or not ch.listed() or scid not in (ch.scid, ch.alias_local,
                                                                  ch.alias_remote):
                continue
            for e in self._our_edges(ch):
                if e.src == src and e.dst == dst:
                    return e
        return None

    def _plan(self, p: Payment, first: Channel) -> _Plan:
        """Draw the payment's fate now (its own RNG stream), check what
        lightningd and the hops would check."""
        rng = random.Random(f"{self.m.seed}:payment:{p.created_index}")
        lo, hi = self.knobs.hold_s
        hold = rng.uniform(lo, hi)
        route = p.route
        n = len(route)
        us = self.m.node_id
        now = self.m.now
        # Our first channel (its HTLC already added): channeld refuses at
        # once, a local failure.
        local = None
        if first.to_us_msat - first.reserve_msat - first.in_flight_out_msat < 0:
            local = "Capacity exceeded"
        elif len(first.htlcs_out) + len(first.htlcs_in) + self.m.background_htlcs(first) \
                > first.spec.max_accepted_htlcs:
            local = "Too many HTLCs"
        draws = [rng.random() for _ in range(n)]
        forced = self.knobs.success_rate
        remote = [k for k in range(1, n) if route[k - 1].node_id != us and route[k].node_id != us]
        forced_fail = None
        if forced is not None and remote and draws[0] >= forced:
            forced_fail = remote[int(draws[-1] * len(remote)) % len(remote)]
        if local is not None:
            return _Plan(now + 0.001, Failure(PAY_TRY_OTHER_ROUTE, WIRE_TEMPORARY_CHANNEL_FAILURE,
                                              local, 0, us, first.scid,
                                              node_id_idx(us, first.peer_id)))
        last_channel = -1
        for k in range(1, n):
            src, dst = route[k - 1].node_id, route[k].node_id
            amount = route[k].amount_msat
            at = now + max(0.5, hold * k / n)
            e = self._edge_between(route[k].scid, src, dst)
            fail_code = 0
            if e is None or src == dst:
                fail_code = WIRE_UNKNOWN_NEXT_PEER
            elif src == us:
                fail_code = WIRE_TEMPORARY_CHANNEL_FAILURE  # no loops through us
            elif not e.enabled:
                fail_code = WIRE_CHANNEL_DISABLED
            elif route[k - 1].amount_msat - amount < fee_msat(amount, e.base, e.ppm):
                fail_code = WIRE_FEE_INSUFFICIENT
            elif route[k - 1].delay - route[k].delay < e.delay:
                fail_code = WIRE_INCORRECT_CLTV_EXPIRY
            elif amount < e.htlc_min:
                fail_code = WIRE_AMOUNT_BELOW_MINIMUM
            elif amount > e.htlc_max:
                fail_code = WIRE_TEMPORARY_CHANNEL_FAILURE
            elif dst == us:
                last_channel = e.ours  # its liquidity is checked on arrival
            elif forced is not None:
                if forced_fail == k:
                    fail_code = WIRE_TEMPORARY_CHANNEL_FAILURE
            else:
                ok = (1.0 - self.knobs.hop_fail_rate) * max(
                    0.0, 1.0 - self.knobs.liquidity_factor * amount / e.capacity)
                if draws[k] >= ok:
                    fail_code = WIRE_TEMPORARY_CHANNEL_FAILURE
            if fail_code:
                return _Plan(at, self._remote_failure(route, k, fail_code))
        if route[-1].node_id != us:
            # Nobody else has our invoice: the destination refuses (a probe's end).
            return _Plan(now + hold, self._remote_failure(
                route, n, WIRE_INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS))
        return _Plan(now + hold, None, last_channel)

    def _remote_failure(self, route: tuple[RouteHop, ...], k: int, failcode: int) -> Failure:
        """The node at ``route[k-1]`` (``k == len(route)``: the destination)
        failed the HTLC: lightningd's ``remote_routing_failure``."""
        us = self.m.node_id
        n = len(route)
        if k >= n:
            prev = route[n - 2].node_id if n >= 2 else us
            code = PAY_DESTINATION_PERM_FAIL if failcode & PERM else PAY_TRY_OTHER_ROUTE
            return Failure(code, failcode, "reply from remote", n, route[n - 1].node_id,
                           route[n - 1].scid, node_id_idx(prev, route[n - 1].node_id),
                           failure_message(failcode, route[n - 1].amount_msat,
                                           self.m.blockheight))
        return Failure(PAY_TRY_OTHER_ROUTE, failcode, "reply from remote", k,
                       route[k - 1].node_id, route[k].scid,
                       node_id_idx(route[k - 1].node_id, route[k].node_id),
                       failure_message(failcode, route[k].amount_msat, self.m.blockheight))

    def _resolve(self, p: Payment, plan: _Plan) -> None:
        self._release_first(p)
        failure = plan.failure
        if failure is None:
            last = self.m.channels[plan.last_channel]
            n = len(p.route)
            if (last.state != NORMAL or last.receivable_msat() < p.amount_msat
                    or len(last.htlcs_in) + len(last.htlcs_out) + self.m.background_htlcs(last)
                    >= last.spec.max_accepted_htlcs):
                failure = self._remote_failure(p.route, n - 1, WIRE_TEMPORARY_CHANNEL_FAILURE)
            elif self.m.htlc_hooked:
                self._hold_at_us(p, plan, last)
                return
        self._finish(p, plan, failure)

    def _release_first(self, p: Payment) -> None:
        """The HTLC on our first channel resolves (once)."""
        first = self.m.channels[p.first_channel]
        if first.htlcs_out.pop(p.htlc_id, None) is not None:
            first.in_flight_out_msat -= p.route[0].amount_msat

    def _hold_at_us(self, p: Payment, plan: _Plan, last: Channel) -> None:
        """Our payment's HTLC has reached us: show it to the htlc_accepted
        hook first (the HTLC on our first channel waits with it)."""
        first = self.m.channels[p.first_channel]
        first.htlcs_out[p.htlc_id] = (p.route[0].amount_msat, p.payment_hash,
                                      self.m.blockheight + 1 + p.route[0].delay)
        first.in_flight_out_msat += p.route[0].amount_msat
        in_htlc = last.next_in_htlc
        last.next_in_htlc += 1
        last.in_offered += 1
        last.in_offered_msat += p.amount_msat
        cltv = self.m.blockheight + 1 + p.route[-1].delay
        total = p.amount_msat if p.payment_secret is not None else None
        assert last.scid is not None
        self.m.hold(HeldHtlc(
            last.idx, last.peer_id, last.scid, in_htlc, p.amount_msat, cltv, p.payment_hash,
            self.m.now, True,
            encode_payload(OnionPayload(p.amount_msat, cltv, None, p.payment_secret, total)),
            None, functools.partial(self._final_verdict, p=p, plan=plan)))

    def _final_verdict(self, held: HeldHtlc, verdict: Verdict, p: Payment,
                       plan: _Plan) -> None:
        n = len(p.route)
        if verdict.result == "continue" and not isinstance(held.onion, OnionPayload):
            verdict = Verdict("fail", failure_message=held.onion.failure_message())
        if verdict.result == "fail":
            self.m.count_hook_failure(verdict)
            code = verdict.failcode
            if code is None:
                onion = verdict.failure_onion if verdict.failure_onion is not None \
                    else verdict.failure_message or b""
                failure = Failure(PAY_UNPARSEABLE_ONION, 0, "Malformed error reply", n,
                                  None, onionreply=onion.hex())
            else:
                assert verdict.failure_message is not None
                failure = dataclasses.replace(self._remote_failure(p.route, n, code),
                                              raw_message=verdict.failure_message.hex())
            self._finish(p, plan, failure, counted=True)
        elif verdict.result == "resolve":
            self._finish(p, plan, None, counted=True, preimage=verdict.payment_key)
        else:
            self._finish(p, plan, None, counted=True, invoice_msat=held.invoice_msat)

    def _finish(self, p: Payment, plan: _Plan, failure: Failure | None,
                counted: bool = False, invoice_msat: int | None = None,
                preimage: str | None = None) -> None:
        """The payment's end: failed with ``failure``, or the HTLC at our
        last channel goes to the invoice check (``preimage``: the hook
        resolved it, no invoice involved). ``counted``: its incoming HTLC
        was already numbered when it was held."""
        self._release_first(p)
        first = self.m.channels[p.first_channel]
        amount0 = p.route[0].amount_msat
        last: Channel | None = None
        inv: Invoice | None = None
        if failure is None:
            last = self.m.channels[plan.last_channel]
            if preimage is None:
                inv, _why = self._check_invoice(p, invoice_msat)
                if inv is None:
                    failure = self._remote_failure(p.route, len(p.route),
                                                   WIRE_INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS)
        now = int(self.m.now)
        before = p.fields()  # lightningd notifies the payment as it stood
        p.completed_at = now
        if failure is not None:
            p.status = "failed"
            p.failure = failure
            p.updated_index = self.sendpay_index.bump("updated", self._wait_details(
                "failed", p.partid, p.groupid, p.payment_hash))
            if p.destination == self.m.node_id:
                self.rebalances_failed += 1
            self.m.emit("sendpay_failure", {"code": failure.code, "message": failure.message,
                                            "data": {**before, **failure.fields()}})
            return
        assert last is not None
        # Balances move: out on the first channel, in on the last.
        first.to_us_msat -= amount0
        first.min_to_us_msat = min(first.min_to_us_msat, first.to_us_msat)
        first.out_fulfilled += 1
        first.out_fulfilled_msat += amount0
        if not counted:
            last.next_in_htlc += 1
            last.in_offered += 1
            last.in_offered_msat += p.amount_msat
        last.in_fulfilled += 1
        last.in_fulfilled_msat += p.amount_msat
        last.to_us_msat += p.amount_msat
        last.max_to_us_msat = max(last.max_to_us_msat, last.to_us_msat)
        cost = amount0 - p.amount_msat
        self.m.rebalance_cost_msat += cost
        last.rebalance_cost_msat += cost
        last.rebalanced_in_msat += p.amount_msat
        first.rebalanced_out_msat += amount0
        self.rebalanced_msat += p.amount_msat
        self.rebalances_succeeded += 1
        # Coin moves: the HTLC in is credited first, then the one out debited.
        if inv is not None and inv.description is not None:
            self.m.coin_moves.descriptions[p.payment_hash] = inv.description
        self.m.move_channel(last.channel_id, p.amount_msat, 0, "invoice",
                            payment_hash=p.payment_hash)
        self.m.move_channel(first.channel_id, 0, amount0, "invoice", fees=cost,
                            payment_hash=p.payment_hash, part_id=p.partid, group_id=p.groupid)
        if inv is not None:
            self._pay_invoice(inv, p.amount_msat, now)
            preimage = inv.preimage
        p.status = "complete"
        p.preimage = preimage
        p.updated_index = self.sendpay_index.bump("updated", self._wait_details(
            "complete", p.partid, p.groupid, p.payment_hash))
        if inv is not None:
            self.m.emit("invoice_payment", {"msat": p.amount_msat, "preimage": inv.preimage,
                                            "label": inv.label})
        self.m.emit("sendpay_success", p.fields())

    def _check_invoice(self, p: Payment, invoice_msat: int | None = None
                       ) -> tuple[Invoice | None, str]:
        """lightningd's ``invoice_check_payment`` (the error text is only
        logged); ``invoice_msat``: the amount the htlc_accepted hook set."""
        inv = self._invoice_by_hash.get(p.payment_hash)
        h = p.payment_hash
        if inv is None:
            return None, f"Unknown invoice {h}"
        if inv.status(self.m.now) != "unpaid":
            return None, f"Already paid or expired invoice {h}"
        if p.payment_secret is None:
            return None, f"Attempt to pay {h} without secret"
        if p.payment_secret != inv.secret:
            return None, f"Attempt to pay {h} with wrong secret"
        expected = invoice_msat if invoice_msat is not None else inv.amount_msat
        if expected is not None:
            if p.amount_msat < expected:
                return None, (f"Attempt to pay {h} with amount {msat_text(p.amount_msat)} < "
                              f"{msat_text(expected)}")
            if p.amount_msat > 2 * expected:
                return None, (f"Attempt to pay {h} with amount {msat_text(p.amount_msat)} > "
                              f"{msat_text(2 * expected)}")
        return inv, ""

    def _pay_invoice(self, inv: Invoice, amount: int, now: int) -> None:
        self._pay_index += 1
        inv.paid = True
        inv.pay_index = self._pay_index
        inv.amount_received_msat = amount
        inv.paid_at = now
        inv.updated_index = self.invoice_index.bump("updated", {
            "status": "paid", "label": inv.label, "bolt11": inv.bolt11})

    def _self_payment(self, phash: str, groupid: int, msat: int, label: str | None,
                      bolt11: str | None, description: str | None,
                      secret: str | None) -> dict[str, Any]:
        """An empty route: we pay our own invoice, resolved at once."""
        us = self.m.node_id
        now = int(self.m.now)
        index = self.sendpay_index.bump("created", self._wait_details("pending", 0, groupid,
                                                                      phash))
        p = Payment(index, phash, groupid, 0, us, msat, msat, now, (), label, bolt11,
                    description, secret)
        self.payments.append(p)
        self.payments_sent += 1
        inv, why = self._check_invoice(p)
        p.completed_at = now
        if inv is None:
            fail = Failure(PAY_DESTINATION_PERM_FAIL, WIRE_INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS,
                           why, 0, us)
            p.status = "failed"
            p.failure = fail
            p.updated_index = self.sendpay_index.bump("updated", self._wait_details(
                "failed", 0, groupid, phash))
            data = {**p.fields(), **fail.fields()}
            self._notes.append(("sendpay_failure", {"code": fail.code, "message": why,
                                                    "data": data}))
            raise RpcError(PAY_DESTINATION_PERM_FAIL, why, data)
        self._pay_invoice(inv, msat, now)
        p.status = "complete"
        p.preimage = inv.preimage
        p.updated_index = self.sendpay_index.bump("updated", self._wait_details(
            "complete", 0, groupid, phash))
        self._notes.append(("invoice_payment", {"msat": msat, "preimage": inv.preimage,
                                                "label": inv.label}))
        self._notes.append(("sendpay_success", p.fields()))
        return p.fields(with_description=False)

    @staticmethod
    def _wait_details(status: str, partid: int, groupid: int, phash: str) -> dict[str, Any]:
        return {"status": status, "partid": partid, "groupid": groupid, "payment_hash": phash}

    def failure_error(self, p: Payment) -> RpcError:
        """What waitsendpay answers for a failed payment."""
        f = p.failure
        if f is None:
            return RpcError(209, "Payment failure reason unknown")
        message = f.message if p.route else f.detail
        return RpcError(f.code, message, {**p.fields(with_description=False), **f.fields()})

    def list_sendpays(self, payment_hash: str | None, status: str | None, index: str | None,
                      start: int, limit: int | None) -> list[dict[str, Any]]:
        if payment_hash is not None:
            return [p.fields() for p in self.payments_for(payment_hash)]
        rows: list[Payment] = self.payments
        if index == "updated":
            rows = sorted((p for p in rows if p.updated_index and p.updated_index >= start),
                          key=lambda p: p.updated_index)
        elif index is not None:
            rows = [p for p in rows if p.created_index >= start]
        if status is not None:
            rows = [p for p in rows if p.status == status]
        if limit is not None:
            rows = rows[:limit]
        return [p.fields() for p in rows]

    # -- the knobs -----------------------------------------------------------------------

    def set_knobs(self, success_rate: float | None, hop_fail_rate: float | None,
                  liquidity_factor: float | None, hold_s: tuple[float, float] | None,
                  model: bool, clear: bool) -> None:
        if clear:
            self.knobs = Knobs.of(self.spec)
        if model:
            self.knobs.success_rate = None
        if success_rate is not None:
            self.knobs.success_rate = success_rate
        if hop_fail_rate is not None:
            self.knobs.hop_fail_rate = hop_fail_rate
        if liquidity_factor is not None:
            self.knobs.liquidity_factor = liquidity_factor
        if hold_s is not None:
            self.knobs.hold_s = hold_s


__all__ = [
    "FAILCODE_NAMES",
    "WIRE_INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS",
    "WIRE_TEMPORARY_CHANNEL_FAILURE",
    "Edge",
    "Invoice",
    "Payment",
    "PaymentEngine",
    "RouteHop",
    "msat_text",
    "node_id_idx",
    "payment_secret_for",
]
