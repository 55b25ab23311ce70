"""The baselines' fee formulas, as plain functions (the plugins are thin
shells around these; tests check them on hand-computed cases).

charge-lnd's ``proportional`` strategy (accumulator/charge-lnd,
``charge_lnd/strategy.py``, ``strategy_proportional`` and ``get_ratio``;
example values from ``examples/all-channels-proportional.config``)::

    ratio = local_balance / (local_balance + remote_balance)
    ppm   = max(0, int(min_fee_ppm + (1 - ratio) * (max_fee_ppm - min_fee_ppm)))
    base  = base_fee_msat

and charge-lnd applies a new ppm only when it differs from the current one
by at least ``min_fee_ppm_delta`` (default 10 for this strategy; a changed
base fee always applies). Operators run it from cron, hourly.

CLBOSS's fee setting (ZmnSCPxj/clboss):

- ``Boss/Mod/PeerCompetitorFeeMonitor`` (hourly): for each peer, the
  channels *into* that peer from other nodes (not from us); the
  capacity-weighted median of their base fees and of their proportional
  fees (``Stats/WeightedMedian.hpp``: sort by value, the first value at
  which twice the running weight exceeds the total weight);
- ``Boss/Mod/FeeModderByBalance``: a multiplier from how much of the
  channel we own, ``exp(ln(50) * (0.5 - our_fraction))`` (x1 at half,
  ~x7.07 when empty, ~x0.14 when full; copied by CLBOSS from the
  ``feeadjuster`` plugin), evaluated at the *centre of a bin*: the channel
  is cut into ``round(capacity / 0.002 BTC)`` bins, clamped to 4..50; a
  channel moves to a new bin only when its balance leaves the current one,
  and then with randomised rounding toward the old bin (hysteresis);
- ``Boss/Mod/ChannelFeeManager``: fee = median x every modifier, rounded,
  and never 0 (0 becomes 1), for both base and proportional parts; the
  same fee on every channel to that peer.

CLBOSS has further modifiers (price theory, expenditures, forwarder,
size); the ``median-balance`` baseline uses only the competitor median and
the balance modifier, as issue 7 asks.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

# -- charge-lnd, proportional -------------------------------------------------------

CHARGE_LND_BASE_FEE_MSAT = 1000
CHARGE_LND_MIN_FEE_PPM = 100
CHARGE_LND_MAX_FEE_PPM = 300
CHARGE_LND_MIN_FEE_PPM_DELTA = 10


def proportional_ppm(to_us_msat: int, total_msat: int, min_ppm: int, max_ppm: int) -> int:
    """charge-lnd's proportional fee rate: ``max_ppm`` when we own nothing,
    ``min_ppm`` when we own everything, linear in between."""
    if total_msat <= 0:
        return max(0, min_ppm)
    ratio = to_us_msat / total_msat
    return max(0, int(min_ppm + (1.0 - ratio) * (max_ppm - min_ppm)))


def charge_lnd_applies(current_base: int, current_ppm: int, base: int, ppm: int,
                       min_ppm_delta: int) -> bool:
    """Whether charge-lnd would send this policy: a changed base fee, or a
    ppm at least ``min_ppm_delta`` away from the current one."""
    if base != current_base:
        return True
    return ppm != current_ppm and abs(ppm - current_ppm) >= min_ppm_delta


# -- CLBOSS, competitor median x balance ---------------------------------------------

CLBOSS_BIN_SIZE_MSAT = 200_000_000  # 0.002 BTC
CLBOSS_MIN_BINS = 4
CLBOSS_MAX_BINS = 50


def weighted_median(samples: Iterable[tuple[int, int]]) -> int | None:
    """CLBOSS's ``Stats::WeightedMedian``: ``(value, weight)`` pairs; the
    smallest value whose cumulative weight exceeds half the total. None
    when there are no samples."""
    ordered = sorted(samples, key=lambda s: s[0])
    if not ordered:
        return None
    total = sum(w for _, w in ordered)
    running = 0
    for value, weight in ordered:
        running += weight
        if total < 2 * running:
            return value
    return ordered[-1][0]  # every weight zero: CLBOSS would throw; take the largest


def balance_multiplier(our_fraction: float) -> float:
    """FeeModderByBalance's ``get_ratio``: ``exp(ln 50 * (0.5 - f))``."""
    return math.exp(math.log(50.0) * (0.5 - our_fraction))


def num_bins(total_msat: int) -> int:
    """One bin per 0.002 BTC of capacity, at least 4 and at most 50."""
    raw = math.floor(total_msat / CLBOSS_BIN_SIZE_MSAT + 0.5)  # C's round: half away from 0
    return max(CLBOSS_MIN_BINS, min(CLBOSS_MAX_BINS, raw))


def bin_multiplier(bin_index: int, bins: int) -> float:
    """The multiplier at the centre of bin ``bin_index`` (0-based) of ``bins``."""
    return balance_multiplier((1 + 2 * bin_index) / (2 * bins))


def next_bin(previous: int | None, to_us_msat: int, total_msat: int, bins: int,
             draw: float) -> int:
    """The bin FeeModderByBalance puts the channel in now.

    ``previous`` is the bin it was in (None the first time: straight to
    the bin of the balance). When the balance left the previous bin, the
    move rounds randomly toward the previous bin: ``draw`` is a uniform
    [0, 1) number (a seeded RNG in the plugin, fixed in tests)."""
    actual = (to_us_msat / total_msat) * bins if total_msat > 0 else 0.0
    target = math.floor(actual)
    if previous is None:
        return min(target, bins - 1)
    if target == previous:
        return previous
    if target < previous:
        prob = 1.0 - (actual - target)
        chosen = target if draw < prob else target + 1
    else:
        prob = actual - target
        chosen = target if draw < prob else target - 1
    return max(0, min(chosen, bins - 1))


def clboss_fee(median_base: int, median_ppm: int, multiplier: float) -> tuple[int, int]:
    """ChannelFeeManager: both parts times the multiplier, rounded half
    away from zero (C's ``round``), 0 -> 1."""
    base = math.floor(median_base * multiplier + 0.5)
    ppm = math.floor(median_ppm * multiplier + 0.5)
    return max(1, base), max(1, ppm)
