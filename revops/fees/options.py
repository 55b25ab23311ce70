"""The fee engine's tunables (``--revenue-ops-<key>``, runtime-settable)."""

from __future__ import annotations

from revops.optionspec import NotAbove, OptionSpec

FEE_OPTIONS: tuple[OptionSpec, ...] = (
    OptionSpec("min-fee-ppm", "int", 10,
               "Fee floor (raised by the mempool reflex, and never below the refill "
               "cost when rebalancing is on)", minimum=0, maximum=100_000, unit="ppm"),
    OptionSpec("max-fee-ppm", "int", 2500, "Fee ceiling (also the congestion fee)",
               minimum=1, maximum=100_000, unit="ppm"),
    OptionSpec("base-fee-msat", "int", 0, "Base fee set on every channel revops prices",
               minimum=0, maximum=100_000, unit="msat"),
    OptionSpec("htlc-congestion-threshold", "float", 0.8,
               "Share of a channel's HTLC slots in use at which it is priced at the ceiling",
               minimum=0.1, maximum=1.0),
    OptionSpec("scarcity-threshold", "float", 0.30,
               "Outbound share below which the scarcity multiplier applies (1.0 at the "
               "threshold, 3.0 at empty)", minimum=0.0, maximum=0.9),
    OptionSpec("surplus-discount-floor", "float", 0.5,
               "Liquidity multiplier of a full channel (falling linearly from 1.0 at "
               "1 - scarcity-threshold outbound); 1.0: no surplus discount",
               minimum=0.1, maximum=1.0),
    OptionSpec("fee-hysteresis", "float", 0.05,
               "Relative change from the last broadcast fee below which no setchannel is sent",
               minimum=0.0, maximum=0.5),
    OptionSpec("max-fee-updates-per-day", "int", 0,
               "Node-wide gossip budget: fee updates per 24 h (0: 4 per channel); the ones "
               "with the largest expected revenue effect go first, emergencies always pass",
               minimum=0, maximum=10_000_000),
    OptionSpec("hill-climb-window-hours", "float", 6.0,
               "Shortest observation window before a fee is judged",
               minimum=0.25, maximum=168, unit="hours"),
    OptionSpec("hill-climb-max-window-hours", "float", 48.0,
               "Longest observation window: judged then even with little traffic",
               minimum=0.5, maximum=720, unit="hours"),
    OptionSpec("hill-climb-min-forwards", "int", 5,
               "Settled forwards a window needs before its shortest length suffices",
               minimum=1, maximum=10_000),
    OptionSpec("hill-climb-step-min", "float", 0.08, "Smallest relative hill-climb step",
               minimum=0.01, maximum=1.0),
    OptionSpec("hill-climb-step-max", "float", 0.5, "Largest relative hill-climb step",
               minimum=0.01, maximum=2.0),
    OptionSpec("probe-after-days", "float", 7.0,
               "Days without an outbound forward before a zero-fee probe starts (0: never "
               "automatically)", minimum=0, maximum=365, unit="days"),
    OptionSpec("probe-hours", "float", 24.0, "How long a zero-fee probe lasts",
               minimum=0.25, maximum=720, unit="hours"),
    OptionSpec("probe-max-attempts", "int", 2,
               "Failed probes after which a channel is a zombie", minimum=1, maximum=20),
    OptionSpec("fire-sale", "bool", True,
               "Drain zombie and long-underwater channels at 1 ppm (bounded)"),
    OptionSpec("fire-sale-target-ratio", "float", 0.10,
               "Outbound share at which a fire sale stops", minimum=0.0, maximum=0.9),
    OptionSpec("fire-sale-max-daily-sats", "int", 1_000_000,
               "Most a fire sale may sell out of one channel per day",
               minimum=0, maximum=2_100_000_000_000_000, unit="sat"),
    OptionSpec("fire-sale-underwater-days", "int", 30,
               "Days underwater before a channel is marked for liquidation",
               minimum=1, maximum=3650, unit="days"),
    OptionSpec("sibling-undercut-max", "float", 0.2,
               "Channels to the same peer: none priced more than this share below the "
               "dearest", minimum=0.0, maximum=1.0),
    OptionSpec("vegas-reflex", "bool", True,
               "Raise fee floors when on-chain fee rates spike"),
    OptionSpec("mempool-interval", "int", 600, "Seconds between fee-rate readings",
               minimum=60, maximum=86400, unit="seconds"),
)

FEE_RULES: tuple[NotAbove, ...] = (
    NotAbove("min-fee-ppm", "max-fee-ppm", "the fee floor would be above the ceiling"),
    NotAbove("hill-climb-step-min", "hill-climb-step-max",
             "the smallest hill-climb step would be larger than the largest"),
    NotAbove("hill-climb-window-hours", "hill-climb-max-window-hours",
             "the shortest observation window would be longer than the longest"),
)
