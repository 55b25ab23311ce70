"""The one place revops reads time, and the simulated-clock protocol.

Everything else receives ``now`` in a message. A ``Clock`` is injected at
start: :class:`WallClock` on a real node, :class:`DrivenClock` when the
plugin runs under ``revops-sim``.

Simulated-clock protocol ("simclock"), spoken between ``revops-sim`` and
any plugin that wants simulated time (ours and the benchmark baselines):

- the sim starts the plugin with the environment variable
  ``REVOPS_SIMCLOCK`` set to the simulated time at launch (UNIX seconds, a
  decimal string), as lightningd passes ``LIGHTNINGD_PLUGIN`` and friends;
- a plugin that honours it registers the RPC method ``simclock-advance``
  (param ``now``) and answers it only once everything due at ``now`` has
  completed, with ``{"now": now, "next_wakeup": t or null}``;
- the sim calls it after each market step and waits for the answer before
  the market moves on, so a run is the same for the same seed however fast
  or slow the machine is. Without ``REVOPS_SIMCLOCK`` the method does not
  exist, so nothing of it reaches a real node.
"""

from __future__ import annotations

import os
import time
from typing import Protocol

SIMCLOCK_ENV = "REVOPS_SIMCLOCK"
SIMCLOCK_METHOD = "simclock-advance"


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the UNIX epoch."""
        ...


class WallClock:
    """Real time."""

    driven = False

    def now(self) -> float:
        return time.time()


class DrivenClock:
    """Simulated time: moves only when told, and never backwards.

    The one writer is whoever handles ``simclock-advance``; readers only
    read a float, which is atomic in CPython.
    """

    driven = True

    def __init__(self, start: float) -> None:
        self._now = float(start)

    def now(self) -> float:
        return self._now

    def advance_to(self, now: float) -> float:
        if now > self._now:
            self._now = float(now)
        return self._now


def clock_from_env(environ: dict[str, str] | None = None) -> WallClock | DrivenClock:
    """The clock lightningd's environment asks for: driven under revops-sim."""
    env = os.environ if environ is None else environ
    raw = env.get(SIMCLOCK_ENV)
    if raw is None:
        return WallClock()
    return DrivenClock(float(raw))
