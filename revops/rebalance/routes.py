"""A circular route from askrene's answer (pure): our hop out, askrene's
path between the two peers, the hop back to us.

``getroutes`` is asked for a path from the source channel's peer (A) to the
destination channel's peer (B), for the amount *plus B's fee* towards us,
with ``final_cltv`` = our invoice's CLTV plus B's delay, and our own node
disabled in our layer (so the path never crosses us). Then:

- hop 1 is our channel to A: A must receive what the path starts with
  (``amount_in_msat`` of its first hop); we pay no fee to ourselves;
- the path's hops follow as askrene computed them;
- the last hop is B's channel to us: we receive exactly the amount, and B
  keeps its fee (BOLT 7, rounded up: see bolt7.py).

The route's fee is what A receives minus what we receive.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from revops.rebalance.bolt7 import HopPolicy, hop_fee


class RouteError(ValueError):
    """askrene's answer cannot make the route we asked for."""


@dataclass(frozen=True)
class Hop:
    node_id: str
    scid: str
    amount_msat: int
    delay: int

    def to_json(self) -> dict[str, Any]:
        """A sendpay hop, by the names every CLN since v0.9 accepts."""
        return {"id": self.node_id, "channel": self.scid, "amount_msat": self.amount_msat,
                "delay": self.delay}


@dataclass(frozen=True)
class Route:
    hops: tuple[Hop, ...]
    amount_msat: int

    @property
    def fee_msat(self) -> int:
        return self.hops[0].amount_msat - self.amount_msat

    def to_json(self) -> list[dict[str, Any]]:
        return [h.to_json() for h in self.hops]


@dataclass(frozen=True)
class RouteRequest:
    """What to ask getroutes for, given B's policy towards us."""

    source: str
    destination: str
    amount_msat: int
    maxfee_msat: int
    final_cltv: int
    last_fee_msat: int


def request(peer_a: str, peer_b: str, amount_msat: int, max_fee_msat: int,
            last: HopPolicy, invoice_cltv: int) -> RouteRequest:
    """The getroutes request for a refill of ``amount_msat`` within
    ``max_fee_msat`` in all; raises RouteError when B's fee alone exceeds it."""
    fee_b = hop_fee(amount_msat, last.base_msat, last.ppm)
    if fee_b > max_fee_msat:
        raise RouteError(f"the destination peer's own fee ({fee_b} msat) exceeds the "
                         f"max fee ({max_fee_msat} msat)")
    return RouteRequest(peer_a, peer_b, amount_msat + fee_b, max_fee_msat - fee_b,
                        invoice_cltv + last.cltv_delta, fee_b)


def circular(path: Sequence[Mapping[str, Any]], our_id: str, out_scid: str, peer_a: str,
             in_scid: str, peer_b: str, amount_msat: int, last: HopPolicy,
             invoice_cltv: int) -> Route:
    """Our hop to A, ``path`` (getroutes' ``routes[0].path``) from A to B,
    B's hop to us."""
    if not path:
        raise RouteError("getroutes returned an empty path")
    first, final = path[0], path[-1]
    if first.get("node_id_in", peer_a) != peer_a:
        raise RouteError("the path does not start at the source channel's peer")
    if final.get("node_id_out") != peer_b:
        raise RouteError("the path does not end at the destination channel's peer")
    fee_b = hop_fee(amount_msat, last.base_msat, last.ppm)
    if int(final["amount_out_msat"]) < amount_msat + fee_b:
        raise RouteError("the path delivers less than the last hop needs")
    if int(final["cltv_out"]) < invoice_cltv + last.cltv_delta:
        raise RouteError("the path's final CLTV is below what the last hop needs")
    hops = [Hop(peer_a, out_scid, int(first["amount_in_msat"]), int(first["cltv_in"]))]
    for h in path:
        node = h.get("node_id_out")
        if node == our_id:
            raise RouteError("the path crosses our own node")
        hops.append(Hop(str(node), str(h["short_channel_id_dir"]).split("/")[0],
                        int(h["amount_out_msat"]), int(h["cltv_out"])))
    hops.append(Hop(our_id, in_scid, amount_msat, invoice_cltv))
    return Route(tuple(hops), amount_msat)


def direction(src: str, dst: str) -> int:
    """BOLT 7: direction 0 leaves the node whose id sorts first."""
    return 0 if src < dst else 1


def remote_hops(route: Route, our_id: str) -> list[tuple[int, str, int]]:
    """(index, ``scid/direction``, amount) of every hop between two other
    nodes: what askrene may be told about (our own channels it knows
    exactly from ``auto.localchans``)."""
    out = []
    nodes = [our_id] + [h.node_id for h in route.hops]
    for i, h in enumerate(route.hops):
        src, dst = nodes[i], nodes[i + 1]
        if our_id in (src, dst):
            continue
        out.append((i, f"{h.scid}/{direction(src, dst)}", h.amount_msat))
    return out
