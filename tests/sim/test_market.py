"""The market model: determinism, elasticity, liquidity, slots, enforcedelay,
fees, channels closing and opening mid-run, notifications."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from typing import Any

import pytest

from revops.sim.market import (
    FAILED,
    LOCAL_FAILED,
    OFFERED,
    SETTLED,
    WIRE_FEE_INSUFFICIENT,
    WIRE_TEMPORARY_CHANNEL_FAILURE,
    WIRE_UNKNOWN_NEXT_PEER,
    Market,
    fee_msat,
)
from revops.sim.scenario import DAY, Spike, default_scenario, generate_scenario
from revops.sim.schemas import validate_notification
from tests.sim.market_fixtures import two_channel_scenario, with_channel

HOUR = 3600.0


@pytest.mark.parametrize("amount,base,ppm,fee", [
    (1_000_000, 1000, 10, 1010),        # CLN's default on 1000 sat
    (999_999, 0, 1, 0),                 # the proportional part rounds down
    (12_345_678, 1, 250, 3087),         # 12_345_678 * 250 // 1e6 = 3086, + 1
    (100_000_000_000, 0, 5000, 500_000_000),
    (1, 5, 4_000_000_000, 4005),        # u32 ppm, no float anywhere
])
def test_fee_arithmetic_matches_cln(amount: int, base: int, ppm: int, fee: int) -> None:
    assert fee_msat(amount, base, ppm) == fee
    assert isinstance(fee_msat(amount, base, ppm), int)


def run_days(m: Market, days: float, step_h: float = 6.0) -> list[tuple[str, dict[str, Any]]]:
    notes: list[tuple[str, dict[str, Any]]] = []
    end = m.now + days * DAY
    while m.now < end:
        notes.extend(m.advance(min(end, m.now + step_h * HOUR)))
    return notes


def test_same_seed_same_run_different_seed_differs() -> None:
    runs = []
    for seed in (7, 7, 8):
        m = Market(default_scenario(), seed)
        notes = run_days(m, 1.0)
        runs.append((m.report(), notes))
    assert runs[0] == runs[1]
    assert runs[0][0]["forwards_settled"] > 500
    assert runs[0][0] != runs[2][0]
    assert runs[0][1] != runs[2][1]


def test_step_size_does_not_change_the_run() -> None:
    a, b = Market(default_scenario(), 3), Market(default_scenario(), 3)
    notes_a = run_days(a, 0.5, step_h=0.25)
    notes_b = run_days(b, 0.5, step_h=12)
    assert notes_a == notes_b and a.report() == b.report()


def test_settled_forwards_pay_the_out_channels_fee_and_balances_move() -> None:
    s = two_channel_scenario(gossip_delay_s=0, out_kw={"fee_base_msat": 500, "fee_ppm": 123})
    m = Market(s, 1)
    cin, cout = m.channel_by_name("in"), m.channel_by_name("out")
    before = (cin.to_us_msat, cout.to_us_msat)
    m.advance(m.now + HOUR)
    st = m.forwards
    settled = [r for r in range(len(st)) if st.status[r] == SETTLED]
    assert settled
    for r in settled:
        assert st.in_msat[r] - st.out_msat[r] == fee_msat(st.out_msat[r], 500, 123)
    moved_out = sum(st.out_msat[r] for r in settled)
    moved_in = sum(st.in_msat[r] for r in settled)
    assert cout.to_us_msat == before[1] - moved_out
    assert cin.to_us_msat == before[0] + moved_in
    assert m.report()["revenue_msat"] == moved_in - moved_out == cout.revenue_msat


def settled_out(m: Market, name: str) -> int:
    return m.channel_by_name(name).settled_out


def test_elasticity_high_fee_kills_volume_low_fee_raises_it() -> None:
    s = two_channel_scenario(rate_per_day=3000, alt_ppm=300, alt_sigma=0.3)
    volumes = {}
    for ppm in (10, 250, 400, 3000):
        m = Market(with_channel(s, "out", fee_ppm=ppm), 11)
        m.advance(m.now + 0.5 * DAY)
        volumes[ppm] = settled_out(m, "out")
    assert volumes[10] > 400
    assert volumes[10] >= volumes[250] > volumes[400] > volumes[3000]
    assert volumes[3000] <= volumes[10] * 0.02
    # Lowering a fee mid-run brings the demand back.
    m = Market(with_channel(s, "out", fee_ppm=3000), 11)
    m.advance(m.now + 0.25 * DAY)
    high = settled_out(m, "out")
    m.set_channel(m.channel_by_name("out"), None, 50, None, None, 600, None)
    m.advance(m.now + 0.25 * DAY)
    assert settled_out(m, "out") - high > 10 * max(1, high)


def test_liquidity_exhaustion_fails_4103_and_conserves_capacity() -> None:
    s = two_channel_scenario(rate_per_day=5000, out_kw={"local_sat": 600_000})
    m = Market(s, 2)
    start_total = sum(c.to_us_msat for c in m.channels)
    cout = m.channel_by_name("out")
    for _ in range(24):
        m.advance(m.now + HOUR)
        for c in m.channels:
            assert 0 <= c.to_us_msat <= c.capacity_msat
            assert c.to_us_msat + c.to_them_msat == c.capacity_msat
            assert c.in_flight_out_msat <= max(0, c.to_us_msat - c.reserve_msat)
        assert cout.to_us_msat >= min(600_000_000, cout.reserve_msat)
    st = m.forwards
    codes = Counter(st.failcode[r] for r in range(len(st)) if st.status[r] == LOCAL_FAILED)
    assert codes[WIRE_TEMPORARY_CHANNEL_FAILURE] > 50
    # Money only appears as fees: our total balance grew by exactly the revenue.
    assert sum(c.to_us_msat for c in m.channels) - start_total == m.report()["revenue_msat"]
    assert cout.spendable_msat() < 100_000_000


def test_congested_channel_fails_for_lack_of_slots() -> None:
    s = two_channel_scenario(rate_per_day=1000, out_kw={"max_accepted_htlcs": 12,
                                                        "background_htlcs": 12})
    m = Market(s, 3)
    m.advance(m.now + 0.2 * DAY)
    st = m.forwards
    statuses = Counter(st.status)
    assert statuses[LOCAL_FAILED] > 2 * statuses[SETTLED] > 0
    assert {st.failcode[r] for r in range(len(st))} - {0} == {WIRE_TEMPORARY_CHANNEL_FAILURE}
    free = Market(with_channel(s, "out", background_htlcs=0), 3)
    free.advance(free.now + 0.2 * DAY)
    assert Counter(free.forwards.status)[LOCAL_FAILED] == 0


def test_enforcedelay_keeps_the_old_fee_for_stale_senders() -> None:
    s = two_channel_scenario(rate_per_day=40_000, gossip_delay_s=300,
                             out_kw={"fee_ppm": 10}, alt_ppm=5000)
    results = {}
    for delay in (600, 0):
        m = Market(s, 4)
        m.advance(m.now + 600)
        first = len(m.forwards)
        m.set_channel(m.channel_by_name("out"), None, 2000, None, None, delay, None)
        m.advance(m.now + 200)  # senders still see 10 ppm
        st = m.forwards
        rows = range(first, len(st))
        results[delay] = Counter((st.status[r], st.failcode[r]) for r in rows)
        paid_old = [r for r in rows if st.out_msat[r]
                    and st.in_msat[r] - st.out_msat[r] == fee_msat(st.out_msat[r], 1000, 10)]
        if delay:
            assert len(paid_old) > 30  # accepted at the old fee
    assert results[600][(LOCAL_FAILED, WIRE_FEE_INSUFFICIENT)] == 0
    assert results[0][(LOCAL_FAILED, WIRE_FEE_INSUFFICIENT)] > 30
    assert results[0][(SETTLED, 0)] == 0
    # Once gossip carries the new fee, senders pay it and nothing fails for fees.
    m = Market(s, 4)
    m.set_channel(m.channel_by_name("out"), None, 2000, None, None, 0, None)
    m.advance(m.now + 900)
    first = len(m.forwards)
    m.advance(m.now + 600)
    st = m.forwards
    assert all(st.failcode[r] != WIRE_FEE_INSUFFICIENT for r in range(first, len(st)))
    assert any(st.out_msat[r] and st.in_msat[r] - st.out_msat[r]
               == fee_msat(st.out_msat[r], 1000, 2000) for r in range(first, len(st)))


def test_fee_decrease_applies_at_once_and_fee_updates_counted() -> None:
    m = Market(two_channel_scenario(out_kw={"fee_ppm": 500}), 5)
    out = m.channel_by_name("out")
    m.set_channel(out, None, 100, None, None, 600, None)
    assert out.accepts_fee(1_000_000, fee_msat(1_000_000, 1000, 100), m.now)
    assert out.old_until < m.now  # no grace period for a decrease
    m.set_channel(out, None, 100, None, None, 600, None)  # same values: no update
    m.set_channel(out, 1000, None, 5000, None, 600, None)  # htlcmin only: no fee update
    assert (out.fee_updates, m.fee_updates) == (1, 1)
    m.set_channel(out, 2000, 300, None, None, 600, None)
    assert m.report()["fee_updates"] == 2
    assert not out.accepts_fee(1_000_000, fee_msat(1_000_000, 1000, 100) - 1, m.now)


def test_notifications_validate_and_forwards_fire_on_insert_and_update() -> None:
    s = replace(default_scenario(), feerates=replace(default_scenario().feerates,
                                                     spikes=(Spike(0.0, 12.0, 10.0),)))
    m = Market(s, 9)
    base_rate = m.feerate_perkb(m.now + DAY)
    notes = m.advance(m.now + 6 * HOUR)
    assert m.feerate_perkb() >= 5 * base_rate  # inside the spike
    topics = Counter(t for t, _ in notes)
    assert topics["block_added"] == 36 and topics["forward_event"] > 100
    for topic, payload in notes:
        validate_notification(topic, payload)
    heights = [p["height"] for t, p in notes if t == "block_added"]
    assert heights == list(range(heights[0], heights[0] + 36))
    events: dict[str, list[dict[str, Any]]] = {}
    for topic, p in notes:
        if topic == "forward_event":
            events.setdefault(p["payment_hash"], []).append(p)
    for evs in events.values():
        first = evs[0]
        assert "created_index" in first and "updated_index" not in first
        if first["status"] == "offered":
            if len(evs) == 2:
                assert "updated_index" in evs[1] and "created_index" not in evs[1]
                assert evs[1]["status"] in ("settled", "failed")
                assert "resolved_time" in evs[1]
        else:
            assert first["status"] == "local_failed" and len(evs) == 1
            assert "out_msat" not in first and "resolved_time" not in first


def test_channel_closes_mid_run_as_cln_does() -> None:
    s = two_channel_scenario(rate_per_day=20_000, gossip_delay_s=120,
                             out_kw={"close_at_day": 0.1, "close_cause": "remote"})
    m = Market(s, 6)
    notes = m.advance(m.now + 0.1 * DAY + 60)
    out = m.channel_by_name("out")
    states = [(p["old_state"], p["new_state"], p["cause"]) for t, p in notes
              if t == "channel_state_changed"]
    assert states == [("CHANNELD_NORMAL", "CHANNELD_SHUTTING_DOWN", "remote"),
                      ("CHANNELD_SHUTTING_DOWN", "CLOSINGD_SIGEXCHANGE", "remote"),
                      ("CLOSINGD_SIGEXCHANGE", "CLOSINGD_COMPLETE", "remote")]
    st = m.forwards
    close_t = m.start_time + 0.1 * DAY
    late = [r for r in range(len(st)) if st.received[r] >= close_t]
    # Senders keep trying until the disabling update reaches them: 16394.
    assert late and all(st.status[r] == LOCAL_FAILED
                        and st.failcode[r] == WIRE_UNKNOWN_NEXT_PEER for r in late)
    notes = m.advance(m.now + 2 * HOUR)
    states = [(p["old_state"], p["new_state"]) for t, p in notes if t == "channel_state_changed"]
    assert states == [("CLOSINGD_COMPLETE", "FUNDING_SPEND_SEEN"), ("FUNDING_SPEND_SEEN", "ONCHAIN")]
    assert not any(st.received[r] > close_t + 300 for r in range(len(st)))  # never routed
    assert out.listed() and out.state == "ONCHAIN"
    notes = m.advance(m.now + 100 * 600)
    assert [(p["old_state"], p["new_state"]) for t, p in notes
            if t == "channel_state_changed"] == [("ONCHAIN", "CLOSED")]
    assert not out.listed() and out.scid not in [c.scid for c in m.listed_channels()]
    for topic, p in notes:
        validate_notification(topic, p)


def test_channel_opens_mid_run_and_starts_forwarding() -> None:
    s = two_channel_scenario(rate_per_day=5000, gossip_delay_s=60,
                             out_kw={"open_at_day": 0.05})
    m = Market(s, 7)
    out = m.channel_by_name("out")
    assert not out.listed() and out.scid is None
    notes = m.advance(m.start_time + 0.05 * DAY + 1)
    assert len(m.forwards) == 0
    opened = [p for t, p in notes if t == "channel_state_changed"]
    assert len(opened) == 1 and opened[0]["new_state"] == "CHANNELD_AWAITING_LOCKIN"
    assert "old_state" not in opened[0] and "short_channel_id" not in opened[0]
    validate_notification("channel_state_changed", opened[0])
    notes = m.advance(m.now + 3 * 600 + 1)
    locked = [p for t, p in notes if t == "channel_state_changed"]
    assert [(p["old_state"], p["new_state"]) for p in locked] == [
        ("CHANNELD_AWAITING_LOCKIN", "CHANNELD_NORMAL")]
    assert locked[0]["short_channel_id"] == out.scid
    assert int(out.scid.split("x")[0]) == out.funding_height
    m.advance(m.now + HOUR)
    assert out.settled_out > 20


def test_dev_open_and_close_of_a_default_channel() -> None:
    m = Market(default_scenario(), 1)
    ch = m.open_channel("newpeer", 2_000_000, 2_000_000, "local")
    sink = m.channel_by_name("sink-1")
    m.close_channel(sink, "user")
    notes = m.advance(m.now + 2 * HOUR)
    changes = [(p["channel_id"], p["new_state"]) for t, p in notes if t == "channel_state_changed"]
    assert (ch.channel_id, "CHANNELD_NORMAL") in changes
    assert (sink.channel_id, "ONCHAIN") in changes
    assert ch.state == "CHANNELD_NORMAL" and sink.state == "ONCHAIN"
    # The close paid our side out to the wallet, less the closing fee (we opened it).
    close = next(mv for mv in m.coin_moves.chain
                 if mv.tag == "channel_close" and mv.account == sink.channel_id)
    [deposit] = [o for o in m.outputs() if o["txid"] == close.spending_txid]
    fee_msat = close.debit - deposit["amount_msat"]
    assert close.debit == sink.to_us_msat and 0 < fee_msat < 1000 * (m.mutual_close_fee_sat() + 2)


def test_profile_shifts_demand() -> None:
    from revops.sim.scenario import RateChange
    s = two_channel_scenario(rate_per_day=2000)
    flow = replace(s.flows[0], profile=(RateChange(0.25, 0.0), RateChange(0.5, 3.0)))
    m = Market(replace(s, flows=(flow,)), 8)
    counts = []
    for _ in range(3):
        before = m.attempts
        m.advance(m.now + 0.25 * DAY)
        counts.append(m.attempts - before)
    assert counts[1] == 0
    assert counts[2] > 2 * counts[0] > 0


def test_rpc_faults_are_deterministic_and_spare_dev_methods() -> None:
    from revops.sim.scenario import Fault
    s = replace(two_channel_scenario(), faults=(Fault("listforwards", 0.5, -1, "boom", 0.25),))
    a, b = Market(s, 1), Market(s, 1)
    seq_a = [a.rpc_fault("listforwards") for _ in range(200)]
    seq_b = [b.rpc_fault("listforwards") for _ in range(200)]
    assert [(lat, e and e.message) for lat, e in seq_a] == [(lat, e and e.message) for lat, e in seq_b]
    errors = sum(1 for _, e in seq_a if e)
    assert 60 < errors < 140 and all(lat == 0.25 for lat, _ in seq_a)
    assert a.rpc_fault("getinfo") == (0.0, None)
    a.set_fault("*", 1.0, -5, "all down", 0.0, 60)
    assert a.rpc_fault("getinfo")[1].code == -5
    assert a.rpc_fault("dev-fault") == (0.0, None)
    a.advance(a.now + 61)
    assert a.rpc_fault("getinfo") == (0.0, None)


def test_historical_forwards_are_consistent() -> None:
    m = Market(generate_scenario(50, 30_000, 2), 2)
    st = m.forwards
    assert len(st) == 30_000
    assert all(st.received[r] < m.start_time for r in range(len(st)))
    assert all(st.received[r] < st.received[r + 1] for r in range(len(st) - 1))
    for r in range(0, len(st), 97):
        if st.status[r] == LOCAL_FAILED:
            assert st.updated[r] == 0 and st.out_msat[r] == 0
        else:
            assert st.upd_log[st.updated[r] - 1] == r
            assert st.status[r] in (SETTLED, FAILED)
    # Live forwards continue the htlc ids and indexes.
    ids = {(st.in_ch[r], st.in_htlc[r]) for r in range(len(st))}
    m.advance(m.now + HOUR)
    new = [(st.in_ch[r], st.in_htlc[r]) for r in range(30_000, len(st))]
    assert new and not ids & set(new)
    assert st.status[len(st) - 1] in (OFFERED, SETTLED, FAILED, LOCAL_FAILED)
