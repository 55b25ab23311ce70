"""Robustness fixtures: the e2e ones (the real plugin under the simulated
lightningd)."""

from tests.e2e.conftest import revops_sim  # noqa: F401
