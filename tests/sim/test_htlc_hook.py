"""The htlc_accepted hook: its wire format and answer rules (pure), and the
market holding HTLCs for it and acting on the verdict. The whole thing
with real plugin processes is in test_hook_e2e.py; the same hook on a real
lightningd in tests/real/test_htlc_hook_real.py."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from revops.sim.htlc_hook import (
    CONTINUE,
    HeldHtlc,
    HookAnswerError,
    HookUser,
    OnionPayload,
    PayloadError,
    Verdict,
    apply_answer,
    bigsize,
    check_resolve,
    decode_payload,
    encode_payload,
    hook_order,
    hook_params,
)
from revops.sim.lightningd import paths_match
from revops.sim.market import DAY, LOCAL_FAILED, Market
from revops.sim.scenario import default_scenario
from revops.sim.schemas import validate_hook
from tests.sim.payment_fixtures import TABLE, node_with_layer, quiet_market, send_circular
from tests.sim.market_fixtures import call

# Captured from a real lightningd v26.06 (a 3-node line, the hook on the middle node).
REAL_FORWARD_PAYLOAD = "1202030186a004017206080000670000010000"
REAL_FINAL_PAYLOAD = ("2b0202c350040172082229319d7dd84a69556fa9dd333daf54283d3dc1b2080d709dd"
                      "c1222e81700ab34c350")


def _held(final: bool = False, **kw: Any) -> HeldHtlc:
    payload = encode_payload(OnionPayload(100_000, 114, None if final else "103x1x0",
                                          "ab" * 32 if final else None,
                                          100_000 if final else None))
    args: dict[str, Any] = dict(
        in_channel=0, peer_id="02" + "11" * 32, in_scid="103x2x0", in_htlc=7,
        amount_msat=100_002, cltv_expiry=148, payment_hash="cd" * 32, received=1.0,
        final=final, payload=payload, forward_to=None if final else "ef" * 32,
        resume=lambda h, v: None)
    args.update(kw)
    return HeldHtlc(**args)


# -- the onion payload ---------------------------------------------------------------

def test_payloads_are_byte_for_byte_what_lightningd_shows() -> None:
    forward = encode_payload(OnionPayload(100_000, 114, "103x1x0"))
    assert (bigsize(len(forward)) + forward).hex() == REAL_FORWARD_PAYLOAD
    final = encode_payload(OnionPayload(
        50_000, 114, None, "29319d7dd84a69556fa9dd333daf54283d3dc1b2080d709ddc1222e81700ab34",
        50_000))
    assert (bigsize(len(final)) + final).hex() == REAL_FINAL_PAYLOAD
    assert decode_payload(forward, final=False) == OnionPayload(100_000, 114, "103x1x0")


@pytest.mark.parametrize("raw, final, tlv_type", [
    ("0203030d40", False, 4),                 # no outgoing_cltv_value
    ("02030186a0040172", False, 6),           # a forward without a short_channel_id
    ("040172020101", True, 2),                # types out of order
    ("02030186a00401720a0100", True, 10),     # an unknown even type
    ("02ff", True, 0),                        # truncated
])
def test_payloads_that_do_not_parse_say_where(raw: str, final: bool, tlv_type: int) -> None:
    got = decode_payload(bytes.fromhex(raw), final)
    assert isinstance(got, PayloadError) and got.tlv_type == tlv_type
    assert got.failure_message()[:2] == b"\x40\x16"  # invalid_onion_payload


def test_unknown_odd_types_are_fine() -> None:
    raw = encode_payload(OnionPayload(5, 6, None)) + bytes.fromhex("fd01010100")
    assert decode_payload(raw, final=True) == OnionPayload(5, 6, None)


# -- the request -----------------------------------------------------------------------

def test_the_request_has_lightningds_keys_and_passes_the_schema() -> None:
    fwd = hook_params(_held(), blockheight=100)
    assert list(fwd) == ["peer_id", "onion", "forward_to", "htlc"]
    assert list(fwd["onion"]) == ["payload", "type", "short_channel_id", "forward_msat",
                                  "outgoing_cltv_value", "next_onion", "shared_secret"]
    assert fwd["htlc"] == {"short_channel_id": "103x2x0", "id": 7, "amount_msat": 100_002,
                           "cltv_expiry": 148, "cltv_expiry_relative": 48,
                           "payment_hash": "cd" * 32}
    assert len(fwd["onion"]["next_onion"]) == 2 * 1366
    validate_hook("htlc_accepted", "request", fwd)
    final = hook_params(_held(final=True), blockheight=100)
    assert "forward_to" not in final and "short_channel_id" not in final["onion"]
    assert final["onion"]["total_msat"] == 100_000
    assert final["onion"]["payment_secret"] == "ab" * 32
    assert final["onion"]["next_onion"].endswith("00" * 32)  # the last hop's HMAC
    validate_hook("htlc_accepted", "request", final)


def test_an_unparsable_payload_is_shown_raw_without_its_fields() -> None:
    h = _held()
    h.replace_payload(b"\x02\x01")
    onion = hook_params(h, 100)["onion"]
    assert onion["payload"] == "020201" and "type" not in onion and "forward_msat" not in onion


# -- the answers -------------------------------------------------------------------------

def test_continue_changes_what_the_next_plugin_sees_and_the_forward() -> None:
    h, broken = _held(), []
    new_payload = encode_payload(OnionPayload(90_000, 110, "103x1x0"))
    assert apply_answer(h, {"result": "continue", "payload": new_payload.hex(),
                            "forward_to": "AA" * 32, "extra_tlvs": "fe00010001012a"},
                        broken.append) is None
    assert h.forward_to == "aa" * 32
    assert h.onion == OnionPayload(90_000, 110, "103x1x0")
    assert hook_params(h, 100)["onion"]["forward_msat"] == 90_000
    assert broken == []


def test_fail_and_resolve_end_the_chain() -> None:
    broken: list[str] = []
    fail = apply_answer(_held(), {"result": "fail", "failure_message": "1007"}, broken.append)
    assert fail == Verdict("fail", failure_message=b"\x10\x07") and fail.failcode == 0x1007
    onion = apply_answer(_held(), {"result": "fail", "failure_onion": "00" * 8,
                                   "failure_message": "2002"}, broken.append)
    assert onion == Verdict("fail", failure_onion=bytes(8)) and onion.failcode is None
    assert broken == ["Both 'failure_onion' and'failure_message' provided. "
                      "Ignoring 'failure_message'."]
    key = "11" * 32
    assert apply_answer(_held(), {"result": "resolve", "payment_key": key.upper()},
                        broken.append) == Verdict("resolve", payment_key=key)


@pytest.mark.parametrize("answer, message", [
    ("continue", "Plugin return value does not contain 'result' key continue"),
    ({"result": "maybe"},
     "Plugin responded with an unknown result to the htlc_accepted hook: maybe"),
    ({"result": "fail"},
     "Missing both failure_onion and failure_message for htlc_accepted hook fail: fail"),
    ({"result": "fail", "failure_message": "xyz"},
     "Bad failure_message for htlc_accepted hook: xyz"),
    ({"result": "fail", "failure_onion": 12}, "Bad failure_onion for htlc_accepted hook: 12"),
    ({"result": "resolve"}, "Plugin did not specify a 'payment_key' in return value to the "
                            "htlc_accepted hook: resolve"),
    ({"result": "resolve", "payment_key": "00"},
     "Plugin specified an invalid 'payment_key': \"resolve\""),
    ({"result": "continue", "forward_to": "nope"},
     "Bad forward_to for htlc_accepted hook: nope"),
    ({"result": "continue", "payload": "0g"}, "Bad payload for htlc_accepted hook: 0g"),
    ({"result": "continue", "invoice_msat": "lots"},
     "Bad invoice_msat for htlc_accepted hook: lots"),
])
def test_answers_lightningd_cannot_act_on_are_fatal(answer: Any, message: str) -> None:
    with pytest.raises(HookAnswerError) as err:
        apply_answer(_held(), answer, lambda _: None)
    assert str(err.value) == message


def test_a_resolve_key_must_hash_to_the_payment_hash() -> None:
    key = "22" * 32
    good = _held(payment_hash=hashlib.sha256(bytes.fromhex(key)).hexdigest())
    assert check_resolve(good, Verdict("resolve", payment_key=key)) == \
        (Verdict("resolve", payment_key=key), None)
    verdict, line = check_resolve(_held(), Verdict("resolve", payment_key=key))
    assert verdict == Verdict("fail", failure_message=b"\x40\x0f")
    assert line is not None and line.startswith(f"Plugin returned a preimage (sha256({key}) = ")
    assert line.endswith(f"that doesn't match the HTLC hash ({'cd' * 32}) it tries to resolve.")


# -- the order of the chain ----------------------------------------------------------------

def test_chain_order_is_load_order_bent_by_before_and_after() -> None:
    users = [HookUser("a", "/p/a.py", before=("b.py",)), HookUser("d", "/p/d.py"),
             HookUser("b", "/p/b.py"), HookUser("c", "/p/c.py", after=("/p/d.py",),
                                                before=("a.py",))]
    unknown: list[str] = []
    assert hook_order(users, paths_match) == (["d", "c", "a", "b"], [])
    assert hook_order([HookUser("x", "/p/x.py", after=("nobody.py",))], paths_match,
                      lambda u, text: unknown.append(text)) == (["x"], [])
    assert unknown == ["hook htlc_accepted after unknown plugin nobody.py"]


def test_a_cycle_cannot_be_ordered() -> None:
    users = [HookUser("a", "/p/a.py", before=("b.py",)), HookUser("b", "/p/b.py",
                                                                  before=("a.py",)),
             HookUser("c", "/p/c.py")]
    assert hook_order(users, paths_match) == (["c"], ["a", "b"])


# -- the market holding HTLCs for the hook --------------------------------------------------

def _run(m: Market, days: float, decide: Any = None) -> list[tuple[str, dict[str, Any]]]:
    """Advance like the host: every held HTLC gets ``decide(held)``'s verdict."""
    notes: list[tuple[str, dict[str, Any]]] = []
    end = m.now + days * DAY
    while m.now < end:
        step_end = min(end, m.now + 300)
        while True:
            notes += m.advance(step_end)
            held = m.take_held()
            if not held:
                break
            for h in held:
                m.release(h, decide(h) if decide else CONTINUE)
    return notes


