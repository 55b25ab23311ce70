"""The StoreActor's flow queries (a mixin: runs in the StoreActor's thread,
on its connection; see actors/store.py).

Writes happen in one transaction each: a page of forwards together with
the bucket changes it makes and the sync cursor it advances to, so a crash
or a stop between two pages leaves the copy exactly at the previous page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from revops.flow.buckets import BucketDelta, DayBucket, Totals
from revops.flow.forwards import Forward, Row
from revops.flow.profitability import COST_KINDS, Costs
from revops.flow.snapshot import Snapshot
from revops.flow.sync import SyncState
from revops.storage import models
from revops.storage.errors import storage_errors
from revops.storage.repos import flow


def _check_cost(scid: Any, kind: Any, amount_msat: Any, reference: Any) -> None:
    if not isinstance(scid, str) or not scid:
        raise ValueError(f"scid must be a non-empty string, not {scid!r}")
    if kind not in COST_KINDS:
        raise ValueError(f"kind must be one of {', '.join(COST_KINDS)}, not {kind!r}")
    if not isinstance(amount_msat, int) or isinstance(amount_msat, bool) or amount_msat < 0:
        raise ValueError(f"amount_msat must be a non-negative integer (msat), not {amount_msat!r}")
    if not isinstance(reference, str) or not reference:
        raise ValueError(f"reference must be a non-empty string, not {reference!r}")


class FlowStore:
    """Forwards, buckets, the sync cursor, costs and snapshots."""

    path: str
    _clock: Any

    def _require(self) -> None:  # provided by StoreActor
        raise NotImplementedError

    # -- forwards sync -----------------------------------------------------------------

    def flow_sync_state(self) -> SyncState:
        self._require()
        with storage_errors(self.path):
            return flow.load_cursor()

    def flow_store_page(self, rows: Sequence[Row], state: SyncState) -> BucketDelta:
        """Store a page of forwards (upserted by created_index), the bucket
        changes it makes and the cursor after it; returns those changes."""
        self._require()
        with storage_errors(self.path), models.db.atomic():
            return flow.store_page(rows, state)

    def flow_save_state(self, state: SyncState) -> None:
        self._require()
        with storage_errors(self.path), models.db.atomic():
            flow.save_cursor(state)

    def flow_prune(self, before_day: int, state: SyncState) -> int:
        """Delete raw forwards before ``before_day`` (``state`` says so with
        its ``raw_from_day``); their buckets become final."""
        self._require()
        with storage_errors(self.path), models.db.atomic():
            deleted = flow.prune_forwards(int(before_day))
            flow.save_cursor(state)
            return deleted

    def flow_rebuild_days(self, days: Sequence[int], raw_from_day: int = 0) -> BucketDelta:
        """Recompute the buckets of ``days`` from the raw rows (a repair;
        returns what it had to change)."""
        self._require()
        with storage_errors(self.path), models.db.atomic():
            return flow.rebuild_days(days, raw_from_day)

    # -- reading -------------------------------------------------------------------------

    def flow_window_totals(self, from_days: Sequence[int]) -> dict[int, dict[str, Totals]]:
        """Per window start day: every channel's totals from that day on."""
        self._require()
        with storage_errors(self.path):
            return {d: flow.window_totals(int(d)) for d in from_days}

    def flow_all_time(self) -> dict[str, Totals]:
        self._require()
        with storage_errors(self.path):
            return flow.all_time_by_channel()

    def flow_channel_buckets(self, scid: str, from_day: int) -> list[DayBucket]:
        self._require()
        with storage_errors(self.path):
            return flow.channel_buckets(scid, int(from_day))

    def flow_known_channel(self, scid: str) -> bool:
        self._require()
        with storage_errors(self.path):
            return flow.known_channel(scid)

    def flow_forward_count(self) -> int:
        self._require()
        with storage_errors(self.path):
            return flow.forward_count()

    def flow_forwards(self, first: int, last: int) -> list[Forward]:
        self._require()
        with storage_errors(self.path):
            return flow.forwards_between(int(first), int(last))

    def flow_recent_forwards(self, scid: str, limit: int = 20) -> list[Forward]:
        self._require()
        with storage_errors(self.path):
            return flow.recent_forwards(scid, int(limit))

    # -- underwater spells -----------------------------------------------------------------

    def flow_underwater(self) -> dict[str, float]:
        self._require()
        with storage_errors(self.path):
            return flow.underwater_spells()

    def flow_set_underwater(self, changes: Mapping[str, float | None], now: float) -> None:
        self._require()
        with storage_errors(self.path), models.db.atomic():
            flow.set_underwater(dict(changes), float(now))

    # -- channel costs (the P&L ledger) ---------------------------------------------------------

    def record_channel_cost(self, ts: float, scid: str, kind: str, amount_msat: int,
                            reference: str) -> bool:
        """Record what ``scid`` cost (rebalance fee paid to fill it, its open
        or close fee, ...), once per ``reference`` (a payment hash, a txid):
        recording the same reference again changes nothing and returns False."""
        _check_cost(scid, kind, amount_msat, reference)
        self._require()
        with storage_errors(self.path), models.db.atomic():
            return flow.record_cost(float(ts), scid, kind, amount_msat, reference)

    def channel_costs(self, since: float | None = None) -> dict[str, Costs]:
        """Per channel, its costs by kind recorded at or after ``since`` (all if None)."""
        self._require()
        with storage_errors(self.path):
            return flow.costs_by_channel(since)

    def channel_cost_totals(self, since: float | None = None) -> Costs:
        self._require()
        with storage_errors(self.path):
            return flow.cost_totals(since)

    def channel_cost_list(self, since: float, scid: str | None = None,
                          limit: int = 100) -> list[tuple]:
        """Newest first: (ts, scid, kind, amount_msat, reference)."""
        self._require()
        with storage_errors(self.path):
            return flow.costs_list(float(since), scid, int(limit))

    # -- snapshots ------------------------------------------------------------------------------

    def flow_add_snapshot(self, snapshot: Snapshot) -> None:
        self._require()
        with storage_errors(self.path), models.db.atomic():
            flow.add_snapshot(snapshot)

    def flow_snapshots(self, since: float) -> list[Snapshot]:
        self._require()
        with storage_errors(self.path):
            return flow.snapshots(float(since))

    def flow_last_snapshot(self) -> Snapshot | None:
        self._require()
        with storage_errors(self.path):
            return flow.last_snapshot()
