"""The scenario library: the committed files are what the builders write,
they load, and they cover the markets issue 7 asks for."""

from __future__ import annotations

from pathlib import Path

import pytest

from revops.sim.bench.library import LIBRARY, to_toml
from revops.sim.scenario import load_scenario

LIB = Path(__file__).resolve().parents[2] / "etc" / "scenarios"


@pytest.mark.parametrize("name", sorted(LIBRARY))
def test_committed_file_is_what_the_builder_writes(name):
    build = LIBRARY[name]
    assert (LIB / f"{name}.toml").read_text() == to_toml(build(), build.__doc__ or name)


def test_library_covers_the_issue():
    scenarios = {p.stem: load_scenario(str(p)) for p in sorted(LIB.glob("*.toml"))}
    assert len(scenarios) >= 6
    assert any(len(s.channels) >= 200 for s in scenarios.values())
    dead = scenarios["dead-channels"]
    live = {f.in_channel for f in dead.flows} | {f.out_channel for f in dead.flows}
    assert len(dead.channels) - len(live) >= len(dead.channels) // 2
    spike = scenarios["mempool-spike"].feerates.spikes
    assert any(s.duration_hours >= 24 * 7 for s in spike)
    shift = scenarios["demand-shift"]
    mults = {(f.out_channel, p.multiplier) for f in shift.flows for p in f.profile}
    assert ("ride", 2.0) in mults and ("fade", 0.0) in mults
    readme = (LIB / "README.md").read_text()
    for name in scenarios:
        assert f"`{name}.toml`" in readme
