"""Scenarios for the simulated market: what node, what channels, what demand.

A scenario is a TOML or JSON file (same structure; every key optional unless
marked *required*). Times are days after ``start_time`` unless the key says
otherwise; amounts carry their unit in the key (``_sat``, ``_msat``). The
example below is complete and loads as it stands (a test checks it).

```toml
name = "my-node"                 # default: the file name without extension
start_time = 1767225600          # UNIX seconds at the start of the run
gossip_delay_s = 120             # how stale the fees senders see are
htlc_hold_s = [0.5, 6.0]         # an HTLC resolves after uniform(a, b) seconds
historical_forwards = 0          # forwards already in listforwards at start
history_days = 30                # ... spread over this many days before start

[node]
alias = "revops-sim"
color = "3399ff"                 # 6 hex digits
network = "regtest"
blockheight = 930000             # height at start_time; +1 every 600 s
onchain_sat = 2000000            # one confirmed wallet output (listfunds)
# or explicit outputs instead of onchain_sat:
# [[node.outputs]]
# amount_sat = 1500000
# confirmations = 12            # 0 = unconfirmed

[feerates]
base_perkb = 5000                # sat per kvB (5 sat/vB)
daily_swing = 0.2                # +-20 % sine over each day
[[feerates.spikes]]
start_day = 3.0
duration_hours = 12
multiplier = 8.0

[[channels]]                     # one table per channel, in listing order
name = "src-alpha"               # required, unique; flows refer to it
peer_alias = "alpha"             # default: name
# peer_id = "02ab..."            # a public key (66 hex digits); default: derived from peer_alias
capacity_sat = 5000000           # required, > 0
local_sat = 1000000              # required, 0..capacity_sat
opener = "local"                 # local | remote
age_days = 200                   # funding confirmed this long before start
max_accepted_htlcs = 483         # HTLC slots, 1..483
background_htlcs = 0             # other traffic's HTLCs in flight (mean)
fee_base_msat = 1000             # our fee at start (CLN default 1000 / 10)
fee_ppm = 10
peer_fee_base_msat = 1000        # the peer's fee towards us
peer_fee_ppm = 10
private = false
competitors = 3                  # other nodes' channels to this peer
competitor_fee_ppm = 400         # their fees: lognormal median ...
competitor_fee_sigma = 0.6       # ... and sigma (also flows' default alternative)
close_at_day = 9.0               # optional: closed mid-run ...
close_cause = "remote"           # ... by: local | user | remote

[[channels]]
name = "sink-beta"
capacity_sat = 8000000
local_sat = 6000000
open_at_day = 2.5                # optional: funded mid-run (not there before)

[[flows]]                        # payment demand in -> out through us
in = "src-alpha"                 # required channel names
out = "sink-beta"
rate_per_day = 40                # attempts per day (Poisson)
amount_median_sat = 10000        # lognormal payment size
amount_sigma = 1.4
alt_fee_median_ppm = 400         # the sender's alternative route's fee:
alt_fee_sigma = 0.6              #   default: the out channel's competitors
alt_fee_base_msat = 1000
fail_rate = 0.08                 # settled HTLCs failing downstream
[[flows.profile]]                # optional rate multipliers from a day on
from_day = 10
multiplier = 2.0

[[faults]]                       # injected RPC faults (wall-clock latency)
method = "listforwards"          # required; "*" = every method
error_rate = 0.1                 # probability each call fails
code = -1
message = "Injected fault"
latency_s = 0.0
start_day = 0.0
end_day = 1.0e9

[plugin.options]                 # JSON: "plugin_options": {...}
revenue-ops-fee-interval = "600"

[sim]
sling = false                    # also start the simulated sling plugin (as --sling)

[payments]                       # our own payments: circular rebalances, probes
backbone_links = 3               # channels each competitor node has to other ones
backbone_fee_ppm = 60            # their fees: lognormal median ...
backbone_fee_sigma = 0.7         # ... and sigma
hold_s = [2.0, 45.0]             # a payment is in flight uniform(a, b) seconds
hop_fail_rate = 0.02             # a remote hop also fails this often, any amount
liquidity_factor = 1.0           # a remote hop passes with 1 - f * amount / capacity
# success_rate = 0.5             # force: remote hops all pass with this probability
```

Rebalancing is priced by the graph: our peers reach each other only
through their competitors (other nodes' channels to the same peer) and a
sparse backbone between those competitors, so a circular payment pays the
peer on the way out, the backbone, the competitor that forwards into the
destination peer, and that peer's own fee towards us: market rates.

A payment routes through us when the fee the sender sees for the out
channel (our gossip, ``gossip_delay_s`` old) is at or below its alternative
``alt_fee_base_msat + amount * alt_ppm / 1e6``: demand reacts to our fee.

Errors are :class:`ScenarioError`, one line: ``<file>: <where>: <what>``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from revops.sim.pubkey import on_curve

DAY = 86400.0
DEFAULT_START_TIME = 1767225600.0  # 2026-01-01T00:00:00Z
CLN_DEFAULT_FEE_BASE_MSAT = 1000
CLN_DEFAULT_FEE_PPM = 10
MAX_ACCEPTED_HTLCS = 483

_COLOR_RE = re.compile(r"^[0-9a-fA-F]{6}$")


class ScenarioError(Exception):
    """A scenario that cannot be used; ``str(e)`` is one line:
    ``<file>: <where>: <what>``."""


# -- the values ---------------------------------------------------------------


@dataclass(frozen=True)
class Spike:
    start_day: float
    duration_hours: float
    multiplier: float


@dataclass(frozen=True)
class Feerates:
    base_perkb: int = 5000
    daily_swing: float = 0.2
    spikes: tuple[Spike, ...] = ()


@dataclass(frozen=True)
class WalletOutput:
    amount_sat: int
    confirmations: int = 6


@dataclass(frozen=True)
class NodeSpec:
    alias: str = "revops-sim"
    color: str = "3399ff"
    network: str = "regtest"
    blockheight: int = 930000
    outputs: tuple[WalletOutput, ...] = (WalletOutput(2_000_000, 100),)


@dataclass(frozen=True)
class ChannelSpec:
    name: str
    capacity_sat: int
    local_sat: int
    peer_alias: str = ""
    peer_id: str = ""
    opener: str = "local"
    age_days: float = 180.0
    max_accepted_htlcs: int = MAX_ACCEPTED_HTLCS
    background_htlcs: int = 0
    fee_base_msat: int = CLN_DEFAULT_FEE_BASE_MSAT
    fee_ppm: int = CLN_DEFAULT_FEE_PPM
    peer_fee_base_msat: int = CLN_DEFAULT_FEE_BASE_MSAT
    peer_fee_ppm: int = CLN_DEFAULT_FEE_PPM
    private: bool = False
    competitors: int = 3
    competitor_fee_ppm: float = 400.0
    competitor_fee_sigma: float = 0.6
    open_at_day: float | None = None
    close_at_day: float | None = None
    close_cause: str = "remote"


@dataclass(frozen=True)
class RateChange:
    from_day: float
    multiplier: float


@dataclass(frozen=True)
class Flow:
    in_channel: str
    out_channel: str
    rate_per_day: float
    amount_median_sat: float = 10_000.0
    amount_sigma: float = 1.4
    alt_fee_median_ppm: float = 400.0
    alt_fee_sigma: float = 0.6
    alt_fee_base_msat: int = 1000
    fail_rate: float = 0.08
    profile: tuple[RateChange, ...] = ()

    def multiplier_at(self, day: float) -> float:
        m = 1.0
        for change in self.profile:
            if day >= change.from_day:
                m = change.multiplier
        return m


@dataclass(frozen=True)
class Fault:
    method: str
    error_rate: float = 0.0
    code: int = -1
    message: str = "Injected fault"
    latency_s: float = 0.0
    start_day: float = 0.0
    end_day: float = 1e9


@dataclass(frozen=True)
class PaymentsSpec:
    """How our own payments fare on the wider network (see payments.py)."""

    backbone_links: int = 3
    backbone_fee_ppm: float = 60.0
    backbone_fee_sigma: float = 0.7
    hold_s: tuple[float, float] = (2.0, 45.0)
    hop_fail_rate: float = 0.02
    liquidity_factor: float = 1.0
    success_rate: float | None = None


@dataclass(frozen=True)
class Scenario:
    name: str
    start_time: float = DEFAULT_START_TIME
    node: NodeSpec = NodeSpec()
    channels: tuple[ChannelSpec, ...] = ()
    flows: tuple[Flow, ...] = ()
    feerates: Feerates = Feerates()
    faults: tuple[Fault, ...] = ()
    gossip_delay_s: float = 120.0
    htlc_hold_s: tuple[float, float] = (0.5, 6.0)
    historical_forwards: int = 0
    history_days: float = 30.0
    plugin_options: Mapping[str, str] = field(default_factory=dict)
    payments: PaymentsSpec = PaymentsSpec()
    sling: bool = False

    def channel(self, name: str) -> ChannelSpec:
        for ch in self.channels:
            if ch.name == name:
                return ch
        raise KeyError(name)


def derive_pubkey(*parts: object) -> str:
    """A deterministic node id that is a real public key (a point on the
    curve, as lightningd requires of any id it is given)."""
    seed = ":".join(str(p) for p in parts)
    tries = 0
    while True:
        digest = hashlib.sha256((seed if tries == 0 else f"{seed}#{tries}").encode()).hexdigest()
        candidate = ("02" if int(digest[0], 16) % 2 == 0 else "03") + digest
        if on_curve(candidate):
            return candidate
        tries += 1


# -- reading and validating ---------------------------------------------------


class _Reader:
    """Pulls typed values out of parsed TOML/JSON, naming file and place
    in every complaint."""

    def __init__(self, path: str) -> None:
        self.path = path

    def fail(self, where: str, what: str) -> ScenarioError:
        return ScenarioError(f"{self.path}: {where}: {what}")

    def table(self, obj: Any, where: str, known: set[str]) -> dict[str, Any]:
        if not isinstance(obj, dict):
            raise self.fail(where or "<top>", f"must be a table/object, got {_show(obj)}")
        for key in obj:
            if key not in known:
                place = f"{where}.{key}" if where else key
                raise self.fail(place, f"unknown key (expected one of: {', '.join(sorted(known))})")
        return obj

    def list_(self, obj: Any, where: str) -> list[Any]:
        if not isinstance(obj, list):
            raise self.fail(where, f"must be an array, got {_show(obj)}")
        return obj

    def int_(self, obj: dict[str, Any], key: str, where: str, default: int | None = None,
             lo: int | None = None, hi: int | None = None, what: str = "an integer") -> int:
        place = _at(where, key)
        if key not in obj:
            if default is None:
                raise self.fail(place, "required")
            return default
        v = obj[key]
        if isinstance(v, float) and v.is_integer() and math.isfinite(v):
            v = int(v)  # JSON writers sometimes emit 5.0
        if isinstance(v, bool) or not isinstance(v, int):
            raise self.fail(place, f"must be {what}, got {_show(v)}")
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise self.fail(place, f"must be {what}, got {_show(v)}")
        return v

    def num(self, obj: dict[str, Any], key: str, where: str, default: float | None = None,
            lo: float | None = None, hi: float | None = None, lo_open: bool = False,
            what: str = "a number", optional: bool = False) -> float | None:
        place = _at(where, key)
        if key not in obj:
            if default is None and not optional:
                raise self.fail(place, "required")
            return default
        v = obj[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise self.fail(place, f"must be {what}, got {_show(v)}")
        if not math.isfinite(v):
            raise self.fail(place, f"must be {what}, got {_show(v)}")
        if (lo is not None and (v < lo or (lo_open and v == lo))) or (hi is not None and v > hi):
            raise self.fail(place, f"must be {what}, got {_show(v)}")
        return float(v)

    def str_(self, obj: dict[str, Any], key: str, where: str, default: str | None = None,
             check: Callable[[str], bool] | None = None, what: str = "a string") -> str:
        place = _at(where, key)
        if key not in obj:
            if default is None:
                raise self.fail(place, "required")
            return default
        v = obj[key]
        if not isinstance(v, str) or (check is not None and not check(v)):
            raise self.fail(place, f"must be {what}, got {_show(v)}")
        return v

    def bool_(self, obj: dict[str, Any], key: str, where: str, default: bool) -> bool:
        if key not in obj:
            return default
        v = obj[key]
        if not isinstance(v, bool):
            raise self.fail(_at(where, key), f"must be true or false, got {_show(v)}")
        return v


def _at(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _show(v: Any) -> str:
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    if isinstance(v, (dict, list)):
        text = json.dumps(v)
        return text if len(text) <= 40 else text[:37] + "..."
    return json.dumps(v) if isinstance(v, (str, bool)) or v is None else str(v)


_TOP_KEYS = {"name", "start_time", "node", "channels", "flows", "feerates", "faults",
             "gossip_delay_s", "htlc_hold_s", "historical_forwards", "history_days",
             "plugin", "plugin_options", "sim", "payments"}
_NODE_KEYS = {"alias", "color", "network", "blockheight", "onchain_sat", "outputs"}
_OUTPUT_KEYS = {"amount_sat", "confirmations"}
_FEERATE_KEYS = {"base_perkb", "daily_swing", "spikes"}
_SPIKE_KEYS = {"start_day", "duration_hours", "multiplier"}
_CHANNEL_KEYS = {"name", "peer_alias", "peer_id", "capacity_sat", "local_sat", "opener",
                 "age_days", "max_accepted_htlcs", "background_htlcs", "fee_base_msat",
                 "fee_ppm", "peer_fee_base_msat", "peer_fee_ppm", "private", "competitors",
                 "competitor_fee_ppm", "competitor_fee_sigma", "open_at_day",
                 "close_at_day", "close_cause"}
_FLOW_KEYS = {"in", "out", "rate_per_day", "amount_median_sat", "amount_sigma",
              "alt_fee_median_ppm", "alt_fee_sigma", "alt_fee_base_msat", "fail_rate",
              "profile"}
_PROFILE_KEYS = {"from_day", "multiplier"}
_SIM_KEYS = {"sling"}
_PAYMENTS_KEYS = {"backbone_links", "backbone_fee_ppm", "backbone_fee_sigma", "hold_s",
                  "hop_fail_rate", "liquidity_factor", "success_rate"}
_FAULT_KEYS = {"method", "error_rate", "code", "message", "latency_s", "start_day", "end_day"}
_U32 = 0xFFFFFFFF
_NETWORKS = {"regtest", "bitcoin", "testnet", "testnet4", "signet"}


def scenario_from_dict(raw: Any, path: str) -> Scenario:
    """Validate a parsed scenario document (TOML or JSON shape)."""
    r = _Reader(path)
    top = r.table(raw, "", _TOP_KEYS)
    default_name = os.path.splitext(os.path.basename(path))[0] or "scenario"
    name = r.str_(top, "name", "", default_name, lambda s: bool(s.strip()), "a non-empty string")
    start_time = r.num(top, "start_time", "", DEFAULT_START_TIME, lo=0, lo_open=True,
                       what="a positive UNIX time")
    node = _node(r, top.get("node", {}))
    feerates = _feerates(r, top.get("feerates", {}))
    channels = _channels(r, r.list_(top.get("channels", []), "channels"))
    by_name = {c.name: c for c in channels}
    flows = tuple(_flow(r, f, f"flows[{i}]", by_name)
                  for i, f in enumerate(r.list_(top.get("flows", []), "flows")))
    faults = tuple(_fault(r, f, f"faults[{i}]")
                   for i, f in enumerate(r.list_(top.get("faults", []), "faults")))
    gossip_delay = r.num(top, "gossip_delay_s", "", 120.0, lo=0, what="a number >= 0")
    hold_raw = top.get("htlc_hold_s", [0.5, 6.0])
    hold = r.list_(hold_raw, "htlc_hold_s")
    if (len(hold) != 2 or any(isinstance(h, bool) or not isinstance(h, (int, float))
                              or not math.isfinite(h) or h < 0 for h in hold)
            or hold[0] > hold[1]):
        raise r.fail("htlc_hold_s", f"must be [min, max] seconds with 0 <= min <= max, got {_show(hold)}")
    hist = r.int_(top, "historical_forwards", "", 0, lo=0, what="an integer >= 0")
    hist_days = r.num(top, "history_days", "", 30.0, lo=0, lo_open=True, what="a number > 0")
    options = _plugin_options(r, top)
    sim = r.table(top.get("sim", {}), "sim", _SIM_KEYS)
    payments = _payments(r, top.get("payments", {}))
    return Scenario(name=name, start_time=float(start_time), node=node,  # type: ignore[arg-type]
                    channels=channels, flows=flows, feerates=feerates, faults=faults,
                    gossip_delay_s=float(gossip_delay),  # type: ignore[arg-type]
                    htlc_hold_s=(float(hold[0]), float(hold[1])),
                    historical_forwards=hist, history_days=float(hist_days),  # type: ignore[arg-type]
                    plugin_options=options, payments=payments,
                    sling=r.bool_(sim, "sling", "sim", False))


def _payments(r: _Reader, raw: Any) -> PaymentsSpec:
    t = r.table(raw, "payments", _PAYMENTS_KEYS)
    w = "payments"
    hold = r.list_(t.get("hold_s", [2.0, 45.0]), "payments.hold_s")
    if (len(hold) != 2 or any(isinstance(h, bool) or not isinstance(h, (int, float))
                              or not math.isfinite(h) or h <= 0 for h in hold)
            or hold[0] > hold[1]):
        raise r.fail("payments.hold_s",
                     f"must be [min, max] seconds with 0 < min <= max, got {_show(hold)}")
    return PaymentsSpec(
        backbone_links=r.int_(t, "backbone_links", w, 3, lo=0, hi=50, what="an integer in 0..50"),
        backbone_fee_ppm=r.num(t, "backbone_fee_ppm", w, 60.0, lo=0, lo_open=True, hi=1e6,  # type: ignore[arg-type]
                               what="a number of ppm in (0, 1e6]"),
        backbone_fee_sigma=r.num(t, "backbone_fee_sigma", w, 0.7, lo=0, hi=5,  # type: ignore[arg-type]
                                 what="a number in [0, 5]"),
        hold_s=(float(hold[0]), float(hold[1])),
        hop_fail_rate=r.num(t, "hop_fail_rate", w, 0.02, lo=0, hi=1,  # type: ignore[arg-type]
                            what="a probability in [0, 1]"),
        liquidity_factor=r.num(t, "liquidity_factor", w, 1.0, lo=0, hi=100,  # type: ignore[arg-type]
                               what="a number in [0, 100]"),
        success_rate=r.num(t, "success_rate", w, None, lo=0, hi=1, optional=True,
                           what="a probability in [0, 1]"))


def _node(r: _Reader, raw: Any) -> NodeSpec:
    t = r.table(raw, "node", _NODE_KEYS)
    alias = r.str_(t, "alias", "node", "revops-sim", lambda s: 0 < len(s.encode()) <= 32,
                   "a string of 1..32 bytes")
    color = r.str_(t, "color", "node", "3399ff", lambda s: bool(_COLOR_RE.match(s)),
                   "6 hex digits").lower()
    network = r.str_(t, "network", "node", "regtest", lambda s: s in _NETWORKS,
                     "one of " + ", ".join(sorted(_NETWORKS)))
    height = r.int_(t, "blockheight", "node", 930000, lo=1, hi=_U32 // 2,
                    what="a positive block height")
    if "outputs" in t and "onchain_sat" in t:
        raise r.fail("node.outputs", "give either onchain_sat or outputs, not both")
    if "outputs" in t:
        outs = []
        for i, o in enumerate(r.list_(t["outputs"], "node.outputs")):
            where = f"node.outputs[{i}]"
            ot = r.table(o, where, _OUTPUT_KEYS)
            outs.append(WalletOutput(
                r.int_(ot, "amount_sat", where, lo=1, what="a positive integer"),
                r.int_(ot, "confirmations", where, 6, lo=0, hi=height, what="an integer >= 0")))
        outputs = tuple(outs)
    else:
        sat = r.int_(t, "onchain_sat", "node", 2_000_000, lo=0, what="an integer >= 0")
        outputs = (WalletOutput(sat, 100),) if sat else ()
    return NodeSpec(alias, color, network, height, outputs)


def _feerates(r: _Reader, raw: Any) -> Feerates:
    t = r.table(raw, "feerates", _FEERATE_KEYS)
    base = r.int_(t, "base_perkb", "feerates", 5000, lo=1012, hi=_U32 // 1000,
                  what="an integer sat/kvB >= 1012 (the floor)")
    swing = r.num(t, "daily_swing", "feerates", 0.2, lo=0, hi=0.9, what="a number in [0, 0.9]")
    spikes = []
    for i, s in enumerate(r.list_(t.get("spikes", []), "feerates.spikes")):
        where = f"feerates.spikes[{i}]"
        st = r.table(s, where, _SPIKE_KEYS)
        spikes.append(Spike(
            r.num(st, "start_day", where, lo=0, what="a number >= 0"),  # type: ignore[arg-type]
            r.num(st, "duration_hours", where, lo=0, lo_open=True, what="a number > 0"),  # type: ignore[arg-type]
            r.num(st, "multiplier", where, lo=0, lo_open=True, hi=1000,  # type: ignore[arg-type]
                  what="a number in (0, 1000]")))
    return Feerates(base, swing, tuple(spikes))  # type: ignore[arg-type]


def _channels(r: _Reader, raws: list[Any]) -> tuple[ChannelSpec, ...]:
    out: list[ChannelSpec] = []
    names: set[str] = set()
    for i, raw in enumerate(raws):
        w = f"channels[{i}]"
        t = r.table(raw, w, _CHANNEL_KEYS)
        name = r.str_(t, "name", w, None, lambda s: bool(s.strip()), "a non-empty string")
        if name in names:
            raise r.fail(f"{w}.name", f"duplicate channel name {_show(name)}")
        names.add(name)
        cap = r.int_(t, "capacity_sat", w, lo=1, hi=21_000_000 * 100_000_000,
                     what="a positive integer")
        local = r.int_(t, "local_sat", w, lo=0, what="an integer >= 0")
        if local > cap:
            raise r.fail(f"{w}.local_sat", f"must not exceed capacity_sat ({cap}), got {local}")
        peer_alias = r.str_(t, "peer_alias", w, name, lambda s: 0 < len(s.encode()) <= 32,
                            "a string of 1..32 bytes")
        peer_id = r.str_(t, "peer_id", w, "", lambda s: on_curve(s.lower()),
                         "a node id (a compressed public key: 66 hex digits, 02 or 03 "
                         "then a point's x)").lower()
        opener = r.str_(t, "opener", w, "local", lambda s: s in ("local", "remote"),
                        '"local" or "remote"')
        maxh = r.int_(t, "max_accepted_htlcs", w, MAX_ACCEPTED_HTLCS, lo=1, hi=MAX_ACCEPTED_HTLCS,
                      what=f"an integer in 1..{MAX_ACCEPTED_HTLCS}")
        bg = r.int_(t, "background_htlcs", w, 0, lo=0, hi=maxh,
                    what=f"an integer in 0..max_accepted_htlcs ({maxh})")
        open_at = r.num(t, "open_at_day", w, None, lo=0, what="a number >= 0", optional=True)
        close_at = r.num(t, "close_at_day", w, None, lo=0, what="a number >= 0", optional=True)
        if open_at is not None and close_at is not None and close_at <= open_at:
            raise r.fail(f"{w}.close_at_day", f"must be after open_at_day ({open_at:g}), got {close_at:g}")
        out.append(ChannelSpec(
            name=name, capacity_sat=cap, local_sat=local, peer_alias=peer_alias,
            peer_id=peer_id, opener=opener,
            age_days=r.num(t, "age_days", w, 180.0, lo=0, hi=36500, what="a number of days in [0, 36500]"),  # type: ignore[arg-type]
            max_accepted_htlcs=maxh, background_htlcs=bg,
            fee_base_msat=r.int_(t, "fee_base_msat", w, CLN_DEFAULT_FEE_BASE_MSAT, lo=0, hi=_U32,
                                 what="an unsigned 32-bit integer"),
            fee_ppm=r.int_(t, "fee_ppm", w, CLN_DEFAULT_FEE_PPM, lo=0, hi=_U32,
                           what="an unsigned 32-bit integer"),
            peer_fee_base_msat=r.int_(t, "peer_fee_base_msat", w, CLN_DEFAULT_FEE_BASE_MSAT, lo=0,
                                      hi=_U32, what="an unsigned 32-bit integer"),
            peer_fee_ppm=r.int_(t, "peer_fee_ppm", w, CLN_DEFAULT_FEE_PPM, lo=0, hi=_U32,
                                what="an unsigned 32-bit integer"),
            private=r.bool_(t, "private", w, False),
            competitors=r.int_(t, "competitors", w, 3, lo=0, hi=50, what="an integer in 0..50"),
            competitor_fee_ppm=r.num(t, "competitor_fee_ppm", w, 400.0, lo=0, lo_open=True,  # type: ignore[arg-type]
                                     hi=1e6, what="a number of ppm in (0, 1e6]"),
            competitor_fee_sigma=r.num(t, "competitor_fee_sigma", w, 0.6, lo=0, hi=5,  # type: ignore[arg-type]
                                       what="a number in [0, 5]"),
            open_at_day=open_at, close_at_day=close_at,
            close_cause=r.str_(t, "close_cause", w, "remote",
                               lambda s: s in ("local", "user", "remote"),
                               '"local", "user" or "remote"')))
    # Two channels to one peer must agree on who the peer is.
    ids: dict[str, str] = {}
    for i, ch in enumerate(out):
        pid = ch.peer_id or derive_pubkey("peer", ch.peer_alias)
        if ch.peer_alias in ids and ids[ch.peer_alias] != pid:
            raise r.fail(f"channels[{i}].peer_id",
                         f"peer_alias {_show(ch.peer_alias)} already has peer_id {ids[ch.peer_alias]}")
        ids[ch.peer_alias] = pid
        out[i] = replace(ch, peer_id=pid)
    return tuple(out)


def _flow(r: _Reader, raw: Any, w: str, channels: dict[str, ChannelSpec]) -> Flow:
    t = r.table(raw, w, _FLOW_KEYS)
    names = set(channels)

    def known(key: str) -> str:
        name = r.str_(t, key, w)
        if name not in names:
            raise r.fail(f"{w}.{key}", f"unknown channel {_show(name)}")
        return name

    cin, cout = known("in"), known("out")
    if cin == cout:
        raise r.fail(f"{w}.out", f"must differ from in ({_show(cin)})")
    out_spec = channels[cout]
    profile = []
    last = -1.0
    for i, p in enumerate(r.list_(t.get("profile", []), f"{w}.profile")):
        pw = f"{w}.profile[{i}]"
        pt = r.table(p, pw, _PROFILE_KEYS)
        day = r.num(pt, "from_day", pw, lo=0, what="a number >= 0")
        if day <= last:  # type: ignore[operator]
            raise r.fail(f"{pw}.from_day", f"must increase along the profile, got {day:g} after {last:g}")
        last = day  # type: ignore[assignment]
        profile.append(RateChange(day, r.num(pt, "multiplier", pw, lo=0, hi=1000,  # type: ignore[arg-type]
                                             what="a number in [0, 1000]")))
    return Flow(
        in_channel=cin, out_channel=cout,
        rate_per_day=r.num(t, "rate_per_day", w, lo=0, hi=1e7, what="a number in [0, 1e7]"),  # type: ignore[arg-type]
        amount_median_sat=r.num(t, "amount_median_sat", w, 10_000.0, lo=0, lo_open=True,  # type: ignore[arg-type]
                                hi=1e9, what="a positive number of sat"),
        amount_sigma=r.num(t, "amount_sigma", w, 1.4, lo=0, hi=5, what="a number in [0, 5]"),  # type: ignore[arg-type]
        alt_fee_median_ppm=r.num(t, "alt_fee_median_ppm", w, out_spec.competitor_fee_ppm, lo=0,  # type: ignore[arg-type]
                                 lo_open=True, hi=1e6, what="a number of ppm in (0, 1e6]"),
        alt_fee_sigma=r.num(t, "alt_fee_sigma", w, out_spec.competitor_fee_sigma, lo=0, hi=5,  # type: ignore[arg-type]
                            what="a number in [0, 5]"),
        alt_fee_base_msat=r.int_(t, "alt_fee_base_msat", w, 1000, lo=0, hi=_U32,
                                 what="an unsigned 32-bit integer"),
        fail_rate=r.num(t, "fail_rate", w, 0.08, lo=0, hi=1, what="a probability in [0, 1]"),  # type: ignore[arg-type]
        profile=tuple(profile))


def _fault(r: _Reader, raw: Any, w: str) -> Fault:
    t = r.table(raw, w, _FAULT_KEYS)
    method = r.str_(t, "method", w, None, lambda s: bool(s.strip()), "a method name or \"*\"")
    start = r.num(t, "start_day", w, 0.0, lo=0, what="a number >= 0")
    end = r.num(t, "end_day", w, 1e9, lo=0, what="a number >= 0")
    if end <= start:  # type: ignore[operator]
        raise r.fail(f"{w}.end_day", f"must be after start_day ({start:g}), got {end:g}")
    return Fault(
        method=method,
        error_rate=r.num(t, "error_rate", w, 0.0, lo=0, hi=1, what="a probability in [0, 1]"),  # type: ignore[arg-type]
        code=r.int_(t, "code", w, -1, lo=-(2**31), hi=2**31 - 1, what="a 32-bit integer"),
        message=r.str_(t, "message", w, "Injected fault"),
        latency_s=r.num(t, "latency_s", w, 0.0, lo=0, hi=600, what="a number of seconds in [0, 600]"),  # type: ignore[arg-type]
        start_day=start, end_day=end)  # type: ignore[arg-type]


def _plugin_options(r: _Reader, top: dict[str, Any]) -> dict[str, str]:
    raw: Any = {}
    where = "plugin_options"
    if "plugin" in top:
        if "plugin_options" in top:
            raise r.fail("plugin", "give either [plugin.options] or plugin_options, not both")
        plugin = r.table(top["plugin"], "plugin", {"options"})
        raw, where = plugin.get("options", {}), "plugin.options"
    elif "plugin_options" in top:
        raw = top["plugin_options"]
    t = r.table(raw, where, set(raw) if isinstance(raw, dict) else set())
    options: dict[str, str] = {}
    for key, value in t.items():
        place = f"{where}.{key}"
        if key.startswith("-"):
            raise r.fail(place, "option names go without the leading --")
        if not re.match(r"^[a-z0-9][a-z0-9-]*$", key):
            raise r.fail(place, "must be an option name like revenue-ops-fee-interval")
        if isinstance(value, bool):
            options[key] = "true" if value else "false"
        elif isinstance(value, int):
            options[key] = str(value)
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise r.fail(place, f"must be a finite value, got {value}")
            options[key] = repr(value)
        elif isinstance(value, str):
            options[key] = value
        else:
            raise r.fail(place, f"must be a string, number or boolean, got {_show(value)}")
    return options


def load_scenario(path: str) -> Scenario:
    """Read and validate a ``.toml`` or ``.json`` scenario file."""
    ext = os.path.splitext(path)[1].lower()
    if ext not in (".toml", ".json"):
        raise ScenarioError(f"{path}: <file>: unsupported scenario format {ext or '(none)'!r}, "
                            "use .toml or .json")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise ScenarioError(f"{path}: <file>: cannot read: {e.strerror or e}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ScenarioError(f"{path}: <file>: not UTF-8 text ({e.reason} at byte {e.start})") from None
    if ext == ".toml":
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise ScenarioError(f"{path}: <syntax>: {str(e).splitlines()[0]}") from None
    else:
        try:
            raw = json.loads(text)  # NaN/Infinity parse, then fail validation with a place
        except json.JSONDecodeError as e:
            raise ScenarioError(f"{path}: <syntax>: {e.msg} (line {e.lineno} column {e.colno})") from None
    return scenario_from_dict(raw, path)


# -- the built-in default -----------------------------------------------------

_DEFAULT_PEERS = [
    "ACINQ", "Kraken", "WalletOfSatoshi", "Boltz", "LNBig", "Bitrefill", "River",
    "Breez", "Voltage", "OpenNode", "Strike", "CoinGate", "Fold", "Muun", "Zebedee",
    "Podcastindex", "Blockstream", "Phoenix", "Amboss", "LNMarkets", "Stacker",
    "BTCPayHub", "Sphinx", "Fountain", "Cashu", "Moon", "Ride", "Mutiny", "Alby",
    "Nostr", "Relai", "Pouch", "Bitkassa", "Satoshi", "Lightspark", "Torq",
    "Thunder", "Magma", "Yalls",
]


def default_scenario() -> Scenario:
    """A mid-size routing node: 40 channels, ~1,500 payment attempts a day.

    Sources (mostly inbound), sinks (mostly outbound), balanced pairs, dead
    channels, one congested channel, a remote-opened virgin channel and two
    channels to the same peer. Competitors charge 150-900 ppm, so CLN's
    default 1000 msat + 10 ppm leaves most of the money on the table.
    """
    rng = random.Random(20260101)
    chans: list[ChannelSpec] = []
    flows: list[Flow] = []
    peers = iter(_DEFAULT_PEERS)

    def chan(name: str, cap: int, local_frac: float, **kw: Any) -> ChannelSpec:
        alias = kw.pop("peer_alias", None) or next(peers)
        spec = ChannelSpec(name=name, capacity_sat=cap, local_sat=int(cap * local_frac),
                           peer_alias=alias,
                           age_days=kw.pop("age_days", float(rng.randint(40, 700))),
                           peer_fee_ppm=kw.pop("peer_fee_ppm", rng.choice([1, 10, 50, 100, 250, 500])),
                           competitor_fee_ppm=kw.pop("competitor_fee_ppm",
                                                     float(rng.choice([150, 250, 350, 450, 600, 900]))),
                           competitor_fee_sigma=kw.pop("competitor_fee_sigma",
                                                       round(rng.uniform(0.45, 0.8), 2)),
                           **kw)
        chans.append(spec)
        return spec

    sources = [chan(f"src-{i}", rng.choice([4, 5, 8, 10]) * 1_000_000, rng.uniform(0.15, 0.35))
               for i in range(1, 9)]
    sinks = [chan(f"sink-{i}", rng.choice([5, 8, 10, 16]) * 1_000_000, rng.uniform(0.65, 0.85))
             for i in range(1, 9)]
    balanced = [chan(f"bal-{i}", rng.choice([3, 5, 6, 10]) * 1_000_000, rng.uniform(0.4, 0.6))
                for i in range(1, 16)]
    dead = [chan(f"dead-{i}", rng.choice([1, 2, 3]) * 1_000_000, rng.uniform(0.3, 0.9),
                 competitor_fee_ppm=200.0)
            for i in range(1, 6)]
    congested = chan("congested", 6_000_000, 0.6, max_accepted_htlcs=30, background_htlcs=27,
                     competitor_fee_ppm=700.0)
    virgin = chan("virgin", 4_000_000, 0.0, opener="remote", age_days=90.0)
    twin_alias = next(peers)
    twins = [chan("twin-a", 10_000_000, 0.7, peer_alias=twin_alias, competitor_fee_ppm=500.0,
                  competitor_fee_sigma=0.6),
             chan("twin-b", 5_000_000, 0.5, peer_alias=twin_alias, competitor_fee_ppm=500.0,
                  competitor_fee_sigma=0.6)]
    del dead  # no demand at all: that is what makes them dead

    def flow(src: ChannelSpec, dst: ChannelSpec, rate: float, back: float = 0.0) -> None:
        """Demand src -> dst, plus ``back`` times as much dst -> src: real
        traffic is rarely one-way, so liquidity drifts rather than snaps."""
        for a, b, r in ((src, dst, rate), (dst, src, rate * back)):
            if r <= 0:
                continue
            flows.append(Flow(in_channel=a.name, out_channel=b.name, rate_per_day=round(r, 2),
                              amount_median_sat=float(rng.choice([5000, 10000, 20000])),
                              amount_sigma=round(rng.uniform(1.0, 1.4), 2),
                              alt_fee_median_ppm=b.competitor_fee_ppm,
                              alt_fee_sigma=b.competitor_fee_sigma,
                              fail_rate=round(rng.uniform(0.04, 0.15), 3)))

    # Sources push into sinks and the balanced core; sinks pull from everything.
    for s in sources:
        for d in rng.sample(sinks, 3):
            flow(s, d, float(rng.randint(12, 26)), back=rng.uniform(0.3, 0.5))
        for d in rng.sample(balanced, 2):
            flow(s, d, float(rng.randint(5, 10)), back=rng.uniform(0.4, 0.6))
    for i in range(0, len(balanced) - 1, 2):
        flow(balanced[i], balanced[i + 1], float(rng.randint(10, 22)), back=rng.uniform(0.85, 1.15))
    for b in balanced:
        flow(b, rng.choice(sinks), float(rng.randint(3, 7)), back=rng.uniform(0.3, 0.5))
    flow(rng.choice(sources), congested, 60.0, back=0.2)
    flow(rng.choice(balanced), congested, 30.0, back=0.2)
    flow(virgin, rng.choice(sinks), 4.0)  # inbound only: never used outbound
    for t in twins:
        flow(rng.choice(sources), t, 18.0, back=0.3)
        flow(t, rng.choice(balanced), 6.0, back=0.5)
    return Scenario(name="default", channels=tuple(
        replace(c, peer_id=derive_pubkey("peer", c.peer_alias)) for c in chans),
        flows=tuple(flows),
        feerates=Feerates(5000, 0.2, (Spike(6.0, 18.0, 6.0), Spike(20.0, 8.0, 12.0))))


def generate_scenario(channels: int, forwards: int, seed: int) -> Scenario:
    """A large node for scale tests: ``channels`` channels with the default's
    mix, sparse flows (each channel in a few pairs, ~10 attempts per
    channel per day) and ``forwards`` historical forwards in listforwards."""
    if channels < 4:
        raise ScenarioError(f"<generator>: channels: must be at least 4, got {channels}")
    if forwards < 0:
        raise ScenarioError(f"<generator>: forwards: must be >= 0, got {forwards}")
    rng = random.Random(f"generate:{channels}:{seed}")
    chans: list[ChannelSpec] = []
    roles: list[str] = []
    for i in range(channels):
        roll = rng.random()
        role = ("source" if roll < 0.2 else "sink" if roll < 0.4
                else "dead" if roll < 0.55 else "balanced")
        if i == 0:
            role = "congested"
        elif i == 1:
            role = "virgin"
        cap = rng.choice([1, 2, 3, 5, 8, 10, 16]) * 1_000_000
        local = {"source": rng.uniform(0.1, 0.35), "sink": rng.uniform(0.65, 0.9),
                 "balanced": rng.uniform(0.35, 0.65), "dead": rng.uniform(0.2, 0.9),
                 "congested": 0.6, "virgin": 0.0}[role]
        alias = f"peer{i:05d}"
        if i == 3:
            alias = "peer00002"  # two channels to one peer
        chans.append(ChannelSpec(
            name=f"ch{i:05d}", capacity_sat=cap, local_sat=int(cap * local),
            peer_alias=alias, peer_id=derive_pubkey("gen", seed, alias),
            opener="remote" if role == "virgin" or rng.random() < 0.3 else "local",
            age_days=float(rng.randint(10, 900)),
            max_accepted_htlcs=30 if role == "congested" else MAX_ACCEPTED_HTLCS,
            background_htlcs=27 if role == "congested" else 0,
            peer_fee_ppm=rng.choice([1, 10, 50, 100, 250, 500]),
            competitors=rng.randint(1, 4),
            competitor_fee_ppm=float(rng.choice([100, 200, 300, 450, 600, 900])),
            competitor_fee_sigma=round(rng.uniform(0.45, 0.8), 2)))
        roles.append(role)
    ins = [c for c, r in zip(chans, roles) if r in ("source", "balanced", "virgin")]
    outs = [c for c, r in zip(chans, roles) if r in ("sink", "balanced", "congested")]
    flows: list[Flow] = []
    n_flows = max(4, int(channels * 1.5))
    for _ in range(n_flows):
        a, b = rng.choice(ins), rng.choice(outs)
        if a.name == b.name:
            continue
        flows.append(Flow(in_channel=a.name, out_channel=b.name,
                          rate_per_day=float(rng.randint(2, 12)),
                          amount_median_sat=float(rng.choice([5000, 10000, 20000])),
                          amount_sigma=round(rng.uniform(1.0, 1.5), 2),
                          alt_fee_median_ppm=b.competitor_fee_ppm,
                          alt_fee_sigma=b.competitor_fee_sigma,
                          fail_rate=round(rng.uniform(0.04, 0.15), 3)))
    return Scenario(name=f"generated-{channels}ch-{forwards}fw-s{seed}", channels=tuple(chans),
                    flows=tuple(flows), historical_forwards=forwards,
                    history_days=max(30.0, forwards / max(1.0, sum(f.rate_per_day for f in flows))))
