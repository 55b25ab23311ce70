"""The StoreActor's rebalance queries (a mixin: runs in the StoreActor's thread,
on its connection; see actors/store.py)."""

from __future__ import annotations


class RebalanceStore:
    """Methods the StoreActor gains for the rebalance feature."""
