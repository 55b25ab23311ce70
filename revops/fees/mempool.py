"""The mempool reflex ("Vegas reflex"), pure: on-chain fee-rate readings in,
a fee-floor multiplier out.

When on-chain fees spike, opening and closing channels gets dear and the
liquidity already in channels is worth more, so fee floors rise. Each
reading is compared with the moving average of the last 24 h:

- 4x the average or more: triggers at once;
- 2x to 4x: triggers with a probability rising linearly from 0 to 1
  (``draw`` is a uniform [0, 1) number from a seeded RNG, so tests and
  simulations are reproducible);
- a trigger sets the intensity to at least ``min(1, (ratio - 1) / 3)``;
  otherwise it decays by 0.85 per reading.

The floor multiplier is ``1 + 2 * intensity``: 1.0 at rest, 3.0 at full
intensity. A trigger asks the fee engine for an immediate re-price.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

DAY = 86400.0
INSTANT = 4.0
MAYBE = 2.0
DECAY = 0.85


@dataclass(frozen=True)
class Reflex:
    intensity: float = 0.0
    rate: int | None = None  # last reading, sat/kvB
    average: float | None = None  # 24 h moving average before it
    ratio: float | None = None
    triggered_at: float | None = None

    @property
    def multiplier(self) -> float:
        return 1.0 + 2.0 * self.intensity


def average(samples: Iterable[tuple[float, int]], now: float) -> float | None:
    """Mean of the readings within the last 24 h."""
    values = [rate for t, rate in samples if now - t < DAY]
    return sum(values) / len(values) if values else None


def trigger_probability(ratio: float) -> float:
    if ratio >= INSTANT:
        return 1.0
    if ratio < MAYBE:
        return 0.0
    return (ratio - MAYBE) / (INSTANT - MAYBE)


def step(state: Reflex, rate: int, history: Iterable[tuple[float, int]], now: float,
         draw: float, enabled: bool = True) -> tuple[Reflex, bool]:
    """A new reading ``rate`` at ``now`` against the ``history`` before it."""
    avg = average(history, now)
    ratio = rate / avg if avg else 1.0
    decayed = state.intensity * DECAY
    if decayed < 1e-3:
        decayed = 0.0
    triggered = enabled and draw < trigger_probability(ratio)
    if not enabled:
        intensity = 0.0
    elif triggered:
        intensity = max(decayed, min(1.0, (ratio - 1.0) / 3.0))
    else:
        intensity = decayed
    return Reflex(intensity, rate, avg, ratio,
                  now if triggered else state.triggered_at), triggered
