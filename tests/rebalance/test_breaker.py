"""The futility breaker: trips after more than N consecutive failures, stays
open for its time, forgets on success, starts afresh after serving its time."""

from __future__ import annotations

from revops.rebalance.breaker import (
    BreakerParams,
    BreakerState,
    open_until,
    prune,
    record,
)

P = BreakerParams(failures=10, seconds=48 * 3600)
T = 1_000_000.0


def fail(state: BreakerState, n: int, at: float = T) -> BreakerState:
    for _ in range(n):
        state = record(state, False, at, P)
    return state


def test_ten_failures_do_not_trip_the_eleventh_does():
    s = fail(BreakerState("1x1x1"), 10)
    assert s.failures == 10 and not s.is_open(T)
    s = fail(s, 1)
    assert s.is_open(T) and s.open_until == T + 48 * 3600
    assert s.is_open(T + 48 * 3600 - 1) and not s.is_open(T + 48 * 3600)


def test_a_success_clears_the_count():
    s = fail(BreakerState("1x1x1"), 9)
    s = record(s, True, T, P)
    assert s == BreakerState("1x1x1")
    assert not fail(s, 10).is_open(T)


def test_after_serving_its_time_the_count_starts_again():
    s = fail(BreakerState("1x1x1"), 11)
    later = T + 48 * 3600 + 1
    s = fail(s, 1, later)
    assert not s.is_open(later) and s.failures == 1
    assert fail(s, 10, later).is_open(later)


def test_open_until_and_pruning_closed_channels():
    states = {"a": fail(BreakerState("a"), 11), "b": fail(BreakerState("b"), 3),
              "gone": fail(BreakerState("gone"), 11)}
    assert open_until(states, T) == {"a": T + P.seconds, "gone": T + P.seconds}
    assert prune(states, ["a", "b"]) == ["gone"]


def test_from_config():
    cfg = {"rebalance-breaker-failures": 3, "rebalance-breaker-hours": 2.5}
    assert BreakerParams.from_config(cfg) == BreakerParams(3, 9000.0)
