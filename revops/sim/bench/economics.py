"""``revops-sim bench economics``: does revops earn more than what operators
use today? Every policy on the same scenarios and seeds, in one invocation.

Policies (see :mod:`revops.sim.baselines`): ``revops`` (the real plugin,
default config), ``static`` (CLN's 1000 msat + 10 ppm), ``proportional``
(charge-lnd), ``median-balance`` (CLBOSS-like) and ``oracle-static`` (the
best fixed fee per channel, searched with full knowledge of the demand).
``--policy NAME=COMMAND`` (repeatable) adds an operator's own: any
unmodified plugin (e.g. the community ``feeadjuster``) as one more row,
on the same scenarios, seeds and steps, reading the node as every other
policy does; ``--policy-option NAME:KEY=VALUE`` passes it lightningd
options. A Python plugin's clock, sleeps and timers follow the simulated
clock (``--plugin-time``, :mod:`revops.sim.plugin_time`). The report adds
``revops_vs_policies``: per such policy, revops' net over its net.
Each run is a simulated lightningd with that policy's plugin, driven as
``revops-sim run`` drives one (:mod:`revops.sim.bench.runner`), spread over
``--jobs`` worker processes (default: one per core). Runs are deterministic
in (scenario, seed, policy): the simclock protocol makes the market wait for
every plugin at every step, so a slow machine changes only wall time.

Prints a table per scenario (means over seeds) and the headline ratios, and
writes JSON (``--report``): per policy and scenario, net profit, revenue,
rebalance cost, forwards settled/failed, fee updates per channel per day,
every run with its cumulative-net time series, and as top-level keys
``revops_vs_best_baseline`` (revops / best of static, proportional and
median-balance) and ``revops_vs_oracle`` (revops / oracle-static), each the
mean over scenarios and seeds of the per-run ratios, with their spread in
``*_spread``. ``--plot FILE.png`` draws cumulative net profit per policy
over time for one scenario (needs matplotlib: ``pip install -e '.[bench]'``);
``--from-report FILE.json`` redraws the table and plot of a saved report.

Default scenarios: every ``etc/scenarios/*.toml`` of the source tree.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import multiprocessing
import os
import platform
import re
import shlex
import shutil
import statistics
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from revops.sim.bench.runner import POLICIES, RunSpec, load, run_policy

BASELINES = ("static", "proportional", "median-balance")
TARGETS = {"revops_vs_best_baseline": 1.3, "revops_vs_oracle": 1.0}


def library_dir() -> Path:
    """``etc/scenarios`` of the source tree this package runs from."""
    return Path(__file__).resolve().parents[3] / "etc" / "scenarios"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--scenario", nargs="+", action="extend", metavar="FILE",
                   help="scenario files (default: every etc/scenarios/*.toml; "
                        "'default' is the built-in node)")
    p.add_argument("--days", type=float, default=30.0, help="simulated days per run (default 30)")
    p.add_argument("--seeds", type=int, default=2, metavar="K",
                   help="seeds 1..K for every scenario (default 2)")
    p.add_argument("--policies", default=",".join(POLICIES),
                   help=f"comma-separated subset of {','.join(POLICIES)} (default: all)")
    p.add_argument("--policy", action="append", default=[], metavar="NAME=COMMAND",
                   help="also run this plugin command line as policy NAME (repeatable), "
                        "e.g. feeadjuster='python3 /path/to/feeadjuster.py'")
    p.add_argument("--policy-option", action="append", default=[], metavar="NAME:KEY=VALUE",
                   help="a lightningd option for policy NAME's plugin (repeatable; "
                        "NAME:KEY alone for a flag)")
    p.add_argument("--plugin-time", choices=("sim", "wall"), default="sim",
                   help="clock of --policy plugins that do not speak simclock (default sim: "
                        "the simulated one; see revops-sim run --help)")
    p.add_argument("--jobs", type=int, default=0, metavar="N",
                   help="parallel runs (default: one per core)")
    p.add_argument("--sample-hours", type=float, default=6.0,
                   help="time-series resolution of cumulative net (default 6)")
    p.add_argument("--report", metavar="FILE.json", help="write the results as JSON")
    p.add_argument("--plot", metavar="FILE.png",
                   help="cumulative net profit per policy over time (needs matplotlib)")
    p.add_argument("--plot-scenario", metavar="NAME",
                   help="scenario to plot (default: the first one), seed 1")
    p.add_argument("--from-report", metavar="FILE.json",
                   help="run nothing: print the table and ratios (and --plot) of a saved report")


def _scenarios(args: argparse.Namespace) -> list[str]:
    if args.scenario:
        return list(args.scenario)
    lib = library_dir()
    files = sorted(str(f) for f in lib.glob("*.toml")) if lib.is_dir() else []
    if not files:
        raise SystemExit(f"revops-sim bench economics: no scenario library at {lib}; "
                         "give --scenario FILE ...")
    return files


def _policies(text: str) -> list[str]:
    chosen = [p.strip() for p in text.split(",") if p.strip()]
    unknown = [p for p in chosen if p not in POLICIES]
    if unknown or not chosen:
        raise SystemExit(f"revops-sim bench economics: --policies: unknown {unknown or text!r}; "
                         f"choose from {','.join(POLICIES)}")
    return [p for p in POLICIES if p in chosen]


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def custom_policies(given: Sequence[str],
                    option_args: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``--policy NAME=COMMAND`` and ``--policy-option NAME:KEY=VALUE``:
    name -> {"command", "options"}, in the order given. Exits with a
    one-line reason for a bad name, a clash, or a command not found."""
    def fail(text: str) -> SystemExit:
        return SystemExit(f"revops-sim bench economics: {text}")

    out: dict[str, dict[str, Any]] = {}
    for item in given:
        name, eq, command = item.partition("=")
        name, command = name.strip(), command.strip()
        if not eq or not command:
            raise fail(f"--policy: expected NAME=COMMAND, got {item!r}")
        if not _NAME.fullmatch(name):
            raise fail(f"--policy: NAME must be letters, digits, '.', '_' or '-', got {name!r}")
        if name in POLICIES or name in out:
            raise fail(f"--policy: name {name!r} is already taken")
        try:
            argv = shlex.split(command)
        except ValueError as e:
            raise fail(f"--policy {name}: cannot split the command: {e}") from None
        if not argv or shutil.which(argv[0]) is None:
            raise fail(f"--policy {name}: {argv[0] if argv else command!r} is not an "
                       "executable command")
        out[name] = {"command": command, "options": []}
    for item in option_args:
        name, colon, rest = item.partition(":")
        if not colon or name not in out:
            raise fail(f"--policy-option: expected NAME:KEY=VALUE with NAME a --policy, "
                       f"got {item!r}")
        key, eq, value = rest.partition("=")
        key = key.removeprefix("--")
        if not key:
            raise fail(f"--policy-option: no option KEY in {item!r}")
        out[name]["options"].append((key, value if eq else None))
    return out


