#!/usr/bin/env python3
"""Baseline ``median-balance``: CLBOSS-like fees, hourly; no rebalancing.

Per peer: the capacity-weighted median of the fees other nodes charge into
that peer (``listchannels destination=<peer>``, our own channel left out),
times FeeModderByBalance's binned balance multiplier of the peer's (first)
channel, the same fee on every channel to that peer. A peer without
competitors keeps its fee (CLBOSS raises no median for it). Formulas and
sources: :mod:`revops.sim.baselines.formulas`. The bin hysteresis draws
from a seeded RNG (``median-balance-seed``), so runs repeat exactly."""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from revops.sim.baselines import formulas as f
from revops.sim.baselines.shell import Channel, Node, Option, serve

OPTIONS = (
    Option("median-balance-interval", "3600", "seconds between runs (CLBOSS: hourly)"),
    Option("median-balance-seed", "1", "seed of the bin-rounding draws"),
)


class MedianBalancePolicy:
    interval = 3600.0

    def __init__(self) -> None:
        self.rng = random.Random(1)
        self.bins: dict[str, tuple[int, int, int]] = {}  # peer -> (bin, num_bins, total)
        self.our_id: str | None = None

    def configure(self, options: Mapping[str, Any]) -> None:
        self.interval = float(options["median-balance-interval"])
        self.rng = random.Random(f"median-balance:{options['median-balance-seed']}")

    def multiplier(self, peer: str, ch: Channel) -> float:
        known = self.bins.get(peer)
        if known is None or known[2] != ch.total_msat:
            bins, prev = f.num_bins(ch.total_msat), None
        else:
            prev, bins = known[0], known[1]
        b = f.next_bin(prev, ch.to_us_msat, ch.total_msat, bins, self.rng.random())
        self.bins[peer] = (b, bins, ch.total_msat)
        return f.bin_multiplier(b, bins)

    def median(self, node: Node, peer: str) -> tuple[int, int] | None:
        res = node.call("listchannels", {"destination": peer})
        entries = [c for c in res.get("channels", []) if c.get("source") != self.our_id]
        weights = [int(c["amount_msat"]) for c in entries]
        base = f.weighted_median((int(c["base_fee_millisatoshi"]), w)
                                 for c, w in zip(entries, weights))
        ppm = f.weighted_median((int(c["fee_per_millionth"]), w)
                                for c, w in zip(entries, weights))
        if base is None or ppm is None:
            return None
        return base, ppm

    def cycle(self, node: Node, now: float) -> None:
        if self.our_id is None:
            self.our_id = node.call("getinfo", {})["id"]
        by_peer: dict[str, list[Channel]] = {}
        for ch in node.channels():
            by_peer.setdefault(ch.peer_id, []).append(ch)
        for peer, chans in by_peer.items():
            med = self.median(node, peer)
            if med is None:
                continue
            base, ppm = f.clboss_fee(med[0], med[1], self.multiplier(peer, chans[0]))
            for ch in chans:
                if (ch.fee_base_msat, ch.fee_ppm) != (base, ppm):
                    node.set_fee(ch, base, ppm)


def main() -> None:
    serve("median-balance", MedianBalancePolicy(), OPTIONS)


if __name__ == "__main__":
    main()
