"""What the fee engine adds to the plugin: tunables, commands, metrics."""

from __future__ import annotations

from revops.features import Feature
from revops.fees.commands import FEE_COMMANDS
from revops.fees.metrics import FeeMetrics
from revops.fees.options import FEE_OPTIONS, FEE_RULES

FEATURE = Feature("fees", options=FEE_OPTIONS, rules=FEE_RULES, commands=FEE_COMMANDS,
                  metrics=FeeMetrics)
