"""The ``oracle-static`` search: the best fixed fee per channel for one
scenario and seed, found with full knowledge of the demand by running the
market model itself (no plugin, fees fixed from the start).

1. Uniform grid: every channel at the same (base, ppm), for each base in
   ``bases`` and ppm in ``ppms``. Each channel takes the candidate under
   which it earned the most (its own forwarding revenue, as the out
   channel), which is then evaluated as a whole.
2. Refinement, for shrinking factors: all ppm x f and all ppm / f (two runs,
   and one with every channel's base flipped to the other base); each
   channel keeps whichever of its current, up, down (and flipped) earned
   it most, and the combination is kept only if the node's total revenue
   rose. Per-channel attribution ignores that one channel's price moves
   liquidity others need, which is why every combination is checked whole.

Everything is deterministic in (scenario, seed, days): the market draws
the same demand whatever the fees (see ``market.py``). The revenue the
market predicts for the chosen fees is returned too; the plugin sets them
within the first clock step, so a run under the sim lands within a few
forwards of it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from revops.sim.market import Market
from revops.sim.scenario import DAY, Scenario

PPM_GRID: tuple[int, ...] = (1, 25, 50, 75, 100, 150, 200, 250, 300, 400, 500, 600, 750, 900,
                             1100, 1400, 1800, 2300, 3000)
BASES: tuple[int, ...] = (0, 1000)
FACTORS: tuple[float, ...] = (1.5, 1.25, 1.12, 1.06)

Fee = tuple[int, int]  # (base_msat, ppm)


@dataclass(frozen=True)
class Evaluation:
    revenue_msat: int
    per_channel: Mapping[str, int]  # channel name -> revenue as the out channel


@dataclass(frozen=True)
class OracleResult:
    fees: Mapping[str, Fee]  # channel name -> fee
    fees_by_channel_id: Mapping[str, Fee]
    predicted_revenue_msat: int
    best_uniform: tuple[int, int, int]  # (base, ppm, revenue_msat)
    evaluations: int
    trace: tuple[tuple[str, int], ...] = field(default=())  # (step, revenue) accepted

    def table(self) -> dict[str, object]:
        """The JSON the oracle-static plugin reads."""
        return {"fees": {cid: list(fee) for cid, fee in sorted(self.fees_by_channel_id.items())},
                "by_name": {n: list(fee) for n, fee in sorted(self.fees.items())},
                "predicted_revenue_msat": self.predicted_revenue_msat,
                "best_uniform": list(self.best_uniform), "evaluations": self.evaluations}


def evaluate(scenario: Scenario, seed: int, days: float, fees: Mapping[str, Fee]) -> Evaluation:
    """Run the market ``days`` with each channel's fee fixed from the start."""
    channels = tuple(replace(c, fee_base_msat=fees[c.name][0], fee_ppm=fees[c.name][1])
                     if c.name in fees else c for c in scenario.channels)
    market = Market(replace(scenario, channels=channels, historical_forwards=0), seed)
    market.advance(market.now + days * DAY)
    return Evaluation(market.total_revenue_msat,
                      {c.name: c.revenue_msat for c in market.channels})


def channel_ids(scenario: Scenario, seed: int) -> dict[str, str]:
    """Channel name -> lightningd channel_id (fixed by scenario and name)."""
    market = Market(replace(scenario, historical_forwards=0), seed)
    return {c.name: c.channel_id for c in market.channels}


def _scaled(ppm: int, factor: float) -> int:
    return max(0, min(100_000, round(ppm * factor)))


def search(scenario: Scenario, seed: int, days: float, *, bases: Sequence[int] = BASES,
           ppms: Sequence[int] = PPM_GRID, factors: Sequence[float] = FACTORS,
           progress: Callable[[str], None] | None = None) -> OracleResult:
    """The best fixed fee per channel (see the module docstring)."""
    names = [c.name for c in scenario.channels]
    initial = {c.name: (c.fee_base_msat, c.fee_ppm) for c in scenario.channels}
    count = 0

    def run(fees: Mapping[str, Fee]) -> Evaluation:
        nonlocal count
        count += 1
        return evaluate(scenario, seed, days, fees)

    # 1. Uniform grid, each channel's best candidate.
    best: dict[str, tuple[int, Fee]] = {n: (0, initial[n]) for n in names}
    uniform = (0, 0, -1)
    for base in bases:
        for ppm in ppms:
            ev = run({n: (base, ppm) for n in names})
            if ev.revenue_msat > uniform[2]:
                uniform = (base, ppm, ev.revenue_msat)
            for n in names:
                if ev.per_channel[n] > best[n][0]:
                    best[n] = (ev.per_channel[n], (base, ppm))
    current = {n: best[n][1] for n in names}
    cur = run(current)
    trace = [("per-channel grid", cur.revenue_msat)]
    flat = {n: (uniform[0], uniform[1]) for n in names}
    if uniform[2] > cur.revenue_msat:
        current, cur = flat, run(flat)
        trace.append(("uniform", cur.revenue_msat))
    if progress:
        progress(f"grid: best uniform {uniform[0]}+{uniform[1]}ppm {uniform[2]:,} msat, "
                 f"per channel {cur.revenue_msat:,} msat")

    # 2. Refinement: simultaneous perturbation, attribution per channel, checked whole.
    other_base = {b: next((o for o in bases if o != b), b) for b in bases}
    for factor in factors:
        variants = [{n: (current[n][0], _scaled(current[n][1], factor)) for n in names},
                    {n: (current[n][0], _scaled(current[n][1], 1 / factor)) for n in names}]
        if len(bases) > 1:
            variants.append({n: (other_base.get(current[n][0], current[n][0]), current[n][1])
                             for n in names})
        evs = [run(v) for v in variants]
        mixed = dict(current)
        for n in names:
            top = cur.per_channel[n]
            for v, ev in zip(variants, evs):
                if ev.per_channel[n] > top:
                    top, mixed[n] = ev.per_channel[n], v[n]
        candidates = [(mixed, run(mixed) if mixed != current else cur)]
        candidates += list(zip(variants, evs))
        for fees, ev in candidates:
            if ev.revenue_msat > cur.revenue_msat:
                current, cur = fees, ev
                trace.append((f"x{factor:g}", ev.revenue_msat))
        if progress:
            progress(f"refine x{factor:g}: {cur.revenue_msat:,} msat")

    ids = channel_ids(scenario, seed)
    return OracleResult(fees=dict(current), fees_by_channel_id={ids[n]: current[n] for n in names},
                        predicted_revenue_msat=cur.revenue_msat, best_uniform=uniform,
                        evaluations=count, trace=tuple(trace))
