"""A real Prometheus scraping the real plugin under ``revops-sim serve``:
every series the Grafana dashboard and the alert rules use is stored with
data and with the labels revops declares, and every dashboard panel's
PromQL is parsed and evaluated by that Prometheus.

The scrape config is ``etc/prometheus.yml`` itself with three things
changed for a test: the target (a free port on 127.0.0.1), the interval
(1 s) and the rule file's path. Simulated time is advanced while it scrapes
so that cycles run between scrapes; one RPC method is made to fail and one
actor is crashed on purpose, so that the labelled error and restart
counters exist (a labelled counter has no series until its first event, so each gets one).
"""

from __future__ import annotations

import json
import re
import time

import pytest
from prometheus_client import CollectorRegistry

from revops.metrics import Metrics
from revops.sim.cli import default_plugin_command
from revops.sim.harness import Sim
from tests.ops.conftest import ETC
from tests.ops.promserver import PrometheusServer, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DASHBOARD = ETC / "grafana-dashboard.json"
RULES = ETC / "revops-alerts.yml"
SERIES = re.compile(r"\brevops_[a-z0-9_]+")


def scrape_config(target: str) -> str:
    """etc/prometheus.yml, pointed at ``target`` every second."""
    text = (ETC / "prometheus.yml").read_text()
    changed = (text.replace('"127.0.0.1:9750"', f'"{target}"')
               .replace("scrape_interval: 30s", "scrape_interval: 1s")
               .replace("- revops-alerts.yml", f"- {RULES}"))
    assert changed.count(target) == 1 and "scrape_interval: 1s" in changed \
        and str(RULES) in changed, "etc/prometheus.yml changed shape: update this test"
    return changed + "global:\n  evaluation_interval: 1s\n"


def declared_labels() -> dict[str, set[str]]:
    """Per exposed series name, the label names revops declares for it
    (prometheus_client keeps them on each collector)."""
    registry = Metrics(CollectorRegistry()).registry
    out: dict[str, set[str]] = {}
    for collector, names in registry._collector_to_names.items():  # noqa: SLF001
        labels = set(getattr(collector, "_labelnames", ()))
        for name in names:
            out[name] = labels | ({"le"} if name.endswith("_bucket") else set())
    return out


def dashboard_queries() -> list[tuple[str, str]]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [(p["title"], t["expr"]) for p in panels for t in p.get("targets", [])]


def used_series() -> set[str]:
    text = RULES.read_text() + "\n".join(expr for _, expr in dashboard_queries())
    return set(SERIES.findall(text))


def test_prometheus_stores_every_series_the_dashboard_and_alerts_use(tmp_path, prometheus_bin):
    metrics_port = free_port()
    target = f"127.0.0.1:{metrics_port}"
    sim = Sim(tmp_path / "node", plugins=[default_plugin_command()],
              options={"revenue-ops-metrics-address": target})
    sim.start()
    try:
        with PrometheusServer(prometheus_bin, tmp_path / "prometheus",
                              scrape_config(target)) as prom:
            prom.wait_for('up{job="revops"} == 1')
            # Work between scrapes: a few hours of cycles, with feerates
            # failing for one of them, a wide hysteresis (fee changes held
            # back) and the fee coordinator crashed once.
            sim.call("dev-fault", {"method": "feerates", "duration": 1800})
            sim.call("revenue-config", ["set", "fee-hysteresis", "0.5"])
            for _ in range(3):
                sim.advance(hours=1)
            sim.call("revenue-dev-crash", ["fee"])
            sim.advance(hours=1)
            prom.scrapes_after("revops", time.time(), n=2)
            channels = {c["scid"] for c in sim.call("revenue-channels")["channels"]}
            check_series(prom, channels)
            check_panels(prom)
            check_rules_loaded(prom)
    finally:
        sim.stop(clean=False)
    # A crash is a bug, logged BROKEN with its traceback: the one asked for
    # is the only one.
    broken = sim.broken_lines()
    assert sum("CrashRequested: revenue-dev-crash" in line for line in broken) == 1, broken
    assert sum("Traceback" in line for line in broken) == 1, broken


def check_series(prom: PrometheusServer, channels: set[str]) -> None:
    declared = declared_labels()
    for name in sorted(used_series()):
        assert name in declared, f"{name} is used but revops does not export it"
        current = prom.query(name)  # what a panel or a rule sees now
        assert current, f"{name}: no data in Prometheus"
        for sample in current:
            labels = sample["metric"]
            assert labels["job"] == "revops"
            assert set(labels) - {"__name__", "job", "instance"} == declared[name], \
                f"{name}: labels {sorted(labels)}, revops declares {sorted(declared[name])}"
            assert sample["value"][1] not in ("NaN", ""), f"{name}: {sample}"

    # Label values where they are known.
    def label_values(name: str, label: str) -> set[str]:
        return {s["metric"][label] for s in prom.query(name)}

    assert label_values("revops_channel_fee_ppm", "scid") == channels
    assert label_values("revops_forwards_failed_liquidity_total", "scid") <= channels
    assert label_values("revops_forwards_total", "status") == {"settled", "failed",
                                                               "local_failed"}
    assert {"fee", "flow", "mempool", "rebalance"} <= label_values(
        "revops_cycle_seconds_bucket", "coordinator")
    assert label_values("revops_rebalance_realized_ev_msat", "window") == {"7d", "30d"}
    assert "daily" in label_values("revops_rebalance_budget_remaining_msat", "window")
    assert "feerates" in label_values("revops_rpc_errors_total", "method")
    assert "fee" in label_values("revops_actor_restarts_total", "actor")
    assert prom.query("revops_up")[0]["value"][1] == "1"
    assert float(prom.query("revops_channels")[0]["value"][1]) == len(channels)


def check_panels(prom: PrometheusServer) -> None:
    for title, expr in dashboard_queries():
        result = prom.query(expr)  # a parse or evaluation error raises
        assert result, f"panel {title!r}: {expr} returned nothing"
        grouped = re.search(r"\bby \(([^)]*)\)", expr)
        if grouped and "histogram_quantile" not in expr:
            wanted = {g.strip() for g in grouped.group(1).split(",")}
            for r in result:
                assert wanted <= set(r["metric"]), f"panel {title!r}: {r['metric']}"


def check_rules_loaded(prom: PrometheusServer) -> None:
    groups = prom.api("rules")["groups"]
    loaded = {r["name"]: r for g in groups for r in g["rules"]}
    shipped = set(re.findall(r"^\s*- alert:\s*(\w+)", RULES.read_text(), re.M))
    assert set(loaded) == shipped
    for name, rule in loaded.items():
        assert rule["health"] == "ok", f"{name}: {rule.get('lastError')}"
    # A healthy plugin fires nothing that pages: it is up and not degraded.
    firing = {a["labels"]["alertname"] for a in prom.api("alerts")["alerts"]}
    assert not firing & {"RevopsDown", "RevopsDegraded"}, firing
