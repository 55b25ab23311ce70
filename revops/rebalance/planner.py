"""From the node's state to ranked refill plans (pure).

For each destination (``candidates.py``) the sources it could be refilled
from, each with its EV estimate (``ev.py``), best first; a destination no
source can refill profitably carries the reason, as does one whose past
refills did not pay (``realized.losing``). Plans are ordered by the
expected revenue of their best option, so a cycle with few free slots or
little budget spends them where they earn most. ``manual`` applies the
same checks to an operator's ``revenue-rebalance``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from revops.channels import ChannelFacts
from revops.jsonrpc import JSONRPC2_INVALID_PARAMS, RpcError
from revops.rebalance import candidates as cand
from revops.rebalance.bolt7 import share_msat
from revops.rebalance.candidates import (
    CandidateParams,
    Destination,
    Exclusions,
    Skip,
    Source,
)
from revops.rebalance.ev import Estimate, EvParams, estimate, price_ppm

OPTIONS_PER_DESTINATION = 3
# Sources come best first (least earning liquidity, most surplus); a
# destination looks at no more than this many of them. Without a bound a
# 5,000-channel node priced ~500k pairs per cycle, holding the GIL for
# seconds while the fee cycle waited.
SOURCES_PER_DESTINATION = 32


@dataclass(frozen=True)
class Option:
    source: Source
    estimate: Estimate


@dataclass(frozen=True)
class Plan:
    dest: Destination
    options: tuple[Option, ...]
    refusal: str | None = None  # why no option, when there is none

    def as_dict(self) -> dict[str, Any]:
        return {"to": self.dest.scid, "amount_msat": self.dest.amount_msat,
                "desired_outbound_msat": self.dest.desired_msat,
                "demand_msat_day": self.dest.demand_msat_day,
                "options": [{"from": o.source.scid, **o.estimate.as_dict()}
                            for o in self.options],
                **({"refused": self.refusal} if self.refusal else {})}


@dataclass(frozen=True)
class Planning:
    plans: tuple[Plan, ...]
    sources: tuple[Source, ...]
    skips: tuple[Skip, ...]


def fee_of(facts: ChannelFacts, broadcast: Mapping[str, int]) -> int | None:
    return broadcast.get(facts.scid)


def _option(dest: Destination, dfacts: ChannelFacts, src: Source, sfacts: ChannelFacts,
            broadcast: Mapping[str, int], ep: EvParams, fixed_peers: frozenset[str],
            flow: Any | None) -> Option:
    amount = min(dest.amount_msat, src.surplus_msat)
    fee = price_ppm(broadcast.get(dest.scid), dfacts, flow, amount, ep.scarcity_threshold,
                    dynamic=dfacts.peer_id not in fixed_peers)
    sfee = broadcast.get(src.scid, sfacts.fee_ppm)
    return Option(src, estimate(amount, fee, dest.demand_msat_day, src.local_msat, sfee,
                                src.demand_msat_day, ep))


def plan(channels: Mapping[str, ChannelFacts], flows: Mapping[str, Any],
         broadcast: Mapping[str, int], ex: Exclusions, cp: CandidateParams, ep: EvParams,
         now: float, fixed_peers: frozenset[str] = frozenset(),
         losing: Mapping[str, str] | None = None) -> Planning:
    """``fixed_peers``: peers whose fee the operator fixed (static or hive
    policy): their broadcast fee carries no scarcity premium. ``losing``:
    channels whose past refills did not pay, with why (not refilled)."""
    dests, srcs, skips = cand.choose(channels.values(), flows, ex, cp, now)
    plans = []
    for d in dests:
        if losing and d.scid in losing:
            plans.append(Plan(d, (), losing[d.scid]))
            continue
        dfacts = channels[d.scid]
        options: list[Option] = []
        good: list[Option] = []
        for s in srcs:
            if s.peer_id == d.peer_id:
                continue
            o = _option(d, dfacts, s, channels[s.scid], broadcast, ep, fixed_peers,
                        flows.get(d.scid))
            options.append(o)
            if o.estimate.ok:
                good.append(o)
            if len(options) >= SOURCES_PER_DESTINATION:
                break
        if not options:
            plans.append(Plan(d, (), "no source with surplus liquidity (to another peer)"))
            continue
        if not good:
            plans.append(Plan(d, (), options[0].estimate.reason))
            continue
        good.sort(key=lambda o: (-o.estimate.max_fee_msat, o.source.value_ppm_day,
                                 o.source.scid))
        plans.append(Plan(d, tuple(good[:OPTIONS_PER_DESTINATION])))
    plans.sort(key=lambda p: (p.refusal is not None,
                              -max((o.estimate.revenue_msat - o.estimate.opportunity_msat
                                    for o in p.options), default=0), p.dest.scid))
    return Planning(tuple(plans), tuple(srcs), tuple(skips))


def _bad(name: str, scid: str, why: str) -> RpcError:
    return RpcError(JSONRPC2_INVALID_PARAMS, f"{name}: {why}: invalid token '{scid}'")


def manual(channels: Mapping[str, ChannelFacts], flows: Mapping[str, Any],
           broadcast: Mapping[str, int], ex: Exclusions, source: str, dest: str,
           amount_msat: int, max_fee_ppm: int | None, ep: EvParams, now: float,
           fixed_peers: frozenset[str] = frozenset()) -> Option:
    """An operator's refill, checked as the automatic ones are (raises
    RpcError saying what is wrong); with ``max_fee_ppm`` the operator's fee
    limit replaces the EV's, otherwise an unprofitable refill is refused."""
    s, d = channels.get(source), channels.get(dest)
    if s is None:
        raise _bad("from", source, "not an open channel of this node")
    if d is None:
        raise _bad("to", dest, "not an open channel of this node")
    if source == dest:
        raise _bad("to", dest, "the same channel as 'from'")
    if s.peer_id == d.peer_id:
        raise _bad("to", dest, "a channel to the same peer as 'from' (no circular route)")
    for name, c in (("from", s), ("to", d)):
        why = cand.exclusion(c, ex, now)
        if why is not None:
            raise _bad(name, c.scid, why)
    if amount_msat <= 0:
        raise RpcError(JSONRPC2_INVALID_PARAMS, "amount_sats: must be positive")
    if s.spendable_msat < amount_msat:
        raise _bad("from", source, f"can send only {s.spendable_msat} msat")
    if d.receivable_msat < amount_msat:
        raise _bad("to", dest, f"can receive only {d.receivable_msat} msat")
    dd = cand.demand_msat_day(flows.get(dest), now)
    sd = cand.demand_msat_day(flows.get(source), now)
    fee = price_ppm(broadcast.get(dest), d, flows.get(dest), amount_msat,
                    ep.scarcity_threshold, dynamic=d.peer_id not in fixed_peers)
    est = estimate(amount_msat, fee, dd, s.local_msat, broadcast.get(source, s.fee_ppm), sd, ep)
    if max_fee_ppm is not None:
        est = Estimate(est.amount_msat, est.fee_ppm, est.revenue_msat, est.opportunity_msat,
                       share_msat(amount_msat, max_fee_ppm), True,
                       "" if est.ok else f"the operator's limit overrides: {est.reason}")
    elif not est.ok:
        raise RpcError(JSONRPC2_INVALID_PARAMS, f"refused: {est.reason} (give max_fee_ppm "
                                                "to rebalance anyway)")
    src = Source(s.scid, s.peer_id, amount_msat, s.local_msat, sd, 0.0)
    return Option(src, est)
