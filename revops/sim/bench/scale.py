"""``revops-sim bench scale``: does revops keep up with the biggest nodes?

A generated node (``generate_scenario``: default 5,000 channels and
1,000,000 historical forwards) is served by ``revops-sim serve`` in a child
process, and the real plugin is started on it with ``plugin start``, as an
operator would. The clock moves only by ``dev-advance``, so what is timed
is wall time on this machine for a known amount of simulated work:

- startup: ``plugin start`` (both handshakes), then the first clock step,
  which fires every coordinator's first cycle; startup to the first
  completed fee cycle is the ``plugin start`` time plus the plugin's own
  ``first_cycle_wall_seconds.fee`` (from its actor system's start);
- hydration: clock steps until ``revenue-forwards-sync`` says done; its
  ``sync_seconds`` and rows/s (the page phase: fetch, parse, store);
- steady state, ``--hours`` simulated hours in 10-minute steps: every flow
  cycle (incremental sync + analysis), fee cycle (wall, RPC calls against
  the minimum of one ``listpeerchannels`` plus one ``setchannel`` per
  changed channel) and rebalance cycle, from ``revenue-status``;
- the plugin process's RSS (now and peak) and thread count (/proc);
- ``plugin stop``: the RPC's wall time (shutdown sent to process gone).

Floors, on this machine in this run: the same ``listforwards`` pages
rendered in-process from an identical market (same generator and seed),
``json.loads`` + one ``sqlite3.executemany`` per page into the plugin's own
schema (H5's ``bench hydration`` baseline); and, unless ``--no-isolated``,
revops' hydration alone against pre-rendered pages (H5's stand-in), so the
sim's page rendering is out of both sides. ``--py-spy DIR`` records
py-spy profiles of the plugin during hydration and the steady state.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from revops.sim.bench import work_dir

DEFAULT_CHANNELS = 5000
DEFAULT_FORWARDS = 1_000_000
TARGETS = {"hydration_vs_floor": 3.0, "fee_cycle_seconds": 5.0, "rss_mb": 300.0,
           "startup_to_first_fee_cycle_seconds": 15.0, "plugin_stop_seconds": 2.0}
PLUGIN_OPTIONS = {"revenue-ops-metrics-address": "off"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--channels", type=int, default=DEFAULT_CHANNELS, metavar="N",
                   help=f"channels of the generated node (default {DEFAULT_CHANNELS:,})")
    p.add_argument("--forwards", type=int, default=DEFAULT_FORWARDS, metavar="M",
                   help=f"historical forwards (default {DEFAULT_FORWARDS:,})")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--hours", type=float, default=3.0,
                   help="simulated hours of steady state measured after hydration (default 3)")
    p.add_argument("--no-isolated", action="store_true",
                   help="skip the isolated hydration (revops against pre-rendered pages)")
    p.add_argument("--py-spy", metavar="DIR", help="record py-spy profiles of the plugin here")
    p.add_argument("--dir", metavar="DIR", help="work directory, kept (default: a temporary one)")
    p.add_argument("--report", metavar="FILE.json", help="write the results as JSON")


# -- /proc ---------------------------------------------------------------------------------

def proc_status(pid: int) -> dict[str, float]:
    """RSS now and peak (MB) and threads of a live process."""
    out: dict[str, float] = {}
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return out
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out["rss_mb" if key == "VmRSS" else "peak_rss_mb"] = int(value.split()[0]) / 1024
        elif key == "Threads":
            out["threads"] = int(value)
    return out


def find_child(parent: int, needle: str) -> int | None:
    """The pid of ``parent``'s child whose command line contains ``needle``."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid != parent:
                continue
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, ValueError, IndexError):
            continue
        if needle in cmd:
            return int(entry.name)
    return None


# -- py-spy ------------------------------------------------------------------------------

