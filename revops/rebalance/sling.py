"""Rebalancing through the sling plugin (pure parts): the job we give it,
what it may spend, what its payments did, and when to stop it.

A refill is a ``sling-once`` (not a standing ``sling-job``): pull exactly
one payment's ``amount`` into the destination from our chosen sources, at
no more than ``maxppm`` (sling's effective ppm is rounded up, so a payment
never costs more than ``amount * maxppm / 1e6``). sling ends a once-job by
itself after one successful payment, and keeps nothing to restart after a
crash of ours or its own.

The worst case: sling gives up waiting on a payment after
``sling-timeoutpay`` (120 s by default) and starts another, while the first
may still settle. So a job reserves two payments' fees
(:data:`PAYMENTS_RESERVED`), and is stopped (``sling-stop``, which lets the
payment in flight finish but starts no other) at the first poll that sees
any of its payments out; polls come at most :data:`POLL_MAX_S` apart while
a sling job is in flight, well inside ``sling-timeoutpay``. Its cost is
what its payments actually paid.

Its payments show in ``listsendpays`` without a label (sling settles its
own HTLC, with no invoice): those created after the job started, to our
own node, of the job's amount (distinct among our open sling jobs) are the
job's; their fees (sent minus delivered) are what it cost, exactly as for
a native refill.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from revops.rebalance.bolt7 import MILLION

PAYMENTS_RESERVED = 2
GIVE_UP_FAILURES = 3
# Longest gap between two polls of a sling job in flight: a quarter of
# sling's default sling-timeoutpay, so a payment sling gives up on is seen
# (and the job stopped) while that payment is still pending.
POLL_MAX_S = 30.0


@dataclass(frozen=True)
class SlingJob:
    scid: str
    amount_sats: int
    maxppm: int
    candidates: tuple[str, ...]

    @property
    def payment_max_fee_msat(self) -> int:
        """The most one of its payments can cost."""
        return self.amount_sats * 1000 * self.maxppm // MILLION

    @property
    def reserve_msat(self) -> int:
        return PAYMENTS_RESERVED * self.payment_max_fee_msat

    def params(self) -> dict[str, Any]:
        """``sling-once``: one payment of ``amount``, then sling ends it."""
        return {"scid": self.scid, "direction": "pull", "amount": self.amount_sats,
                "maxppm": self.maxppm, "onceamount": self.amount_sats,
                "candidates": list(self.candidates), "paralleljobs": 1}


def job_for(dest_scid: str, amount_msat: int, max_fee_msat: int,
            sources: Sequence[str]) -> SlingJob:
    """The sling job that refills ``amount_msat`` within ``max_fee_msat``."""
    sats = max(1, amount_msat // 1000)
    maxppm = max(0, max_fee_msat * MILLION // (sats * 1000))
    return SlingJob(dest_scid, sats, maxppm, tuple(sources))


@dataclass(frozen=True)
class Progress:
    moved_msat: int
    fee_msat: int
    succeeded: int
    failed: int
    pending: int
    hashes: tuple[str, ...]


def is_ours(entry: Mapping[str, Any], scid: str, our_id: str | None = None,
            amount_msat: int | None = None) -> bool:
    """Whether a ``listsendpays`` entry is a payment of our sling job for
    ``scid``. The real sling sends with no label: its payments are the
    unlabelled ones to ourselves (a circular route ends at our node) of the
    job's exact amount, which no other open job of ours shares
    (:func:`distinct_amount`). A label ``sling-<scid>-...`` also counts."""
    label = entry.get("label")
    if label:
        return str(label).startswith(f"sling-{scid}-")
    return (our_id is not None and entry.get("destination") == our_id
            and amount_msat is not None and int(entry.get("amount_msat", -1)) == amount_msat)


def distinct_amount(amount_sats: int, taken: Iterable[int]) -> int:
    """``amount_sats``, a few sats less when another open sling job of ours
    has that amount: each job's payments are told apart by their amount."""
    used = set(taken)
    while amount_sats in used and amount_sats > 1:
        amount_sats -= 1
    return amount_sats


def progress(entries: Iterable[Mapping[str, Any]], scid: str, after_index: int,
             our_id: str | None = None, amount_msat: int | None = None) -> Progress:
    """What the job for ``scid`` did: its sendpays created after ``after_index``."""
    moved = fee = ok = bad = pending = 0
    hashes = []
    for e in entries:
        if int(e.get("created_index", 0)) <= after_index \
                or not is_ours(e, scid, our_id, amount_msat):
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


def done(p: Progress, amount_msat: int) -> str | None:
    """Why the job should be stopped now (None: let it run)."""
    if p.moved_msat >= amount_msat:
        return "refilled"
    if p.pending or p.succeeded:
        # A payment is out: none other may start (the reservation covers it
        # and one that outlived sling-timeoutpay, no more).
        return "its payment is out"
    if p.failed >= GIVE_UP_FAILURES:
        return f"{p.failed} payments failed"
    return None


def outcome(p: Progress, amount_msat: int, why: str) -> str:
    """What became of a stopped job once nothing of it is pending."""
    if p.moved_msat >= amount_msat:
        return "refilled"
    if p.succeeded:
        return f"refilled {p.moved_msat} of {amount_msat} msat"
    return why if why != "its payment is out" else "its payment failed"
