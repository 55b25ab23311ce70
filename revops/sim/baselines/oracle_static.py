#!/usr/bin/env python3
"""Baseline ``oracle-static``: the best fixed fee per channel, found before
the run by :func:`revops.sim.baselines.oracle.search` with full knowledge
of the scenario's demand, set once and never changed; no rebalancing. The
ceiling for any static policy.

The table comes in a JSON file (``oracle-fees=PATH``: ``{"fees":
{channel_id: [base_msat, ppm]}}``): the plugin sets those fees at start
and on any channel that opens later, and does nothing else."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from revops.sim.baselines.shell import Node, Option, serve

OPTIONS = (Option("oracle-fees", "", "JSON file of the fixed fees, by channel_id"),)


class OracleStaticPolicy:
    interval = 86400.0  # nothing to revisit; new channels trigger a cycle themselves

    def __init__(self) -> None:
        self.fees: dict[str, tuple[int, int]] = {}

    def configure(self, options: Mapping[str, Any]) -> None:
        path = options.get("oracle-fees") or ""
        if path:
            with open(path, encoding="utf-8") as fh:
                raw = json.load(fh)["fees"]
            self.fees = {cid: (int(v[0]), int(v[1])) for cid, v in raw.items()}

    def cycle(self, node: Node, now: float) -> None:
        for ch in node.channels():
            fee = self.fees.get(ch.channel_id)
            if fee is not None and (ch.fee_base_msat, ch.fee_ppm) != fee:
                node.set_fee(ch, fee[0], fee[1])


def main() -> None:
    serve("oracle-static", OracleStaticPolicy(), OPTIONS)


if __name__ == "__main__":
    main()
