"""The scenario library of ``etc/scenarios/`` (the economics benchmark's
markets), written by code so each market is built the same way every time
and the files stay consistent. ``etc/scenarios/README.md`` describes them.

    python -m revops.sim.bench.library etc/scenarios     # rewrite the files

Every builder returns a :class:`~revops.sim.scenario.Scenario` from a fixed
RNG; :func:`to_toml` writes only what differs from the scenario format's
defaults (a flow's alternative fee defaults to its out channel's
competitors, so it is written only when it differs). A test checks that the
committed files are exactly what the builders write.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from revops.sim.scenario import (
    ChannelSpec,
    Feerates,
    Flow,
    RateChange,
    Scenario,
    Spike,
)

_NAMES = ["ACINQ", "Kraken", "WalletOfSatoshi", "Boltz", "LNBig", "Bitrefill", "River",
          "Breez", "Voltage", "OpenNode", "Strike", "CoinGate", "Fold", "Muun", "Zebedee",
          "Podcastindex", "Blockstream", "Phoenix", "Amboss", "LNMarkets", "Stacker",
          "BTCPayHub", "Sphinx", "Fountain", "Cashu", "Moon", "Ride", "Mutiny", "Alby",
          "Nostr", "Relai", "Pouch", "Bitkassa", "Satoshi", "Lightspark", "Torq"]


class _Builder:
    """Channels and two-way flows for one scenario, from one seeded RNG."""

    def __init__(self, seed: str) -> None:
        self.rng = random.Random(seed)
        self.channels: list[ChannelSpec] = []
        self.flows: list[Flow] = []

    def chan(self, name: str, cap_choices: Sequence[int], local: tuple[float, float],
             fees: Sequence[int], **kw: Any) -> ChannelSpec:
        rng = self.rng
        cap = rng.choice(cap_choices) * 1_000_000
        spec = ChannelSpec(
            name=name, capacity_sat=cap, local_sat=int(cap * rng.uniform(*local)),
            peer_alias=kw.pop("peer_alias", name),
            age_days=kw.pop("age_days", float(rng.randint(30, 720))),
            peer_fee_ppm=kw.pop("peer_fee_ppm", rng.choice([1, 10, 50, 100, 250, 500])),
            competitor_fee_ppm=float(kw.pop("competitor_fee_ppm", rng.choice(fees))),
            competitor_fee_sigma=kw.pop("competitor_fee_sigma", round(rng.uniform(0.45, 0.75), 2)),
            **kw)
        self.channels.append(spec)
        return spec

    def flow(self, a: ChannelSpec, b: ChannelSpec, rate: float, back: float = 0.0,
             profile: Sequence[tuple[float, float]] = (),
             back_profile: Sequence[tuple[float, float]] | None = None) -> None:
        """Demand a -> b at ``rate`` attempts/day, and b -> a at ``back`` times it."""
        rng = self.rng
        for src, dst, r, prof in ((a, b, rate, profile),
                                  (b, a, rate * back, profile if back_profile is None
                                   else back_profile)):
            if r <= 0:
                continue
            self.flows.append(Flow(
                in_channel=src.name, out_channel=dst.name, rate_per_day=round(r, 2),
                amount_median_sat=float(rng.choice([5000, 10000, 20000, 40000])),
                amount_sigma=round(rng.uniform(1.0, 1.4), 2),
                alt_fee_median_ppm=dst.competitor_fee_ppm, alt_fee_sigma=dst.competitor_fee_sigma,
                fail_rate=round(rng.uniform(0.04, 0.12), 3),
                profile=tuple(RateChange(d, m) for d, m in prof)))

    def scenario(self, name: str, **kw: Any) -> Scenario:
        return Scenario(name=name, channels=tuple(self.channels), flows=tuple(self.flows), **kw)


def balanced_hub() -> Scenario:
    """20 channels whose traffic runs both ways in similar amounts: liquidity
    drifts but rarely runs out; pricing is the whole game."""
    b = _Builder("library:balanced-hub")
    hubs = [b.chan(f"hub-{n}", [4, 5, 8, 10], (0.42, 0.58), [200, 300, 400, 500, 600],
                   peer_alias=n) for n in _NAMES[:20]]
    for i, a in enumerate(hubs):
        for k in (1, 3, 7):
            b.flow(a, hubs[(i + k) % len(hubs)], float(b.rng.randint(8, 20)),
                   back=b.rng.uniform(0.85, 1.15))
    return b.scenario("balanced-hub")


def merchant_sink() -> Scenario:
    """Merchant side: six channels to merchants and wallets take most of the
    outbound demand and are priced high by their competitors; the sources
    refill them only a little, so they drain within days without refills."""
    b = _Builder("library:merchant-sink")
    sinks = [b.chan(f"shop-{i}", [5, 8, 10], (0.75, 0.9), [700, 900, 1200],
                    peer_alias=n, competitors=2) for i, n in enumerate(
                        ["Bitrefill", "Fold", "CoinGate", "Strike", "WalletOfSatoshi", "Zebedee"], 1)]
    sources = [b.chan(f"route-{i}", [5, 8, 10, 16], (0.15, 0.35), [150, 250, 350],
                      peer_alias=n) for i, n in enumerate(_NAMES[18:26], 1)]
    core = [b.chan(f"core-{i}", [5, 8], (0.45, 0.55), [300], peer_alias=n)
            for i, n in enumerate(_NAMES[26:30], 1)]
    for s in sources:
        for d in b.rng.sample(sinks, 3):
            b.flow(s, d, float(b.rng.randint(15, 30)), back=b.rng.uniform(0.05, 0.15))
        b.flow(s, b.rng.choice(core), float(b.rng.randint(5, 10)), back=0.5)
    for c in core:
        for d in b.rng.sample(sinks, 2):
            b.flow(c, d, float(b.rng.randint(8, 15)), back=0.1)
    return b.scenario("merchant-sink")


def exchange_source() -> Scenario:
    """Exchange side: two big exchange peers push withdrawals into us (inbound
    full, cheap competitors), which leave through a dozen wallet and routing
    channels that slowly empty."""
    b = _Builder("library:exchange-source")
    ex = [b.chan("kraken-a", [20], (0.08, 0.12), [60], peer_alias="Kraken", competitors=6,
                 peer_fee_ppm=0),
          b.chan("kraken-b", [16], (0.1, 0.2), [60], peer_alias="Kraken", competitors=6,
                 peer_fee_ppm=0),
          b.chan("river", [10], (0.1, 0.25), [80], peer_alias="River", competitors=5,
                 peer_fee_ppm=0)]
    dests = [b.chan(f"out-{i}", [3, 5, 8, 10], (0.55, 0.8), [250, 400, 550, 700, 900],
                    peer_alias=n) for i, n in enumerate(
                        ["Phoenix", "Breez", "Muun", "Mutiny", "Alby", "Cashu", "ACINQ", "LNBig",
                         "Voltage", "Amboss", "Lightspark", "Torq"], 1)]
    for e in ex:
        for d in b.rng.sample(dests, 6):
            b.flow(e, d, float(b.rng.randint(20, 40)), back=b.rng.uniform(0.03, 0.08))
    for i in range(0, len(dests) - 1, 2):
        b.flow(dests[i], dests[i + 1], float(b.rng.randint(4, 8)), back=1.0)
    return b.scenario("exchange-source")


def dead_channels() -> Scenario:
    """Thirty channels of which 22 never see a payment (four of them
    remote-opened and never used); eight carry all the traffic."""
    b = _Builder("library:dead-channels")
    src = [b.chan(f"src-{i}", [5, 8], (0.2, 0.35), [300, 450], peer_alias=n)
           for i, n in enumerate(_NAMES[:3], 1)]
    snk = [b.chan(f"sink-{i}", [5, 8], (0.65, 0.8), [450, 600, 800], peer_alias=n)
           for i, n in enumerate(_NAMES[3:6], 1)]
    bal = [b.chan(f"bal-{i}", [5], (0.45, 0.55), [300], peer_alias=n)
           for i, n in enumerate(_NAMES[6:8], 1)]
    for i, n in enumerate(_NAMES[8:26], 1):
        b.chan(f"dead-{i}", [1, 2, 3], (0.3, 0.9), [200, 300], peer_alias=n)
    for i, n in enumerate(_NAMES[26:30], 1):
        b.chan(f"virgin-{i}", [2, 4], (0.0, 0.0), [300], peer_alias=n, opener="remote",
               age_days=float(b.rng.randint(60, 200)))
    for s in src:
        for d in snk:
            b.flow(s, d, float(b.rng.randint(12, 24)), back=b.rng.uniform(0.3, 0.5))
        b.flow(s, b.rng.choice(bal), 8.0, back=0.6)
    b.flow(bal[0], bal[1], 15.0, back=1.0)
    return b.scenario("dead-channels")


def mempool_spike() -> Scenario:
    """A default-like mix through a week of very expensive block space (x12
    from day 7 to day 14, another x25 for 6 hours on day 21), when some
    payers move to Lightning (+40 % demand during the week)."""
    b = _Builder("library:mempool-spike")
    week = ((7.0, 1.4), (14.0, 1.0))
    src = [b.chan(f"src-{i}", [5, 8, 10], (0.15, 0.35), [250, 350, 450], peer_alias=n)
           for i, n in enumerate(_NAMES[:5], 1)]
    snk = [b.chan(f"sink-{i}", [5, 8, 10], (0.65, 0.85), [400, 600, 900], peer_alias=n)
           for i, n in enumerate(_NAMES[5:10], 1)]
    bal = [b.chan(f"bal-{i}", [4, 6], (0.4, 0.6), [250, 350, 450], peer_alias=n)
           for i, n in enumerate(_NAMES[10:20], 1)]
    for s in src:
        for d in b.rng.sample(snk, 3):
            b.flow(s, d, float(b.rng.randint(12, 24)), back=b.rng.uniform(0.3, 0.5), profile=week)
    for i in range(0, len(bal), 2):
        b.flow(bal[i], bal[i + 1], float(b.rng.randint(10, 20)), back=1.0, profile=week)
        b.flow(bal[i], b.rng.choice(snk), float(b.rng.randint(4, 8)), back=0.4, profile=week)
    return b.scenario("mempool-spike", feerates=Feerates(
        10000, 0.3, (Spike(7.0, 168.0, 12.0), Spike(21.0, 6.0, 25.0))))


def demand_shift() -> Scenario:
    """Halfway through (day 15) the traffic out to one peer (``ride``)
    doubles and all traffic to and from another (``fade``) vanishes; the
    rest of the node is unchanged."""
    b = _Builder("library:demand-shift")
    src = [b.chan(f"src-{i}", [5, 8, 10], (0.15, 0.35), [250, 350], peer_alias=n)
           for i, n in enumerate(_NAMES[:5], 1)]
    snk = [b.chan(f"sink-{i}", [5, 8, 10], (0.65, 0.85), [400, 600, 800], peer_alias=n)
           for i, n in enumerate(_NAMES[5:9], 1)]
    bal = [b.chan(f"bal-{i}", [4, 6], (0.4, 0.6), [300, 400], peer_alias=n)
           for i, n in enumerate(_NAMES[9:17], 1)]
    ride = b.chan("ride", [10], (0.7, 0.75), [500], peer_alias="Ride")
    fade = b.chan("fade", [8], (0.6, 0.65), [500], peer_alias="Moon")
    for s in src:
        for d in b.rng.sample(snk, 2):
            b.flow(s, d, float(b.rng.randint(12, 24)), back=b.rng.uniform(0.3, 0.5))
        b.flow(s, ride, float(b.rng.randint(8, 12)), back=0.2, profile=((15.0, 2.0),),
               back_profile=())
        b.flow(s, fade, float(b.rng.randint(8, 12)), back=0.3, profile=((15.0, 0.0),))
    for i in range(0, len(bal), 2):
        b.flow(bal[i], bal[i + 1], float(b.rng.randint(10, 20)), back=1.0)
    return b.scenario("demand-shift")


def large_node() -> Scenario:
    """240 channels with the default node's mix (a fifth sources, a fifth
    sinks, 15 % dead, the rest balanced; one congested, one virgin), each
    live channel in a few two-way flows: ~5,000 payment attempts a day."""
    b = _Builder("library:large-node")
    roles: dict[str, list[ChannelSpec]] = {"source": [], "sink": [], "balanced": [], "dead": []}
    for i in range(240):
        roll = b.rng.random()
        role = ("source" if roll < 0.2 else "sink" if roll < 0.4
                else "dead" if roll < 0.55 else "balanced")
        local = {"source": (0.1, 0.35), "sink": (0.65, 0.9), "balanced": (0.35, 0.65),
                 "dead": (0.2, 0.9)}[role]
        extra: dict[str, Any] = {}
        if i == 0:
            extra = {"max_accepted_htlcs": 30, "background_htlcs": 27}
        elif i == 1:
            role, local, extra = "virgin", (0.0, 0.0), {"opener": "remote", "age_days": 90.0}
        ch = b.chan(f"ch{i:03d}", [1, 2, 3, 5, 8, 10, 16], local,
                    [150, 250, 350, 450, 600, 900], peer_alias=f"peer{i:03d}",
                    competitors=b.rng.randint(1, 4), **extra)
        roles.setdefault(role, []).append(ch)
    ins = roles["source"] + roles["balanced"]
    outs = roles["sink"] + roles["balanced"]
    for _ in range(int(240 * 1.2)):
        a, c = b.rng.choice(ins), b.rng.choice(outs)
        if a.name != c.name:
            b.flow(a, c, float(b.rng.randint(4, 14)), back=b.rng.uniform(0.2, 0.6))
    b.flow(roles["source"][0], b.channels[0], 40.0, back=0.2)  # the congested one
    b.flow(roles["virgin"][0], roles["sink"][0], 4.0)
    return b.scenario("large-node")


LIBRARY: dict[str, Callable[[], Scenario]] = {
    "balanced-hub": balanced_hub,
    "merchant-sink": merchant_sink,
    "exchange-source": exchange_source,
    "dead-channels": dead_channels,
    "mempool-spike": mempool_spike,
    "demand-shift": demand_shift,
    "large-node": large_node,
}


# -- TOML ------------------------------------------------------------------------------

def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, float):
        return repr(int(v)) + ".0" if v.is_integer() else repr(v)
    if isinstance(v, (tuple, list)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    return str(v)


_CHANNEL_SKIP = {"peer_id"}
_FLOW_KEYS = {"in_channel": "in", "out_channel": "out"}


def _changed(obj: Any, default: Any, skip: Iterable[str] = ()) -> list[tuple[str, Any]]:
    out = []
    for f in fields(obj):
        if f.name in skip:
            continue
        v = getattr(obj, f.name)
        if f.name in ("name", "in_channel", "out_channel", "capacity_sat", "local_sat",
                      "rate_per_day") or v != getattr(default, f.name):
            out.append((f.name, v))
    return out


def to_toml(s: Scenario, description: str) -> str:
    lines = [f"# {line}".rstrip() for line in description.strip().splitlines()]
    lines += ["# Written by revops/sim/bench/library.py; see README.md here.", "",
              f"name = {_value(s.name)}", ""]
    fr = s.feerates
    if fr != Feerates():
        lines += ["[feerates]", f"base_perkb = {fr.base_perkb}",
                  f"daily_swing = {_value(fr.daily_swing)}"]
        for sp in fr.spikes:
            lines += ["[[feerates.spikes]]", f"start_day = {_value(sp.start_day)}",
                      f"duration_hours = {_value(sp.duration_hours)}",
                      f"multiplier = {_value(sp.multiplier)}"]
        lines.append("")
    by_name = {c.name: c for c in s.channels}
    for c in s.channels:
        default = ChannelSpec(name=c.name, capacity_sat=c.capacity_sat, local_sat=c.local_sat,
                              peer_alias=c.name)
        lines.append("[[channels]]")
        for key, v in _changed(c, default, _CHANNEL_SKIP):
            lines.append(f"{key} = {_value(v)}")
    lines.append("")
    for f in s.flows:
        out = by_name[f.out_channel]
        default = replace(Flow(f.in_channel, f.out_channel, f.rate_per_day),
                          alt_fee_median_ppm=out.competitor_fee_ppm,
                          alt_fee_sigma=out.competitor_fee_sigma)
        lines.append("[[flows]]")
        for key, v in _changed(f, default, {"profile"}):
            lines.append(f"{_FLOW_KEYS.get(key, key)} = {_value(v)}")
        for p in f.profile:
            lines += ["[[flows.profile]]", f"from_day = {_value(p.from_day)}",
                      f"multiplier = {_value(p.multiplier)}"]
    return "\n".join(lines) + "\n"


def write_library(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, build in LIBRARY.items():
        path = directory / f"{name}.toml"
        path.write_text(to_toml(build(), build.__doc__ or name), encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for p in write_library(Path(sys.argv[1] if len(sys.argv) > 1 else "etc/scenarios")):
        print(p)