def test_continue_for_every_htlc_gives_exactly_the_run_without_a_hook() -> None:
    plain, hooked = Market(default_scenario(), 5), Market(default_scenario(), 5)
    hooked.htlc_hooked = True
    seen: list[HeldHtlc] = []
    a = _run(plain, 1.0)
    b = _run(hooked, 1.0, lambda h: seen.append(h) or CONTINUE)
    assert a == b and plain.report() == hooked.report()
    assert len(seen) == hooked.forwards_offered + hooked.forwards_local_failed > 500
    # What the hook saw is what forward_event later says about the HTLC.
    events = {(e["in_channel"], e["in_htlc_id"]): e for t, e in b if t == "forward_event"}
    h = seen[0]
    assert events[(h.in_scid, h.in_htlc)]["payment_hash"] == h.payment_hash


def test_a_hook_failing_one_channel_leaves_no_forward_rows_but_the_ledger_counts_them() -> None:
    m = Market(default_scenario(), 5)
    m.htlc_hooked = True
    target = max(m.channels, key=lambda c: sum(f.out_channel == c.name
                                               for f in m.scenario.flows))
    first_row = len(m.forwards)
    notes = _run(m, 1.0, lambda h: Verdict("fail", failure_message=b"\x10\x07")
                 if h.forward_to == target.channel_id else CONTINUE)
    st = m.forwards
    rows = range(first_row, len(st))
    assert not [r for r in rows if st.out_ch[r] == target.idx]
    assert not [e for t, e in notes if t == "forward_event"
                and e.get("out_channel") == target.scid]
    assert [r for r in rows if st.out_ch[r] != target.idx], "other channels still forward"
    ledger = m.ledger()
    failed = ledger["forwards_hook_failed"]
    assert failed > 10 and ledger["hook_failcodes"] == {"4103": failed}
    mine = next(c for c in ledger["channels"] if c["name"] == target.name)
    assert mine["forwards_hook_failed_out"] == failed and mine["revenue_msat"] == 0
    assert not m.holding  # nothing left waiting for the hook


