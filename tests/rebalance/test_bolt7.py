"""BOLT 7 fee arithmetic: rounding up, amounts and CLTVs backwards, ppm."""

from __future__ import annotations

import pytest

from revops.rebalance.bolt7 import (
    HopPolicy,
    amounts_backwards,
    cltvs_backwards,
    hop_fee,
    ppm,
    share_msat,
)


@pytest.mark.parametrize("amount, base, rate, fee", [
    (1_000_000, 1000, 100, 1100),      # exact: 1000 + 100
    (1_000_001, 1000, 100, 1101),      # 100.0001 rounds up to 101
    (999_999, 0, 1, 1),                # 0.999999 rounds up to 1
    (0, 1000, 500, 1000),              # base only
    (123_456_789, 0, 0, 0),            # free
    (2_000_000_000, 0, 2500, 5_000_000),
])
def test_hop_fee_rounds_the_proportional_part_up(amount, base, rate, fee):
    assert hop_fee(amount, base, rate) == fee


def test_rounding_up_never_pays_less_than_lightningds_rounding_down():
    # lightningd checks base + amount * ppm // 1e6; ours is never below it
    for amount in range(1, 5000, 7):
        for rate in (1, 3, 17, 999, 2500):
            assert hop_fee(amount, 5, rate) >= 5 + amount * rate // 1_000_000
            assert hop_fee(amount, 5, rate) - (5 + amount * rate // 1_000_000) <= 1


def test_negative_inputs_are_refused():
    with pytest.raises(ValueError):
        hop_fee(-1, 0, 0)


def test_amounts_backwards_charge_each_hop_on_what_it_forwards():
    # A -> B -> C -> D: B charges on what it sends to C, A on what it sends to B.
    policies = [HopPolicy(1000, 100), HopPolicy(0, 1000), HopPolicy(500, 10)]
    amounts = amounts_backwards(1_000_000_000, policies)
    assert amounts[-1] == 1_000_000_000
    assert amounts[2] == 1_000_000_000 + 500 + 10_000
    assert amounts[1] == amounts[2] + hop_fee(amounts[2], 0, 1000)
    assert amounts[0] == amounts[1] + hop_fee(amounts[1], 1000, 100)
    assert len(amounts) == len(policies) + 1


def test_cltvs_backwards_add_each_delay():
    assert cltvs_backwards(18, [HopPolicy(0, 0, 40), HopPolicy(0, 0, 80)]) == [138, 98, 18]


def test_ppm_rounds_up_and_share_rounds_down():
    assert ppm(1, 3) == 333_334
    assert ppm(300, 1_000_000) == 300
    assert ppm(5, 0) == 0
    assert share_msat(1_000_001, 300) == 300
    assert share_msat(999, 1000) == 0
