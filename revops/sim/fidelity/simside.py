"""The simulated side of the fidelity check: revops-sim set up like the real graph.

The scenario mirrors :mod:`revops.sim.fidelity.regtest`'s subject node: a
channel l1 opened to us (l1 pays through us), one we opened to l3 (the
payments leave there), one we opened to l4 that closes early in the run;
demand from l1 to l3 with some failures downstream, until l3's side runs
dry (local failures); l5 opens a channel to us and we open one to l6
early in the run, as channels opened while the real graph was built. The node runs as
``revops-sim serve --speed 0`` with ``--validate`` and the notification
recorder as its only plugin; :func:`drive` moves its clock a day, enough
for forwards of every status and for the closed channel to be forgotten
(100 blocks after it closed), as the real graph has by then.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from revops.sim.fidelity.recorder import OPTION, write_launcher
from revops.sim.harness import Sim

SCENARIO: dict[str, Any] = {
    "name": "fidelity",
    "htlc_hold_s": [0.5, 6.0],
    "node": {"alias": "fidelity-sim", "network": "regtest"},
    "channels": [
        {"name": "l1", "peer_alias": "l1", "capacity_sat": 1_000_000, "local_sat": 0,
         "opener": "remote", "competitors": 2},
        {"name": "l3", "peer_alias": "l3", "capacity_sat": 1_000_000, "local_sat": 150_000,
         "opener": "local", "competitors": 2},
        {"name": "l4", "peer_alias": "l4", "capacity_sat": 1_000_000, "local_sat": 1_000_000,
         "opener": "local", "competitors": 1, "close_at_day": 0.01, "close_cause": "user"},
        {"name": "l5", "peer_alias": "l5", "capacity_sat": 500_000, "local_sat": 0,
         "opener": "remote", "competitors": 1, "open_at_day": 0.02},
        {"name": "l6", "peer_alias": "l6", "capacity_sat": 500_000, "local_sat": 500_000,
         "opener": "local", "competitors": 1, "open_at_day": 0.02},
    ],
    "flows": [
        {"in": "l1", "out": "l3", "rate_per_day": 150, "amount_median_sat": 3000,
         "alt_fee_median_ppm": 5000, "fail_rate": 0.2},
        {"in": "l3", "out": "l1", "rate_per_day": 20, "amount_median_sat": 3000,
         "alt_fee_median_ppm": 5000, "fail_rate": 0.2},
    ],
    "payments": {"success_rate": 1.0},
}
DRIVE_HOURS = 24.0
SETTLE_HOURS = 0.05  # longer than any payment's hold (payments.hold_s)


@dataclass
class SimGraph:
    sim: Sim
    recorder_file: Path
    context: dict[str, str]

    def settle(self) -> None:
        """Let payments in flight resolve (simulated time moves only on request)."""
        self.sim.advance(hours=SETTLE_HOURS)


def sim_context(sim: Sim) -> dict[str, str]:
    """Ids the probes need, by the scenario's channel names."""
    ledger = sim.call("dev-ledger")
    by_name = {c["name"]: c for c in ledger["channels"]}
    us = sim.rpc.getinfo()["id"]
    out, back, closed = by_name["l3"], by_name["l1"], by_name["l4"]
    chans = {c["short_channel_id"]: c for c in sim.rpc.listpeerchannels()["channels"]
             if "short_channel_id" in c}
    return {"us": us, "peer_out": out["peer_id"], "peer_in": back["peer_id"],
            "scid_out": out["scid"], "scid_in": back["scid"], "scid_closed": closed["scid"],
            "closed_peer": closed["peer_id"],
            "channel_id_out": chans[out["scid"]]["channel_id"]}


def drive(sim: Sim) -> None:
    """A day of market: forwards settle and fail, l4 closes and is forgotten."""
    sim.advance(hours=DRIVE_HOURS)


@contextlib.contextmanager
def sim_node(work_dir: Path | None = None, recorder: bool = True) -> Iterator[SimGraph]:
    """The simulated node, driven and ready for the probes (with the
    notification recorder as its plugin, or none); stopped on exit."""
    with tempfile.TemporaryDirectory(prefix="revops-fidelity-sim-") as tmp:
        base = Path(tmp) if work_dir is None else work_dir
        scenario = base / "fidelity-scenario.json"
        base.mkdir(parents=True, exist_ok=True)
        scenario.write_text(json.dumps(SCENARIO, indent=1), encoding="utf-8")
        notes = base / "sim-notifications.jsonl"
        plugins = [str(write_launcher(base))] if recorder else []
        sim = Sim(base / "node", plugins=plugins, options={OPTION: str(notes)} if recorder else {},
                  scenario=scenario, validate=True)
        sim.start()
        try:
            drive(sim)
            yield SimGraph(sim, notes, sim_context(sim))
        except BaseException:
            sim.kill()
            raise
        sim.stop(clean=False)
