"""Hill climbing on revenue (perturb and observe), pure.

The climb keeps a fee of its own (``base_ppm``); the fee broadcast is that
times the scarcity and profitability multipliers. An observation window
measures what the channel earns as the outbound channel while the climb is
at one ``base_ppm`` (it restarts only when a new base is broadcast, not when
a multiplier moves the fee). When the window has seen enough (at least
``min_window`` and ``min_forwards`` settled forwards, or ``max_window`` in
any case) it is compared with the window of the previous base:

- the measure is the fee-weighted forward rate, sum of the ppm each settled
  forward paid, per hour. With a zero base fee it is proportional to revenue
  when payment sizes do not depend on our fee, and far less noisy than
  revenue itself, which a single large payment dominates;
- the comparison is a significance test under Poisson arrivals
  (``z = (s_new - s_ref) / sqrt(var_new + var_ref)``): better (z above
  ``z_threshold``) keeps the direction, and the step grows by 1.5x only
  after two improvements in a row (the momentum guard: one lucky window
  never accelerates the climb); worse (z below minus it) reverses and halves
  the step; anything in between is noise: keep direction and step;
- no forwards at this base or the previous one: the channel is dormant,
  price down;
- sold out: forwards failed for lack of our liquidity while the channel
  was short of it. Demand exceeded supply at this price, so the price goes
  up, before any comparison: while a channel runs dry its forward rate
  measures how fast liquidity comes back, not how senders answer the fee.

Noise must not walk the fee away. When a window shows no clear change the
step shrinks (x0.75), and when the market's fee to this peer is known (the
anchor: what other nodes charge to forward to it) the climb steps *towards*
it: the market price is where senders' alternatives are, so without
evidence the climb returns there, and only evidence moves it away.

Steps are relative, bounded by ``step_min`` and ``step_max``, and always
move at least 1 ppm. Until a new base is broadcast the window keeps
measuring (the "pause" when a small change was not broadcast), and is
judged again at most once per ``min_window``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from revops.fees.state import Climb

MOMENTUM_AFTER = 2  # improvements in a row before the step grows
GROW = 1.5
SHRINK = 0.5
SHRINK_FLAT = 0.75


@dataclass(frozen=True)
class ClimbParams:
    min_window: float = 6 * 3600.0
    max_window: float = 48 * 3600.0
    min_forwards: int = 5
    step_min: float = 0.08
    step_max: float = 0.5
    step_initial: float = 0.2
    z_threshold: float = 1.0


def start(climb: Climb, fee_ppm: int, now: float, keep_reference: bool = True) -> Climb:
    """A new observation window from ``now`` for the current base."""
    base = climb.base_ppm if climb.base_ppm is not None else fee_ppm
    return dataclasses.replace(
        climb, base_ppm=base, window_base=base, window_fee=fee_ppm, window_start=now,
        window_revenue_msat=0, window_forwards=0, window_ppm_sum=0.0, evaluated_at=None,
        ref_rate=climb.ref_rate if keep_reference else None,
        ref_var=climb.ref_var if keep_reference else None,
        ref_fee=climb.ref_fee if keep_reference else None)


def record(climb: Climb, fee_msat: int, out_msat: int | None) -> Climb:
    """A settled forward out of this channel earned ``fee_msat`` on ``out_msat``."""
    ppm = (fee_msat * 1_000_000 / out_msat) if out_msat else 0.0
    return dataclasses.replace(climb, window_revenue_msat=climb.window_revenue_msat + fee_msat,
                               window_forwards=climb.window_forwards + 1,
                               window_ppm_sum=climb.window_ppm_sum + ppm)


def _hours(climb: Climb, now: float) -> float:
    if climb.window_start is None or now <= climb.window_start:
        return 0.0
    return (now - climb.window_start) / 3600.0


def rate(climb: Climb, now: float) -> float | None:
    """Revenue of the current window, msat per hour (for people)."""
    h = _hours(climb, now)
    return climb.window_revenue_msat / h if h > 0 else None


def score(climb: Climb, now: float) -> tuple[float, float]:
    """The window's fee-weighted forward rate (ppm/hour) and its variance."""
    h = _hours(climb, now)
    if h <= 0:
        return 0.0, math.inf
    n = climb.window_forwards
    mean_ppm = climb.window_ppm_sum / n if n else float(climb.window_fee or 1)
    # Poisson: var(n) = n; with no forward at all, one pseudo-count keeps an
    # empty window from looking certain.
    return climb.window_ppm_sum / h, (mean_ppm ** 2) * max(n, 1) / h ** 2


