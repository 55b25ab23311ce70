"""Prometheus' own checker on what etc/ ships: the scrape config and the
alert rules parse, and every alert fires when it should and stays quiet
when it should (``etc/revops-alerts.test.yml``, run by ``promtool test
rules``)."""

from __future__ import annotations

import re
import subprocess

from tests.ops.conftest import ETC

RULES = ETC / "revops-alerts.yml"
RULE_TESTS = ETC / "revops-alerts.test.yml"


def promtool_run(promtool: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool, *args], cwd=ETC, capture_output=True, text=True,
                          timeout=120, check=False)


def test_the_scrape_config_and_the_rule_file_it_loads_are_valid(promtool):
    r = promtool_run(promtool, "check", "config", "prometheus.yml")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "1 rule files found" in r.stdout + r.stderr


def test_the_alert_rules_are_valid(promtool):
    r = promtool_run(promtool, "check", "rules", RULES.name)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"SUCCESS: {len(alert_names())} rules found" in r.stdout + r.stderr


def test_every_alert_fires_and_stays_quiet_as_its_unit_tests_say(promtool):
    r = promtool_run(promtool, "test", "rules", RULE_TESTS.name)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS" in r.stdout


def test_every_alert_has_a_case_where_it_fires_and_one_where_it_does_not():
    text = RULE_TESTS.read_text()
    # Each case is "alertname: X" followed by "exp_alerts: []" (quiet) or a list.
    cases = re.findall(r"alertname:\s*(\w+)\s*\n\s*exp_alerts:(\s*\[\])?", text)
    fires = {name for name, empty in cases if not empty}
    quiet = {name for name, empty in cases if empty}
    names = alert_names()
    assert names, "no alerts found in the rule file"
    assert not names - fires, f"alerts never seen firing: {sorted(names - fires)}"
    assert not names - quiet, f"alerts never checked quiet: {sorted(names - quiet)}"
    assert not (fires | quiet) - names, "tests name alerts the rule file lacks"


def alert_names() -> set[str]:
    return set(re.findall(r"^\s*- alert:\s*(\w+)", RULES.read_text(), re.M))
