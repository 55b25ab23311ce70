"""askrene's pathfinder over the simulated graph: ``getroutes``.

The graph is a set of directed :class:`Edge` s (one per channel direction,
with the policy of the node at its start); a :class:`View` is what one
``getroutes`` call sees: the edges plus its layers (disabled nodes and
channels, what the layers know of capacities, ``auto.localchans``'
knowledge of our own side, ``auto.sourcefree``). :func:`view_of` builds it.

:func:`search` runs backwards from the destination, as lightningd's
dijkstra does, so each hop's fee is charged on the amount it forwards
(BOLT 7, CLN's ``amount_msat_fee``: proportional part rounded down).
Cost = fee + a risk charge on each hop's success probability under
askrene's uniform-liquidity model, ``(max + 1 - a) / (max + 1 - min)``
with the layers' knowledge. :func:`getroutes` retries on fees alone when
the safer path breaks ``maxfee_msat`` (askrene raises its ``mu``), then
fails with 205 "Could not find route without excessive cost"; with no path
at all, :func:`explain` words why as askrene's ``explain_failure`` does.
One path per answer: askrene may split a payment in parts, the sim never
does. Pure: no market, no I/O.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from revops.sim.askrene import UNBOUNDED, Askrene
from revops.sim.jsonrpc import (
    JSONRPC2_INVALID_PARAMS,
    PAY_DESTINATION_INSUFFICIENT_CAPACITY,
    PAY_INSUFFICIENT_FUNDS,
    PAY_ROUTE_NOT_FOUND,
    PAY_USER_ERROR,
    RpcError,
)
from revops.sim.market import fee_msat

MAX_DELAY = 2016
# Risk charge: a hop that fails with probability 1 - p costs
# amount * -ln(p) / RISK_DIVISOR msat (10 % failure on 1M sat ~ 100 sat).
RISK_DIVISOR = 1000


def msat_text(v: int) -> str:
    """CLN's ``fmt_amount_msat``."""
    return f"{v}msat"


def node_id_idx(a: str, b: str) -> int:
    """BOLT 7 direction from ``a`` to ``b``: 0 if ``a`` sorts first."""
    return 0 if a < b else 1


@dataclass(frozen=True, slots=True)
class Edge:
    """One direction of a channel as gossip (and askrene) see it."""

    scid: str
    direction: int
    src: str
    dst: str
    base: int
    ppm: int
    delay: int
    htlc_min: int
    htlc_max: int
    capacity: int
    enabled: bool = True
    ours: int = -1  # index of our channel, -1 for other nodes' channels
    scidd: str = ""  # "scid/direction", filled in by __post_init__

    def __post_init__(self) -> None:
        # Searches look this up for every edge they touch: compute it once.
        object.__setattr__(self, "scidd", f"{self.scid}/{self.direction}")


@dataclass(frozen=True)
class PathHop:
    """One hop of a getroutes path (askrene's fields)."""

    edge: Edge
    amount_in: int
    amount_out: int
    cltv_in: int
    cltv_out: int
    probability: float

    def to_json(self) -> dict[str, Any]:
        e = self.edge
        return {"short_channel_id_dir": e.scidd, "node_id_in": e.src, "node_id_out": e.dst,
                "amount_in_msat": self.amount_in, "amount_out_msat": self.amount_out,
                "cltv_in": self.cltv_in, "cltv_out": self.cltv_out}


