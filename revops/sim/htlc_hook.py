"""The ``htlc_accepted`` hook's wire format and rules, as lightningd v26.06
has them (``lightningd/peer_htlcs.c``, ``lightningd/plugin_hook.c``).

Pure values and functions; :mod:`revops.sim.hook_runner` calls the plugins
and the market (``market.py``, ``payments.py``) acts on the verdict.

When it is called. lightningd calls the hook for every incoming HTLC it has
irrevocably accepted (``peer_accepted_htlc``): one to forward, or one paying
us (our own rebalance coming home). That is *before* any forwarding check:
fees, CLTV, the next channel's state and liquidity are checked after the
chain says ``continue`` (so a forward the hook fails never reaches them).

The chain. Plugins that registered the hook are called one at a time, in
load order rearranged by their ``before``/``after`` lists
(:func:`hook_order`); each sees what the previous ones changed
(``payload``, ``forward_to``). The first answer other than ``continue``
ends the chain. A plugin that dies while holding the HTLC counts as having
said nothing (``PLUGIN_TERMINATED``: the next one is asked, or lightningd
goes on as for ``continue``). lightningd puts **no timeout** on a hook: the
HTLC waits for as long as the plugin takes.

The answers (anything malformed is ``fatal()``: lightningd logs it as
BROKEN and exits; :class:`HookAnswerError` carries its message):

- ``continue``, optionally with ``payload`` (a TLV stream without its
  length prefix, re-parsed: if it no longer parses, the HTLC fails with
  ``invalid_onion_payload``), ``forward_to`` (a channel_id: the forward goes
  there; an unknown one fails as ``WIRE_UNKNOWN_NEXT_PEER``),
  ``invoice_msat`` (the amount the invoice check uses), ``extra_tlvs``
  (checked as hex, otherwise not modelled);
- ``fail`` with ``failure_message`` (hex, the BOLT 4 message; the HTLC is
  failed back with it) or ``failure_onion`` (used as it is; the payer
  cannot read it). The forward never happened for lightningd: no
  ``listforwards`` row and no ``forward_event`` (checked on a real node);
- ``resolve`` with ``payment_key``: the preimage; if it does not hash to
  the payment hash, lightningd logs BROKEN and fails the HTLC with
  ``incorrect_or_unknown_payment_details`` (0x400f, no more data). A
  resolved payment to us settles without the invoice being paid.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

HOOK_NAME = "htlc_accepted"

# BOLT 4 failure codes the hook path produces itself.
PERM = 0x4000
WIRE_INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS = PERM | 15
WIRE_INVALID_ONION_PAYLOAD = PERM | 22

# TLV types of the onion payload (BOLT 4 ``payload``).
TLV_AMT_TO_FORWARD = 2
TLV_OUTGOING_CLTV = 4
TLV_SHORT_CHANNEL_ID = 6
TLV_PAYMENT_DATA = 8

ONION_PACKET_LEN = 1366  # version + pubkey + 1300 bytes of routing info + hmac
_HEX = re.compile(r"^(?:[0-9a-fA-F]{2})*$")
_HASH = re.compile(r"^[0-9a-fA-F]{64}$")


class HookAnswerError(Exception):
    """An answer lightningd cannot act on: it calls ``fatal()`` with this message."""


# -- the onion payload (TLV) -------------------------------------------------------

def bigsize(n: int) -> bytes:
    """BOLT 1 BigSize."""
    if n < 0xFD:
        return bytes([n])
    if n <= 0xFFFF:
        return b"\xfd" + n.to_bytes(2, "big")
    if n <= 0xFFFFFFFF:
        return b"\xfe" + n.to_bytes(4, "big")
    return b"\xff" + n.to_bytes(8, "big")


def _read_bigsize(data: bytes, pos: int) -> tuple[int, int]:
    if pos >= len(data):
        raise ValueError("truncated")
    first = data[pos]
    width = {0xFD: 2, 0xFE: 4, 0xFF: 8}.get(first, 0)
    if width == 0:
        return first, pos + 1
    if pos + 1 + width > len(data):
        raise ValueError("truncated")
    return int.from_bytes(data[pos + 1:pos + 1 + width], "big"), pos + 1 + width


def _tu(n: int) -> bytes:
    """A truncated unsigned integer: big-endian, no leading zero bytes."""
    return n.to_bytes((n.bit_length() + 7) // 8, "big")


def _scid_bytes(scid: str) -> bytes:
    block, tx, out = (int(x) for x in scid.split("x"))
    return block.to_bytes(3, "big") + tx.to_bytes(3, "big") + out.to_bytes(2, "big")


def _scid_text(raw: bytes) -> str:
    return (f"{int.from_bytes(raw[:3], 'big')}x{int.from_bytes(raw[3:6], 'big')}"
            f"x{int.from_bytes(raw[6:8], 'big')}")


@dataclass(frozen=True)
class OnionPayload:
    """What lightningd's ``onion_decode`` takes from the payload."""

    forward_msat: int
    outgoing_cltv: int
    short_channel_id: str | None = None  # None: we are the final hop
    payment_secret: str | None = None
    total_msat: int | None = None


