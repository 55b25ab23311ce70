"""The StoreActor's rebalance queries (a mixin: runs in the StoreActor's thread,
on its connection; see actors/store.py).

The budget holds because the check and the reservation are one
``BEGIN IMMEDIATE`` transaction here, and every reservation goes through
it (the RebalanceCoordinator, in its one thread, is the only caller). A
job's end is one transaction too: its state, its reservation settled or
released, and for a success its cost in the P&L ledger (``channel_cost``,
once per payment hash). Finishing a job that is already final changes
nothing: a payment's cost is counted exactly once, whoever sees it first
(the poll, or the reconciliation after a restart).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from revops.rebalance.breaker import BreakerState
from revops.rebalance.budget import BudgetParams, Usage, usage
from revops.storage import models
from revops.storage.errors import storage_errors
from revops.storage.repos import rebalance
from revops.storage.repos.rebalance import JobRow, NewJob


class RebalanceStore:
    """Rebalance jobs, budget reservations, breaker memory."""

    path: str
    _clock: Any

    def _require(self) -> None:  # provided by StoreActor
        raise NotImplementedError

    # -- the budget ----------------------------------------------------------------------

    def rebalance_budget(self, now: float, params: BudgetParams) -> Usage:
        self._require()
        with storage_errors(self.path):
            spends, held = rebalance.budget_facts(float(now))
            return usage(spends, held, float(now), params)

    def rebalance_reserve(self, new: NewJob, now: float,
                          params: BudgetParams) -> tuple[int | None, str | None]:
        """Create the job and hold its max fee if every budget window has
        room: (job id, None), or (None, why not)."""
        if not isinstance(new.max_fee_msat, int) or new.max_fee_msat < 0:
            raise ValueError(f"max_fee_msat must be a non-negative integer, not {new.max_fee_msat!r}")
        self._require()
        with storage_errors(self.path), models.db.atomic(lock_type="IMMEDIATE"):
            spends, held = rebalance.budget_facts(float(now))
            why = usage(spends, held, float(now), params).refusal(new.max_fee_msat)
            if why is not None:
                return None, why
            return rebalance.insert_job(new, float(now)), None

    def rebalance_hold(self, job_id: int, amount_msat: int) -> None:
        """Shrink a held reservation (never grow it: growing skips the check)."""
        self._require()
        with storage_errors(self.path), models.db.atomic():
            row = rebalance.job(job_id)
            if row is None or amount_msat > row.reserved_msat:
                raise ValueError(f"job {job_id}: a reservation may only shrink "
                                 f"({row.reserved_msat if row else None} -> {amount_msat})")
            rebalance.hold(job_id, amount_msat)

    # -- jobs ------------------------------------------------------------------------------

    def rebalance_update(self, job_id: int, now: float, **fields: Any) -> JobRow | None:
        """Move an open job along (``sending``, ``pending``, its hash, route fee...)."""
        self._require()
        with storage_errors(self.path), models.db.atomic():
            row = rebalance.job(job_id)
            if row is None or not row.open:
                return row
            rebalance.update_job(job_id, float(now), **fields)
            return rebalance.job(job_id)

    def rebalance_finish(self, job_id: int, now: float, success: bool, fee_msat: int = 0,
                         moved_msat: int = 0, reason: str = "") -> JobRow | None:
        """End an open job: succeeded (its fee spent, its cost recorded) or
        failed (its reservation released). Returns the job as it ends, or
        None when it had already ended (nothing changes then)."""
        if success and (not isinstance(fee_msat, int) or fee_msat < 0):
            raise ValueError(f"fee_msat must be a non-negative integer, not {fee_msat!r}")
        self._require()
        with storage_errors(self.path), models.db.atomic(lock_type="IMMEDIATE"):
            row = rebalance.job(job_id)
            if row is None or not row.open:
                return None
            if success:
                rebalance.update_job(job_id, float(now), state="succeeded", fee_msat=fee_msat,
                                     moved_msat=moved_msat, completed_at=float(now),
                                     reason=reason[:500])
                rebalance.close_reservation(job_id, fee_msat, float(now))
                if fee_msat > 0:
                    # The P&L ledger's own idempotence (per reference) is a
                    # second guard; the job's state is the first.
                    self.record_channel_cost(  # type: ignore[attr-defined]  (FlowStore's)
                        float(now), row.dest_scid, "rebalance", fee_msat,
                        row.payment_hash or f"rebalance-job-{job_id}")
            else:
                rebalance.update_job(job_id, float(now), state="failed", fee_msat=0,
                                     moved_msat=0, completed_at=float(now),
                                     reason=reason[:500])
                rebalance.close_reservation(job_id, 0, float(now))
            return rebalance.job(job_id)

    def rebalance_job(self, job_id: int) -> JobRow | None:
        self._require()
        with storage_errors(self.path):
            return rebalance.job(job_id)

    def rebalance_open_jobs(self) -> list[JobRow]:
        self._require()
        with storage_errors(self.path):
            return rebalance.open_jobs()

    def rebalance_recent(self, limit: int = 20) -> list[JobRow]:
        self._require()
        with storage_errors(self.path):
            return rebalance.recent_jobs(int(limit))

    def rebalance_succeeded_since(self, since: float) -> list[JobRow]:
        self._require()
        with storage_errors(self.path):
            return rebalance.succeeded_since(float(since))

    def rebalance_refill_costs(self, since: float) -> dict[str, tuple[int, int]]:
        self._require()
        with storage_errors(self.path):
            return rebalance.refill_costs(float(since))

    def rebalance_totals(self) -> dict[str, int]:
        self._require()
        with storage_errors(self.path):
            return rebalance.totals()

    def rebalance_set_realized(self, values: Iterable[tuple[int, str, int]]) -> None:
        values = list(values)
        self._require()
        with storage_errors(self.path), models.db.atomic():
            rebalance.set_realized(values)

    # -- the futility breaker ------------------------------------------------------------------

    def rebalance_breakers(self) -> dict[str, BreakerState]:
        self._require()
        with storage_errors(self.path):
            return rebalance.breakers()

    def rebalance_save_breakers(self, states: Iterable[BreakerState], now: float) -> None:
        states = list(states)
        self._require()
        with storage_errors(self.path), models.db.atomic():
            rebalance.save_breakers(states, float(now))

    def rebalance_delete_breakers(self, scids: Iterable[str]) -> int:
        scids = list(scids)
        self._require()
        with storage_errors(self.path), models.db.atomic():
            return rebalance.delete_breakers(scids)
