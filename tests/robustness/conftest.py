"""Robustness fixtures and Hypothesis profiles.

Profiles (``HYPOTHESIS_PROFILE``, default ``ci``):

- ``ci``: derandomized (the same examples on every run and machine, so a
  failure in CI reproduces locally), no per-example deadline (machines are
  noisy: tests assert behaviour, never speed), no example database;
- ``deep``: 20x the examples, random, for a longer hunt by hand:
  ``HYPOTHESIS_PROFILE=deep pytest -q tests/robustness``.

Each test sets its own ``max_examples`` (scaled by the profile's factor) so
the suite stays well under a minute in CI.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

from tests.e2e.conftest import revops_sim  # noqa: F401

settings.register_profile("ci", derandomize=True, deadline=None, database=None,
                          print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow,
                                                 HealthCheck.function_scoped_fixture])
settings.register_profile("deep", derandomize=False, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow,
                                                 HealthCheck.function_scoped_fixture])
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
settings.load_profile(PROFILE)
SCALE = 20 if PROFILE == "deep" else 1


def examples(n: int) -> int:
    """``n`` examples under ``ci``, more under ``deep``."""
    return n * SCALE
