"""What etc/ ships refers only to things revops really has."""

import re
from pathlib import Path

from prometheus_client import CollectorRegistry

from revops.metrics import Metrics

ETC = Path(__file__).resolve().parent.parent / "etc"
SUFFIXES = ("_bucket", "_count", "_sum", "_created")


def exported_names() -> set[str]:
    registry = CollectorRegistry()
    Metrics(registry)
    names = set()
    for family in registry.collect():
        names.add(family.name)
        if family.type == "counter":
            names.add(family.name + "_total")
        for s in SUFFIXES:
            names.add(family.name + s)
    return names


def test_alert_rules_and_dashboards_use_exported_series():
    exported = exported_names()
    for path in list(ETC.glob("*.yml")) + list(ETC.glob("*.json")):
        used = set(re.findall(r"\brevops_[a-z0-9_]+", path.read_text()))
        missing = sorted(n for n in used if n not in exported)
        assert not missing, f"{path.name} uses series revops does not export: {missing}"
