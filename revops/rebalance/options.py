"""The rebalancer's tunables (``--revenue-ops-<key>``, runtime-settable).

``rebalancer`` is also read by the fee engine: when it is not ``off`` a
channel's fee floor is raised to what refilling it has cost.
"""

from __future__ import annotations

from revops.optionspec import NotAbove, OptionSpec

MAX_SATS = 2_100_000_000_000_000

REBALANCE_OPTIONS: tuple[OptionSpec, ...] = (
    OptionSpec("rebalancer", "enum", "native",
               "How channels are refilled: native (askrene getroutes + sendpay), sling "
               "(the sling plugin's jobs), or off", choices=("native", "sling", "off")),
    OptionSpec("rebalance-poll-interval", "int", 30,
               "Seconds between looks at rebalance payments in flight (only while some are)",
               minimum=1, maximum=3600, unit="seconds"),
    OptionSpec("rebalance-max-parallel", "int", 4,
               "Rebalance jobs in flight at once", minimum=1, maximum=100),
    OptionSpec("rebalance-min-amount", "int", 50_000,
               "Smallest amount a rebalance moves", minimum=1, maximum=MAX_SATS, unit="sat"),
    OptionSpec("rebalance-max-amount", "int", 1_000_000,
               "Largest amount one rebalance payment moves (large payments fail more often)",
               minimum=1, maximum=MAX_SATS, unit="sat"),
    OptionSpec("rebalance-min-profit", "int", 10,
               "Expected profit (revenue over the horizon minus every cost) below which a "
               "refill is refused", minimum=0, maximum=MAX_SATS, unit="sat"),
    OptionSpec("rebalance-horizon-days", "float", 7.0,
               "Days of the destination's demand the moved liquidity is expected to earn in",
               minimum=0.5, maximum=90, unit="days"),
    OptionSpec("rebalance-max-fee-share", "float", 0.5,
               "Most a refill may pay, as a share of what the destination charges for the "
               "same amount (its broadcast fee)", minimum=0.01, maximum=1.0),
    OptionSpec("rebalance-target-ratio", "float", 0.5,
               "Outbound share a destination is refilled towards (capped by 3 days of its "
               "volume)", minimum=0.05, maximum=0.95),
    OptionSpec("rebalance-source-keep-ratio", "float", 0.5,
               "Outbound share a source always keeps (and at least 3 days of its own volume)",
               minimum=0.05, maximum=0.95),
    OptionSpec("rebalance-budget-daily-sats", "int", 5_000,
               "Most spent on rebalancing fees in any 24 hours (reserved + spent)",
               minimum=0, maximum=MAX_SATS, unit="sat"),
    OptionSpec("rebalance-budget-weekly-sats", "int", 0,
               "Most spent on rebalancing fees in any 7 days (0: no weekly limit)",
               minimum=0, maximum=MAX_SATS, unit="sat"),
    OptionSpec("rebalance-reservation-timeout", "int", 3600,
               "Seconds after which a budget reservation whose payment lightningd does not "
               "hold in flight is released", minimum=60, maximum=30 * 86400, unit="seconds"),
    OptionSpec("rebalance-breaker-failures", "int", 10,
               "Consecutive failed refills after which a channel is left alone",
               minimum=1, maximum=1000),
    OptionSpec("rebalance-breaker-hours", "float", 48.0,
               "How long a channel is left alone once its breaker trips",
               minimum=0.1, maximum=8760, unit="hours"),
)

REBALANCE_RULES: tuple[NotAbove, ...] = (
    NotAbove("rebalance-min-amount", "rebalance-max-amount",
             "no rebalance amount could satisfy both"),
    NotAbove("rebalance-budget-daily-sats", "rebalance-budget-weekly-sats",
             "the daily budget could never be spent within the weekly one (0: no weekly "
             "budget)", off_when_zero=True),
)
