"""The flow feature's tunables (``--revenue-ops-<key>``, runtime-settable)."""

from __future__ import annotations

from revops.optionspec import NotAbove, OptionSpec

FLOW_OPTIONS: tuple[OptionSpec, ...] = (
    OptionSpec("flow-page-size", "int", 5000,
               "Forwards per listforwards page (index=created/updated, start, limit)",
               minimum=100, maximum=10_000),
    OptionSpec("flow-hydration-rows-per-cycle", "int", 200_000,
               "Most forwards fetched in one flow cycle: a long history is hydrated over "
               "several cycles, newest first, while new forwards keep being synced",
               minimum=1000, maximum=100_000_000),
    OptionSpec("flow-retention-days", "int", 90,
               "Raw forwards older than this many days are deleted once hydrated (daily "
               "per-channel aggregates are kept forever)",
               minimum=14, maximum=36_500, unit="days"),
    OptionSpec("flow-imbalance-ratio", "float", 0.4,
               "Flow ratio (out - in) / (out + in) at or above which a channel is a sink "
               "(at or below its negative, a source); between, balanced",
               minimum=0.05, maximum=0.95),
    OptionSpec("flow-dormant-forwards-per-week", "float", 1.0,
               "A channel with fewer settled forwards (in or out) than this per week over "
               "a window is dormant in it", minimum=0, maximum=100_000),
    OptionSpec("flow-min-roi", "float", 0.001,
               "Annualised net return on capacity over 30 days at or above which a channel "
               "is profitable (at or below its negative, underwater; between, break-even)",
               minimum=0.0, maximum=1.0),
)

FLOW_RULES: tuple[NotAbove, ...] = (
    NotAbove("flow-page-size", "flow-hydration-rows-per-cycle",
             "one listforwards page would hold more rows than a cycle may read"),
)
