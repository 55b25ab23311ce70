"""What the rebalance feature adds to the plugin: tunables, commands, metrics."""

from __future__ import annotations

from revops.features import Feature
from revops.rebalance.commands import REBALANCE_COMMANDS
from revops.rebalance.metrics import RebalanceMetrics
from revops.rebalance.options import REBALANCE_OPTIONS, REBALANCE_RULES

FEATURE = Feature("rebalance", options=REBALANCE_OPTIONS, rules=REBALANCE_RULES,
                  commands=REBALANCE_COMMANDS, metrics=RebalanceMetrics)
