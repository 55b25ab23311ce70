"""Finding 5 of issue 15: contradictory settings were accepted
(``min-fee-ppm`` above ``max-fee-ppm``, ``hill-climb-step-min`` above
``step-max``, ``rebalance-min-amount`` above ``rebalance-max-amount``).

Now every rule across two keys (``RULES``, declared by each feature next to
its tunables) holds in every config snapshot: contradicting startup options
disable the plugin with a message naming both options, a ``revenue-config
set`` or ``reset`` that would break one is refused (-32602) and changes
nothing, and a stored override that contradicts a startup option changed
since is ignored and reported.
"""

from __future__ import annotations

import pytest
from pyln.client import RpcError as PylnRpcError

from revops.config import RULES, SPECS, ConfigError, build_startup_config, broken_rules
from tests.actors.test_backbone import system  # noqa: F401  (fixture)

PAIRS = [("min-fee-ppm", "max-fee-ppm", "3000", "2500"),
         ("hill-climb-step-min", "hill-climb-step-max", "0.6", "0.5"),
         ("rebalance-min-amount", "rebalance-max-amount", "2000000", "1000000"),
         ("hill-climb-window-hours", "hill-climb-max-window-hours", "50", "48"),
         ("flow-page-size", "flow-hydration-rows-per-cycle", "6000", "5000"),
         ("rebalance-budget-daily-sats", "rebalance-budget-weekly-sats", "7000", "6000")]


def test_every_rule_names_known_keys_of_one_kind():
    assert {(r.low, r.high) for r in RULES} == {(a, b) for a, b, _, _ in PAIRS}
    for rule in RULES:
        assert SPECS[rule.low].kind == SPECS[rule.high].kind


def test_the_defaults_are_coherent():
    assert broken_rules({k: s.default for k, s in SPECS.items()}) == []


@pytest.mark.parametrize("low,high,lo_value,hi_value", PAIRS)
def test_contradicting_startup_options_are_refused_naming_both(low, high, lo_value, hi_value):
    with pytest.raises(ConfigError) as e:
        build_startup_config({f"revenue-ops-{low}": lo_value,
                              f"revenue-ops-{high}": hi_value})
    assert f"revenue-ops-{low}" in str(e.value) and f"revenue-ops-{high}" in str(e.value)


def test_a_weekly_budget_of_zero_is_no_weekly_budget():
    build_startup_config({"revenue-ops-rebalance-budget-daily-sats": "9000",
                          "revenue-ops-rebalance-budget-weekly-sats": "0"})


def test_a_stored_override_that_now_contradicts_an_option_is_ignored_and_reported():
    startup = build_startup_config({"revenue-ops-max-fee-ppm": "100"}, {"min-fee-ppm": "500"})
    assert startup.snapshot["min-fee-ppm"] == SPECS["min-fee-ppm"].default
    assert startup.snapshot.sources["min-fee-ppm"] == "default"
    assert startup.snapshot["max-fee-ppm"] == 100
    assert len(startup.ignored_overrides) == 1
    assert "revenue-ops-min-fee-ppm (500)" in startup.ignored_overrides[0]


@pytest.mark.parametrize("low,high,lo_value,hi_value", PAIRS)
def test_a_set_that_would_contradict_is_refused_and_changes_nothing(system, low, high,  # noqa: F811
                                                                     lo_value, hi_value):
    system.advance(1)
    system.command("revenue-config", action="set", key=high, value=hi_value)
    before = system.command("revenue-config", action="get", key=low)
    with pytest.raises(Exception) as e:
        system.command("revenue-config", action="set", key=low, value=lo_value)
    assert e.value.code == -32602
    assert e.value.message.startswith("value: ")
    assert low in e.value.message and high in e.value.message
    assert "nothing was changed" in e.value.message
    after = system.command("revenue-config", action="get", key=low)
    assert after == before
    # ... and the refused value was not stored: a restart would not bring it back.
    overrides = system.sup.proxy().children.get(timeout=10)["store"].ref.proxy() \
        .get_overrides().get(timeout=10)
    assert low not in overrides


def test_a_reset_that_would_contradict_is_refused(system):  # noqa: F811
    system.advance(1)
    system.command("revenue-config", action="set", key="min-fee-ppm", value="1")
    system.command("revenue-config", action="set", key="max-fee-ppm", value="5")
    with pytest.raises(Exception) as e:
        system.command("revenue-config", action="reset", key="min-fee-ppm")
    assert e.value.code == -32602 and "max-fee-ppm" in e.value.message
    assert system.command("revenue-config", action="get", key="min-fee-ppm")["value"] == 1


@pytest.mark.e2e
def test_contradicting_options_disable_the_plugin_with_both_names(revops_sim):
    sim = revops_sim({"revenue-ops-min-fee-ppm": "3000", "revenue-ops-max-fee-ppm": "2000"})
    line = sim.wait_for_log("disabled itself at init")
    assert "revenue-ops-min-fee-ppm (3000)" in line and "revenue-ops-max-fee-ppm (2000)" in line
    with pytest.raises(PylnRpcError):
        sim.rpc.call("revenue-status")
