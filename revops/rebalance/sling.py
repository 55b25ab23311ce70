"""Rebalancing through the sling plugin (pure parts): the job we give it,
what it may spend, and what its payments did.

sling runs a job on its own until the channel reaches the job's ``target``
(outbound share), paying ``amount`` at a time at no more than ``maxppm``.
We give it one refill at a time: ``amount`` is the refill, ``target`` the
share the channel has after it, the candidates our chosen sources, so one
successful payment ends the job. sling may start one more payment before
we see the first one settle and stop it (the channel can drain meanwhile),
so a sling job reserves the fee of two payments.

Its payments show in ``listsendpays`` with sling's labels
(``sling-<scid>-...``); those created after the job started, for its
channel, are the job's: their fees (sent minus delivered) are what it
cost, exactly as for a native refill.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from revops.rebalance.bolt7 import MILLION

PAYMENTS_RESERVED = 2
GIVE_UP_FAILURES = 3


@dataclass(frozen=True)
class SlingJob:
    scid: str
    amount_sats: int
    maxppm: int
    target: float
    candidates: tuple[str, ...]

    @property
    def reserve_msat(self) -> int:
        return PAYMENTS_RESERVED * (self.amount_sats * 1000 * self.maxppm // MILLION)

    def params(self) -> dict[str, Any]:
        return {"scid": self.scid, "direction": "pull", "amount": self.amount_sats,
                "maxppm": self.maxppm, "target": round(self.target, 4),
                "candidates": list(self.candidates), "paralleljobs": 1}


def job_for(dest_scid: str, capacity_msat: int, local_msat: int, amount_msat: int,
            max_fee_msat: int, sources: Sequence[str]) -> SlingJob:
    """The sling job that refills ``amount_msat`` within ``max_fee_msat``."""
    sats = max(1, amount_msat // 1000)
    maxppm = max(0, max_fee_msat * MILLION // (sats * 1000))
    target = min(1.0, (local_msat + sats * 1000) / capacity_msat) if capacity_msat else 1.0
    return SlingJob(dest_scid, sats, maxppm, target, tuple(sources))


@dataclass(frozen=True)
class Progress:
    moved_msat: int
    fee_msat: int
    succeeded: int
    failed: int
    pending: int
    hashes: tuple[str, ...]


def is_ours(entry: Mapping[str, Any], scid: str) -> bool:
    return str(entry.get("label") or "").startswith(f"sling-{scid}-")


def progress(entries: Iterable[Mapping[str, Any]], scid: str, after_index: int) -> Progress:
    """What the job for ``scid`` did: sendpays created after ``after_index``."""
    moved = fee = ok = bad = pending = 0
    hashes = []
    for e in entries:
        if int(e.get("created_index", 0)) <= after_index or not is_ours(e, scid):
            continue
        hashes.append(str(e.get("payment_hash")))
        status = e.get("status")
        if status == "complete":
            amount = int(e.get("amount_msat", 0))
            moved += amount
            fee += int(e.get("amount_sent_msat", 0)) - amount
            ok += 1
        elif status == "failed":
            bad += 1
        else:
            pending += 1
    return Progress(moved, fee, ok, bad, pending, tuple(hashes))


def done(p: Progress, amount_msat: int, spent_limit_msat: int) -> str | None:
    """Why the job should stop now (None: let it run)."""
    if p.moved_msat >= amount_msat:
        return "refilled"
    if p.fee_msat >= spent_limit_msat // PAYMENTS_RESERVED:
        return "spent its share of the budget"
    if p.failed >= GIVE_UP_FAILURES and p.succeeded == 0:
        return f"{p.failed} payments failed"
    return None
