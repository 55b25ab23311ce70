"""Rebalance queries: jobs, budget reservations, breaker memory. Plain
values out, never models. Callers (the StoreActor's rebalance mixin) wrap
writes in transactions."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from revops.rebalance.breaker import BreakerState
from revops.rebalance.budget import WEEK, Spend
from revops.storage.base import db
from revops.storage.schema_rebalance import (
    JOB_STATES,
    OPEN_STATES,
    RebalanceBreaker,
    RebalanceJob,
    RebalanceReservation,
)


@dataclass(frozen=True)
class JobRow:
    id: int
    created_at: float
    updated_at: float
    mode: str
    origin: str
    state: str
    source_scid: str
    dest_scid: str
    amount_msat: int
    max_fee_msat: int
    route_fee_msat: int | None
    fee_msat: int | None
    moved_msat: int | None
    payment_hash: str | None
    label: str | None
    route: str | None
    dest_fee_ppm: int
    expected_revenue_msat: int
    predicted_ev_msat: int
    cursor: int | None
    reason: str
    completed_at: float | None
    realized_7d_msat: int | None
    realized_30d_msat: int | None
    reserved_msat: int = 0  # what its reservation holds now (0 once closed)

    @property
    def open(self) -> bool:
        return self.state in OPEN_STATES

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class NewJob:
    """A job about to reserve its max fee."""

    mode: str
    origin: str
    source_scid: str
    dest_scid: str
    amount_msat: int
    max_fee_msat: int
    dest_fee_ppm: int
    expected_revenue_msat: int
    predicted_ev_msat: int


_FIELDS = [f.name for f in dataclasses.fields(JobRow) if f.name != "reserved_msat"]
_SELECT = ("SELECT " + ", ".join(f"j.{f}" for f in _FIELDS)
           + ", CASE WHEN r.state = 'held' THEN r.amount_msat ELSE 0 END"
           " FROM rebalance_job j LEFT JOIN rebalance_reservation r ON r.job_id = j.id")


def _rows(where: str = "", args: tuple[Any, ...] = (), tail: str = "") -> list[JobRow]:
    cur = db.execute_sql(f"{_SELECT} {where} {tail}", args)
    return [JobRow(*row[:-1], reserved_msat=int(row[-1] or 0)) for row in cur.fetchall()]


def job(job_id: int) -> JobRow | None:
    rows = _rows("WHERE j.id = ?", (job_id,))
    return rows[0] if rows else None


def open_jobs() -> list[JobRow]:
    marks = ", ".join("?" for _ in OPEN_STATES)
    return _rows(f"WHERE j.state IN ({marks})", OPEN_STATES, "ORDER BY j.id")


def recent_jobs(limit: int) -> list[JobRow]:
    return _rows("WHERE j.state IN ('succeeded', 'failed')", (),
                 f"ORDER BY j.completed_at DESC, j.id DESC LIMIT {int(limit)}")


def succeeded_since(since: float) -> list[JobRow]:
    return _rows("WHERE j.state = 'succeeded' AND j.completed_at >= ?", (since,),
                 "ORDER BY j.completed_at, j.id")


def insert_job(new: NewJob, now: float) -> int:
    """A job in state ``reserved`` and its held reservation of its max fee."""
    row = RebalanceJob.create(
        created_at=now, updated_at=now, mode=new.mode, origin=new.origin, state="reserved",
        source_scid=new.source_scid, dest_scid=new.dest_scid, amount_msat=new.amount_msat,
        max_fee_msat=new.max_fee_msat, dest_fee_ppm=new.dest_fee_ppm,
        expected_revenue_msat=new.expected_revenue_msat,
        predicted_ev_msat=new.predicted_ev_msat, reason="")
    RebalanceReservation.create(job_id=row.id, reserved_at=now, amount_msat=new.max_fee_msat,
                                state="held", spent_msat=0)
    return int(row.id)


def update_job(job_id: int, now: float, **fields: Any) -> None:
    state = fields.get("state")
    if state is not None and state not in JOB_STATES:
        raise ValueError(f"unknown job state {state!r}")
    RebalanceJob.update(updated_at=now, **fields).where(RebalanceJob.id == job_id).execute()


def hold(job_id: int, amount_msat: int) -> None:
    """Change what a job's held reservation holds (shrunk to the route's fee)."""
    (RebalanceReservation.update(amount_msat=amount_msat)
     .where((RebalanceReservation.job_id == job_id) & (RebalanceReservation.state == "held"))
     .execute())


def close_reservation(job_id: int, spent_msat: int, now: float) -> None:
    """Settled at ``spent_msat`` (> 0 or a success), or released (0 on a failure)."""
    (RebalanceReservation.update(state="settled" if spent_msat > 0 else "released",
                                 spent_msat=spent_msat, amount_msat=0, closed_at=now)
     .where((RebalanceReservation.job_id == job_id) & (RebalanceReservation.state == "held"))
     .execute())


def held_msat() -> int:
    cur = db.execute_sql("SELECT COALESCE(SUM(amount_msat), 0) FROM rebalance_reservation"
                         " WHERE state = 'held'")
    return int(cur.fetchone()[0])


def spends_since(since: float) -> list[Spend]:
    cur = db.execute_sql("SELECT closed_at, spent_msat FROM rebalance_reservation"
                         " WHERE state = 'settled' AND closed_at > ? ORDER BY closed_at",
                         (since,))
    return [Spend(float(at), int(msat)) for at, msat in cur.fetchall()]


def budget_facts(now: float) -> tuple[list[Spend], int]:
    """Spends of the longest window and what is held: the budget's inputs."""
    return spends_since(now - WEEK), held_msat()


