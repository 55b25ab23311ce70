"""The StoreActor's flow queries (a mixin: runs in the StoreActor's thread,
on its connection; see actors/store.py)."""

from __future__ import annotations


class FlowStore:
    """Methods the StoreActor gains for the flow feature."""
