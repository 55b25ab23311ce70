"""One policy, one scenario, one seed: a ``revops-sim run`` done in-process
(the same :class:`~revops.sim.lightningd.SimNode` and market), sampling the
node's cumulative net profit as it goes, for the economics benchmark.

A policy is one of :data:`POLICIES` or an operator's own plugin
(``RunSpec.command``, from ``--policy NAME=COMMAND``): any unmodified CLN
plugin, run under the same node, market, seed and step as the others; a
Python plugin's clock follows the simulated one (``plugin_time``, see
:mod:`revops.sim.plugin_time`).

:func:`run_policy` is what a worker process executes; it takes and returns
plain values (picklable), so the benchmark can spread runs over cores.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from revops.sim.scenario import DAY, Scenario, default_scenario, load_scenario

POLICIES: tuple[str, ...] = ("revops", "static", "proportional", "median-balance",
                             "oracle-static")
# revops' own options in the benchmark: its defaults, metrics off (parallel
# runs must not fight over a port; a scrape changes nothing economic).
REVOPS_OPTIONS: tuple[tuple[str, str | None], ...] = (("revenue-ops-metrics-address", "off"),)


@dataclass(frozen=True)
class RunSpec:
    scenario: str  # a scenario file, or "default" for the built-in node
    seed: int
    days: float
    policy: str
    sample_hours: float = 6.0
    keep_dir: str | None = None  # keep the lightning dir here (debugging)
    # An operator's policy (``--policy NAME=COMMAND``): any plugin's command
    # line and its lightningd options; None for the built-in policies.
    command: str | None = None
    options: tuple[tuple[str, str | None], ...] = ()
    plugin_time: str = "sim"


def load(scenario: str) -> Scenario:
    return default_scenario() if scenario == "default" else load_scenario(scenario)


def run_policy(spec: RunSpec) -> dict[str, Any]:
    """Run ``spec`` to the end; the market's report plus what the benchmark
    adds (time series, wall time, plugin health, the oracle's search)."""
    if spec.policy not in POLICIES and spec.command is None:
        raise ValueError(f"unknown policy {spec.policy!r}; known: {', '.join(POLICIES)}")
    scenario = load(spec.scenario)
    with tempfile.TemporaryDirectory(prefix=f"revops-bench-{spec.policy}-") as tmp:
        work = Path(spec.keep_dir) if spec.keep_dir else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        extra: dict[str, Any] = {}
        options: tuple[tuple[str, str | None], ...] = ()
        if spec.policy == "oracle-static":
            from revops.sim.baselines.oracle import search
            t0 = time.perf_counter()
            found = search(scenario, spec.seed, spec.days)
            table = work / "oracle-fees.json"
            table.write_text(json.dumps(found.table(), indent=1), encoding="utf-8")
            options = (("oracle-fees", str(table)),)
            extra["oracle"] = {"predicted_revenue_msat": found.predicted_revenue_msat,
                               "best_uniform": list(found.best_uniform),
                               "evaluations": found.evaluations,
                               "search_seconds": round(time.perf_counter() - t0, 3)}
        result = _simulate(scenario, spec, work / "node", options)
    result.update(extra)
    return result


def _plugins(spec: RunSpec, scenario: Scenario) -> tuple[tuple[str, ...], dict[str, str],
                                                         tuple[tuple[str, str | None], ...]]:
    from revops.sim.baselines import plugin_command
    from revops.sim.cli import default_plugin_command, sling_plugin_command

    policy = spec.policy
    sling = (sling_plugin_command(),) if scenario.sling else ()
    if spec.command is not None:
        # An operator's plugin, unmodified: the scenario's plugin options are
        # revops' and mean nothing to it; its own come with --policy-option.
        return (spec.command,) + sling, {}, spec.options
    if policy == "revops":
        return (default_plugin_command(),) + sling, dict(scenario.plugin_options), REVOPS_OPTIONS
    return (plugin_command(policy),) + sling, {}, ()


def _simulate(scenario: Scenario, spec: RunSpec, lightning_dir: Path,
              options: tuple[tuple[str, str | None], ...]) -> dict[str, Any]:
    from revops.sim.lightningd import NodeConfig
    from revops.sim.market import Market

    plugins, scenario_options, own = _plugins(spec, scenario)
    config = NodeConfig(lightning_dir=lightning_dir, plugins=plugins, options=own + options,
                        scenario_options=scenario_options, scenario_label=spec.scenario,
                        plugin_time=spec.plugin_time)
    market = Market(scenario, spec.seed)
    wall0 = time.perf_counter()
    series, alive = asyncio.run(_drive(market, config, spec.days * DAY,
                                       spec.sample_hours * 3600.0))
    wall = time.perf_counter() - wall0
    report = dict(market.report())
    channels = report.pop("channels")
    n_channels = max(1, len(scenario.channels))
    days = max(1e-9, report["days"])
    broken = _broken_lines(lightning_dir / "log")
    report.update({
        "policy": spec.policy, "scenario_file": spec.scenario, "channels": n_channels,
        "policy_command": spec.command,
        "fee_updates_per_channel_per_day": report["fee_updates"] / n_channels / days,
        "wall_seconds": round(wall, 3), "series": series,
        "plugins_alive_at_end": alive, "plugins_expected": len(plugins),
        "broken_log_lines": broken[:5], "broken_log_count": len(broken),
        "channel_results": [{k: c[k] for k in ("name", "scid", "revenue_msat", "final_fee_ppm",
                                                "final_fee_base_msat", "fee_updates",
                                                "rebalance_cost_msat")}
                            for c in channels],
    })
    return report


async def _drive(market: Any, config: Any, seconds: float,
                 every: float) -> tuple[list[list[float]], int]:
    from revops.sim.lightningd import SimNode, prepare_loop

    prepare_loop()
    node = SimNode(market, config)
    try:
        await node.start()
    except BaseException:
        await node.abort()
        raise
    start = float(market.now)
    series: list[list[float]] = [[0.0, 0, 0]]
    next_sample = start + every

    def sample(now: float) -> None:
        nonlocal next_sample
        if now >= next_sample:
            series.append([round((now - start) / DAY, 4),
                           market.total_revenue_msat - market.rebalance_cost_msat,
                           market.total_revenue_msat])
            while next_sample <= now:
                next_sample += every

    try:
        await node.run_for(seconds, sample)
        alive = sum(1 for p in node.plugins if not p.dead)
    finally:
        await node.shutdown()
    end = (float(market.now) - start) / DAY
    if series[-1][0] < end:
        series.append([round(end, 4), market.total_revenue_msat - market.rebalance_cost_msat,
                       market.total_revenue_msat])
    return series, alive


def _broken_lines(log: Path) -> list[str]:
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    return [line for line in text.splitlines() if " **BROKEN** " in line]


def spec_dict(spec: RunSpec) -> dict[str, Any]:
    return asdict(spec)
