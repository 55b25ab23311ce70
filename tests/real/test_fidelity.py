"""The simulator against a real lightningd: the fidelity check on real regtest nodes.

The same graph ``revops-sim fidelity`` builds (a routing node in the
middle, forwards settled, failed and failed locally, a channel closed and
forgotten, a rebalance round a triangle), the same probes to it and to
revops-sim, and no difference the check cannot explain
(revops/sim/fidelity/compare.py's ALLOWED lists the harmless ones).
"""

from __future__ import annotations

from pathlib import Path

from revops.sim.fidelity.check import check_graph
from revops.sim.fidelity.regtest import build_graph


def test_the_simulator_answers_as_the_real_lightningd(node_factory, tmp_path: Path) -> None:
    graph = build_graph(node_factory, tmp_path / "real")
    report = check_graph(graph, tmp_path / "sim")
    assert report.ok, report.text(verbose=True)
    # Everything was compared: every probe ran on both, notifications too.
    assert report.skipped() == [] and report.compared > 100
    assert report.notifications_compared
    answered = {o.name for o in report.real_observations if o.error is None}
    assert {"listconfigs", "listclosedchannels", "bkpr-listincome after rebalance",
            "waitsendpay", "setchannel every field", "getroutes"} <= answered
