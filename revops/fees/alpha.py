"""The fee decision for one channel in one cycle (the "Alpha Sequence"),
pure: state and facts in, a new state and a :class:`Decision` out.

Highest priority first:

1. a manual (``revenue-set-fee``) or hive override within its TTL; a
   ``static`` or ``hive`` peer policy (the operator's word);
2. congestion: HTLC slots in use at or above the threshold, or outbound
   liquidity below what this channel's forwards need (and forwards failing
   for it) -> the ceiling;
3. a zero-fee probe ("defibrillator") that is active -> 0 ppm, until a
   forward proves the channel alive, or it times out (a failed attempt;
   ``probe-max-attempts`` of them make the channel a zombie);
4. a fire sale for a channel marked for liquidation (zombie, or underwater
   for ``fire-sale-underwater-days``) -> 1 ppm; never under a probe, never
   for a channel with marginal ROI above 5 % younger than 180 days; it
   stops at the target outbound share and sells at most a daily amount;
5. hill climbing (``hill_climb.py``) times the scarcity multiplier (skipped
   for a virgin channel: remote-opened, never used outbound) and the
   profitability multiplier, clamped to [floor, ceiling]. The floor is
   ``min-fee-ppm`` times the mempool multiplier, and never below the cost of
   refilling the channel when rebalancing is on.

Peers with the ``passive`` policy and ignored peers are never touched.
Every fee that leaves here is an int within its bounds.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Mapping

from revops.channels import ChannelFacts
from revops.fees import hill_climb
from revops.fees.anchor import unpriced
from revops.fees.hill_climb import ClimbParams
from revops.fees.state import RECENT_AMOUNTS, FeeState, FireSale, Probe

DAY = 86400.0
YOUNG_DAYS = 180
GOOD_ROI = 0.05
# Profitability class -> multiplier on the hill-climb fee: a channel whose
# refills cost more than it earns must charge more; one that has stalled
# gets cheaper to win flow back.
PROFITABILITY_MULTIPLIER: Mapping[str, float] = {
    "profitable": 1.0, "break-even": 1.05, "underwater": 1.25, "stagnant": 0.9,
    "zombie": 1.0,
}
LIQUIDITY_FAILURE_MEMORY = DAY
# A congested channel stays congested until its slot use falls this far
# below the threshold: slot use hovering at the threshold must not flap the
# fee between the ceiling and its normal level.
CONGESTION_EXIT_MARGIN = 0.1
LIQUIDITY_EXIT_FACTOR = 2  # likewise, outbound must reach twice what forwards need
MIN_PROBE_OUTBOUND = 0.10  # a probe needs liquidity to forward with


@dataclass(frozen=True)
class Policy:
    """A peer's policy (``revenue-policy``): dynamic | static | passive | hive."""

    mode: str = "dynamic"
    fee_ppm: int | None = None
    base_msat: int | None = None


@dataclass(frozen=True)
class ChannelEconomics:
    """What flow/profitability knows of a channel (issue 5's figures)."""

    klass: str = "unknown"
    revenue_30d_msat: int = 0
    cost_30d_msat: int = 0
    marginal_roi: float = 0.0  # annualised net / capacity
    underwater_days: float = 0.0
    days_open: float | None = None
    outbound_volume_7d_msat: int = 0


@dataclass(frozen=True)
class FeeInputs:
    facts: ChannelFacts
    policy: Policy = field(default_factory=Policy)
    ignored: bool = False
    mempool_multiplier: float = 1.0
    economics: ChannelEconomics | None = None
    refill_cost_ppm: int | None = None
    rebalancing: bool = False
    days_open: float | None = None
    anchor_ppm: int | None = None  # the market's fee to this peer (where a new climb starts)
    anchor_pending: bool = False  # the anchor is not fetched yet: a new climb waits for it


