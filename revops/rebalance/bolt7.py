"""BOLT 7 fee arithmetic for the routes we build (pure, integer msat).

A forwarding node charges ``fee_base_msat + amount * fee_proportional_millionths
/ 1_000_000`` on the amount it forwards. lightningd rounds the proportional
part down when it checks; we round it *up* when we pay, so a hop always gets
at least its fee whatever rounding it uses (at most one msat more per hop).
Route amounts are computed backwards from what the last hop must deliver.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

MILLION = 1_000_000


@dataclass(frozen=True)
class HopPolicy:
    """What the node at the start of a channel direction charges and delays."""

    base_msat: int
    ppm: int
    cltv_delta: int = 0


def hop_fee(amount_msat: int, base_msat: int, ppm: int) -> int:
    """The fee for forwarding ``amount_msat``, proportional part rounded up."""
    if amount_msat < 0 or base_msat < 0 or ppm < 0:
        raise ValueError("amounts and fees are never negative")
    return base_msat + -(-amount_msat * ppm // MILLION)


def amounts_backwards(deliver_msat: int, policies: Sequence[HopPolicy]) -> list[int]:
    """What each node along a path must receive so that the last one can
    deliver ``deliver_msat``: ``policies[i]`` is what node ``i`` charges to
    forward to node ``i + 1``. Returns one amount per policy plus the
    delivered amount, first node first."""
    amounts = [deliver_msat]
    for p in reversed(policies):
        amounts.append(amounts[-1] + hop_fee(amounts[-1], p.base_msat, p.ppm))
    amounts.reverse()
    return amounts


def cltvs_backwards(final_cltv: int, policies: Sequence[HopPolicy]) -> list[int]:
    """The CLTV each node must receive, as :func:`amounts_backwards` does amounts."""
    out = [final_cltv]
    for p in reversed(policies):
        out.append(out[-1] + p.cltv_delta)
    out.reverse()
    return out


def ppm(part_msat: int, of_msat: int) -> int:
    """``part`` as parts per million of ``of``, rounded up (a cost never looks smaller)."""
    if of_msat <= 0:
        return 0
    return -(-part_msat * MILLION // of_msat)


def times(amount_msat: int, factor: float) -> int:
    """``amount * factor`` rounded down, in integer arithmetic (the factor
    to a millionth): an amount never passes through a float."""
    return amount_msat * round(factor * MILLION) // MILLION


def share_msat(amount_msat: int, rate_ppm: float) -> int:
    """``amount`` at ``rate_ppm``, rounded down (what a fee rate earns)."""
    return times(amount_msat, rate_ppm) // MILLION
