"""Hill climbing, table-driven: windows, significance, momentum guard, steps."""

import dataclasses

import pytest

from revops.fees import hill_climb as hc
from revops.fees.hill_climb import ClimbParams
from revops.fees.state import Climb

H = 3600.0
P = ClimbParams(min_window=6 * H, max_window=48 * H, min_forwards=5, step_min=0.08,
                step_max=0.5, z_threshold=1.0)


def window(base: int, forwards: int, hours: float, ppm: float | None = None, **kw) -> Climb:
    """A climb whose current window saw ``forwards`` settled at ``ppm`` each."""
    ppm = base if ppm is None else ppm
    c = hc.start(Climb(base_ppm=base, **kw), base, 0.0)
    for _ in range(forwards):
        c = hc.record(c, int(ppm * 1000), 1_000_000_000)  # 1,000,000 sat at ppm
    return c


def test_record_accumulates_revenue_count_and_ppm():
    c = window(100, 3, 6)
    assert c.window_forwards == 3
    assert c.window_revenue_msat == 3 * 100_000
    assert c.window_ppm_sum == pytest.approx(300)


@pytest.mark.parametrize("forwards,hours,expected", [
    (4, 6, False),    # long enough, too few forwards
    (5, 5.9, False),  # enough forwards, too short
    (5, 6, True),
    (0, 48, True),    # max window: judged whatever happened
])
def test_window_maturity(forwards, hours, expected):
    assert hc.mature(window(100, forwards, hours), hours * H, P) is expected


def test_a_judged_window_waits_a_full_min_window_before_the_next_judgement():
    c = dataclasses.replace(window(100, 10, 6), evaluated_at=6 * H)
    assert not hc.mature(c, 11 * H, P)
    assert hc.mature(c, 12 * H, P)


def test_first_window_steps_in_the_trend_direction_with_the_initial_step():
    c, why = hc.evaluate(window(100, 10, 6), 6 * H, P)
    assert (c.trend, c.base_ppm, c.step) == (1, 120, 0.2)
    assert "first window" in why


def ref(c: Climb, rate: float, var: float, fee: int) -> Climb:
    return dataclasses.replace(c, ref_rate=rate, ref_var=var, ref_fee=fee)


def test_significantly_better_keeps_direction_and_momentum_grows_only_on_the_second():
    # 30 forwards/6h at 100 ppm = 500 ppm/h, vs a reference of 200 ppm/h
    c = ref(window(100, 30, 6), 200.0, 400.0, 80)
    c1, why = hc.evaluate(c, 6 * H, P)
    assert c1.trend == 1 and c1.improvements == 1 and c1.step == 0.2  # one lucky window: no growth
    assert "better" in why
    c2, _ = hc.evaluate(dataclasses.replace(ref(window(120, 40, 6), 500.0, 400.0, 100),
                                            improvements=1), 6 * H, P)
    assert c2.improvements == 2 and c2.step == pytest.approx(0.3)  # second in a row: grows


def test_significantly_worse_reverses_and_halves_the_step():
    c = ref(dataclasses.replace(window(100, 6, 6), step=0.4, improvements=3), 600.0, 400.0, 80)
    c1, why = hc.evaluate(c, 6 * H, P)
    assert (c1.trend, c1.step, c1.improvements) == (-1, 0.2, 0) and c1.base_ppm == 80
    assert "worse" in why


def test_a_difference_within_poisson_noise_holds_course_with_a_smaller_step():
    # 6 vs 7 forwards in 6 h at the same ppm: not significant
    c = ref(window(100, 7, 6), 100.0, 100.0 ** 2 * 6 / 36, 90)
    c1, why = hc.evaluate(c, 6 * H, P)
    assert c1.trend == 1 and c1.step == pytest.approx(0.15) and "no clear change" in why


@pytest.mark.parametrize("anchor,trend", [(60, -1), (200, 1), (104, 1), (None, 1)])
def test_without_evidence_the_climb_returns_towards_the_market(anchor, trend):
    c = ref(window(100, 7, 6), 100.0, 100.0 ** 2 * 6 / 36, 90)  # noise
    c1, why = hc.evaluate(c, 6 * H, P, anchor=anchor)
    assert c1.trend == trend
    if anchor in (60, 200):
        assert f"market's {anchor} ppm" in why


def test_evidence_moves_the_climb_away_from_the_market():
    c = ref(window(100, 30, 6), 200.0, 400.0, 80)  # clearly better going up
    c1, _ = hc.evaluate(c, 6 * H, P, anchor=50)
    assert c1.trend == 1 and c1.base_ppm > 100


def test_dormant_at_both_bases_prices_down():
    c = ref(window(50, 0, 48), 0.0, 10.0, 40)
    c1, why = hc.evaluate(c, 48 * H, P)
    assert c1.trend == -1 and c1.base_ppm == 40 and "no forwards" in why


@pytest.mark.parametrize("fee,trend,step,expected", [
    (10, 1, 0.05, 11),   # at least 1 ppm
    (10, -1, 0.05, 9),
    (0, -1, 0.5, 0),     # never negative
    (1000, 1, 0.5, 1500),
    (1000, -1, 0.08, 920),
])
def test_step_fee(fee, trend, step, expected):
    assert hc.step_fee(fee, trend, step) == expected


def test_step_stays_within_bounds():
    c = ref(dataclasses.replace(window(100, 60, 6), step=0.5, improvements=5), 1.0, 1.0, 90)
    c1, _ = hc.evaluate(c, 6 * H, P)
    assert c1.step == P.step_max
    c = ref(dataclasses.replace(window(100, 1, 6), step=0.08), 1000.0, 1.0, 90)
    c2, _ = hc.evaluate(c, 6 * H, P)
    assert c2.step == P.step_min


def test_broadcast_of_a_new_base_makes_the_judged_window_the_reference():
    c, _ = hc.evaluate(window(100, 30, 6), 6 * H, P)
    assert c.base_ppm == 120
    after = hc.on_broadcast(c, 120, 6 * H)
    assert after.ref_fee == 100 and after.ref_rate == pytest.approx(500.0)
    assert after.window_base == 120 and after.window_forwards == 0 and after.window_start == 6 * H


def test_broadcast_moved_only_by_a_multiplier_keeps_the_window():
    c = window(100, 3, 2)
    after = hc.on_broadcast(c, 150, 2 * H)
    assert after.window_start == c.window_start and after.window_forwards == 3
    assert after.window_fee == 150


def test_sold_out_steps_up_whatever_the_rate_says():
    # Going up, and far worse than the reference: the climb would reverse
    # down. But forwards failed for liquidity: demand exceeded supply here.
    worse = ref(window(100, 5, 6), 500.0, 400.0, 90)
    c, why = hc.evaluate(worse, 6 * H, P, anchor=60, sold_out=3)
    assert (c.trend, c.base_ppm) == (1, 120) and "sold out (3 forwards" in why
    c, why = hc.evaluate(worse, 6 * H, P, anchor=60)
    assert (c.trend, c.base_ppm) == (-1, 90) and "reverse" in why
