"""Supervision history: which actor started, crashed, restarted or escalated.

Bounded: each insert drops rows older than the newest ``KEEP`` so that a
crash loop cannot grow the file without end.
"""

from __future__ import annotations

from dataclasses import dataclass

from revops.storage.models import ActorEvent

KINDS = ("started", "crashed", "restarted", "escalated")
KEEP = 10_000


@dataclass(frozen=True)
class ActorEventRow:
    id: int
    ts: float
    actor: str
    kind: str
    detail: str


def record(ts: float, actor: str, kind: str, detail: str) -> int:
    """Insert one event, drop what falls out of the newest KEEP; return its id."""
    event_id = ActorEvent.insert(ts=ts, actor=actor, kind=kind, detail=detail).execute()
    ActorEvent.delete().where(ActorEvent.id <= event_id - KEEP).execute()
    return int(event_id)


def recent(limit: int, actor: str | None = None) -> list[ActorEventRow]:
    """Newest first."""
    query = ActorEvent.select().order_by(ActorEvent.id.desc()).limit(limit)
    if actor is not None:
        query = query.where(ActorEvent.actor == actor)
    return [
        ActorEventRow(id=m.id, ts=m.ts, actor=m.actor, kind=m.kind, detail=m.detail)
        for m in query
    ]
