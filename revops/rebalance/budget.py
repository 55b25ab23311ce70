"""Budget arithmetic (pure, integer msat): what rebalancing may still spend.

Windows are rolling: a daily one (the last 24 hours) and an optional weekly
one (the last 7 days, when its limit is not 0). In each window, *spent* is
the fees of jobs settled in it and *reserved* the fees held by jobs not
settled yet (a reservation counts in every window until it is settled or
released). A new reservation is allowed only if, in every window,
``spent + reserved + new <= limit``; settling replaces a reservation by
its actual fee, which is never more than what was reserved (the route's fee
is fixed when it is reserved), so the invariant holds at all times.

The facts come from the database (``budget_rows``) and the decision is
taken in the coordinator's single thread, in the same StoreActor
transaction that inserts the reservation: parallel jobs and restarts cannot
slip past it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

DAY = 86400.0
WEEK = 7 * DAY


@dataclass(frozen=True)
class BudgetParams:
    daily_msat: int = 5_000_000
    weekly_msat: int = 0  # 0: no weekly window

    @classmethod
    def from_config(cls, cfg: Any) -> BudgetParams:
        return cls(int(cfg["rebalance-budget-daily-sats"]) * 1000,
                   int(cfg["rebalance-budget-weekly-sats"]) * 1000)

    def windows(self) -> list[tuple[str, float, int]]:
        out = [("daily", DAY, self.daily_msat)]
        if self.weekly_msat > 0:
            out.append(("weekly", WEEK, self.weekly_msat))
        return out


@dataclass(frozen=True)
class Spend:
    """A settled job's fee, when it was settled."""

    at: float
    msat: int


@dataclass(frozen=True)
class Window:
    name: str
    seconds: float
    limit_msat: int
    spent_msat: int
    reserved_msat: int

    @property
    def remaining_msat(self) -> int:
        return max(0, self.limit_msat - self.spent_msat - self.reserved_msat)

    def as_dict(self) -> dict[str, Any]:
        return {"window": self.name, "hours": self.seconds / 3600,
                "limit_msat": self.limit_msat, "spent_msat": self.spent_msat,
                "reserved_msat": self.reserved_msat, "remaining_msat": self.remaining_msat}


@dataclass(frozen=True)
class Usage:
    windows: tuple[Window, ...]

    @property
    def remaining_msat(self) -> int:
        """What one more reservation may hold (the tightest window)."""
        return min(w.remaining_msat for w in self.windows)

    def refusal(self, amount_msat: int) -> str | None:
        """Why a reservation of ``amount_msat`` would break a window (None: it fits)."""
        if amount_msat < 0:
            return "negative reservation"
        for w in self.windows:
            if w.spent_msat + w.reserved_msat + amount_msat > w.limit_msat:
                return (f"{w.name} budget: {w.spent_msat} msat spent + {w.reserved_msat} "
                        f"reserved + {amount_msat} would exceed {w.limit_msat} msat")
        return None


def usage(spends: Iterable[Spend], reserved_msat: int, now: float, p: BudgetParams) -> Usage:
    """Every window's figures at ``now``."""
    spends = list(spends)
    out = []
    for name, seconds, limit in p.windows():
        spent = sum(s.msat for s in spends if s.at > now - seconds and s.at <= now)
        out.append(Window(name, seconds, limit, spent, reserved_msat))
    return Usage(tuple(out))


def settle(reserved_msat: int, actual_msat: int) -> int:
    """What a settled job spends: its actual fee. More than it reserved is a
    bug upstream (the route's fee was fixed when reserved), and is still
    counted in full: the budget reports what was paid, never less."""
    if actual_msat < 0:
        raise ValueError("a fee is never negative")
    return actual_msat


def stale(reserved_at: float, now: float, timeout: float, in_flight: bool) -> bool:
    """A reservation is stale once ``timeout`` has passed and lightningd
    holds no payment for it in flight (a pending payment can still spend)."""
    return not in_flight and now - reserved_at >= timeout