def encode_payload(p: OnionPayload) -> bytes:
    """The TLV stream a sender puts in our hop of the onion."""
    records = [(TLV_AMT_TO_FORWARD, _tu(p.forward_msat)),
               (TLV_OUTGOING_CLTV, _tu(p.outgoing_cltv))]
    if p.short_channel_id is not None:
        records.append((TLV_SHORT_CHANNEL_ID, _scid_bytes(p.short_channel_id)))
    if p.payment_secret is not None:
        records.append((TLV_PAYMENT_DATA, bytes.fromhex(p.payment_secret)
                        + _tu(p.total_msat or 0)))
    return b"".join(bigsize(t) + bigsize(len(v)) + v for t, v in records)


@dataclass(frozen=True)
class PayloadError:
    """Where a payload stopped parsing (``invalid_onion_payload``'s data)."""

    tlv_type: int
    pos: int

    def failure_message(self) -> bytes:
        return (WIRE_INVALID_ONION_PAYLOAD.to_bytes(2, "big") + bigsize(self.tlv_type)
                + min(self.pos, 0xFFFF).to_bytes(2, "big"))


def decode_payload(data: bytes, final: bool) -> OnionPayload | PayloadError:
    """``onion_decode`` for the fields the sim uses: types in ascending
    order, no unknown even type, ``amt_to_forward`` and
    ``outgoing_cltv_value`` present, ``short_channel_id`` for a forward."""
    fields: dict[int, bytes] = {}
    pos, last = 0, -1
    while pos < len(data):
        start = pos
        try:
            tlv_type, pos = _read_bigsize(data, pos)
            length, pos = _read_bigsize(data, pos)
        except ValueError:
            return PayloadError(0, start)
        if tlv_type <= last or pos + length > len(data):
            return PayloadError(tlv_type, start)
        if tlv_type % 2 == 0 and tlv_type not in (TLV_AMT_TO_FORWARD, TLV_OUTGOING_CLTV,
                                                  TLV_SHORT_CHANNEL_ID, TLV_PAYMENT_DATA):
            return PayloadError(tlv_type, start)
        fields[tlv_type] = data[pos:pos + length]
        pos += length
        last = tlv_type
    for needed in (TLV_AMT_TO_FORWARD, TLV_OUTGOING_CLTV):
        if needed not in fields or len(fields[needed]) > (8 if needed == 2 else 4):
            return PayloadError(needed, len(data))
    scid = None
    if TLV_SHORT_CHANNEL_ID in fields:
        if len(fields[TLV_SHORT_CHANNEL_ID]) != 8:
            return PayloadError(TLV_SHORT_CHANNEL_ID, len(data))
        scid = _scid_text(fields[TLV_SHORT_CHANNEL_ID])
    elif not final:
        return PayloadError(TLV_SHORT_CHANNEL_ID, len(data))
    secret = total = None
    if TLV_PAYMENT_DATA in fields:
        raw = fields[TLV_PAYMENT_DATA]
        if not 32 <= len(raw) <= 40:
            return PayloadError(TLV_PAYMENT_DATA, len(data))
        secret, total = raw[:32].hex(), int.from_bytes(raw[32:], "big")
    return OnionPayload(int.from_bytes(fields[TLV_AMT_TO_FORWARD], "big"),
                        int.from_bytes(fields[TLV_OUTGOING_CLTV], "big"), scid, secret, total)


# -- an HTLC waiting for the chain ----------------------------------------------------

@dataclass(frozen=True)
class Verdict:
    """How the chain ended: ``continue`` (apply the held HTLC's current
    payload/forward_to), ``fail`` (one of the two failure fields) or
    ``resolve`` (``payment_key`` checked against the hash already)."""

    result: str
    failure_message: bytes | None = None
    failure_onion: bytes | None = None
    payment_key: str | None = None

    @property
    def failcode(self) -> int | None:
        """The BOLT 4 failure code of a ``failure_message`` (None for an onion)."""
        m = self.failure_message
        return int.from_bytes(m[:2], "big") if m is not None and len(m) >= 2 else None


CONTINUE = Verdict("continue")


