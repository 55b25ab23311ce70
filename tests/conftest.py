"""Shared pytest fixtures: simulated nodes and the hello-world plugin.

``sim_factory(**kwargs)`` builds a :class:`revops.sim.harness.Sim` in its
own directory under ``tmp_path`` (not yet started: call ``.start()`` or use
it as a context manager); whatever is still running at the end of the test
is torn down. ``hello_plugin`` is the ``--plugin`` command line of
tests/sim/hello_plugin.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from revops.sim.harness import Sim, plugin_command

HELLO_PLUGIN = Path(__file__).parent / "sim" / "hello_plugin.py"


@pytest.fixture
def hello_plugin() -> str:
    return plugin_command(HELLO_PLUGIN)


@pytest.fixture
def sim_factory(tmp_path: Path) -> Iterator[Callable[..., Sim]]:
    sims: list[Sim] = []

    def make(**kwargs: Any) -> Sim:
        sim = Sim(tmp_path / f"node{len(sims)}", **kwargs)
        sims.append(sim)
        return sim

    yield make
    for sim in sims:
        sim.kill()
