"""Daily buckets: day arithmetic and windows (pure), and bucketing real
forwards through the StoreActor on hand-computed cases."""

from __future__ import annotations

import pytest

from revops.flow.buckets import (
    ZERO,
    BucketDelta,
    DayBucket,
    Totals,
    bucket_delta,
    contiguous_ranges,
    day_of,
    day_start,
    merge_sides,
    window_span_days,
    window_start_day,
    window_totals,
)
from revops.flow.forwards import to_rows
from revops.flow.sync import SyncState
from revops.storage.errors import StorageError
from tests.flow.conftest import D0, DAY, HOUR, T0, fwd

A, B, C = "100x1x0", "200x2x0", "300x3x0"


def test_days_and_windows():
    assert day_of(T0) == D0 and day_of(T0 + DAY - 0.001) == D0 and day_of(T0 + DAY) == D0 + 1
    assert day_start(D0) == T0
    # 30 days at 06:00: the 30 previous whole days and today's quarter.
    now = T0 + 6 * HOUR
    assert window_start_day(now, 30) == D0 - 30
    assert window_span_days(now, 30) == pytest.approx(30.25)
    assert window_span_days(T0, 7) == 7.0


def test_contiguous_ranges():
    assert contiguous_ranges([9, 3, 4, 5, 4]) == [(3, 5), (9, 9)]
    assert contiguous_ranges([]) == []


def test_merge_sides_puts_both_sides_of_a_channel_in_one_bucket():
    out_side = [(D0, B, 1_000_000, 1000, 1, 1, 1, 1)]
    in_side = [(D0, A, 1_001_000, 1, 1, 0), (D0, B, 7, 1, 0, None)]
    got = {b.scid: b.totals for b in merge_sides(out_side, in_side)}
    assert got[A] == Totals(in_volume_msat=1_001_000, settled_in=1, failed_in=1)
    assert got[B] == Totals(in_volume_msat=7, settled_in=1, out_volume_msat=1_000_000,
                            fees_msat=1000, settled_out=1, failed_out=1, local_failed_out=1,
                            liquidity_failed_out=1)


def test_bucket_delta_counts_changes_only():
    old = [DayBucket(D0, B, Totals(settled_in=1, fees_msat=100, liquidity_failed_out=2))]
    new = [DayBucket(D0, B, Totals(settled_in=2, fees_msat=250, liquidity_failed_out=2)),
           DayBucket(D0, C, Totals(local_failed_in=1))]
    d = bucket_delta(old, new)
    assert d == BucketDelta({B: 150}, {}, {"settled": 1, "local_failed": 1})
    assert bucket_delta(new, new).empty
    assert (d + d).fees_msat == {B: 300}


def test_window_totals_sum_days_from_the_start_day():
    bs = [DayBucket(D0 - 2, A, Totals(fees_msat=1)), DayBucket(D0 - 1, A, Totals(fees_msat=10)),
          DayBucket(D0, A, Totals(fees_msat=100)), DayBucket(D0, B, Totals(settled_out=3))]
    assert window_totals(bs, D0 - 1) == {A: Totals(fees_msat=110), B: Totals(settled_out=3)}
    assert window_totals(bs, D0 + 1) == {}
    assert sum(window_totals(bs, D0 - 5).values(), ZERO).fees_msat == 111


# -- through the StoreActor, on a real database -------------------------------------

def day_forwards():
    return [
        fwd(1, A, B, "settled", 1_001_000, 1_000_000, T0 + 10 * HOUR, updated=1),
        fwd(2, A, B, "failed", 2_002_000, 2_000_000, T0 + 11 * HOUR, updated=2),
        fwd(3, C, B, "local_failed", 500_000, None, T0 + 12 * HOUR, failcode=4103),
        fwd(4, C, None, "local_failed", 300_000, None, T0 + 13 * HOUR, failcode=16394),
        fwd(5, B, A, "settled", 3_000_300, 3_000_000, T0 + DAY + 0.5 * HOUR, updated=3),
        fwd(6, A, C, "offered", 1000, 900, T0 + DAY - 1.0),
    ]


def buckets(store, first=D0 - 1, last=D0 + 5):
    totals = {}
    for scid in (A, B, C):
        for b in store.flow_channel_buckets(scid, first).get():
            if b.day <= last:
                totals[(b.day, b.scid)] = b.totals
    return totals


