"""The StoreActor's fee-engine queries (a mixin: runs in the StoreActor's
thread, on its connection; see actors/store.py)."""

from __future__ import annotations

from typing import Any, Iterable

from revops.storage import models
from revops.storage.errors import storage_errors
from revops.storage.repos import fees
from revops.storage.repos.fees import FeeChange, IgnoredRow, PolicyRow


class FeeStore:
    """Fee history, peer policies, ignored peers, mempool readings."""

    path: str
    _clock: Any

    def _require(self) -> None:  # provided by StoreActor
        raise NotImplementedError

    def record_fee_changes(self, changes: Iterable[FeeChange]) -> int:
        changes = list(changes)
        self._require()
        with storage_errors(self.path), models.db.atomic():
            return fees.add_changes(changes)

    def fee_history(self, scid: str | None = None, limit: int = 50) -> list[FeeChange]:
        self._require()
        with storage_errors(self.path):
            return fees.history(scid, int(limit))

    def broadcast_times(self, since: float) -> list[float]:
        self._require()
        with storage_errors(self.path):
            return fees.broadcast_times(float(since))

    def peer_policies(self) -> dict[str, PolicyRow]:
        self._require()
        with storage_errors(self.path):
            return fees.policies()

    def set_peer_policy(self, peer_id: str, mode: str, fee_ppm: int | None,
                        base_msat: int | None) -> PolicyRow:
        self._require()
        with storage_errors(self.path):
            with models.db.atomic():
                fees.set_policy(peer_id, mode, fee_ppm, base_msat, self._clock.now())
            return fees.policies()[peer_id]

    def delete_peer_policy(self, peer_id: str) -> bool:
        self._require()
        with storage_errors(self.path), models.db.atomic():
            return fees.delete_policy(peer_id)

    def ignored_peers(self) -> dict[str, IgnoredRow]:
        self._require()
        with storage_errors(self.path):
            return fees.ignored()

    def ignore_peer(self, peer_id: str, reason: str) -> IgnoredRow:
        self._require()
        with storage_errors(self.path):
            with models.db.atomic():
                fees.ignore(peer_id, reason, self._clock.now())
            return fees.ignored()[peer_id]

    def unignore_peer(self, peer_id: str) -> bool:
        self._require()
        with storage_errors(self.path), models.db.atomic():
            return fees.unignore(peer_id)

    def add_mempool_sample(self, ts: float, rate_perkb: int, keep_seconds: float) -> None:
        self._require()
        with storage_errors(self.path), models.db.atomic():
            fees.add_mempool_sample(float(ts), int(rate_perkb))
            fees.prune_mempool(float(ts) - keep_seconds)

    def mempool_samples(self, since: float) -> list[tuple[float, int]]:
        self._require()
        with storage_errors(self.path):
            return fees.mempool_samples(float(since))