def mature(climb: Climb, now: float, p: ClimbParams) -> bool:
    """Has the window seen enough to judge its base (and not judged it lately)?"""
    if climb.window_start is None:
        return False
    if climb.evaluated_at is not None and now - climb.evaluated_at < p.min_window:
        return False
    age = now - climb.window_start
    if age >= p.max_window:
        return True
    return age >= p.min_window and climb.window_forwards >= p.min_forwards


def next_evaluation(climb: Climb, p: ClimbParams) -> float | None:
    if climb.window_start is None:
        return None
    earliest = climb.window_start + p.min_window
    if climb.evaluated_at is not None:
        earliest = max(earliest, climb.evaluated_at + p.min_window)
    return earliest


def step_fee(fee: int, trend: int, step: float) -> int:
    """Move ``fee`` by ``step`` (relative) in ``trend``'s direction, by at least 1 ppm."""
    if trend > 0:
        return max(fee + 1, math.ceil(fee * (1 + step)))
    return max(0, min(fee - 1, math.floor(fee * (1 - step))))


def evaluate(climb: Climb, now: float, p: ClimbParams,
             anchor: int | None = None, sold_out: int = 0) -> tuple[Climb, str]:
    """Judge the window: a new direction, step and ``base_ppm``, and why.
    ``anchor``: the market's fee to this peer, if known. ``sold_out``:
    forwards that failed in this window for lack of our liquidity while the
    channel ran short: demand exceeded supply at this price, so the price
    goes up whatever the forward rate says (a drained channel's rate
    measures its refills, not its price)."""
    s, var = score(climb, now)
    base = climb.base_ppm if climb.base_ppm is not None else (climb.window_fee or 0)
    trend, step, improvements = climb.trend, climb.step, climb.improvements
    ref, ref_var = climb.ref_rate, climb.ref_var
    here = f"{climb.window_forwards} forwards in {_hours(climb, now):.1f} h at base {climb.window_base}"
    if sold_out:
        trend, improvements = 1, 0
        verdict = f"sold out ({sold_out} forwards failed for liquidity, {here}): price up"
    elif ref is None:
        verdict = f"first window ({here})"
    elif climb.window_forwards == 0 and ref == 0:
        trend, improvements = -1, 0
        verdict = f"no forwards at base {climb.window_base} or {climb.ref_fee}: price down"
    else:
        z = (s - ref) / math.sqrt(var + (ref_var if ref_var is not None else var))
        if z >= p.z_threshold:
            improvements += 1
            if improvements >= MOMENTUM_AFTER:
                step = step * GROW
            verdict = f"better than at base {climb.ref_fee} (z={z:+.1f}, {here}): keep going"
        elif z <= -p.z_threshold:
            trend, step, improvements = -trend, step * SHRINK, 0
            verdict = f"worse than at base {climb.ref_fee} (z={z:+.1f}, {here}): reverse"
        else:
            step = step * SHRINK_FLAT
            if anchor is not None and anchor > 0 and base > 0 and \
                    abs(math.log(base / anchor)) > math.log(1 + p.step_min):
                trend = 1 if anchor > base else -1
                verdict = (f"no clear change from base {climb.ref_fee} (z={z:+.1f}, {here}): "
                           f"back towards the market's {anchor} ppm")
            else:
                verdict = f"no clear change from base {climb.ref_fee} (z={z:+.1f}, {here}): hold course"
    step = min(p.step_max, max(p.step_min, step))
    new_base = step_fee(base, trend, step)
    out = dataclasses.replace(climb, base_ppm=new_base, trend=trend, step=step,
                              improvements=improvements, evaluated_at=now)
    direction = "up" if trend > 0 else "down"
    return out, f"{verdict}; step {direction} {step:.0%} to base {new_base} ppm"


def on_broadcast(climb: Climb, fee_ppm: int, now: float) -> Climb:
    """A new fee went out. If it carries a new base (the climb moved), the
    judged window becomes the reference and a new window starts; if only a
    multiplier moved the fee, the window goes on."""
    if climb.window_start is not None and climb.base_ppm == climb.window_base:
        return dataclasses.replace(climb, window_fee=fee_ppm)
    ref_rate, ref_var, ref_fee = climb.ref_rate, climb.ref_var, climb.ref_fee
    if climb.evaluated_at is not None:
        # Everything the window saw, up to now, was at its base.
        ref_rate, ref_var = score(climb, now)
        ref_fee = climb.window_base
    climb = dataclasses.replace(climb, ref_rate=ref_rate, ref_var=ref_var, ref_fee=ref_fee)
    return start(climb, fee_ppm, now, keep_reference=True)