def test_hand_computed_day_buckets(store):
    rows = to_rows(day_forwards())
    store.flow_store_page(rows, SyncState(created=6, low=1, target=6)).get()
    delta = store.flow_rebuild_dirty(0).get()
    got = buckets(store)
    assert got == {
        (D0, A): Totals(in_volume_msat=1_001_000, settled_in=1, failed_in=1),
        (D0, B): Totals(out_volume_msat=1_000_000, fees_msat=1000, settled_out=1, failed_out=1,
                        local_failed_out=1, liquidity_failed_out=1),
        (D0, C): Totals(local_failed_in=2),
        (D0 + 1, B): Totals(in_volume_msat=3_000_300, settled_in=1),
        (D0 + 1, A): Totals(out_volume_msat=3_000_000, fees_msat=300, settled_out=1),
    }
    assert delta.fees_msat == {B: 1000, A: 300}
    assert delta.liquidity_failed == {B: 1}
    assert delta.forwards == {"settled": 2, "failed": 1, "local_failed": 2}
    windows = store.flow_window_totals([D0 + 1, D0]).get()
    assert windows[D0 + 1] == {A: Totals(out_volume_msat=3_000_000, fees_msat=300, settled_out=1),
                               B: Totals(in_volume_msat=3_000_300, settled_in=1)}
    assert windows[D0][B].fees_msat == 1000 and windows[D0][A].fees_msat == 300

    # The in-flight forward settles: its day is rebuilt, in place.
    settled = fwd(6, A, C, "settled", 1000, 900, T0 + DAY - 1.0, updated=4)
    store.flow_store_page(to_rows([settled]), SyncState(created=6, updated=4, low=1)).get()
    delta = store.flow_rebuild_dirty(0).get()
    assert delta == BucketDelta({C: 100}, {}, {"settled": 1})
    got = buckets(store)
    assert got[(D0, C)] == Totals(local_failed_in=2, out_volume_msat=900, fees_msat=100,
                                  settled_out=1)
    assert got[(D0, A)] == Totals(in_volume_msat=1_002_000, settled_in=2, failed_in=1)
    assert store.flow_forward_count().get() == 6


def test_a_page_stored_twice_is_stored_once(store):
    rows = to_rows(day_forwards())
    state = SyncState(created=6, low=1, target=6)
    store.flow_store_page(rows, state).get()
    store.flow_rebuild_dirty(0).get()
    before = buckets(store)
    store.flow_store_page(rows, state).get()
    assert store.flow_rebuild_dirty(0).get().empty
    assert buckets(store) == before
    assert store.flow_forward_count().get() == 6


def test_an_older_listing_never_undoes_a_newer_status(store):
    newer = fwd(6, A, C, "settled", 1000, 900, T0, updated=9)
    older = fwd(6, A, C, "offered", 1000, 900, T0)
    store.flow_store_page(to_rows([newer]), SyncState()).get()
    store.flow_store_page(to_rows([older]), SyncState()).get()
    (f,) = store.flow_forwards(1, 10).get()
    assert f.status_name == "settled" and f.updated_index == 9


def test_a_failed_page_leaves_rows_and_cursor_as_they_were(store):
    good = SyncState(created=6, low=1, target=6)
    store.flow_store_page(to_rows(day_forwards()[:3]), good).get()
    # No incoming channel: the database refuses the row, and the whole page.
    broken = to_rows(day_forwards()[3:]) + [(99, None, None, None, 1, None, None, 0, None,
                                              T0, None)]
    with pytest.raises(StorageError):
        store.flow_store_page(broken, SyncState(created=99, low=1, target=99)).get()
    assert store.flow_sync_state().get() == good
    assert [f.created_index for f in store.flow_forwards(1, 100).get()] == [1, 2, 3]


def test_pruned_days_keep_their_buckets_forever(store):
    store.flow_store_page(to_rows(day_forwards()), SyncState(created=6, low=1)).get()
    store.flow_rebuild_dirty(0).get()
    before = buckets(store)
    state = SyncState(created=6, low=1, raw_from_day=D0 + 1)
    assert store.flow_prune(D0 + 1, state).get() == 5  # the five of day D0
    assert store.flow_sync_state().get().raw_from_day == D0 + 1
    assert [f.created_index for f in store.flow_forwards(1, 10).get()] == [5]
    assert buckets(store) == before
    # A late listing of a pruned day's forward does not rebuild that day.
    late = fwd(2, A, B, "settled", 2_002_000, 2_000_000, T0 + 11 * HOUR, updated=7)
    store.flow_store_page(to_rows([late]), state).get()
    assert store.flow_rebuild_dirty(D0 + 1).get().empty
    assert buckets(store) == before
