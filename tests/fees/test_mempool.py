"""The mempool reflex: thresholds, probability, decay, multiplier."""

import pytest

from revops.fees import mempool
from revops.fees.mempool import Reflex

NOW = 1_800_000_000.0
FLAT = [(NOW - 3600 * h, 1000) for h in range(1, 24)]  # 24 h at 1000 sat/kvB


@pytest.mark.parametrize("ratio,p", [(1.0, 0), (1.99, 0), (2.0, 0), (3.0, 0.5), (3.5, 0.75),
                                     (4.0, 1), (10, 1)])
def test_trigger_probability(ratio, p):
    assert mempool.trigger_probability(ratio) == pytest.approx(p)


def test_four_times_the_average_triggers_at_once_at_full_intensity():
    r, fired = mempool.step(Reflex(), 4000, FLAT, NOW, draw=0.999)
    assert fired and r.intensity == 1.0 and r.multiplier == 3.0 and r.ratio == 4.0


def test_between_two_and_four_the_seeded_draw_decides():
    r, fired = mempool.step(Reflex(), 3000, FLAT, NOW, draw=0.49)
    assert fired and r.intensity == pytest.approx(2 / 3)
    r, fired = mempool.step(Reflex(), 3000, FLAT, NOW, draw=0.51)
    assert not fired and r.intensity == 0


def test_intensity_decays_by_085_per_reading_and_the_floor_follows():
    r, _ = mempool.step(Reflex(), 4000, FLAT, NOW, draw=0.0)
    r, fired = mempool.step(r, 1000, FLAT, NOW + 600, draw=0.0)
    assert not fired and r.intensity == pytest.approx(0.85)
    assert r.multiplier == pytest.approx(1 + 2 * 0.85)
    for _ in range(60):
        r, _ = mempool.step(r, 1000, FLAT, NOW + 600, draw=0.0)
    assert r.intensity == 0 and r.multiplier == 1.0


def test_readings_older_than_a_day_leave_the_average():
    history = [(NOW - 2 * 86400, 100_000)] + FLAT
    assert mempool.average(history, NOW) == 1000


def test_disabled_reflex_stays_at_rest():
    r, fired = mempool.step(Reflex(intensity=0.9), 9000, FLAT, NOW, draw=0.0, enabled=False)
    assert not fired and r.multiplier == 1.0
