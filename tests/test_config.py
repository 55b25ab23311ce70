"""Option parsing and layering (pure), and the shipped config example."""

import math
from pathlib import Path

import pytest

from revops.config import (
    OPTIONS,
    SPECS,
    ConfigError,
    build_startup_config,
    example_config,
    lookup,
)

ROOT = Path(__file__).resolve().parent.parent


def test_etc_example_lists_every_option_and_is_current():
    text = (ROOT / "etc" / "lightningd-config.example").read_text()
    assert text == example_config(), "regenerate: python -m revops.config > etc/lightningd-config.example"
    for spec in OPTIONS:
        assert spec.option_name in text


@pytest.mark.parametrize("raw", ["nan", "NaN", "inf", "-inf", "Infinity", float("nan"),
                                 float("inf"), math.inf])
def test_nan_and_infinities_are_rejected_for_numbers(raw):
    with pytest.raises(ConfigError) as e:
        SPECS["rpc-timeout"].parse(raw)
    assert "revenue-ops-rpc-timeout" in str(e.value) and "from 1 to 600" in str(e.value)


@pytest.mark.parametrize("key,raw,ok", [
    ("fee-interval", "60", 60), ("fee-interval", 86400, 86400), ("fee-interval", "59", None),
    ("fee-interval", "1.5", None), ("fee-interval", True, None), ("fee-interval", "0x10", None),
    ("rpc-timeout", "2.5", 2.5), ("dry-run", "true", True), ("dry-run", False, False),
    ("dry-run", "yes", None), ("metrics-address", "off", "off"),
    ("metrics-address", "127.0.0.1:9750", "127.0.0.1:9750"),
    ("metrics-address", "[::1]:9750", "[::1]:9750"), ("metrics-address", "localhost:9750", None),
    ("metrics-address", "127.0.0.1:70000", None),
])
def test_parse(key, raw, ok):
    if ok is None:
        with pytest.raises(ConfigError) as e:
            SPECS[key].parse(raw)
        assert f"revenue-ops-{key}" in str(e.value) and "accepted:" in str(e.value)
    else:
        assert SPECS[key].parse(raw) == ok


def test_layers_default_option_override_and_bad_stored_overrides_are_reported():
    start = build_startup_config(
        {"revenue-ops-fee-interval": "1200", "revenue-ops-flow-interval": "600"},
        {"rebalance-interval": "900", "fee-interval": "ten", "db-path": "/x"})
    snap = start.snapshot
    assert snap["fee-interval"] == 1200 and snap.sources["fee-interval"] == "option"
    assert snap.sources["flow-interval"] == "default"  # lightningd passes defaults too
    assert snap["rebalance-interval"] == 900 and snap.sources["rebalance-interval"] == "override"
    assert len(start.ignored_overrides) == 2  # a bad value, and a startup-only key


def test_bad_startup_option_raises_with_name_and_range():
    with pytest.raises(ConfigError) as e:
        build_startup_config({"revenue-ops-max-fee-ppm": "0"})
    assert "revenue-ops-max-fee-ppm" in str(e.value) and "from 1 to 100000" in str(e.value)


def test_snapshot_changes_make_a_new_generation_and_leave_the_old_one():
    snap = build_startup_config({}).snapshot
    new = snap.with_value("fee-interval", 900, "override")
    assert (snap.generation, snap["fee-interval"]) == (1, 3600)
    assert (new.generation, new["fee-interval"]) == (2, 900)


def test_lookup_accepts_the_full_option_name():
    assert lookup("--revenue-ops-fee-interval").key == "fee-interval"
    with pytest.raises(ConfigError):
        lookup("fee-intervall")