def test_forward_to_sends_the_forward_elsewhere_and_an_unknown_one_fails() -> None:
    m = Market(default_scenario(), 5)
    m.htlc_hooked = True
    [h] = _hold_one(m)
    other = next(c for c in m.channels if c.channel_id != h.forward_to and c.scid
                 and c.idx != h.in_channel)
    h.forward_to = other.channel_id
    m.release(h, CONTINUE)
    assert m.forwards.out_ch[len(m.forwards) - 1] == other.idx
    [h2] = _hold_one(m)
    asked = m.channel_by_id(h2.forward_to)
    h2.forward_to = "ab" * 32
    m.release(h2, CONTINUE)
    row = len(m.forwards) - 1
    assert m.forwards.status[row] == LOCAL_FAILED and m.forwards.failcode[row] == 0x400A
    assert m.forwards.out_ch[row] == asked.idx  # the channel the onion named, as lightningd


def _hold_one(m: Market) -> list[HeldHtlc]:
    while True:
        m.advance(m.now + 60)
        held = m.take_held()
        if held:
            for extra in held[1:]:
                m.release(extra, CONTINUE)
            return held[:1]


def _rebalance_held(**payments: Any) -> tuple[Any, Market, HeldHtlc, dict[str, Any]]:
    m = quiet_market(**payments)
    node = node_with_layer(m)
    m.htlc_hooked = True
    out_ch, in_ch = m.channels[0], m.channels[1]
    _, inv, _ = send_circular(node, out_ch, in_ch, 50_000, "rb")
    m.advance(m.now + 120)
    [held] = m.take_held()
    assert held.final and held.in_channel == in_ch.idx and held.forward_to is None
    assert isinstance(held.onion, OnionPayload) and held.onion.payment_secret is not None
    return node, m, held, inv


