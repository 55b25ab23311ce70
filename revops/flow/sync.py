"""Where the local copy of lightningd's forwards stands, and which
``listforwards`` page to ask for next (pure).

The copy grows from both ends of lightningd's ``created_index``:

- at first start revops reads the node's current ``created`` and
  ``updated`` indexes (``wait`` with ``nextvalue`` 0 answers at once) and
  hydrates the history *backwards* from the top, newest first, so the
  figures that matter (the last 30 days) are right after the first pages;
- from then on every cycle first pulls what is new: ``index=created``
  from above the top, and ``index=updated`` from the last update seen
  (status changes of forwards already stored, or of forwards the
  backfill has not reached yet: those are simply stored early).

Rows ``[low, created]`` are all stored; hydration is done when ``low`` is
1. Each page is written together with the cursor it advances to, in one
transaction, so an interrupted hydration resumes exactly where it stopped
and a forward is stored once (its ``created_index`` is the key; a later
listing of it updates it in place).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

CURSOR_FIELDS = ("created", "updated", "low", "target", "raw_from_day", "hydrated_at")


@dataclass(frozen=True)
class SyncState:
    created: int = 0  # highest created_index synced upward
    updated: int = 0  # highest updated_index applied
    low: int = 0  # lowest created_index hydrated (0: hydration not begun)
    target: int = 0  # lightningd's created index when hydration began
    raw_from_day: int = 0  # raw rows before this UTC day were pruned (their buckets are final)
    hydrated_at: int = 0  # when hydration finished (UNIX seconds, 0: not yet)

    @property
    def begun(self) -> bool:
        return self.low > 0

    @property
    def hydrating(self) -> bool:
        return not self.begun or self.low > 1

    @property
    def hydrated_rows(self) -> int:
        """History rows covered so far (of ``target``)."""
        return 0 if not self.begun else max(0, self.target - self.low + 1)

    def remaining(self) -> int:
        """History rows still to fetch."""
        return 0 if not self.begun else max(0, self.low - 1)

    def lag(self, node_created: int | None) -> int:
        """Forwards lightningd has that are not stored yet."""
        if not self.begun:
            return node_created or 0
        return max(0, (node_created or 0) - self.created) + self.remaining()

    def as_cursor(self) -> dict[str, int]:
        return {f: int(getattr(self, f)) for f in CURSOR_FIELDS}

    @classmethod
    def from_cursor(cls, values: Mapping[str, int]) -> SyncState:
        return cls(**{f: int(values[f]) for f in CURSOR_FIELDS if f in values})


def begin(node_created: int, node_updated: int, now: float) -> SyncState:
    """Hydration starts at the node's current indexes: everything up to
    ``node_created`` is history (fetched backwards), everything after is new."""
    top = max(0, node_created)
    return SyncState(created=top, updated=max(0, node_updated), low=top + 1, target=top,
                     hydrated_at=0 if top else int(now))


@dataclass(frozen=True)
class Page:
    """One ``listforwards`` call."""

    index: str  # created | updated
    start: int
    limit: int
    phase: str  # new | updates | history

    def params(self) -> dict[str, Any]:
        return {"index": self.index, "start": self.start, "limit": self.limit}


def new_page(state: SyncState, page: int) -> Page:
    return Page("created", state.created + 1, page, "new")


def updates_page(state: SyncState, page: int) -> Page:
    return Page("updated", state.updated + 1, page, "updates")


def history_page(state: SyncState, page: int) -> Page | None:
    """The next page of history below ``low``, or None when hydrated."""
    if not state.begun or state.low <= 1:
        return None
    start = max(1, state.low - page)
    return Page("created", start, state.low - start, "history")


def advance(state: SyncState, page: Page, entries: Iterable[Mapping[str, Any]],
            now: float) -> SyncState:
    """The cursor after ``entries`` (the page's answer) are stored."""
    if page.phase == "history":
        low = page.start
        done = low <= 1 and not state.hydrated_at
        return replace(state, low=low, hydrated_at=int(now) if done else state.hydrated_at)
    key = "created_index" if page.phase == "new" else "updated_index"
    top = state.created if page.phase == "new" else state.updated
    for e in entries:
        v = e.get(key)
        if type(v) is int and v > top:
            top = v
    return replace(state, created=top) if page.phase == "new" else replace(state, updated=top)