@dataclass
class HeldHtlc:
    """An incoming HTLC lightningd has accepted and is showing to the hook.

    The market builds it (it stays in flight on its channel meanwhile) and
    gets it back through ``resume(held, verdict)``. ``payload`` and
    ``forward_to`` are what the chain has made of them so far."""

    in_channel: int
    peer_id: str
    in_scid: str
    in_htlc: int
    amount_msat: int
    cltv_expiry: int
    payment_hash: str
    received: float
    final: bool
    payload: bytes
    forward_to: str | None
    resume: Callable[[HeldHtlc, Verdict], None]
    onion: OnionPayload | PayloadError = field(init=False)
    invoice_msat: int | None = None
    # The plugin being asked now (listpeerchannels' htlc ``status``).
    waiting_on: str | None = None
    _packet: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.onion = decode_payload(self.payload, self.final)

    def replace_payload(self, payload: bytes) -> None:
        self.payload = payload
        self.onion = decode_payload(payload, self.final)

    def next_onion(self) -> str:
        """The onion for the next hop (opaque: deterministic filler bytes;
        a final hop's has an all-zero HMAC)."""
        if self._packet is None:
            seed = f"{self.payment_hash}:{self.in_scid}:{self.in_htlc}"
            raw = b"".join(hashlib.sha256(f"onion:{seed}:{i}".encode()).digest()
                           for i in range(ONION_PACKET_LEN // 32 + 1))
            body = b"\x00\x02" + raw[:ONION_PACKET_LEN - 2]
            if self.final:
                body = body[:-32] + bytes(32)
            self._packet = body.hex()
        return self._packet

    def shared_secret(self) -> str:
        return hashlib.sha256(f"ss:{self.payment_hash}:{self.in_scid}:{self.in_htlc}"
                              .encode()).hexdigest()


def hook_params(h: HeldHtlc, blockheight: int) -> dict[str, Any]:
    """The request ``htlc_accepted_hook_serialize`` writes, key for key."""
    out: dict[str, Any] = {"peer_id": h.peer_id}
    onion: dict[str, Any] = {"payload": (bigsize(len(h.payload)) + h.payload).hex()}
    p = h.onion
    if isinstance(p, OnionPayload):
        onion["type"] = "tlv"
        if p.short_channel_id is not None:
            onion["short_channel_id"] = p.short_channel_id
        onion["forward_msat"] = p.forward_msat
        onion["outgoing_cltv_value"] = p.outgoing_cltv
        if p.payment_secret is not None:
            onion["total_msat"] = p.total_msat
            onion["payment_secret"] = p.payment_secret
    onion["next_onion"] = h.next_onion()
    onion["shared_secret"] = h.shared_secret()
    out["onion"] = onion
    if h.forward_to is not None:
        out["forward_to"] = h.forward_to
    out["htlc"] = {"short_channel_id": h.in_scid, "id": h.in_htlc,
                   "amount_msat": h.amount_msat, "cltv_expiry": h.cltv_expiry,
                   "cltv_expiry_relative": h.cltv_expiry - blockheight,
                   "payment_hash": h.payment_hash}
    return out


# -- reading an answer ------------------------------------------------------------------

def _tok(value: Any) -> str:
    """A JSON token as lightningd prints it with ``%.*s``: a string's text,
    anything else as written."""
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def _hex(value: Any) -> bytes | None:
    if isinstance(value, str) and _HEX.match(value):
        return bytes.fromhex(value)
    return None


def _msat(value: Any) -> int | None:
    """``json_to_msat``: a number, or a string of digits with an optional
    ``msat`` suffix."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str):
        m = re.fullmatch(r"([0-9]+)(msat)?", value)
        if m:
            return int(m.group(1))
    return None


def apply_answer(held: HeldHtlc, answer: Any,
                 log_broken: Callable[[str], None]) -> Verdict | None:
    """Take one plugin's answer (the response's ``result``): update the
    held HTLC with a ``continue``'s changes and return None (ask the next
    plugin), or return how the chain ends. Raises HookAnswerError."""
    result = answer.get("result") if isinstance(answer, dict) else None
    if result is None:
        raise HookAnswerError("Plugin return value does not contain 'result' key "
                              f"{_tok(answer)}")
    assert isinstance(answer, dict)
    if "invoice_msat" in answer:
        amount = _msat(answer["invoice_msat"])
        if amount is None:
            raise HookAnswerError("Bad invoice_msat for htlc_accepted hook: "
                                  f"{_tok(answer['invoice_msat'])}")
        held.invoice_msat = amount
    if "extra_tlvs" in answer and _hex(answer["extra_tlvs"]) is None:
        raise HookAnswerError(f"Bad custom tlvs for htlc_accepted hook: "
                              f"{_tok(answer['extra_tlvs'])}")
    if "payload" in answer:
        payload = _hex(answer["payload"])
        if payload is None:
            raise HookAnswerError(f"Bad payload for htlc_accepted hook: "
                                  f"{_tok(answer['payload'])}")
        held.replace_payload(payload)
    if "forward_to" in answer:
        target = answer["forward_to"]
        if not (isinstance(target, str) and _HASH.match(target)):
            raise HookAnswerError(f"Bad forward_to for htlc_accepted hook: {_tok(target)}")
        held.forward_to = target.lower()
    if result == "continue":
        return None
    if result == "fail":
        return _fail(answer, log_broken)
    if result == "resolve":
        key = answer.get("payment_key")
        if key is None:
            raise HookAnswerError("Plugin did not specify a 'payment_key' in return value "
                                  f"to the htlc_accepted hook: {_tok(result)}")
        if not (isinstance(key, str) and _HASH.match(key)):
            raise HookAnswerError(f"Plugin specified an invalid 'payment_key': "
                                  f"{json.dumps(result)}")
        return Verdict("resolve", payment_key=key.lower())
    raise HookAnswerError("Plugin responded with an unknown result to the htlc_accepted "
                          f"hook: {_tok(result)}")


def _fail(answer: dict[str, Any], log_broken: Callable[[str], None]) -> Verdict:
    if "failure_onion" in answer:
        onion = _hex(answer["failure_onion"])
        if onion is None:
            raise HookAnswerError(f"Bad failure_onion for htlc_accepted hook: "
                                  f"{_tok(answer['failure_onion'])}")
        if "failure_message" in answer:
            log_broken("Both 'failure_onion' and'failure_message' provided. "
                       "Ignoring 'failure_message'.")
        return Verdict("fail", failure_onion=onion)
    if "failure_message" not in answer:
        raise HookAnswerError("Missing both failure_onion and failure_message for "
                              "htlc_accepted hook fail: fail")
    message = _hex(answer["failure_message"])
    if message is None:
        raise HookAnswerError(f"Bad failure_message for htlc_accepted hook: "
                              f"{_tok(answer['failure_message'])}")
    return Verdict("fail", failure_message=message)


def check_resolve(held: HeldHtlc, verdict: Verdict) -> tuple[Verdict, str | None]:
    """``htlc_accepted_hook_try_resolve``: a key that does not hash to the
    payment hash becomes a 0x400f failure, with the BROKEN line to log."""
    if verdict.result != "resolve" or verdict.payment_key is None:
        return verdict, None
    got = hashlib.sha256(bytes.fromhex(verdict.payment_key)).hexdigest()
    if got == held.payment_hash:
        return verdict, None
    line = (f"Plugin returned a preimage (sha256({verdict.payment_key}) = {got}) that doesn't "
            f"match the HTLC hash ({held.payment_hash}) it tries to resolve.")
    return Verdict("fail", failure_message=WIRE_INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS
                   .to_bytes(2, "big")), line


# -- the order of the chain ---------------------------------------------------------------

T = TypeVar("T")


@dataclass(frozen=True)
class HookUser:
    """One plugin's registration: who, its path, and its ``before``/``after``."""

    plugin: Any
    path: str
    before: tuple[str, ...] = ()
    after: tuple[str, ...] = ()