@dataclass
class View:
    """The graph one getroutes call sees: gossip plus its layers."""

    source: str
    static_in: dict[str, list[Edge]]
    ours_in: dict[str, list[Edge]]
    disabled_nodes: dict[str, str]       # node -> layer that disabled it
    disabled_channels: dict[str, str]    # scidd -> layer
    limits: dict[str, tuple[int, int, str | None]]  # scidd -> (min, max, layer)
    impressions: dict[str, int]
    sourcefree: bool

    def edges_into(self, node: str) -> list[Edge]:
        mine = self.ours_in.get(node)
        theirs = self.static_in.get(node, [])
        return theirs + mine if mine else theirs

    def all_edges(self) -> Iterable[Edge]:
        for edges in self.static_in.values():
            yield from edges
        for edges in self.ours_in.values():
            yield from edges

    def blocked(self, e: Edge) -> bool:
        # askrene disables a disabled node's *outgoing* directions (its
        # layer.c takes gossmap_nth_chan's half: the node's own side), so
        # the node can still be a destination, never a hop or a source.
        return (not e.enabled or e.src in self.disabled_nodes
                or e.scidd in self.disabled_channels)

    def bounds(self, e: Edge) -> tuple[int, int]:
        lo, hi = 0, e.capacity
        known = self.limits.get(e.scidd)
        if known is not None:
            lo, hi = max(lo, known[0]), min(hi, known[1])
        hi -= self.impressions.get(e.scidd, 0)
        return lo, hi

    def policy(self, e: Edge) -> tuple[int, int, int]:
        if self.sourcefree and e.src == self.source:
            return 0, 0, 0
        return e.base, e.ppm, e.delay

    def probability(self, e: Edge, amount: int) -> float:
        """askrene's edge probability; 0 when the edge cannot carry it.
        (The search's inner loop: the checks are inlined.)"""
        if not e.enabled or amount < e.htlc_min or amount > e.htlc_max:
            return 0.0
        if self.disabled_nodes and e.src in self.disabled_nodes:
            return 0.0
        scidd = e.scidd
        if self.disabled_channels and scidd in self.disabled_channels:
            return 0.0
        lo, hi = 0, e.capacity
        known = self.limits.get(scidd) if self.limits else None
        if known is not None:
            lo, hi = max(lo, known[0]), min(hi, known[1])
        if self.impressions:
            hi -= self.impressions.get(scidd, 0)
        if amount > hi:
            return 0.0
        if lo > hi:
            lo = 0
        if amount <= lo:
            return 1.0
        return (hi + 1 - amount) / (hi + 1 - lo)


def view_of(askrene: Askrene, layer_names: list[str], source: str,
            static_in: dict[str, list[Edge]], ours_in: dict[str, list[Edge]],
            local_limits: dict[str, int]) -> View:
    """The graph as a getroutes call with these layers sees it.
    ``local_limits``: our channels' exact usable amount per direction
    (``auto.localchans``; empty without it)."""
    limits: dict[str, tuple[int, int, str | None]] = {
        scidd: (0, amount, "auto.localchans") for scidd, amount in local_limits.items()}
    disabled_nodes: dict[str, str] = {}
    disabled_channels: dict[str, str] = {}
    impressions: dict[str, int] = {}
    for name in layer_names:
        layer = askrene.get(name)
        if layer is None:
            continue  # an auto.* layer
        for node in layer.disabled_nodes:
            disabled_nodes.setdefault(node, name)
        for scidd in layer.disabled_channels:
            disabled_channels.setdefault(scidd, name)
        for scidd, c in layer.constraints.items():
            lo, hi, who = limits.get(scidd, (0, UNBOUNDED, None))
            new_hi = min(hi, c.maximum)
            limits[scidd] = (max(lo, c.minimum), new_hi, name if new_hi < hi else who)
        for imp in layer.impressions:
            impressions[imp.scidd] = impressions.get(imp.scidd, 0) + imp.amount
    return View(source, static_in, ours_in, disabled_nodes, disabled_channels, limits,
                impressions, "auto.sourcefree" in layer_names)


