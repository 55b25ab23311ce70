"""The futility breaker (pure): a channel whose refills keep failing is left
alone for a while.

Each failed job counts against both its channels (a failing route may be
either side's fault), a success clears both. More than ``failures``
consecutive failures open the breaker for ``hours``; when it closes the
count starts again from zero, so one more failure does not reopen it at
once. The memory of a channel that closed is pruned.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class BreakerParams:
    failures: int = 10
    seconds: float = 48 * 3600.0

    @classmethod
    def from_config(cls, cfg: Any) -> BreakerParams:
        return cls(int(cfg["rebalance-breaker-failures"]),
                   float(cfg["rebalance-breaker-hours"]) * 3600.0)


@dataclass(frozen=True)
class BreakerState:
    scid: str
    failures: int = 0  # consecutive
    open_until: float | None = None

    def is_open(self, now: float) -> bool:
        return self.open_until is not None and self.open_until > now


def record(state: BreakerState, success: bool, now: float, p: BreakerParams) -> BreakerState:
    """The state after one more outcome."""
    if success:
        return BreakerState(state.scid)
    failures = state.failures
    if state.open_until is not None and state.open_until <= now:
        failures = 0  # served its time: count afresh
    failures += 1
    if failures > p.failures:
        return BreakerState(state.scid, 0, now + p.seconds)
    return BreakerState(state.scid, failures, state.open_until if state.is_open(now) else None)


def open_until(states: Mapping[str, BreakerState], now: float) -> dict[str, float]:
    """Channels whose breaker is open now, and until when."""
    return {s.scid: s.open_until for s in states.values()
            if s.open_until is not None and s.open_until > now}


def prune(states: Mapping[str, BreakerState], open_scids: Iterable[str]) -> list[str]:
    """The channels whose memory should go: not open any more."""
    keep = set(open_scids)
    return sorted(scid for scid in states if scid not in keep)
