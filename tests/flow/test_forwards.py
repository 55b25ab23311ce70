"""Normalising listforwards entries: what real nodes write, and worse."""

from __future__ import annotations

import pytest

from revops.flow.forwards import (
    FAILED,
    LOCAL_FAILED,
    OFFERED,
    SETTLED,
    WIRE_TEMPORARY_CHANNEL_FAILURE,
    Forward,
    msat,
    parse_forward,
    to_row,
    to_rows,
)

SETTLED_ENTRY = {
    "created_index": 7, "updated_index": 3, "in_channel": "100x1x0", "in_htlc_id": 1,
    "out_channel": "200x2x1", "out_htlc_id": 9, "in_msat": 1_000_500, "out_msat": 1_000_000,
    "fee_msat": 500, "status": "settled", "style": "tlv", "received_time": 1767225600.25,
    "resolved_time": 1767225601.5,
}


def test_settled_forward_keeps_every_figure_as_msat_integers():
    f = parse_forward(SETTLED_ENTRY)
    assert f == Forward(7, 3, "100x1x0", "200x2x1", 1_000_500, 1_000_000, 500, SETTLED, None,
                        1767225600.25, 1767225601.5)
    assert f.status_name == "settled" and not f.liquidity_failure
    assert all(isinstance(v, int) for v in (f.in_msat, f.out_msat, f.fee_msat))


def test_local_failure_without_out_channel_or_amounts():
    # What lightningd lists when it failed before choosing an outgoing channel.
    f = parse_forward({"created_index": 8, "in_channel": "100x1x0", "in_htlc_id": 2,
                       "in_msat": 5000, "status": "local_failed", "failcode": 16394,
                       "failreason": "WIRE_UNKNOWN_NEXT_PEER", "style": "tlv",
                       "received_time": 1767225700.0})
    assert f is not None
    assert (f.out_channel, f.out_msat, f.fee_msat, f.resolved_time) == (None, None, None, None)
    assert f.status == LOCAL_FAILED and f.failcode == 16394 and not f.liquidity_failure


def test_liquidity_failure_recognised_by_code_or_by_name():
    base = {"created_index": 9, "in_channel": "1x1x1", "out_channel": "2x2x2", "in_msat": 1,
            "status": "local_failed", "received_time": 1.0}
    assert parse_forward({**base, "failcode": WIRE_TEMPORARY_CHANNEL_FAILURE}).liquidity_failure
    assert parse_forward({**base, "failreason": "WIRE_TEMPORARY_CHANNEL_FAILURE"}).liquidity_failure
    # A downstream failure with the same code is not demand lost here.
    assert not parse_forward({**base, "status": "failed",
                              "failcode": WIRE_TEMPORARY_CHANNEL_FAILURE}).liquidity_failure


def test_nulls_strings_and_missing_fields_never_crash():
    f = parse_forward({"created_index": 10, "updated_index": None, "in_channel": "1x1x1",
                       "out_channel": None, "in_msat": "2500msat", "out_msat": "2000msat",
                       "fee_msat": None, "status": None, "received_time": None,
                       "resolved_time": "nonsense"})
    assert f == Forward(10, None, "1x1x1", None, 2500, 2000, 500, OFFERED, None, 0.0, None)


@pytest.mark.parametrize("bad_time", [float("nan"), float("inf"), -5.0, "x", True])
def test_a_bad_timestamp_reads_as_zero(bad_time):
    f = parse_forward({**SETTLED_ENTRY, "received_time": bad_time, "resolved_time": bad_time})
    assert f.received_time == 0.0 and f.resolved_time is None


def test_integer_timestamps_become_floats():
    f = parse_forward({**SETTLED_ENTRY, "received_time": 1767225600})
    assert f.received_time == 1767225600.0 and isinstance(f.received_time, float)


def test_fee_derived_from_amounts_when_absent():
    entry = dict(SETTLED_ENTRY)
    del entry["fee_msat"]
    assert parse_forward(entry).fee_msat == 500


@pytest.mark.parametrize("entry", [
    {"in_channel": "1x1x1", "status": "settled"},                       # no created_index
    {"created_index": 0, "in_channel": "1x1x1"},                        # not an index
    {"created_index": True, "in_channel": "1x1x1"},
    {"created_index": 3},                                               # no incoming channel
    {"created_index": "3", "in_channel": "1x1x1"},
])
def test_entries_without_key_or_incoming_channel_are_skipped(entry):
    assert to_row(entry) is None


def test_rows_keep_page_order_and_skip_unusable_entries():
    rows = to_rows([SETTLED_ENTRY, {"created_index": 3}, {**SETTLED_ENTRY, "created_index": 8,
                                                         "status": "failed"}])
    assert [(r[0], r[7]) for r in rows] == [(7, SETTLED), (8, FAILED)]
    assert Forward.from_row(rows[0]).as_row() == rows[0]


@pytest.mark.parametrize("raw,want", [(5, 5), ("7msat", 7), ("12", 12), (None, None),
                                      (True, None), ("1.5btc", None), (3.0, 3), (2.5, None)])
def test_msat(raw, want):
    assert msat(raw) == want