def test_our_rebalance_arriving_home_is_shown_to_the_hook_and_can_be_failed() -> None:
    node, m, held, inv = _rebalance_held(success_rate=1.0)
    m.release(held, Verdict("fail", failure_message=bytes.fromhex("2002")))
    notes = m.advance(m.now + 1)
    [failure] = [p for t, p in notes if t == "sendpay_failure"]
    data = failure["data"]
    assert data["failcode"] == 0x2002 and data["raw_message"] == "2002"
    assert data["erring_node"] == m.node_id and data["erring_index"] == len(held_route(node))
    assert call(TABLE, node, "listinvoices", {"label": "rb"})["invoices"][0]["status"] == "unpaid"
    assert m.ledger()["rebalances_failed"] == 1 and m.rebalance_cost_msat == 0


def held_route(node: Any) -> list[Any]:
    return list(node.market.payments.payments[-1].route)


def test_a_resolved_rebalance_completes_and_leaves_the_invoice_unpaid() -> None:
    node, m, held, inv = _rebalance_held(success_rate=1.0)
    preimage = m.payments.invoice_by_hash(inv["payment_hash"]).preimage
    m.release(held, Verdict("resolve", payment_key=preimage))
    notes = m.advance(m.now + 1)
    # The coin moves of the HTLCs in and out, then the payment's success.
    assert [t for t, _ in notes] == ["coin_movement", "coin_movement", "sendpay_success"]
    pay = call(TABLE, node, "listsendpays", {"payment_hash": inv["payment_hash"]})
    assert pay["payments"][0]["status"] == "complete"
    assert call(TABLE, node, "listinvoices", {"label": "rb"})["invoices"][0]["status"] == "unpaid"
    assert m.ledger()["rebalances_succeeded"] == 1


def test_continue_pays_the_invoice_as_without_a_hook() -> None:
    node, m, held, inv = _rebalance_held(success_rate=1.0)
    m.release(held, CONTINUE)
    notes = m.advance(m.now + 1)
    assert [t for t, _ in notes] == ["coin_movement", "coin_movement", "invoice_payment",
                                     "sendpay_success"]
    assert call(TABLE, node, "listinvoices", {"label": "rb"})["invoices"][0]["status"] == "paid"
