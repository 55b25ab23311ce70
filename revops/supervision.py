"""Restart budgets: how many times a crashed actor is restarted before its
parent gives up on it and escalates (pure; time passed in)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RestartBudget:
    """At most ``limit`` restarts within any ``window`` seconds."""

    limit: int
    window: float
    restarts: tuple[float, ...] = ()

    def recent(self, now: float) -> tuple[float, ...]:
        return tuple(t for t in self.restarts if now - t < self.window)

    def try_restart(self, now: float) -> tuple["RestartBudget", bool]:
        """Record a crash at ``now``: the new budget, and whether a restart
        is allowed (False means: escalate)."""
        recent = self.recent(now)
        if len(recent) >= self.limit:
            return RestartBudget(self.limit, self.window, recent), False
        return RestartBudget(self.limit, self.window, recent + (now,)), True

    def with_limits(self, limit: int, window: float) -> "RestartBudget":
        return RestartBudget(limit, window, self.restarts)
