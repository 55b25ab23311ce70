#!/usr/bin/env python3
"""Baseline ``static``: CLN's default fees (1000 msat base, 10 ppm) on every
channel, no rebalancing: the node of an operator who never touches fees.

A plugin rather than no plugin so a scenario that starts channels at other
fees is still measured at CLN's defaults: at start, and on every channel
that opens, it sets 1000/10 where the fee differs (nothing else, ever)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from revops.sim.baselines.shell import Node, serve

CLN_DEFAULT_BASE_MSAT = 1000
CLN_DEFAULT_PPM = 10


class StaticPolicy:
    interval = 3600.0

    def configure(self, options: Mapping[str, Any]) -> None:
        pass

    def cycle(self, node: Node, now: float) -> None:
        for ch in node.channels():
            if (ch.fee_base_msat, ch.fee_ppm) != (CLN_DEFAULT_BASE_MSAT, CLN_DEFAULT_PPM):
                node.set_fee(ch, CLN_DEFAULT_BASE_MSAT, CLN_DEFAULT_PPM)


def main() -> None:
    serve("static", StaticPolicy())


if __name__ == "__main__":
    main()
