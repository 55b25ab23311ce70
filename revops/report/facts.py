"""What the report is made of: the rows read from the plugin's database,
as plain immutable values (nothing here knows SQLite or peewee)."""

from __future__ import annotations

from dataclasses import dataclass, field

from revops.flow.buckets import DayBucket
from revops.flow.snapshot import Snapshot
from revops.storage.repos.fees import FeeChange
from revops.storage.repos.rebalance import JobRow


@dataclass(frozen=True)
class CostRow:
    """One recorded channel cost (rebalance fee, open, close, other)."""

    ts: float
    scid: str
    kind: str
    amount_msat: int


@dataclass(frozen=True)
class Table:
    """A table read whole, for a section that only lists it."""

    name: str
    columns: tuple[str, ...]
    rows: tuple[tuple[object, ...], ...]


@dataclass(frozen=True)
class Facts:
    path: str
    schema_version: int
    buckets: tuple[DayBucket, ...] = ()
    snapshots: tuple[Snapshot, ...] = ()
    costs: tuple[CostRow, ...] = ()
    fee_changes: tuple[FeeChange, ...] = ()  # oldest first
    jobs: tuple[JobRow, ...] = ()  # rebalance jobs, every state
    peers: dict[str, str] = field(default_factory=dict)  # scid -> peer id (channels with an actor)
    last_forward_ts: float | None = None
    capacity_advice: tuple[Table, ...] = ()  # issue 16's planner, once it stores advice