def hook_order(users: Sequence[HookUser], matches: Callable[[str, str], bool],
               log_unknown: Callable[[HookUser, str], None] | None = None
               ) -> tuple[list[Any], list[Any]]:
    """``plugin_hook_make_ordered``: (the plugins in calling order, those
    whose ``before``/``after`` cannot all hold). ``users`` are in load
    order, which breaks ties; ``matches(path, name)`` is
    ``plugin_paths_match``."""
    n = len(users)
    incoming = [0] * n
    outgoing: list[list[int]] = [[] for _ in range(n)]

    def find(name: str) -> int | None:
        return next((j for j in range(n) if matches(users[j].path, name)), None)

    for i, u in enumerate(users):
        for name in u.before:
            j = find(name)
            if j is None:
                if log_unknown is not None:
                    log_unknown(u, f"hook {HOOK_NAME} before unknown plugin {name}")
                continue
            outgoing[i].append(j)
            incoming[j] += 1
        for name in u.after:
            j = find(name)
            if j is None:
                if log_unknown is not None:
                    log_unknown(u, f"hook {HOOK_NAME} after unknown plugin {name}")
                continue
            outgoing[j].append(i)
            incoming[i] += 1
    done: list[int] = []
    finished = [False] * n
    while True:
        best = next((i for i in range(n) if not finished[i] and incoming[i] == 0), None)
        if best is None:
            break
        finished[best] = True
        done.append(best)
        for j in outgoing[best]:
            incoming[j] -= 1
    return ([users[i].plugin for i in done],
            [users[i].plugin for i in range(n) if not finished[i]])