def getroutes(view: View, known: set[str], destination: str, amount: int, maxfee: int,
              final_cltv: int, maxdelay: int, maxparts: int) -> dict[str, Any]:
    """askrene's ``getroutes`` from ``view.source`` over ``view``
    (``known``: the nodes gossip knows); raises RpcError as askrene fails."""
    source = view.source
    if amount == 0:
        raise RpcError(JSONRPC2_INVALID_PARAMS, "amount must be non-zero")
    if maxparts == 0:
        raise RpcError(JSONRPC2_INVALID_PARAMS, "maxparts must be non-zero")
    if maxdelay > MAX_DELAY:
        raise RpcError(PAY_USER_ERROR, f"maximum delay allowed is {MAX_DELAY}")
    if source not in known:
        raise RpcError(PAY_ROUTE_NOT_FOUND, f"Unknown source node {source}")
    if destination not in known:
        raise RpcError(PAY_ROUTE_NOT_FOUND, f"Unknown destination node {destination}")
    path = search(view, source, destination, amount, final_cltv, risk=True)
    if path is None:
        raise RpcError(*explain(view, source, destination, amount))
    if path[0].amount_in - amount > maxfee:
        cheaper = search(view, source, destination, amount, final_cltv, risk=False)
        if cheaper is None or cheaper[0].amount_in - amount > maxfee:
            raise RpcError(PAY_ROUTE_NOT_FOUND, "Could not find route without excessive cost")
        path = cheaper
    if path[0].cltv_in > maxdelay:
        raise RpcError(PAY_ROUTE_NOT_FOUND, "Could not find route without excessive delays")
    prob = math.prod(h.probability for h in path)
    ppm = int(prob * 1_000_000)
    return {"probability_ppm": ppm,
            "routes": [{"probability_ppm": ppm, "amount_msat": amount,
                        "final_cltv": final_cltv, "path": [h.to_json() for h in path]}]}


def search(view: View, source: str, dest: str, amount: int, final_cltv: int,
           risk: bool) -> list[PathHop] | None:
    """Cheapest path by fee (+ risk), searched backwards from ``dest`` so
    each fee is charged on the amount its hop forwards."""
    if source == dest:
        return None
    best: dict[str, float] = {dest: 0.0}
    amt: dict[str, int] = {dest: amount}
    cltv: dict[str, int] = {dest: final_cltv}
    via: dict[str, tuple[Edge, float]] = {}
    done: set[str] = set()
    heap: list[tuple[float, str]] = [(0.0, dest)]
    while heap:
        cost, v = heapq.heappop(heap)
        if v in done:
            continue
        done.add(v)
        if v == source:
            break
        a_v = amt[v]
        for e in view.edges_into(v):
            u = e.src
            if u in done:
                continue
            p = view.probability(e, a_v)
            if p <= 0.0:
                continue
            base, ppm, delay = view.policy(e)
            fee = fee_msat(a_v, base, ppm)
            c = cost + fee + 1.0  # +1: of equal fees, the shorter path
            if risk and p < 1.0:
                c += a_v * -math.log(p) / RISK_DIVISOR
            if c < best.get(u, math.inf):
                best[u] = c
                amt[u] = a_v + fee
                cltv[u] = cltv[v] + delay
                via[u] = (e, p)
                heapq.heappush(heap, (c, u))
    if source not in done:
        return None
    hops: list[PathHop] = []
    u = source
    while u != dest:
        e, p = via[u]
        hops.append(PathHop(e, amt[u], amt[e.dst], cltv[u], cltv[e.dst], p))
        u = e.dst
    return hops


def explain(view: View, source: str, dest: str, amount: int) -> tuple[int, str]:
    """askrene's ``explain_failure``: why no path was found, and the error
    code it gives (not enough capacity at all: 215 at the source, 220 at
    the destination; anything else 205)."""
    code, text = _explain(view, source, dest, amount)
    return code, text


