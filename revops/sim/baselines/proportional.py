#!/usr/bin/env python3
"""Baseline ``proportional``: charge-lnd's ``proportional`` strategy, run
hourly as operators run charge-lnd from cron; no rebalancing.

Formula and source: see :mod:`revops.sim.baselines.formulas`
(``proportional_ppm``, ``charge_lnd_applies``). Parameters are plugin
options, defaulting to charge-lnd's shipped example
``examples/all-channels-proportional.config``: base 1000 msat, 100..300
ppm, ``min_fee_ppm_delta`` 10."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from revops.sim.baselines import formulas as f
from revops.sim.baselines.shell import Node, Option, serve

OPTIONS = (
    Option("proportional-base-fee-msat", str(f.CHARGE_LND_BASE_FEE_MSAT), "base_fee_msat"),
    Option("proportional-min-fee-ppm", str(f.CHARGE_LND_MIN_FEE_PPM), "min_fee_ppm"),
    Option("proportional-max-fee-ppm", str(f.CHARGE_LND_MAX_FEE_PPM), "max_fee_ppm"),
    Option("proportional-min-fee-ppm-delta", str(f.CHARGE_LND_MIN_FEE_PPM_DELTA),
           "min_fee_ppm_delta"),
    Option("proportional-interval", "3600", "seconds between runs (cron)"),
)


class ProportionalPolicy:
    interval = 3600.0

    def __init__(self) -> None:
        self.base = f.CHARGE_LND_BASE_FEE_MSAT
        self.min_ppm = f.CHARGE_LND_MIN_FEE_PPM
        self.max_ppm = f.CHARGE_LND_MAX_FEE_PPM
        self.delta = f.CHARGE_LND_MIN_FEE_PPM_DELTA

    def configure(self, options: Mapping[str, Any]) -> None:
        self.base = int(options["proportional-base-fee-msat"])
        self.min_ppm = int(options["proportional-min-fee-ppm"])
        self.max_ppm = int(options["proportional-max-fee-ppm"])
        self.delta = int(options["proportional-min-fee-ppm-delta"])
        self.interval = float(options["proportional-interval"])

    def cycle(self, node: Node, now: float) -> None:
        for ch in node.channels():
            ppm = f.proportional_ppm(ch.to_us_msat, ch.total_msat, self.min_ppm, self.max_ppm)
            if f.charge_lnd_applies(ch.fee_base_msat, ch.fee_ppm, self.base, ppm, self.delta):
                node.set_fee(ch, self.base, ppm)


def main() -> None:
    serve("proportional", ProportionalPolicy(), OPTIONS)


if __name__ == "__main__":
    main()
