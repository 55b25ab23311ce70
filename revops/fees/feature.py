"""What the fees feature adds to the plugin: tunables, commands, metrics."""

from __future__ import annotations

from revops.features import Feature

FEATURE = Feature("fees")