def _explain(view: View, source: str, dest: str, amount: int) -> tuple[int, str]:
    none = "We could not find a usable set of paths."
    all_edges = list(view.all_edges())
    for node, name, out in ((source, "source", True), (dest, "destination", False)):
        short = PAY_INSUFFICIENT_FUNDS if out else PAY_DESTINATION_INSUFFICIENT_CAPACITY
        mine = [e for e in all_edges if (e.src if out else e.dst) == node]
        total = sum(e.capacity for e in mine)
        if amount > total:
            return short, f"{none} Total {name} capacity is only {msat_text(total)} " \
                          f"(in {len(mine)} channels)."
        known = 0
        constrainers: list[str] = []
        for e in mine:
            _, hi = view.bounds(e)
            known += max(0, hi)
            who = view.limits.get(e.scidd, (0, 0, None))[2]
            if who is not None and who not in constrainers:
                constrainers.append(who)
        if amount > known:
            return short, f"{none} We know from {layer_names(constrainers)} that {name} " \
                          f"has maximum capacity {msat_text(known)} (in {len(mine)} channels)."
        enabled = [e for e in mine if not view.blocked(e)]
        if amount > sum(e.capacity for e in enabled):
            if not enabled:
                return (PAY_ROUTE_NOT_FOUND,
                        f"{none} All {len(mine)} channels to the {name} are disabled.")
            return (PAY_ROUTE_NOT_FOUND,
                    f"{none} {len(mine) - len(enabled)} of {len(mine)} channels to {name} "
                    f"are disabled, leaving capacity only "
                    f"{msat_text(sum(e.capacity for e in enabled))} of {msat_text(total)}.")
    return PAY_ROUTE_NOT_FOUND, _explain_path(view, source, dest, amount, none)


def _explain_path(view: View, source: str, dest: str, amount: int, none: str) -> str:
    hops = shortest_hops(view, source, dest)
    if hops is None:
        return "There is no connection between source and destination at all"
    path = "->".join(e.scid for e in hops)
    need = amount
    amounts = []
    for e in reversed(hops):
        amounts.append(need)
        need += fee_msat(need, e.base, e.ppm)
    amounts.reverse()
    for e, a in zip(hops, amounts):
        _, hi = view.bounds(e)
        if view.blocked(e):
            why = why_disabled(view, e)
        elif a > e.capacity:
            why = f"isn't big enough to carry {msat_text(a)}."
        elif a > hi:
            who = view.limits.get(e.scidd, (0, 0, None))[2]
            why = (f"layer {who} says max is {msat_text(max(0, hi))}" if who
                   else "is constrained")
        elif a > e.htlc_max:
            why = f"exceeds htlc_maximum_msat ~{msat_text(e.htlc_max)}"
        elif a < e.htlc_min:
            why = f"below htlc_minumum_msat ~{msat_text(e.htlc_min)}"
        else:
            continue
        return f"{none} The shortest path is {path}, but {e.scidd} {why}"
    return (f"Actually, I'm not sure why we didn't find the obvious route {path}: "
            "perhaps this is a bug?")


def why_disabled(view: View, e: Edge) -> str:
    """askrene's ``describe_disabled`` (a disabled node's own directions
    look, to it, like any direction gossip disabled)."""
    if e.dst in view.disabled_nodes:
        return f"leads to node disabled by layer {view.disabled_nodes[e.dst]}."
    if e.scidd in view.disabled_channels:
        return f"marked disabled by layer {view.disabled_channels[e.scidd]}."
    return "marked disabled by gossip message."


def shortest_hops(view: View, source: str, dest: str) -> list[Edge] | None:
    """Fewest hops, ignoring everything but connectivity (from dest back)."""
    via: dict[str, Edge] = {}
    frontier = [dest]
    seen = {dest}
    while frontier and source not in seen:
        nxt = []
        for v in frontier:
            for e in view.edges_into(v):
                if e.src not in seen:
                    seen.add(e.src)
                    via[e.src] = e
                    nxt.append(e.src)
        frontier = nxt
    if source not in seen:
        return None
    hops = []
    u = source
    while u != dest:
        e = via[u]
        hops.append(e)
        u = e.dst
    return hops


def layer_names(names: list[str]) -> str:
    """askrene's ``format_layer_names``."""
    if not names:
        return "UNKNOWN"
    if len(names) == 1:
        return names[0]
    parts = []
    for i, n in enumerate(names):
        prefix = " " if i == 0 else (" and " if i == len(names) - 1 else ", ")
        parts.append(prefix + n)
    return "layers" + "".join(parts)


__all__ = [
    "MAX_DELAY",
    "Edge",
    "PathHop",
    "View",
    "explain",
    "getroutes",
    "msat_text",
    "node_id_idx",
    "search",
    "view_of",
]