def refill_costs(since: float) -> dict[str, tuple[int, int]]:
    """Per destination: (fees paid, amount moved) of refills completed since."""
    cur = db.execute_sql("SELECT dest_scid, SUM(fee_msat), SUM(moved_msat) FROM rebalance_job"
                         " WHERE state = 'succeeded' AND completed_at >= ? GROUP BY dest_scid",
                         (since,))
    return {scid: (int(fee or 0), int(moved or 0)) for scid, fee, moved in cur.fetchall()}


def totals() -> dict[str, int]:
    cur = db.execute_sql(
        "SELECT COUNT(*), COALESCE(SUM(fee_msat), 0), COALESCE(SUM(moved_msat), 0)"
        " FROM rebalance_job WHERE state = 'succeeded'")
    n, fee, moved = cur.fetchone()
    failed = db.execute_sql("SELECT COUNT(*) FROM rebalance_job WHERE state = 'failed'").fetchone()
    return {"succeeded": int(n), "failed": int(failed[0]), "fee_msat": int(fee),
            "moved_msat": int(moved)}


def set_realized(values: Iterable[tuple[int, str, int]]) -> None:
    """Final realized revenue: (job id, window column, msat)."""
    for job_id, column, msat in values:
        if column not in ("realized_7d_msat", "realized_30d_msat"):
            raise ValueError(column)
        RebalanceJob.update({column: msat}).where(RebalanceJob.id == job_id).execute()


# -- breaker --------------------------------------------------------------------------


def breakers() -> dict[str, BreakerState]:
    return {m.scid: BreakerState(m.scid, m.failures, m.open_until)
            for m in RebalanceBreaker.select()}


def save_breakers(states: Iterable[BreakerState], now: float) -> None:
    for s in states:
        (RebalanceBreaker.insert(scid=s.scid, failures=s.failures, open_until=s.open_until,
                                 updated_at=now)
         .on_conflict(conflict_target=[RebalanceBreaker.scid],
                      preserve=[RebalanceBreaker.failures, RebalanceBreaker.open_until,
                                RebalanceBreaker.updated_at])
         .execute())


def delete_breakers(scids: Iterable[str]) -> int:
    scids = list(scids)
    if not scids:
        return 0
    return RebalanceBreaker.delete().where(RebalanceBreaker.scid.in_(scids)).execute()
