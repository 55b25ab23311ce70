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
    from_groups,
    page_changes,
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


def test_groups_credit_the_incoming_and_the_outgoing_channel():
    groups = [
        # day, in, out, status, liquidity failure, count, sum in, sum out, sum fee
        (D0, A, B, 1, 0, 2, 2_002_000, 2_000_000, 2000),   # settled A -> B
        (D0, A, B, 2, 0, 1, 1_001_000, 1_000_000, 1000),   # failed downstream
        (D0, C, B, 3, 1, 3, 900, 0, 0),                    # B had no liquidity
        (D0, C, None, 3, 0, 1, 100, 0, 0),                 # failed before an out channel
        (D0, B, A, 0, 0, 4, 400, 300, 100),                # in flight: nowhere yet
        (D0 + 1, B, A, 1, 0, 1, 5_000_500, 5_000_000, 500),
    ]
    got = {(b.day, b.scid): b.totals for b in from_groups(groups)}
    assert got == {
        (D0, A): Totals(in_volume_msat=2_002_000, settled_in=2, failed_in=1),
        (D0, B): Totals(out_volume_msat=2_000_000, fees_msat=2000, settled_out=2, failed_out=1,
                        local_failed_out=3, liquidity_failed_out=3),
        (D0, C): Totals(local_failed_in=4),
        (D0 + 1, B): Totals(in_volume_msat=5_000_500, settled_in=1),
        (D0 + 1, A): Totals(out_volume_msat=5_000_000, fees_msat=500, settled_out=1),
    }


def test_bucket_delta_counts_changes_only():
    old = [DayBucket(D0, B, Totals(settled_in=1, fees_msat=100, liquidity_failed_out=2))]
    new = [DayBucket(D0, B, Totals(settled_in=2, fees_msat=250, liquidity_failed_out=2)),
           DayBucket(D0, C, Totals(local_failed_in=1))]
    d = bucket_delta(old, new)
    assert d == BucketDelta({B: 150}, {}, {"settled": 1, "local_failed": 1})
    assert bucket_delta(new, new).empty
    assert (d + d).fees_msat == {B: 300}


def vec(**kw: int) -> list[int]:
    return list(Totals(**kw).values())


def test_page_changes_add_new_rows_and_take_back_stored_versions():
    offered = to_rows([fwd(6, A, C, "offered", 1000, 900, T0 + 5)])[0]
    settled = to_rows([fwd(6, A, C, "settled", 1000, 900, T0 + 5, updated=4)])[0]
    liq = to_rows([fwd(7, C, B, "local_failed", 500, None, T0 + 9, failcode=4103)])[0]
    # New rows count once each; an in-flight one counts nowhere.
    assert page_changes([offered, liq], {}) == {
        (D0, C): vec(local_failed_in=1), (D0, B): vec(local_failed_out=1,
                                                     liquidity_failed_out=1)}
    # It settles: the stored (offered) version took nothing, the new one adds.
    assert page_changes([settled], {6: offered}) == {
        (D0, A): vec(in_volume_msat=1000, settled_in=1),
        (D0, C): vec(out_volume_msat=900, fees_msat=100, settled_out=1)}
    # Listed again as it is stored: nothing changes.
    assert page_changes([settled], {6: settled}) == {}
    # An older listing than what is stored is ignored, as the store ignores it.
    assert page_changes([offered], {6: settled}) == {}
    # Days before from_day are final.
    assert page_changes([settled], {6: offered}, from_day=D0 + 1) == {}


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
    delta = store.flow_store_page(rows, SyncState(created=6, low=1, target=6)).get()
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
    delta = store.flow_store_page(to_rows([settled]),
                                  SyncState(created=6, updated=4, low=1)).get()
    assert delta == BucketDelta({C: 100}, {}, {"settled": 1})
    got = buckets(store)
    assert got[(D0, C)] == Totals(local_failed_in=2, out_volume_msat=900, fees_msat=100,
                                  settled_out=1)
    assert got[(D0, A)] == Totals(in_volume_msat=1_002_000, settled_in=2, failed_in=1)
    assert store.flow_forward_count().get() == 6
    # Recomputed from scratch, the buckets are the same.
    assert store.flow_rebuild_days([D0, D0 + 1]).get().empty
    assert buckets(store) == got


def test_a_page_stored_twice_is_stored_once(store):
    rows = to_rows(day_forwards())
    state = SyncState(created=6, low=1, target=6)
    store.flow_store_page(rows, state).get()
    before = buckets(store)
    assert store.flow_store_page(rows, state).get().empty
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
    before = buckets(store)
    # No incoming channel: the database refuses the row, and the whole page.
    broken = to_rows(day_forwards()[3:]) + [(99, None, None, None, 1, None, None, 0, None,
                                              T0, None)]
    with pytest.raises(StorageError):
        store.flow_store_page(broken, SyncState(created=99, low=1, target=99)).get()
    assert store.flow_sync_state().get() == good
    assert [f.created_index for f in store.flow_forwards(1, 100).get()] == [1, 2, 3]
    assert buckets(store) == before


def test_pruned_days_keep_their_buckets_forever(store):
    store.flow_store_page(to_rows(day_forwards()), SyncState(created=6, low=1)).get()
    before = buckets(store)
    state = SyncState(created=6, low=1, raw_from_day=D0 + 1)
    assert store.flow_prune(D0 + 1, state).get() == 5  # the five of day D0
    assert store.flow_sync_state().get().raw_from_day == D0 + 1
    assert [f.created_index for f in store.flow_forwards(1, 10).get()] == [5]
    assert buckets(store) == before
    # A late listing of a pruned day's forward does not rebuild that day.
    late = fwd(2, A, B, "settled", 2_002_000, 2_000_000, T0 + 11 * HOUR, updated=7)
    assert store.flow_store_page(to_rows([late]), state).get().empty
    assert buckets(store) == before
