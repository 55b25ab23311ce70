"""Fee engine queries: fee history, peer policies, ignored peers, mempool
readings. Plain values out, never models."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from revops.storage.schema_fees import FeeHistory, IgnoredPeer, MempoolSample, PeerPolicy


@dataclass(frozen=True)
class FeeChange:
    ts: float
    scid: str
    old_fee_ppm: int | None
    new_fee_ppm: int
    base_msat: int
    mode: str
    reason: str
    outcome: str  # broadcast | failed | dry_run


@dataclass(frozen=True)
class PolicyRow:
    peer_id: str
    mode: str
    fee_ppm: int | None
    base_msat: int | None
    updated_at: float


@dataclass(frozen=True)
class IgnoredRow:
    peer_id: str
    reason: str
    ignored_at: float


def add_changes(changes: Iterable[FeeChange]) -> int:
    rows = [dict(ts=c.ts, scid=c.scid, old_fee_ppm=c.old_fee_ppm, new_fee_ppm=int(c.new_fee_ppm),
                 base_msat=int(c.base_msat), mode=c.mode, reason=c.reason[:1000],
                 outcome=c.outcome) for c in changes]
    for i in range(0, len(rows), 500):
        FeeHistory.insert_many(rows[i:i + 500]).execute()
    return len(rows)


def history(scid: str | None, limit: int) -> list[FeeChange]:
    q = FeeHistory.select()
    if scid is not None:
        q = q.where(FeeHistory.scid == scid)
    q = q.order_by(FeeHistory.ts.desc(), FeeHistory.id.desc()).limit(limit)
    return [FeeChange(m.ts, m.scid, m.old_fee_ppm, m.new_fee_ppm, m.base_msat, m.mode,
                      m.reason, m.outcome) for m in q]


def broadcast_times(since: float) -> list[float]:
    q = (FeeHistory.select(FeeHistory.ts)
         .where((FeeHistory.ts >= since) & (FeeHistory.outcome == "broadcast"))
         .order_by(FeeHistory.ts))
    return [m.ts for m in q]


def policies() -> dict[str, PolicyRow]:
    return {m.peer_id: PolicyRow(m.peer_id, m.mode, m.fee_ppm, m.base_msat, m.updated_at)
            for m in PeerPolicy.select().order_by(PeerPolicy.peer_id)}


def set_policy(peer_id: str, mode: str, fee_ppm: int | None, base_msat: int | None,
               now: float) -> None:
    (PeerPolicy.insert(peer_id=peer_id, mode=mode, fee_ppm=fee_ppm, base_msat=base_msat,
                       updated_at=now)
     .on_conflict(conflict_target=[PeerPolicy.peer_id],
                  preserve=[PeerPolicy.mode, PeerPolicy.fee_ppm, PeerPolicy.base_msat,
                            PeerPolicy.updated_at])
     .execute())


def delete_policy(peer_id: str) -> bool:
    return PeerPolicy.delete().where(PeerPolicy.peer_id == peer_id).execute() > 0


def ignored() -> dict[str, IgnoredRow]:
    return {m.peer_id: IgnoredRow(m.peer_id, m.reason, m.ignored_at)
            for m in IgnoredPeer.select().order_by(IgnoredPeer.peer_id)}


def ignore(peer_id: str, reason: str, now: float) -> None:
    (IgnoredPeer.insert(peer_id=peer_id, reason=reason, ignored_at=now)
     .on_conflict(conflict_target=[IgnoredPeer.peer_id],
                  preserve=[IgnoredPeer.reason, IgnoredPeer.ignored_at])
     .execute())


def unignore(peer_id: str) -> bool:
    return IgnoredPeer.delete().where(IgnoredPeer.peer_id == peer_id).execute() > 0


def add_mempool_sample(ts: float, rate_perkb: int) -> None:
    (MempoolSample.insert(ts=ts, rate_perkb=int(rate_perkb))
     .on_conflict(conflict_target=[MempoolSample.ts], preserve=[MempoolSample.rate_perkb])
     .execute())


def mempool_samples(since: float) -> list[tuple[float, int]]:
    q = (MempoolSample.select().where(MempoolSample.ts >= since).order_by(MempoolSample.ts))
    return [(m.ts, m.rate_perkb) for m in q]


def prune_mempool(before: float) -> int:
    return MempoolSample.delete().where(MempoolSample.ts < before).execute()
