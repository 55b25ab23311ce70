"""Running the fidelity check: the same probes on a real node and on revops-sim, and the report.

Two ways to get the real side:

- :func:`check_regtest`: a regtest graph of our own (regtest.py, through
  pyln-testing; needs ``lightningd`` and ``bitcoind`` on PATH); every
  probe runs, notifications are compared too;
- :func:`check_node`: an operator's running node, by its lightning dir.
  On regtest every probe runs; on any other network only the read-only
  ones, without the unbounded listings (no ``setchannel``, no payment, no
  datastore write, no ``listforwards`` of a whole history), and
  notifications are not compared (nothing is started on the node).

The simulated side (simside.py) runs the same probes with the same
``writes``/``heavy`` switches; then compare.py decides. The report lists
every difference, explained ones with their reason; the check fails on
any unexplained one, and on any answer the sim logged as violating CLN's
schemas.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from revops.sim.fidelity.compare import (
    Difference,
    classify,
    compare_notifications,
    compare_observations,
)
from revops.sim.fidelity.probes import CallFailed, Observation, run_probes
from revops.sim.fidelity.recorder import read_notifications


@dataclass
class Side:
    """One node as the check sees it."""

    label: str
    call: Callable[[str, Any, Any], Any]
    context: dict[str, str]
    settle: Callable[[], None] = lambda: None
    notifications: Callable[[], list[dict[str, Any]]] | None = None
    problems: Callable[[], list[str]] = lambda: []


@dataclass
class Report:
    real: str
    sim: str
    real_observations: list[Observation]
    sim_observations: list[Observation]
    notifications_compared: bool
    unexplained: list[Difference] = field(default_factory=list)
    explained: list[tuple[Difference, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.unexplained

    @property
    def compared(self) -> int:
        return sum(1 for o in self.real_observations if o.skipped is None)

    def skipped(self) -> list[tuple[str, str]]:
        return [(o.name, o.skipped) for o in self.real_observations if o.skipped is not None]

    def text(self, verbose: bool = False) -> str:
        lines = [f"revops-sim fidelity: {self.real} against {self.sim}",
                 f"  probes compared: {self.compared}; skipped: {len(self.skipped())}",
                 "  notifications: " + ("compared" if self.notifications_compared
                                        else "not compared (read-only run)")]
        for name, why in self.skipped() if verbose else ():
            lines.append(f"    skipped {name}: {why}")
        lines.append(f"  unexplained differences: {len(self.unexplained)}")
        lines.extend(f"    {d.line()}" for d in self.unexplained)
        lines.append(f"  explained differences: {len(self.explained)}"
                     + ("" if verbose else " (--verbose lists them)"))
        if verbose:
            for d, reason in self.explained:
                lines.append(f"    {d.line()}")
                lines.append(f"        because {reason}")
        lines.append("  result: " + ("OK, no unexplained difference" if self.ok
                                     else "FAILED: the simulator differs from lightningd"))
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        def diff(d: Difference) -> dict[str, str]:
            return {"probe": d.probe, "path": d.path, "kind": d.kind, "real": d.real,
                    "sim": d.sim}

        return {"real": self.real, "sim": self.sim, "ok": self.ok,
                "notifications_compared": self.notifications_compared,
                "unexplained": [diff(d) for d in self.unexplained],
                "explained": [{**diff(d), "reason": r} for d, r in self.explained],
                "real_observations": [o.to_json() for o in self.real_observations],
                "sim_observations": [o.to_json() for o in self.sim_observations]}


def rpc_caller(rpc: Any) -> Callable[[str, Any, Any], Any]:
    """``call(method, params, filter)`` on a pyln ``LightningRpc``; a JSON-RPC
    error becomes :class:`CallFailed`."""
    from pyln.client import RpcError

    def call(method: str, params: Any, flt: Any) -> Any:
        try:
            return rpc.call(method, params, filter=flt)
        except RpcError as e:
            error = e.error if isinstance(e.error, dict) else {"message": str(e.error)}
            raise CallFailed(error) from None

    return call


def compare_sides(real: Side, sim: Side, *, writes: bool, heavy: bool,
                  strict: bool = True) -> Report:
    """Probe both nodes (real first) and classify what differs (``strict``:
    the real node's data is ours, so kinds of rows must match too)."""
    real_obs = run_probes(real.call, real.context, writes=writes, heavy=heavy, settle=real.settle)
    sim_obs = run_probes(sim.call, sim.context, writes=writes, heavy=heavy, settle=sim.settle)
    diffs = compare_observations(real_obs, sim_obs, real.context, sim.context)
    with_notes = real.notifications is not None and sim.notifications is not None
    if with_notes:
        assert real.notifications is not None and sim.notifications is not None
        diffs += compare_notifications(real.notifications(), sim.notifications())
    diffs += [Difference("sim log", "", "schema", "valid", line) for line in sim.problems()]
    unexplained, explained = classify(diffs, strict=strict)
    return Report(real.label, sim.label, real_obs, sim_obs, with_notes, unexplained, explained)


# -- the simulated side -------------------------------------------------------------


@contextlib.contextmanager
def _sim_side(work_dir: Path | None, with_notes: bool) -> Iterator[Side]:
    from revops.sim.fidelity.simside import sim_node

    with sim_node(work_dir, recorder=with_notes) as g:
        yield Side("revops-sim (the fidelity scenario)", rpc_caller(g.sim.rpc), g.context,
                   g.settle,
                   (lambda: read_notifications(g.recorder_file)) if with_notes else None,
                   lambda: [line for line in g.sim.broken_lines() if "schema" in line])


# -- real nodes ------------------------------------------------------------------------


def regtest_available() -> str | None:
    """None when lightningd and bitcoind are on PATH, else why not."""
    missing = [b for b in ("lightningd", "bitcoind") if shutil.which(b) is None]
    return f"{' and '.join(missing)} not on PATH" if missing else None


def check_regtest(work_dir: Path | None = None) -> Report:
    """Against a regtest graph of our own (see regtest.py)."""
    from revops.sim.fidelity.regtest import regtest_node

    with regtest_node(None if work_dir is None else work_dir / "real") as g:
        real = Side("a real lightningd (regtest graph, middle node)",
                    rpc_caller(g.subject.rpc), g.context, g.settle,
                    lambda: read_notifications(g.recorder_file))
        with _sim_side(None if work_dir is None else work_dir / "sim", True) as sim:
            return compare_sides(real, sim, writes=True, heavy=True)


def check_graph(graph: Any, work_dir: Path | None = None) -> Report:
    """Against a regtest graph a test built with its own ``node_factory``."""
    real = Side("a real lightningd (regtest graph, middle node)", rpc_caller(graph.subject.rpc),
                graph.context, graph.settle, lambda: read_notifications(graph.recorder_file))
    with _sim_side(work_dir, True) as sim:
        return compare_sides(real, sim, writes=True, heavy=True)


def find_rpc_file(lightning_dir: Path, rpc_file: str = "lightning-rpc") -> Path:
    """``DIR/lightning-rpc``, or the one in DIR's network subdirectory."""
    direct = lightning_dir / rpc_file
    if direct.exists():
        return direct
    found = sorted(lightning_dir.glob(f"*/{rpc_file}"))
    if len(found) == 1:
        return found[0]
    raise FileNotFoundError(f"no {rpc_file} in {lightning_dir} or one network directory below it")


def node_context(call: Callable[[str, Any, Any], Any]) -> dict[str, str]:
    """What the probes need, from a node's own answers: the channel with the
    most to send (``out``), another peer's with the most to receive
    (``in``), and a closed channel if it has one."""
    us = call("getinfo", {}, None)["id"]
    chans = [c for c in call("listpeerchannels", {}, None)["channels"]
             if c.get("state") == "CHANNELD_NORMAL" and c.get("short_channel_id")]
    ctx = {"us": us}
    if chans:
        out = max(chans, key=lambda c: c.get("spendable_msat", 0))
        ctx.update(peer_out=out["peer_id"], scid_out=out["short_channel_id"],
                   channel_id_out=out["channel_id"])
        others = [c for c in chans if c["peer_id"] != out["peer_id"]]
        if others:
            back = max(others, key=lambda c: c.get("receivable_msat", 0))
            ctx.update(peer_in=back["peer_id"], scid_in=back["short_channel_id"])
    closed = [c for c in call("listclosedchannels", {}, None)["closedchannels"]
              if c.get("peer_id") and c.get("short_channel_id")]
    if closed:
        ctx.update(closed_peer=closed[-1]["peer_id"], scid_closed=closed[-1]["short_channel_id"])
    return ctx


def check_node(lightning_dir: Path, rpc_file: str = "lightning-rpc",
               work_dir: Path | None = None) -> Report:
    """Against an operator's running node (read-only unless it is on regtest)."""
    from pyln.client import LightningRpc

    from revops.sim.fidelity.regtest import settle_payments

    rpc = LightningRpc(str(find_rpc_file(lightning_dir, rpc_file)))
    call = rpc_caller(rpc)
    info = call("getinfo", {}, None)
    regtest = info.get("network") == "regtest"
    real = Side(f"lightningd {info.get('version')} on {info.get('network')} "
                f"({lightning_dir})", call, node_context(call),
                (lambda: settle_payments(rpc)) if regtest else (lambda: None))
    with _sim_side(work_dir, False) as sim:
        return compare_sides(real, sim, writes=regtest, heavy=regtest, strict=False)


def write_report(report: Report, path: Path) -> None:
    path.write_text(json.dumps(report.to_json(), indent=1) + "\n", encoding="utf-8")