class Profiler:
    """``py-spy record`` on the plugin for one phase (optional). Only samples
    holding the GIL count (``--gil``): threads waiting on a queue, a socket
    or a condition cost no CPU and would drown the picture."""

    def __init__(self, out_dir: str | None) -> None:
        self.out_dir = Path(out_dir) if out_dir else None
        beside = Path(sys.executable).with_name("py-spy")  # a venv's, even when not on PATH
        self.exe = (str(beside) if beside.exists() else shutil.which("py-spy")) if out_dir else None
        self.proc: subprocess.Popen[bytes] | None = None
        self.files: dict[str, str] = {}
        self.problem: str | None = None
        if out_dir and self.exe is None:
            self.problem = "py-spy not found (pip install py-spy)"

    def start(self, pid: int, phase: str) -> None:
        if self.exe is None or self.out_dir is None:
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        out = self.out_dir / f"{phase}.speedscope.json"
        self.proc = subprocess.Popen([self.exe, "record", "--pid", str(pid), "--rate", "100",
                                      "--format", "speedscope", "--gil", "-o", str(out)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.files[phase] = str(out)
        time.sleep(0.5)  # attach before the phase starts
        if self.proc.poll() is not None:
            err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
            self.problem = f"py-spy failed: {err.strip()[:300]}"
            self.files.pop(phase, None)
            self.proc = None

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


def top_frames(path: str, n: int = 12) -> dict[str, list[tuple[str, float]]]:
    """Where a speedscope profile's time went: ``self`` (the functions on
    top of the stack) and ``ours`` (inclusive time of revops' own functions,
    under revops/ or actors/), as shares of all samples."""
    data = json.loads(Path(path).read_text())
    frames = data["shared"]["frames"]
    own: dict[int, float] = {}
    incl: dict[int, float] = {}
    total = 0.0
    for prof in data["profiles"]:
        for stack, weight in zip(prof["samples"], prof["weights"]):
            if not stack:
                continue
            total += weight
            own[stack[-1]] = own.get(stack[-1], 0.0) + weight
            for i in set(stack):
                f = frames[i].get("file", "")
                if "/revops/" in f or "/actors/" in f:
                    incl[i] = incl.get(i, 0.0) + weight

    def label(i: int) -> str:
        return f"{frames[i]['name']} ({Path(frames[i].get('file', '?')).name}:" \
               f"{frames[i].get('line', '?')})"

    def ranked(counts: dict[int, float]) -> list[tuple[str, float]]:
        top = sorted(counts.items(), key=lambda kv: -kv[1])[:n]
        return [(label(i), round(w / total, 4) if total else 0.0) for i, w in top]

    return {"self": ranked(own), "ours": ranked(incl)}


# -- the measured run ----------------------------------------------------------------------

def measure_plugin(work: Path, args: argparse.Namespace) -> dict[str, Any]:
    from revops.sim.cli import default_plugin_command
    from revops.sim.harness import Sim

    out: dict[str, Any] = {}
    prof = Profiler(args.py_spy)
    sim = Sim(work / "node", channels=args.channels, forwards=args.forwards, seed=args.seed,
              validate=False, shutdown_timeout=30.0)
    t0 = time.perf_counter()
    sim.start(timeout=1800.0)
    out["sim_start_seconds"] = round(time.perf_counter() - t0, 3)
    assert sim.proc is not None
    out["sim_rss_mb"] = round(proc_status(sim.proc.pid).get("rss_mb", 0.0), 1)
    command = default_plugin_command().strip("'")
    try:
        t0 = time.perf_counter()
        sim.call("plugin", {"subcommand": "start", "plugin": command, **PLUGIN_OPTIONS})
        plugin_start = time.perf_counter() - t0
        pid = find_child(sim.proc.pid, "revops")
        if pid is None:
            raise SystemExit("revops-sim bench scale: cannot find the plugin's process")
        out["plugin_start_rpc_seconds"] = round(plugin_start, 3)

        # First clock step: every coordinator's first cycle (hydration's first chunk too).
        prof.start(pid, "startup-and-hydration")
        t0 = time.perf_counter()
        sim.advance(seconds=1)
        out["first_step_seconds"] = round(time.perf_counter() - t0, 3)
        status = sim.call("revenue-status")
        first = status.get("first_cycle_wall_seconds", {})
        out["first_cycle_wall_seconds"] = first
        fee = status["actors"].get("fee", {})
        out["first_fee_cycle"] = {"seconds": fee.get("last_tick_seconds"),
                                  "summary": fee.get("last_tick_summary")}
        if "fee" in first:
            out["startup_to_first_fee_cycle_seconds"] = round(plugin_start + first["fee"], 3)
        out["after_startup"] = proc_status(pid)

        # Hydration: clock steps until done.
        steps = 0
        t0 = time.perf_counter()
        while True:
            sync = sim.call("revenue-forwards-sync")
            if sync["hydration"]["state"] == "done" or steps > 400:
                break
            sim.advance(seconds=300)
            steps += 1
        out["hydration_wall_seconds"] = round(time.perf_counter() - t0 + out["first_step_seconds"], 3)
        prof.stop()
        h = sync["hydration"]
        out["hydration"] = {"state": h["state"], "rows": h["hydrated"],
                            "sync_seconds": h["sync_seconds"],
                            "rows_per_second": h["rows_per_second"],
                            "page_size": sync["page_size"], "rows_per_cycle": sync["rows_per_cycle"],
                            "clock_steps": steps + 1, "stored_forwards": sync["stored_forwards"]}
        out["after_hydration"] = proc_status(pid)

        # Steady state: 10-minute steps, every cycle's numbers.
        prof.start(pid, "steady")
        cycles: dict[str, list[dict[str, Any]]] = {"flow": [], "fee": [], "rebalance": [],
                                                    "mempool": []}
        status = sim.call("revenue-status")
        last_seen: dict[str, Any] = {  # cycles already seen (startup, hydration) are not steady
            name: (a.get("last_tick"), a.get("last_tick_seconds"))
            for name, a in status["actors"].items()}
        samples = []
        for _ in range(max(1, round(args.hours * 6))):
            sim.advance(seconds=600)
            status = sim.call("revenue-status")
            for name, seen in cycles.items():
                a = status["actors"].get(name, {})
                mark = (a.get("last_tick"), a.get("last_tick_seconds"))
                if a.get("last_tick") is not None and last_seen.get(name) != mark:
                    last_seen[name] = mark
                    seen.append({"at": a["last_tick"], "seconds": a["last_tick_seconds"],
                                         "ok": a.get("last_tick_ok"),
                                         "summary": a.get("last_tick_summary")})
            samples.append(proc_status(pid))
        prof.stop()
        out["cycles"] = cycles
        out["process"] = {"rss_mb": max((s.get("rss_mb", 0) for s in samples), default=None),
                          "peak_rss_mb": max((s.get("peak_rss_mb", 0) for s in samples),
                                             default=None),
                          "threads": max((s.get("threads", 0) for s in samples), default=None)}
        out["status_healthy"] = status.get("healthy")
        out["degraded"] = status.get("degraded")

        t0 = time.perf_counter()
        sim.call("plugin", {"subcommand": "stop", "plugin": os.path.basename(command)})
        out["plugin_stop_seconds"] = round(time.perf_counter() - t0, 3)
        out["plugin_gone_after_stop"] = not Path(f"/proc/{pid}").exists()
    finally:
        prof.stop()
        sim.stop(clean=False)
    if prof.files:
        out["profiles"] = {phase: {"file": f, **top_frames(f)}
                           for phase, f in prof.files.items() if Path(f).exists()}
    if prof.problem:
        out["profile_problem"] = prof.problem
    out["db_path"] = str(work / "node" / "revops.sqlite3")
    return out


def measure_floor(work: Path, args: argparse.Namespace, page_size: int,
                  isolated: bool) -> dict[str, Any]:
    """The same pages as revops asked for, loaded the plainest way; and
    (``isolated``) revops hydrating from the same pre-rendered pages."""
    from revops.sim.bench import hydration as h5
    from revops.sim.market import Market
    from revops.sim.scenario import generate_scenario

    out: dict[str, Any] = {}
    t0 = time.perf_counter()
    market = Market(generate_scenario(args.channels, args.forwards, args.seed), args.seed)
    keys = h5.history_pages(args.forwards, market.forwards.updated_count, page_size)
    t1 = time.perf_counter()
    pages = {k: h5.render_page(market, *k) for k in keys}
    out["render_seconds"] = round(time.perf_counter() - t1, 3)
    out["market_seconds"] = round(t1 - t0, 3)
    out["pages"] = len(keys)
    out["page_megabytes"] = round(sum(len(b) for b in pages.values()) / 1e6, 1)
    floor_dir = work / "floor"
    floor_dir.mkdir(parents=True, exist_ok=True)
    out["raw"] = h5.run_baseline(floor_dir, [pages[k] for k in keys],
                                 work / "node" / "revops.sqlite3")
    if isolated:
        iso_dir = work / "isolated"
        iso_dir.mkdir(parents=True, exist_ok=True)
        sock = str(iso_dir / "lightning-rpc")
        stand_in = h5.StandIn(market, pages)
        server = h5._Server(sock, stand_in)
        import threading
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            out["isolated_revops"] = h5.run_revops(iso_dir, sock, page_size, args.forwards,
                                                   float(market.now))
        finally:
            server.shutdown()
            server.server_close()
    return out


def main(args: Any) -> int:
    from revops.flow.options import FLOW_OPTIONS

    if args.channels < 4 or args.forwards < 1:
        raise SystemExit("revops-sim bench scale: --channels must be >= 4 and --forwards >= 1")
    page_size = int(next(o.default for o in FLOW_OPTIONS if o.key == "flow-page-size"))
    with work_dir(args.dir, "revops-bench-scale-") as work:
        print(f"scale: {args.channels:,} channels, {args.forwards:,} forwards "
              f"(seed {args.seed}) in {work}", flush=True)
        run = measure_plugin(work, args)
        print("floor: the same pages, json.loads + sqlite3.executemany ...", flush=True)
        floor = measure_floor(work, args, page_size, not args.no_isolated)
    report = build_report(args, run, floor)
    print()
    print(render(report))
    if args.report:
        Path(args.report).write_text(json.dumps(report, indent=1, default=str) + "\n",
                                     encoding="utf-8")
        print(f"report: {args.report}")
    return 0


def _steady(cycles: list[dict[str, Any]], skip_first: bool) -> list[dict[str, Any]]:
    rest = [c for c in cycles if c.get("ok")]
    return rest[1:] if skip_first and len(rest) > 1 else rest


def build_report(args: argparse.Namespace, run: dict[str, Any],
                 floor: dict[str, Any]) -> dict[str, Any]:
    hyd = run["hydration"]
    raw = floor["raw"]
    fee_cycles = _steady(run["cycles"]["fee"], skip_first=False)
    fee = []
    for c in fee_cycles:
        s = c.get("summary") or {}
        minimum = 1 + int(s.get("sent", 0)) + int(s.get("failed", 0))
        fee.append({"seconds": c["seconds"], "rpc_calls": s.get("rpc_calls"),
                    "rpc_minimum": minimum, "sent": s.get("sent"), "channels": s.get("channels"),
                    "rpc_vs_minimum": (s["rpc_calls"] / minimum) if s.get("rpc_calls") else None})
    flow = [{"seconds": c["seconds"], "new": (c.get("summary") or {}).get("forwards_new"),
             "updated": (c.get("summary") or {}).get("forwards_updated"),
             "rpc_calls": (c.get("summary") or {}).get("rpc_calls")}
            for c in _steady(run["cycles"]["flow"], skip_first=False)
            if not (c.get("summary") or {}).get("hydrating")]
    reb = [{"seconds": c["seconds"], "rpc_calls": (c.get("summary") or {}).get("rpc_calls")}
           for c in _steady(run["cycles"]["rebalance"], skip_first=False)]
    iso = floor.get("isolated_revops")
    hyd_rate = hyd["rows_per_second"] or 0
    results = {
        "hydration_seconds": hyd["sync_seconds"],
        "hydration_rows_per_second": hyd_rate,
        "hydration_floor_rows_per_second": round(raw["rows_per_second"]),
        "hydration_vs_floor": (raw["rows_per_second"] / hyd_rate) if hyd_rate else None,
        "hydration_isolated_rows_per_second": round(iso["rows_per_second"]) if iso else None,
        "hydration_isolated_vs_floor": (raw["rows_per_second"] / iso["rows_per_second"]
                                        if iso else None),
        "incremental_sync_cycle_seconds": _stats([c["seconds"] for c in flow]),
        "fee_cycle_seconds": _stats([c["seconds"] for c in fee]),
        "fee_cycle_rpc_calls": _stats([c["rpc_calls"] for c in fee if c["rpc_calls"]]),
        "fee_cycle_rpc_vs_minimum": _stats([c["rpc_vs_minimum"] for c in fee
                                            if c["rpc_vs_minimum"]]),
        "first_fee_cycle_seconds": run["first_fee_cycle"]["seconds"],
        "rebalance_cycle_seconds": _stats([c["seconds"] for c in reb]),
        "rss_mb": run["process"]["rss_mb"],
        "peak_rss_mb": run["process"]["peak_rss_mb"],
        "threads": run["process"]["threads"],
        "startup_to_first_fee_cycle_seconds": run.get("startup_to_first_fee_cycle_seconds"),
        "plugin_stop_seconds": run["plugin_stop_seconds"],
    }
    checks = {
        "hydration_vs_floor": results["hydration_vs_floor"],
        "fee_cycle_seconds": (results["fee_cycle_seconds"] or {}).get("max"),
        "rss_mb": results["peak_rss_mb"],
        "startup_to_first_fee_cycle_seconds": results["startup_to_first_fee_cycle_seconds"],
        "plugin_stop_seconds": results["plugin_stop_seconds"],
    }
    targets = {k: {"target": TARGETS[k], "value": v,
                   "met": None if v is None else v <= TARGETS[k]} for k, v in checks.items()}
    return {
        "bench": "scale",
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "sqlite": sqlite3.sqlite_version, "platform": platform.platform()},
        "channels": args.channels, "forwards": args.forwards, "seed": args.seed,
        "steady_hours": args.hours,
        **results, "targets": targets,
        "fee_cycles": fee, "flow_cycles": flow, "rebalance_cycles": reb,
        "run": run, "floor": floor,
    }


def _stats(values: list[float]) -> dict[str, Any] | None:
    vals = [v for v in values if v is not None]
    if not vals:
        return None
    return {"n": len(vals), "mean": sum(vals) / len(vals), "min": min(vals), "max": max(vals)}


def render(r: dict[str, Any]) -> str:
    def num(v: Any, fmt: str = ".2f") -> str:
        return "n/a" if v is None else format(v, fmt)

    def st(s: dict[str, Any] | None, fmt: str = ".3f") -> str:
        if not s:
            return "n/a"
        return f"mean {s['mean']:{fmt}}  max {s['max']:{fmt}}  (n={s['n']})"

    t = r["targets"]

    def mark(key: str) -> str:
        if t[key]["met"] is None:
            return "(not measured)"
        return "ok" if t[key]["met"] else f"MISSED (target {t[key]['target']:g})"

    run = r["run"]
    first_fee = (run.get("first_cycle_wall_seconds") or {}).get("fee")
    lines = [
        (f"revops-sim bench scale: {r['channels']:,} channels, {r['forwards']:,} forwards "
         f"({r['machine']['cpus']} cpus, {r['date']})"),
        (f"  hydration            {num(r['hydration_seconds'])} s, "
         f"{num(r['hydration_rows_per_second'], ',.0f')} rows/s under the sim; floor "
         f"{num(r['hydration_floor_rows_per_second'], ',.0f')} rows/s -> "
         f"{num(r['hydration_vs_floor'])}x its time  {mark('hydration_vs_floor')}"),
        (f"    isolated (pre-rendered pages) "
         f"{num(r['hydration_isolated_rows_per_second'], ',.0f')} rows/s -> "
         f"{num(r['hydration_isolated_vs_floor'])}x the floor's time"),
        f"  incremental sync     {st(r['incremental_sync_cycle_seconds'])} s per flow cycle",
        f"  fee cycle            {st(r['fee_cycle_seconds'])} s  {mark('fee_cycle_seconds')}",
        f"    first fee cycle    {num(r['first_fee_cycle_seconds'], '.3f')} s",
        (f"    RPC calls          {st(r['fee_cycle_rpc_calls'], '.1f')}; "
         f"vs minimum {st(r['fee_cycle_rpc_vs_minimum'], '.2f')}"),
        f"  rebalance cycle      {st(r['rebalance_cycle_seconds'])} s",
        (f"  plugin RSS           {num(r['rss_mb'], '.0f')} MB (peak "
         f"{num(r['peak_rss_mb'], '.0f')} MB), {r['threads']} threads  {mark('rss_mb')}"),
        (f"  startup -> 1st fee   {num(r['startup_to_first_fee_cycle_seconds'], '.2f')} s "
         f"(plugin start {run.get('plugin_start_rpc_seconds')} s + {first_fee} s)  "
         f"{mark('startup_to_first_fee_cycle_seconds')}"),
        (f"  plugin stop          {num(r['plugin_stop_seconds'], '.3f')} s  "
         f"{mark('plugin_stop_seconds')}"),
    ]
    for phase, prof in (run.get("profiles") or {}).items():
        lines.append(f"  py-spy {phase}: {prof['file']}")
        for kind in ("self", "ours"):
            lines.append(f"    top {kind}:")
            for name, share in prof[kind][:6]:
                lines.append(f"    {share * 100:6.1f}%  {name}")
    if run.get("profile_problem"):
        lines.append(f"  py-spy: {run['profile_problem']}")
    return "\n".join(lines)


__all__ = ["add_arguments", "main"]
