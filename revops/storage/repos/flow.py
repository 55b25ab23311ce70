"""Flow queries: forwards (bulk upsert on the raw cursor), daily buckets,
the sync cursor, underwater spells, channel costs, snapshots.

Bulk paths use SQLite directly (``executemany`` on the connection's
cursor): peewee's ``insert_many`` builds each row's SQL in Python and is
about five times slower (DESIGN.md section 7).

Buckets change with the rows, in the page's transaction: each row adds
what it counts for and takes back what its stored version counted for
(``buckets.page_changes``), so they always agree with the stored forwards
(``rebuild_days`` recomputes them from scratch, the reference). Days
before ``raw_from_day`` have had their raw rows pruned, and their buckets
are final (never changed again).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from revops.flow.buckets import (
    COUNTERS,
    DAY,
    NO_DELTA,
    BucketDelta,
    Changes,
    DayBucket,
    Totals,
    bucket_delta,
    contiguous_ranges,
    delta_of,
    from_groups,
    page_changes,
)
from revops.flow.forwards import (
    ROW_FIELDS,
    WIRE_TEMPORARY_CHANNEL_FAILURE,
    Forward,
    Row,
)
from revops.flow.profitability import COST_KINDS, Costs
from revops.flow.snapshot import Snapshot
from revops.flow.sync import CURSOR_FIELDS, SyncState
from revops.storage.base import db

# A later listing of a forward is at least as new as what is stored; the
# guard keeps an older one from undoing a newer status all the same.
_UPSERT = (
    f"INSERT INTO forward ({', '.join(ROW_FIELDS)}) VALUES ({', '.join('?' * len(ROW_FIELDS))})"
    " ON CONFLICT (created_index) DO UPDATE SET "
    + ", ".join(f"{f} = excluded.{f}" for f in ROW_FIELDS[1:])
    + " WHERE coalesce(excluded.updated_index, 0) >= coalesce(forward.updated_index, 0)"
)

# One pass over a day range's forwards, grouped finely enough that
# buckets.from_groups can credit both the incoming and the outgoing channel.
_GROUPS = (
    "SELECT CAST(received_time / 86400 AS INTEGER) AS d, in_channel, out_channel, status,"
    f" (status = 3 AND coalesce(failcode, 0) = {WIRE_TEMPORARY_CHANNEL_FAILURE}) AS liq,"
    " count(*), SUM(in_msat), SUM(coalesce(out_msat, 0)), SUM(coalesce(fee_msat, 0))"
    " FROM forward INDEXED BY forward_received"
    " WHERE received_time >= ? AND received_time < ?"
    " GROUP BY d, in_channel, out_channel, status, liq"
)
_BUCKET_COLS = ", ".join(COUNTERS)
_ADD_BUCKET = (f"INSERT INTO flow_daily (day, scid, {_BUCKET_COLS})"
               f" VALUES ({', '.join('?' * (len(COUNTERS) + 2))})"
               " ON CONFLICT (day, scid) DO UPDATE SET "
               + ", ".join(f"{c} = {c} + excluded.{c}" for c in COUNTERS))
_INSERT_BUCKET = (f"INSERT INTO flow_daily (day, scid, {_BUCKET_COLS})"
                  f" VALUES ({', '.join('?' * (len(COUNTERS) + 2))})")
_SUMS = ", ".join(f"SUM({c})" for c in COUNTERS)


# -- the sync cursor ------------------------------------------------------------

def load_cursor() -> SyncState:
    rows = db.execute_sql("SELECT name, value FROM flow_cursor").fetchall()
    return SyncState.from_cursor({name: value for name, value in rows if name in CURSOR_FIELDS})


def save_cursor(state: SyncState) -> None:
    db.cursor().executemany(
        "INSERT INTO flow_cursor (name, value) VALUES (?, ?)"
        " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        list(state.as_cursor().items()))


# -- forwards and buckets --------------------------------------------------------

def upsert_forwards(rows: Sequence[Row]) -> None:
    db.cursor().executemany(_UPSERT, rows)


def days_of(rows: Iterable[Row]) -> set[int]:
    rt = ROW_FIELDS.index("received_time")
    return {int(r[rt] // DAY) for r in rows}


def read_buckets(d0: int, d1: int) -> list[DayBucket]:
    cur = db.execute_sql(f"SELECT day, scid, {_BUCKET_COLS} FROM flow_daily"
                         " WHERE day >= ? AND day <= ? ORDER BY day, scid", (d0, d1))
    return [DayBucket(day, scid, Totals(*vals)) for day, scid, *vals in cur.fetchall()]


def aggregate(d0: int, d1: int) -> list[DayBucket]:
    """Buckets of days ``d0..d1`` computed from the raw forwards."""
    groups = db.execute_sql(_GROUPS, (d0 * DAY, (d1 + 1) * DAY)).fetchall()
    return [b for b in from_groups(groups) if any(b.totals.values())]


def rebuild_days(days: Iterable[int], raw_from_day: int = 0) -> BucketDelta:
    """Recompute the buckets of ``days`` (those not yet final) from the raw
    rows, from scratch; returns what changed (nothing, when the buckets kept
    by difference are right)."""
    delta = BucketDelta({}, {}, {})
    for d0, d1 in contiguous_ranges(d for d in days if d >= raw_from_day):
        old = read_buckets(d0, d1)
        new = aggregate(d0, d1)
        db.execute_sql("DELETE FROM flow_daily WHERE day >= ? AND day <= ?", (d0, d1))
        db.cursor().executemany(_INSERT_BUCKET, [b.as_row() for b in new])
        delta = delta + bucket_delta(old, new)
    return delta


def stored_versions(ids: Sequence[int]) -> dict[int, Row]:
    """The stored rows among ``ids`` (created indexes)."""
    if not ids:
        return {}
    cols = ", ".join(ROW_FIELDS)
    lo, hi = min(ids), max(ids)
    if hi - lo < 2 * len(ids):  # a page of consecutive indexes: one range read
        wanted = set(ids)
        cur = db.execute_sql(f"SELECT {cols} FROM forward WHERE created_index >= ?"
                             " AND created_index <= ?", (lo, hi))
        return {r[0]: r for r in cur.fetchall() if r[0] in wanted}
    out: dict[int, Row] = {}
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        cur = db.execute_sql(f"SELECT {cols} FROM forward WHERE created_index IN"
                             f" ({', '.join('?' * len(chunk))})", chunk)
        out.update((r[0], r) for r in cur.fetchall())
    return out


def apply_changes(changes: Changes) -> None:
    """Add counter changes to their buckets (created at zero if new)."""
    if changes:
        db.cursor().executemany(_ADD_BUCKET, [(day, scid, *v)
                                              for (day, scid), v in changes.items()])


def store_page(rows: Sequence[Row], state: SyncState) -> BucketDelta:
    """One page of forwards, the buckets it changes and the cursor it
    advances to (the caller holds the transaction)."""
    delta = NO_DELTA
    if rows:
        changes = page_changes(rows, stored_versions([r[0] for r in rows]), state.raw_from_day)
        upsert_forwards(rows)
        apply_changes(changes)
        delta = delta_of(changes)
    save_cursor(state)
    return delta


def prune_forwards(before_day: int) -> int:
    """Delete raw forwards received before ``before_day`` (their buckets stay)."""
    cur = db.execute_sql("DELETE FROM forward WHERE received_time < ?", (before_day * DAY,))
    return cur.rowcount


def window_totals(from_day: int) -> dict[str, Totals]:
    """Per channel, its counters summed from ``from_day`` on."""
    cur = db.execute_sql(f"SELECT scid, {_SUMS} FROM flow_daily WHERE day >= ? GROUP BY scid",
                         (from_day,))
    return {scid: Totals(*(int(v or 0) for v in vals)) for scid, *vals in cur.fetchall()}


def channel_buckets(scid: str, from_day: int) -> list[DayBucket]:
    cur = db.execute_sql(f"SELECT day, scid, {_BUCKET_COLS} FROM flow_daily"
                         " WHERE scid = ? AND day >= ? ORDER BY day", (scid, from_day))
    return [DayBucket(day, s, Totals(*vals)) for day, s, *vals in cur.fetchall()]


def all_time_by_channel() -> dict[str, Totals]:
    return window_totals(-(1 << 40))


def known_channel(scid: str) -> bool:
    """Seen in any bucket or stored forward, on either side."""
    return bool(
        db.execute_sql("SELECT 1 FROM flow_daily WHERE scid = ? LIMIT 1", (scid,)).fetchone()
        or db.execute_sql("SELECT 1 FROM forward WHERE out_channel = ? LIMIT 1",
                          (scid,)).fetchone()
        or db.execute_sql("SELECT 1 FROM forward WHERE in_channel = ? LIMIT 1",
                          (scid,)).fetchone())


def forward_count() -> int:
    return int(db.execute_sql("SELECT count(*) FROM forward").fetchone()[0])


def forwards_between(first: int, last: int) -> list[Forward]:
    cur = db.execute_sql(f"SELECT {', '.join(ROW_FIELDS)} FROM forward"
                         " WHERE created_index >= ? AND created_index <= ? ORDER BY created_index",
                         (first, last))
    return [Forward(*r) for r in cur.fetchall()]


def recent_forwards(scid: str, limit: int) -> list[Forward]:
    """The newest forwards through ``scid`` on either side."""
    cols = ", ".join(ROW_FIELDS)
    cur = db.execute_sql(
        f"SELECT {cols} FROM (SELECT {cols} FROM forward WHERE out_channel = ?"
        "  ORDER BY received_time DESC LIMIT ?)"
        f" UNION SELECT {cols} FROM (SELECT {cols} FROM forward WHERE in_channel = ?"
        "  ORDER BY received_time DESC LIMIT ?)"
        " ORDER BY received_time DESC LIMIT ?", (scid, limit, scid, limit, limit))
    return [Forward(*r) for r in cur.fetchall()]


# -- underwater spells ------------------------------------------------------------------

def underwater_spells() -> dict[str, float]:
    cur = db.execute_sql("SELECT scid, underwater_since FROM flow_channel"
                         " WHERE underwater_since IS NOT NULL")
    return {scid: float(since) for scid, since in cur.fetchall()}


def set_underwater(changes: Mapping[str, float | None], now: float) -> None:
    db.cursor().executemany(
        "INSERT INTO flow_channel (scid, underwater_since, updated_at) VALUES (?, ?, ?)"
        " ON CONFLICT (scid) DO UPDATE SET underwater_since = excluded.underwater_since,"
        " updated_at = excluded.updated_at",
        [(scid, since, now) for scid, since in changes.items()])


# -- channel costs -------------------------------------------------------------------------

def record_cost(ts: float, scid: str, kind: str, amount_msat: int, reference: str) -> bool:
    """True when recorded; False when ``reference`` was already there."""
    cur = db.execute_sql(
        "INSERT INTO channel_cost (ts, scid, kind, amount_msat, reference) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT (reference) DO NOTHING", (ts, scid, kind, amount_msat, reference))
    return cur.rowcount == 1


def costs_by_channel(since: float | None = None) -> dict[str, Costs]:
    where, args = ("WHERE ts >= ?", (since,)) if since is not None else ("", ())
    cur = db.execute_sql(f"SELECT scid, kind, SUM(amount_msat) FROM channel_cost {where}"
                         " GROUP BY scid, kind", args)
    by: dict[str, dict[str, int]] = {}
    for scid, kind, total in cur.fetchall():
        by.setdefault(scid, {})[kind] = int(total or 0)
    return {scid: Costs.from_kinds(kinds) for scid, kinds in by.items()}


def cost_totals(since: float | None = None) -> Costs:
    where, args = ("WHERE ts >= ?", (since,)) if since is not None else ("", ())
    cur = db.execute_sql(f"SELECT kind, SUM(amount_msat) FROM channel_cost {where} GROUP BY kind",
                         args)
    return Costs.from_kinds({k: int(v or 0) for k, v in cur.fetchall() if k in COST_KINDS})


def costs_list(since: float, scid: str | None = None, limit: int = 100) -> list[tuple]:
    q = "SELECT ts, scid, kind, amount_msat, reference FROM channel_cost WHERE ts >= ?"
    args: tuple = (since,)
    if scid is not None:
        q += " AND scid = ?"
        args += (scid,)
    return db.execute_sql(q + " ORDER BY ts DESC, id DESC LIMIT ?", (*args, limit)).fetchall()


# -- snapshots --------------------------------------------------------------------------------

_SNAPSHOT_COLS = ("ts", "trigger", "local_balance_msat", "onchain_msat", "capacity_msat",
                  "channels", "revenue_msat", "costs_msat", "complete")


def add_snapshot(s: Snapshot) -> None:
    db.execute_sql(f"INSERT INTO flow_snapshot ({', '.join(_SNAPSHOT_COLS)})"
                   f" VALUES ({', '.join('?' * len(_SNAPSHOT_COLS))})",
                   (s.ts, s.trigger, s.local_balance_msat, s.onchain_msat, s.capacity_msat,
                    s.channels, s.revenue_msat, s.costs_msat, int(s.complete)))


def _snapshot(row: Sequence) -> Snapshot:
    ts, trigger, local, onchain, cap, chans, rev, costs, complete = row
    return Snapshot(float(ts), trigger, int(local), int(onchain), int(cap), int(chans), int(rev),
                    int(costs), bool(complete))


def snapshots(since: float, limit: int = 10_000) -> list[Snapshot]:
    cur = db.execute_sql(f"SELECT {', '.join(_SNAPSHOT_COLS)} FROM flow_snapshot WHERE ts >= ?"
                         " ORDER BY ts, id LIMIT ?", (since, limit))
    return [_snapshot(r) for r in cur.fetchall()]


def last_snapshot() -> Snapshot | None:
    row = db.execute_sql(f"SELECT {', '.join(_SNAPSHOT_COLS)} FROM flow_snapshot"
                         " ORDER BY ts DESC, id DESC LIMIT 1").fetchone()
    return None if row is None else _snapshot(row)
