"""End-to-end fixtures: the real ``revops-plugin`` as a child process of the
simulated lightningd, driven through ``revenue-*`` commands over the RPC
socket, exactly as ``lightning-cli`` would."""

from __future__ import annotations

from typing import Any, Callable

import pytest

from revops.sim.cli import default_plugin_command
from revops.sim.harness import Sim

# Metrics off unless a test wants them: parallel runs must not fight over a port.
BASE_OPTIONS = {"revenue-ops-metrics-address": "off"}


@pytest.fixture
def revops_sim(tmp_path) -> Callable[..., Sim]:
    """Start a node running revops; stopped (and checked clean) at teardown."""
    started: list[Sim] = []

    def start(options: dict[str, Any] | None = None, **kwargs: Any) -> Sim:
        opts = {**BASE_OPTIONS, **(options or {})}
        sim = Sim(tmp_path / f"node{len(started)}", plugins=[default_plugin_command()],
                  options=opts, **kwargs)
        sim.start()
        started.append(sim)
        return sim

    yield start
    for sim in started:
        if sim.running:
            sim.stop()