@dataclass(frozen=True)
class FeeParams:
    min_fee_ppm: int = 10
    max_fee_ppm: int = 2500
    base_fee_msat: int = 0
    congestion_threshold: float = 0.8
    scarcity_threshold: float = 0.30
    surplus_floor: float = 0.5
    probe_after: float = 7 * DAY  # 0: never automatically
    probe_duration: float = DAY
    probe_max_attempts: int = 2
    fire_sale: bool = True
    fire_sale_target_ratio: float = 0.10
    fire_sale_max_daily_msat: int = 1_000_000_000
    fire_sale_underwater_days: float = 30
    climb: ClimbParams = field(default_factory=ClimbParams)

    @classmethod
    def from_config(cls, cfg: Any) -> FeeParams:
        return cls(
            min_fee_ppm=int(cfg["min-fee-ppm"]),
            max_fee_ppm=int(cfg["max-fee-ppm"]),
            base_fee_msat=int(cfg["base-fee-msat"]),
            congestion_threshold=float(cfg["htlc-congestion-threshold"]),
            scarcity_threshold=float(cfg["scarcity-threshold"]),
            surplus_floor=float(cfg["surplus-discount-floor"]),
            probe_after=float(cfg["probe-after-days"]) * DAY,
            probe_duration=float(cfg["probe-hours"]) * 3600,
            probe_max_attempts=int(cfg["probe-max-attempts"]),
            fire_sale=bool(cfg["fire-sale"]),
            fire_sale_target_ratio=float(cfg["fire-sale-target-ratio"]),
            fire_sale_max_daily_msat=int(cfg["fire-sale-max-daily-sats"]) * 1000,
            fire_sale_underwater_days=float(cfg["fire-sale-underwater-days"]),
            climb=ClimbParams(
                min_window=float(cfg["hill-climb-window-hours"]) * 3600,
                max_window=max(float(cfg["hill-climb-max-window-hours"]),
                               float(cfg["hill-climb-window-hours"])) * 3600,
                min_forwards=int(cfg["hill-climb-min-forwards"]),
                step_min=min(float(cfg["hill-climb-step-min"]), float(cfg["hill-climb-step-max"])),
                step_max=float(cfg["hill-climb-step-max"]),
            ),
        )


@dataclass(frozen=True)
class Decision:
    scid: str
    touch: bool  # False: passive or ignored, nothing to send
    target_fee_ppm: int
    base_msat: int
    mode: str
    reason: str
    emergency: bool = False  # bypasses the gossip budget and hysteresis
    floor: int = 0
    ceiling: int = 0
    multipliers: Mapping[str, float] = field(default_factory=dict)
    expected_effect_msat_day: int = 0
    next_evaluation: float | None = None
    zombie: bool = False


# -- the pieces -----------------------------------------------------------------

SCARCITY_BUCKET = 0.05  # outbound share moves the multiplier in steps of this
# Between two evaluations of the climb, the multiplier in force only follows
# the balance when it moves this much (a balance hovering at a bucket edge
# must not flap the fee, and the gossip, back and forth).
SCARCITY_JUMP = 0.5


def scarcity_multiplier(facts: ChannelFacts, threshold: float, surplus_floor: float = 1.0
                        ) -> float:
    """The liquidity multiplier. Scarcity: 1.0 at ``threshold`` outbound
    share, rising linearly to 3.0 at empty. Surplus (with ``surplus_floor``
    below 1): 1.0 at ``1 - threshold``, falling linearly to ``surplus_floor``
    when full, so idle liquidity is sold instead of sitting. The share is
    taken in 5 % steps (towards the middle), so a balance that drifts by a
    few sats moves neither the fee nor the gossip."""
    r = max(0.0, min(1.0, facts.outbound_ratio))
    if threshold <= 0:
        return 1.0
    if r < threshold:
        r = min(threshold, math.ceil(r / SCARCITY_BUCKET) * SCARCITY_BUCKET)
        return 1.0 + 2.0 * (threshold - r) / threshold
    top = 1.0 - threshold
    if surplus_floor < 1.0 and r > top:
        r = max(top, math.floor(r / SCARCITY_BUCKET) * SCARCITY_BUCKET)
        return 1.0 - (1.0 - surplus_floor) * (r - top) / threshold
    return 1.0


def profitability_multiplier(econ: ChannelEconomics | None) -> float:
    return PROFITABILITY_MULTIPLIER.get(econ.klass, 1.0) if econ is not None else 1.0


def fee_bounds(p: FeeParams, inp: FeeInputs) -> tuple[int, int]:
    """[floor, ceiling] for this channel now; the ceiling wins a conflict."""
    floor = math.ceil(p.min_fee_ppm * max(1.0, inp.mempool_multiplier))
    if inp.rebalancing and inp.refill_cost_ppm is not None:
        floor = max(floor, int(inp.refill_cost_ppm))
    ceiling = p.max_fee_ppm
    return min(floor, ceiling), ceiling


def clamp(value: float, lo: int, hi: int) -> int:
    if not math.isfinite(value):
        value = hi
    return int(min(hi, max(lo, round(value))))


