"""What the flow feature adds to the plugin: tunables, commands, metrics."""

from __future__ import annotations

from revops.features import Feature
from revops.flow.commands import FLOW_COMMANDS
from revops.flow.metrics import FlowMetrics
from revops.flow.options import FLOW_OPTIONS, FLOW_RULES

FEATURE = Feature("flow", options=FLOW_OPTIONS, rules=FLOW_RULES, commands=FLOW_COMMANDS,
                  metrics=FlowMetrics)
