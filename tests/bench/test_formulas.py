"""The baselines' formulas on hand-computed cases (charge-lnd's proportional
strategy, CLBOSS's weighted median, balance modifier and bins)."""

from __future__ import annotations

import math

import pytest

from revops.sim.baselines import formulas as f

MSAT = 1000


@pytest.mark.parametrize("to_us, total, expected", [
    (2_500_000 * MSAT, 10_000_000 * MSAT, 250),  # ratio 0.25: 100 + 0.75 * 200
    (10_000_000 * MSAT, 10_000_000 * MSAT, 100),  # all ours: the minimum
    (0, 10_000_000 * MSAT, 300),  # nothing ours: the maximum
    (3_333_333 * MSAT, 10_000_000 * MSAT, 233),  # 100 + 0.6666667 * 200 = 233.33, truncated
    (5, 0, 100),  # no capacity: the minimum
])
def test_proportional_ppm(to_us, total, expected):
    assert f.proportional_ppm(to_us, total, 100, 300) == expected


def test_proportional_ppm_never_negative():
    assert f.proportional_ppm(10, 10, -50, 10) == 0


@pytest.mark.parametrize("current, target, applies", [
    ((1000, 200), (1000, 205), False),  # within min_fee_ppm_delta
    ((1000, 200), (1000, 210), True),  # exactly the delta
    ((1000, 200), (1000, 189), True),
    ((1000, 200), (1000, 200), False),
    ((0, 200), (1000, 201), True),  # a changed base fee always applies
])
def test_charge_lnd_min_fee_ppm_delta(current, target, applies):
    assert f.charge_lnd_applies(*current, *target, 10) is applies


@pytest.mark.parametrize("samples, expected", [
    ([(100, 1), (200, 1), (300, 1)], 200),
    ([(300, 1), (100, 1), (200, 1)], 200),  # order does not matter
    ([(100, 10), (500, 1)], 100),  # weight decides, not count
    ([(100, 1), (500, 10)], 500),
    ([(100, 1), (200, 1)], 200),  # an exact half is not more than half: the next one
    ([(100, 2), (200, 1), (300, 1)], 200),  # 2/4 is not > half; 3/4 is
    ([(7, 5)], 7),
])
def test_weighted_median(samples, expected):
    assert f.weighted_median(samples) == expected


def test_weighted_median_without_samples():
    assert f.weighted_median([]) is None


def test_balance_multiplier():
    assert f.balance_multiplier(0.5) == pytest.approx(1.0)
    assert f.balance_multiplier(0.0) == pytest.approx(math.sqrt(50))  # 7.07
    assert f.balance_multiplier(1.0) == pytest.approx(1 / math.sqrt(50))  # 0.141
    assert f.balance_multiplier(0.25) == pytest.approx(50 ** 0.25)


@pytest.mark.parametrize("capacity_sat, bins", [
    (1_000_000, 5),  # 0.01 BTC / 0.002 BTC
    (100_000, 4),  # fewer than 4: 4
    (900_000, 5),  # 4.5 rounds half away from zero, as C's round()
    (16_000_000, 50),  # 80: at most 50
    (5_000_000, 25),
])
def test_num_bins(capacity_sat, bins):
    assert f.num_bins(capacity_sat * MSAT) == bins


def test_bin_multiplier_is_taken_at_the_bin_centre():
    # bin 0 of 4 is 0-25 % ours; its centre 12.5 %: 50 ** 0.375
    assert f.bin_multiplier(0, 4) == pytest.approx(4.3362, abs=1e-4)
    assert f.bin_multiplier(3, 4) == pytest.approx(1 / 4.3362, abs=1e-4)
    assert f.bin_multiplier(2, 5) == pytest.approx(1.0)


@pytest.mark.parametrize("previous, fraction, draw, expected", [
    (None, 0.75, 0.9, 3),  # first sight: straight to the balance's bin
    (None, 1.0, 0.0, 3),  # all ours: the top bin, not one past it
    (None, 0.0, 0.0, 0),
    (2, 0.725, 0.0, 2),  # still inside the previous bin (2.9): no move
    (1, 0.6, 0.3, 2),  # up to 2.4: moves with probability 0.4 ...
    (1, 0.6, 0.5, 1),  # ... else rounds back toward the old bin
    (3, 0.425, 0.2, 1),  # down to 1.7: moves with probability 1 - 0.7 = 0.3 ...
    (3, 0.425, 0.5, 2),  # ... else one bin up, toward the old one
])
def test_next_bin(previous, fraction, draw, expected):
    total = 10_000_000 * MSAT
    assert f.next_bin(previous, int(total * fraction), total, 4, draw) == expected


@pytest.mark.parametrize("median, multiplier, expected", [
    ((1000, 300), 0.5, (500, 150)),
    ((1000, 333), 1.5, (1500, 500)),  # 499.5 rounds half away from zero
    ((1, 1), 0.4, (1, 1)),  # 0 becomes 1, as ChannelFeeManager does
    ((0, 0), 7.0, (1, 1)),
    ((1000, 200), math.sqrt(50), (7071, 1414)),
])
def test_clboss_fee(median, multiplier, expected):
    assert f.clboss_fee(*median, multiplier) == expected