def plot_available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


# -- the numbers ----------------------------------------------------------------------------

def spread(values: Sequence[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0, "mean": None, "stdev": None, "min": None, "max": None}
    return {"n": len(values), "mean": statistics.fmean(values),
            "stdev": statistics.stdev(values) if len(values) > 1 else 0.0,
            "min": min(values), "max": max(values)}


def ratios(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per (scenario, seed): revops over the best baseline and over the oracle.

    A ratio whose denominator is not positive means nothing and is left out
    (counted in ``undefined``)."""
    by_key: dict[tuple[str, int], dict[str, int]] = {}
    for r in runs:
        if "error" not in r:
            by_key.setdefault((r["scenario"], r["seed"]), {})[r["policy"]] = r["net_msat"]
    per_run = []
    customs = sorted({r["policy"] for r in runs if r["policy"] not in POLICIES})
    for (scenario, seed), nets in sorted(by_key.items()):
        if "revops" not in nets:
            continue
        entry: dict[str, Any] = {"scenario": scenario, "seed": seed, "revops_net_msat": nets["revops"]}
        base = {p: nets[p] for p in BASELINES if p in nets}
        if base:
            best = max(base, key=lambda p: base[p])
            entry.update(best_baseline=best, best_baseline_net_msat=base[best],
                         revops_vs_best_baseline=(nets["revops"] / base[best]
                                                  if base[best] > 0 else None))
        if "oracle-static" in nets:
            o = nets["oracle-static"]
            entry.update(oracle_net_msat=o, revops_vs_oracle=nets["revops"] / o if o > 0 else None)
        for name in customs:
            if name in nets:
                c = nets[name]
                entry[f"{name}_net_msat"] = c
                entry.setdefault("revops_vs_policies", {})[name] = (nets["revops"] / c
                                                                    if c > 0 else None)
        per_run.append(entry)
    out: dict[str, Any] = {"per_run": per_run}
    for key in TARGETS:
        vals = [e[key] for e in per_run if e.get(key) is not None]
        out[key] = spread(vals)
        out[key]["undefined"] = sum(1 for e in per_run if key in e and e[key] is None)
    out["revops_vs_policies"] = {}
    for name in customs:
        got = [e["revops_vs_policies"][name] for e in per_run
               if name in e.get("revops_vs_policies", {})]
        out["revops_vs_policies"][name] = spread([v for v in got if v is not None])
        out["revops_vs_policies"][name]["undefined"] = sum(1 for v in got if v is None)
    return out


def table_rows(runs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Means over seeds per (scenario, policy)."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in runs:
        if "error" not in r:
            groups.setdefault((r["scenario"], r["policy"]), []).append(r)
    rows = []
    for (scenario, policy), rs in groups.items():
        def mean(key: str, rs: list[dict[str, Any]] = rs) -> float:
            return statistics.fmean(r[key] for r in rs)
        rows.append({"scenario": scenario, "policy": policy, "seeds": len(rs),
                     "net_msat": round(mean("net_msat")),
                     "net_msat_stdev": (round(statistics.stdev(r["net_msat"] for r in rs))
                                        if len(rs) > 1 else 0),
                     "revenue_msat": round(mean("revenue_msat")),
                     "rebalance_cost_msat": round(mean("rebalance_cost_msat")),
                     "forwards_settled": round(mean("forwards_settled"), 1),
                     "forwards_failed": round(mean("forwards_failed"), 1),
                     "fee_updates_per_channel_per_day": round(
                         mean("fee_updates_per_channel_per_day"), 3),
                     "wall_seconds": round(mean("wall_seconds"), 1)})
    order = {p: i for i, p in enumerate(POLICIES)}
    for r in runs:  # an operator's policies after ours, in the order given
        order.setdefault(r["policy"], len(order))
    scen_order = {s: i for i, s in enumerate(dict.fromkeys(r["scenario"] for r in runs))}
    rows.sort(key=lambda r: (scen_order[r["scenario"]], order[r["policy"]]))
    return rows


def render_table(rows: Sequence[dict[str, Any]]) -> str:
    head = (f"{'scenario':<22}{'policy':<16}{'net sat':>14}{'revenue sat':>14}"
            f"{'rebal sat':>11}{'settled':>10}{'failed':>9}{'upd/ch/day':>11}")
    lines = [head, "-" * len(head)]
    last = None
    for r in rows:
        name = r["scenario"] if r["scenario"] != last else ""
        last = r["scenario"]
        lines.append(f"{name[:21]:<22}{r['policy']:<16}{r['net_msat'] / 1000:>14,.0f}"
                     f"{r['revenue_msat'] / 1000:>14,.0f}{r['rebalance_cost_msat'] / 1000:>11,.0f}"
                     f"{r['forwards_settled']:>10,.0f}{r['forwards_failed']:>9,.0f}"
                     f"{r['fee_updates_per_channel_per_day']:>11.2f}")
    return "\n".join(lines)


def render_headline(summary: dict[str, Any]) -> str:
    lines = []
    for key, target in TARGETS.items():
        s = summary[key]
        if s["mean"] is None:
            lines.append(f"{key}: n/a")
            continue
        verdict = "met" if s["mean"] >= target else "NOT met"
        lines.append(f"{key}: {s['mean']:.3f} (sd {s['stdev']:.3f}, min {s['min']:.3f}, "
                     f"max {s['max']:.3f}, n={s['n']}) target >= {target} {verdict}")
    for name, s in summary.get("revops_vs_policies", {}).items():
        if s["mean"] is None:
            lines.append(f"revops_vs_{name}: n/a")
            continue
        lines.append(f"revops_vs_{name}: {s['mean']:.3f} (sd {s['stdev']:.3f}, "
                     f"min {s['min']:.3f}, max {s['max']:.3f}, n={s['n']})")
    return "\n".join(lines)


# -- the command ----------------------------------------------------------------------------

def _from_report(args: Any) -> int:
    saved = json.loads(Path(args.from_report).read_text(encoding="utf-8"))
    runs = saved["runs"]
    print(render_table(table_rows(runs)))
    print()
    print(render_headline(ratios(runs)))
    if args.plot:
        if not plot_available():
            print("revops-sim bench economics: --plot needs matplotlib: pip install -e '.[bench]'",
                  file=sys.stderr)
            return 1
        from revops.sim.bench.plot import plot_cumulative_net
        plot_cumulative_net(runs, args.plot_scenario or saved["scenarios"][0], 1, args.plot,
                            saved["days"])
        print(f"plot: {args.plot}")
    return 0


def main(args: Any) -> int:
    if args.from_report:
        return _from_report(args)
    scenarios = _scenarios(args)
    policies = _policies(args.policies)
    customs = custom_policies(args.policy, args.policy_option)
    if args.days <= 0 or args.seeds < 1:
        raise SystemExit("revops-sim bench economics: --days must be > 0 and --seeds >= 1")
    names = {}
    for s in scenarios:
        names[s] = load(s).name  # fail early on a bad file
    plot_ok = True
    if args.plot and not plot_available():
        plot_ok = False
        print("revops-sim bench economics: --plot needs matplotlib: pip install -e '.[bench]' "
              "(running without the plot)", file=sys.stderr)
    jobs = args.jobs or os.cpu_count() or 1
    specs = [RunSpec(s, seed, float(args.days), p, float(args.sample_hours))
             for p in policies for s in scenarios for seed in range(1, args.seeds + 1)]
    specs += [RunSpec(s, seed, float(args.days), name, float(args.sample_hours),
                      command=c["command"], options=tuple(c["options"]),
                      plugin_time=args.plugin_time)
              for name, c in customs.items() for s in scenarios
              for seed in range(1, args.seeds + 1)]
    n_policies = len(policies) + len(customs)
    print(f"economics: {len(scenarios)} scenarios x {args.seeds} seeds x {n_policies} "
          f"policies = {len(specs)} runs of {args.days:g} days on {jobs} workers", flush=True)
    t0 = time.perf_counter()
    runs = _run_all(specs, names, jobs)
    wall = time.perf_counter() - t0

    rows = table_rows(runs)
    summary = ratios(runs)
    failures = [r for r in runs if "error" in r
                or r.get("plugins_alive_at_end", 0) < r.get("plugins_expected", 0)]
    print()
    print(render_table(rows))
    print()
    print(render_headline(summary))
    if failures:
        print(f"{len(failures)} run(s) failed or lost a plugin:", file=sys.stderr)
        for r in failures:
            print(f"  {r['scenario']} seed {r['seed']} {r['policy']}: "
                  f"{r.get('error') or 'plugin died'}", file=sys.stderr)

    report = {
        "bench": "economics",
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform(), "processor": platform.processor()},
        "command": " ".join(["revops-sim", "bench", "economics", *sys.argv[3:]])
        if sys.argv[1:3] == ["bench", "economics"] else None,
        "days": args.days, "seeds": list(range(1, args.seeds + 1)),
        "scenarios": [names[s] for s in scenarios], "scenario_files": scenarios,
        "policies": policies + list(customs), "jobs": jobs, "wall_seconds": round(wall, 1),
        "custom_policies": {name: {"command": c["command"],
                                   "options": [list(o) for o in c["options"]]}
                            for name, c in customs.items()},
        "plugin_time": args.plugin_time,
        "revops_vs_policies": {name: v["mean"]
                               for name, v in summary["revops_vs_policies"].items()},
        "revops_vs_policies_spread": summary["revops_vs_policies"],
        "revops_vs_best_baseline": summary["revops_vs_best_baseline"]["mean"],
        "revops_vs_best_baseline_spread": summary["revops_vs_best_baseline"],
        "revops_vs_oracle": summary["revops_vs_oracle"]["mean"],
        "revops_vs_oracle_spread": summary["revops_vs_oracle"],
        "targets": {k: {"target": v, "met": (summary[k]["mean"] is not None
                                             and summary[k]["mean"] >= v)}
                    for k, v in TARGETS.items()},
        "ratios_per_run": summary["per_run"],
        "table": rows,
        "runs": runs,
        "failures": len(failures),
    }
    if args.report:
        Path(args.report).write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
        print(f"report: {args.report}")
    if args.plot and plot_ok:
        from revops.sim.bench.plot import plot_cumulative_net
        wanted = args.plot_scenario or names[scenarios[0]]
        plot_cumulative_net(runs, wanted, 1, args.plot, args.days)
        print(f"plot: {args.plot}")
    return 1 if failures else 0


def _run_all(specs: list[RunSpec], names: dict[str, str], jobs: int) -> list[dict[str, Any]]:
    # The slow runs (revops) first, so the pool does not end on one straggler.
    order = sorted(range(len(specs)), key=lambda i: specs[i].policy != "revops")
    results: list[dict[str, Any] | None] = [None] * len(specs)
    ctx = multiprocessing.get_context("spawn")
    done = 0
    with concurrent.futures.ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
        futures = {pool.submit(run_policy, specs[i]): i for i in order}
        for fut in concurrent.futures.as_completed(futures):
            i = futures[fut]
            spec = specs[i]
            try:
                r = fut.result()
            except Exception as e:  # noqa: BLE001 - one broken run must not lose the others
                r = {"scenario": names[spec.scenario], "seed": spec.seed, "policy": spec.policy,
                     "error": f"{type(e).__name__}: {e}"}
            results[i] = r
            done += 1
            what = (f"net {r['net_msat'] / 1000:,.0f} sat, {r['wall_seconds']:.0f} s"
                    if "error" not in r else r["error"])
            print(f"[{done:>3}/{len(specs)}] {names[spec.scenario]} seed {spec.seed} "
                  f"{spec.policy}: {what}", flush=True)
    return [r for r in results if r is not None]


__all__ = ["add_arguments", "main"]
