"""The page itself: exact amounts, nothing fetched, no script, sections
that say so when they have nothing to show."""

from __future__ import annotations

import re

import pytest

from revops.flow.buckets import DAY, DayBucket, Totals
from revops.report import svg
from revops.report.facts import Facts, Table
from revops.report.page import render, sat
from revops.report.pnl import build


@pytest.mark.parametrize("msat, text", [(0, "0.000"), (1, "0.001"), (1_234_567, "1,234.567"),
                                        (-42_657, "-42.657"), (10**15, "1,000,000,000,000.000")])
def test_amounts_are_sat_with_the_msat_after_the_point(msat, text):
    assert sat(msat) == text


@pytest.mark.parametrize("lo, hi, first, step", [(0, 95, 0, 20), (-808, 16063, -5000, 5000),
                                                 (0, 1, 0, 0.2), (3, 3.5, 3, 0.1)])
def test_axis_ticks_are_round_numbers(lo, hi, first, step):
    ticks = svg.nice_ticks(lo, hi)
    assert ticks[0] == pytest.approx(first) and ticks[1] - ticks[0] == pytest.approx(step)
    assert ticks[0] <= lo and ticks[-1] > hi - step  # they span the range


def facts(**kw) -> Facts:
    return Facts(path="/n/revops.sqlite3", schema_version=5, **kw)


def test_an_empty_database_renders_with_every_section_saying_why_it_is_empty():
    html = render(build(facts()), generated_at=0.0)
    assert "no data yet" in html
    assert "No forwards, costs or snapshots recorded yet." in html
    assert "No rebalances yet." in html
    assert 'id="capacity-none"' in html and "Not built yet" in html


def test_the_page_fetches_nothing_and_runs_no_script():
    f = facts(buckets=(DayBucket(100, "1x1x1", Totals(fees_msat=5, settled_out=1)),
                       DayBucket(102, "1x1x1", Totals(fees_msat=7, settled_out=1))))
    html = render(build(f), generated_at=100 * DAY)
    assert "<script" not in html.lower()
    assert not re.search(r"""(src|href)\s*=\s*["'](?!#)""", html, re.I)
    assert "http://" not in html and "https://" not in html
    assert "default-src 'none'" in html  # the browser is told to load nothing either
    assert html.count("<svg") >= 2


def test_the_capacity_planners_advice_is_listed_once_it_is_stored():
    advice = Table("capacity_advice", ("scid", "action"), (("1x1x1", "close"),))
    html = render(build(facts(capacity_advice=(advice,))))
    assert "capacity-none" not in html and "<td>close</td>" in html
