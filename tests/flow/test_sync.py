"""The sync planner: which listforwards page comes next, and where the
cursor stands after it (pure)."""

from __future__ import annotations

from revops.flow.sync import (
    Page,
    SyncState,
    advance,
    begin,
    history_page,
    new_page,
    updates_page,
)

NOW = 1_767_225_600.0


def test_begin_takes_the_node_indexes_as_the_split_between_history_and_new():
    s = begin(12_345, 10_000, NOW)
    assert (s.created, s.updated, s.low, s.target) == (12_345, 10_000, 12_346, 12_345)
    assert s.begun and s.hydrating and s.remaining() == 12_345 and s.hydrated_rows == 0
    empty = begin(0, 0, NOW)
    assert empty.begun and not empty.hydrating and empty.hydrated_at == int(NOW)


def test_history_goes_backwards_in_pages_to_index_1():
    s = begin(12_345, 0, NOW)
    starts = []
    while (page := history_page(s, 5000)) is not None:
        starts.append((page.start, page.limit))
        s = advance(s, page, [], NOW)
    assert starts == [(7346, 5000), (2346, 5000), (1, 2345)]
    assert not s.hydrating and s.hydrated_rows == 12_345 and s.hydrated_at == int(NOW)
    assert s.created == 12_345  # the top is untouched by history


def test_new_and_updated_pages_start_after_the_cursor():
    s = SyncState(created=10, updated=4, low=1, target=10)
    assert new_page(s, 100) == Page("created", 11, 100, "new")
    assert updates_page(s, 100) == Page("updated", 5, 100, "updates")
    assert new_page(s, 100).params() == {"index": "created", "start": 11, "limit": 100}
    s = advance(s, new_page(s, 100), [{"created_index": 11}, {"created_index": 13}], NOW)
    assert s.created == 13
    s = advance(s, updates_page(s, 100), [{"updated_index": 9, "created_index": 2}], NOW)
    assert s.updated == 9
    # Entries without the index (nothing usable) leave the cursor where it was.
    assert advance(s, updates_page(s, 100), [{"created_index": 3}], NOW) == s


def test_lag_counts_history_left_and_new_forwards():
    s = SyncState(created=100, low=41, target=100)
    assert s.lag(130) == 30 + 40
    assert SyncState().lag(50) == 50
    assert SyncState(created=100, low=1, target=100).lag(None) == 0


def test_cursor_round_trip():
    s = SyncState(created=5, updated=3, low=2, target=5, raw_from_day=20000, hydrated_at=7)
    assert SyncState.from_cursor(s.as_cursor()) == s
    assert SyncState.from_cursor({"created": 4, "bogus": 1}) == SyncState(created=4)