def needed_msat(state: FeeState) -> int:
    """What this channel's forwards need: the median recent outbound amount."""
    amounts = sorted(state.recent_amounts)
    return amounts[len(amounts) // 2] if amounts else 0


def congestion(state: FeeState, facts: ChannelFacts, p: FeeParams, now: float) -> str | None:
    threshold = p.congestion_threshold
    if state.mode == "congestion":
        threshold = max(0.0, threshold - CONGESTION_EXIT_MARGIN)
    if facts.max_accepted_htlcs and facts.htlcs_in_flight >= (
            threshold * facts.max_accepted_htlcs):
        return (f"HTLC slots {facts.htlcs_in_flight}/{facts.max_accepted_htlcs} at or above "
                f"{p.congestion_threshold:.0%}")
    recent_failures = [t for t in state.liquidity_failures if now - t < LIQUIDITY_FAILURE_MEMORY]
    need = needed_msat(state)
    if state.mode == "congestion":
        need *= LIQUIDITY_EXIT_FACTOR  # leave only with room to spare: no flapping
    if recent_failures and need and facts.spendable_msat < need:
        return (f"outbound {facts.spendable_msat} msat below the {need} msat its forwards need "
                f"({len(recent_failures)} failed for liquidity in 24 h)")
    return None


def sold_out(state: FeeState, facts: ChannelFacts, p: FeeParams, since: float) -> int:
    """Forwards that failed for lack of our liquidity since ``since``, if
    the channel is short of it now (below the scarcity threshold); else 0.
    A single payment larger than a healthy channel is no sign of scarcity,
    and a virgin channel keeps its amnesty."""
    if facts.virgin or facts.outbound_ratio >= p.scarcity_threshold:
        return 0
    return sum(1 for t in state.liquidity_failures if t >= since)


def update_probe(state: FeeState, facts: ChannelFacts, p: FeeParams, now: float
                 ) -> tuple[Probe, str | None]:
    """Advance the probe: success, time-out, or an automatic start."""
    pr = state.probe
    if pr.active:
        if state.last_outbound_at is not None and pr.broadcast_at is not None \
                and state.last_outbound_at >= pr.broadcast_at:
            return Probe(active=False, since=None, attempts=0, last_success=now,
                         zombie=False), "probe succeeded: a forward proved the channel alive"
        if pr.since is not None and now - pr.since >= p.probe_duration:
            attempts = pr.attempts + 1
            zombie = attempts >= p.probe_max_attempts
            note = (f"probe timed out (attempt {attempts}/{p.probe_max_attempts})"
                    + ("; channel is a zombie" if zombie else ""))
            return dataclasses.replace(pr, active=False, attempts=attempts, zombie=zombie,
                                       manual=False, broadcast_at=None), note
        return pr, None
    if pr.zombie or p.probe_after <= 0 or pr.attempts >= p.probe_max_attempts:
        return pr, None
    quiet_since = state.last_outbound_at or state.first_seen
    if quiet_since is None or now - quiet_since < p.probe_after:
        return pr, None
    if pr.since is not None and now - pr.since < p.probe_after:
        return pr, None  # wait a full quiet period between attempts
    if facts.outbound_ratio < MIN_PROBE_OUTBOUND:
        return pr, None
    days = (now - quiet_since) / DAY
    return dataclasses.replace(pr, active=True, since=now, broadcast_at=None), \
        f"no outbound forward for {days:.1f} days: zero-fee probe started"


def fire_sale_wanted(state: FeeState, inp: FeeInputs, p: FeeParams) -> str | None:
    if not p.fire_sale or state.probe.active:
        return None
    econ = inp.economics
    days_open = inp.days_open if inp.days_open is not None else (
        econ.days_open if econ is not None else None)
    if econ is not None and econ.marginal_roi > GOOD_ROI and days_open is not None \
            and days_open < YOUNG_DAYS:
        return None
    if state.probe.zombie:
        why = "zombie (failed probes)"
    elif econ is not None and econ.klass == "underwater" \
            and econ.underwater_days >= p.fire_sale_underwater_days:
        why = f"underwater for {econ.underwater_days:.0f} days"
    else:
        return None
    if inp.facts.outbound_ratio <= p.fire_sale_target_ratio:
        return None
    return why


def observe_forward(state: FeeState, status: str, out_msat: int | None, fee_msat: int | None,
                    now: float) -> FeeState:
    """A forward that went (or tried to go) out of this channel."""
    amounts = state.recent_amounts
    if out_msat:
        amounts = (amounts + (int(out_msat),))[-RECENT_AMOUNTS:]
    if status == "settled":
        climb = hill_climb.record(state.climb, int(fee_msat or 0), out_msat)
        sale = state.fire_sale
        if state.mode == "fire_sale" and out_msat:
            day = int(now // DAY)
            sold = (sale.sold_msat if sale.day == day else 0) + int(out_msat)
            sale = FireSale(day, sold)
        return dataclasses.replace(state, climb=climb, last_outbound_at=now,
                                   recent_amounts=amounts, fire_sale=sale)
    if status == "local_failed":
        fails = tuple(t for t in state.liquidity_failures
                      if now - t < LIQUIDITY_FAILURE_MEMORY) + (now,)
        return dataclasses.replace(state, recent_amounts=amounts,
                                   liquidity_failures=fails[-64:])
    return dataclasses.replace(state, recent_amounts=amounts)


# -- the sequence ------------------------------------------------------------------

def decide(state: FeeState, inp: FeeInputs, p: FeeParams, now: float
           ) -> tuple[FeeState, Decision]:
    facts = inp.facts
    if state.first_seen is None:
        state = dataclasses.replace(state, first_seen=now)
    if state.climb.base_ppm is None and inp.anchor_pending and not inp.ignored \
            and inp.policy.mode == "dynamic" and unpriced(facts.fee_ppm, facts.fee_base_msat):
        return state, Decision(facts.scid, False, facts.fee_ppm, facts.fee_base_msat, "new",
                               "waiting for the market's fee to this peer (listchannels)")
    if state.climb.base_ppm is None:
        # The climb starts where the market prices this peer when the channel
        # was never priced (CLN's defaults), else at the fee it has; either
        # way a special mode (congestion at the ceiling) never becomes its base.
        start = facts.fee_ppm
        if inp.anchor_ppm is not None and unpriced(facts.fee_ppm, facts.fee_base_msat):
            start = inp.anchor_ppm
        state = dataclasses.replace(state, climb=dataclasses.replace(
            state.climb, base_ppm=start))
    if state.last_broadcast_fee_ppm is None or (
            state.last_broadcast_fee_ppm != facts.fee_ppm and not state.broadcast_failing):
        # Adopt what the channel has (first sight, or changed by someone else).
        state = dataclasses.replace(state, last_broadcast_fee_ppm=facts.fee_ppm,
                                    last_broadcast_base_msat=facts.fee_base_msat)
    floor, ceiling = fee_bounds(p, inp)
    base = p.base_fee_msat
    mults: dict[str, float] = {}

    def out(st: FeeState, fee: int, mode: str, reason: str, *, emergency: bool = False,
            base_msat: int = base, touch: bool = True, effect: int = 0,
            next_eval: float | None = None) -> tuple[FeeState, Decision]:
        fee = int(fee)
        st = dataclasses.replace(st, target_fee_ppm=fee if touch else st.target_fee_ppm,
                                 mode=mode, reason=reason, decided_at=now)
        return st, Decision(facts.scid, touch, fee, int(base_msat), mode, reason, emergency,
                            floor, ceiling, dict(mults), effect, next_eval, st.probe.zombie)

    # 0. Never touched.
    if inp.ignored:
        return out(state, facts.fee_ppm, "ignored", "peer is ignored", touch=False,
                   base_msat=facts.fee_base_msat)
    if inp.policy.mode == "passive":
        return out(state, facts.fee_ppm, "passive", "peer policy is passive", touch=False,
                   base_msat=facts.fee_base_msat)

    # 1. The operator's word.
    ov = state.override
    if ov is not None and not ov.active(now):
        state = dataclasses.replace(state, override=None)
        ov = None
    if ov is not None:
        until = "" if ov.expires_at is None else f" until {ov.expires_at:.0f}"
        return out(state, ov.fee_ppm, "override", f"{ov.source} override{until}",
                   emergency=state.mode != "override",
                   base_msat=ov.base_msat if ov.base_msat is not None else base)
    if inp.policy.mode == "hive":
        return out(state, 0, "hive", "peer policy is hive: 0 ppm", base_msat=0,
                   emergency=state.mode != "hive")
    if inp.policy.mode == "static":
        fee = inp.policy.fee_ppm if inp.policy.fee_ppm is not None else p.min_fee_ppm
        b = inp.policy.base_msat if inp.policy.base_msat is not None else base
        return out(state, fee, "static", f"peer policy is static: {fee} ppm", base_msat=b,
                   emergency=state.mode != "static")

    # 2. Congestion.
    why = congestion(state, facts, p, now)
    if why is not None:
        return out(state, ceiling, "congestion", f"congested: {why}",
                   emergency=state.mode != "congestion")

    # 3. Probe.
    probe, note = update_probe(state, facts, p, now)
    state = dataclasses.replace(state, probe=probe)
    if probe.active:
        return out(state, 0, "probe", note or "zero-fee probe active", base_msat=0,
                   emergency=state.mode != "probe")

    # 4. Fire sale.
    why = fire_sale_wanted(state, inp, p)
    if why is not None:
        day = int(now // DAY)
        sold = state.fire_sale.sold_msat if state.fire_sale.day == day else 0
        if sold < p.fire_sale_max_daily_msat:
            return out(state, 1, "fire_sale",
                       f"fire sale ({why}): {sold // 1000} of {p.fire_sale_max_daily_msat // 1000} "
                       f"sat sold today, stops at {p.fire_sale_target_ratio:.0%} outbound")
        note = f"fire sale paused: daily cap of {p.fire_sale_max_daily_msat // 1000} sat reached"

    # 5. Hill climbing.
    climb = state.climb
    if climb.window_start is None or state.mode not in ("hill_climb", "new"):
        # Fresh start, or back from a special mode: what was measured at the
        # ceiling or at zero says nothing about the climb.
        climb = hill_climb.start(climb, state.last_broadcast_fee_ppm or facts.fee_ppm, now,
                                 keep_reference=state.mode in ("hill_climb", "new"))
        if state.mode == "congestion" and sold_out(state, facts, p, now - DAY):
            # It ran dry at the climb's price: the next step is up.
            climb = dataclasses.replace(climb, trend=1, improvements=0)
    reason = note or "hill climbing"
    evaluated = hill_climb.mature(climb, now, p.climb)
    if evaluated:
        climb, verdict = hill_climb.evaluate(
            climb, now, p.climb, inp.anchor_ppm,
            sold_out(state, facts, p, climb.window_start or now))
        reason = verdict if note is None else f"{note}; {verdict}"
    m_scarcity = scarcity_multiplier(facts, p.scarcity_threshold, p.surplus_floor)
    if facts.virgin and m_scarcity > 1.0:
        m_scarcity = 1.0  # amnesty: no scarcity premium on a virgin channel
    if not evaluated and state.mode == "hill_climb" and abs(m_scarcity - state.scarcity) < SCARCITY_JUMP:
        m_scarcity = state.scarcity
    elif m_scarcity != state.scarcity:
        reason += f"; scarcity x{m_scarcity:.2f} (outbound {facts.outbound_ratio:.0%})"
    state = dataclasses.replace(state, scarcity=m_scarcity)
    m_profit = profitability_multiplier(inp.economics)
    mults.update(scarcity=round(m_scarcity, 4), profitability=m_profit,
                 mempool=round(inp.mempool_multiplier, 4))
    if facts.virgin and facts.outbound_ratio < p.scarcity_threshold:
        reason += "; virgin channel: no scarcity premium"
    # Keep the climb's own fee inside the bounds so it cannot run away.
    climb_base = clamp(climb.base_ppm if climb.base_ppm is not None else facts.fee_ppm,
                       floor, ceiling)
    climb = dataclasses.replace(climb, base_ppm=climb_base)
    target = clamp(climb_base * m_scarcity * m_profit, floor, ceiling)
    volume_day = (inp.economics.outbound_volume_7d_msat / 7) if inp.economics else 0
    effect = int(abs(target - (state.last_broadcast_fee_ppm or 0)) * volume_day // 1_000_000)
    state = dataclasses.replace(state, climb=climb)
    return out(state, target, "hill_climb", reason, effect=effect,
               next_eval=hill_climb.next_evaluation(climb, p.climb))


def on_broadcast(state: FeeState, fee_ppm: int, base_msat: int, now: float) -> FeeState:
    """``setchannel`` succeeded: the new fee is what the market sees."""
    climb = state.climb
    probe = state.probe
    if state.mode == "hill_climb":
        climb = hill_climb.on_broadcast(climb, fee_ppm, now)
    else:
        climb = hill_climb.start(climb, fee_ppm, now, keep_reference=False)
    if state.mode == "probe" and probe.active:
        probe = dataclasses.replace(probe, broadcast_at=now)
    return dataclasses.replace(state, probe=probe, last_broadcast_fee_ppm=int(fee_ppm),
                               last_broadcast_base_msat=int(base_msat),
                               last_broadcast_at=now, broadcast_failing=False, climb=climb)


def on_broadcast_failed(state: FeeState) -> FeeState:
    """``setchannel`` failed: nothing changes but the flag (retried next cycle)."""
    return dataclasses.replace(state, broadcast_failing=True)
