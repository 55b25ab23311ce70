"""The flow feature's tables (schema v4): the local copy of forwards, daily
per-channel buckets, the sync cursor, per-channel P&L state, the ledger of
channel costs, and daily financial snapshots."""

from __future__ import annotations

from peewee import AutoField, FloatField, IntegerField, SqliteDatabase, TextField
from playhouse.migrate import SqliteMigrator

from revops.storage.base import BaseModel

_COUNTERS = ("in_volume_msat", "settled_in", "failed_in", "local_failed_in",
             "out_volume_msat", "fees_msat", "settled_out", "failed_out", "local_failed_out",
             "liquidity_failed_out")


def v4_flow(db: SqliteDatabase, migrator: SqliteMigrator) -> None:
    """Forwards (keyed by lightningd's created_index), daily per-channel
    buckets, the forwards sync cursor, per-channel underwater spells, the
    channel cost ledger (one row per reference), financial snapshots."""
    # created_index is the rowid: lookups and upserts by it cost nothing extra.
    db.execute_sql(
        "CREATE TABLE forward ("
        " created_index INTEGER NOT NULL PRIMARY KEY,"
        " updated_index INTEGER,"
        " in_channel TEXT NOT NULL,"
        " out_channel TEXT,"
        " in_msat INTEGER NOT NULL,"
        " out_msat INTEGER,"
        " fee_msat INTEGER,"
        " status INTEGER NOT NULL,"
        " failcode INTEGER,"
        " received_time REAL NOT NULL,"
        " resolved_time REAL)"
    )
    # Day ranges (bucket rebuilds, retention), and one channel's forwards
    # on either side in time order (revenue-flow <channel>).
    db.execute_sql("CREATE INDEX forward_received ON forward (received_time)")
    db.execute_sql("CREATE INDEX forward_out_received ON forward (out_channel, received_time)")
    db.execute_sql("CREATE INDEX forward_in_received ON forward (in_channel, received_time)")
    counters = ",".join(f" {c} INTEGER NOT NULL DEFAULT 0" for c in _COUNTERS)
    db.execute_sql(f"CREATE TABLE flow_daily ( day INTEGER NOT NULL, scid TEXT NOT NULL,{counters})")
    # Windows read every channel over the last days; a channel's history by scid.
    db.execute_sql("CREATE UNIQUE INDEX flow_daily_day_scid ON flow_daily (day, scid)")
    db.execute_sql("CREATE INDEX flow_daily_scid_day ON flow_daily (scid, day)")
    db.execute_sql(
        "CREATE TABLE flow_cursor ("
        " name TEXT NOT NULL PRIMARY KEY,"
        " value INTEGER NOT NULL CHECK (typeof(value) = 'integer'))"
    )
    db.execute_sql(
        "CREATE TABLE flow_channel ("
        " scid TEXT NOT NULL PRIMARY KEY,"
        " underwater_since REAL,"
        " updated_at REAL NOT NULL)"
    )
    db.execute_sql(
        "CREATE TABLE channel_cost ("
        " id INTEGER NOT NULL PRIMARY KEY,"
        " ts REAL NOT NULL,"
        " scid TEXT NOT NULL,"
        " kind TEXT NOT NULL CHECK (kind IN ('rebalance', 'open', 'close', 'other')),"
        " amount_msat INTEGER NOT NULL"
        "  CHECK (typeof(amount_msat) = 'integer' AND amount_msat >= 0),"
        " reference TEXT NOT NULL UNIQUE CHECK (reference <> ''))"
    )
    db.execute_sql("CREATE INDEX channel_cost_scid_ts ON channel_cost (scid, ts)")
    db.execute_sql("CREATE INDEX channel_cost_ts ON channel_cost (ts)")
    db.execute_sql(
        "CREATE TABLE flow_snapshot ("
        " id INTEGER NOT NULL PRIMARY KEY,"
        " ts REAL NOT NULL,"
        " trigger TEXT NOT NULL CHECK (trigger IN ('daily', 'manual')),"
        " local_balance_msat INTEGER NOT NULL CHECK (typeof(local_balance_msat) = 'integer'),"
        " onchain_msat INTEGER NOT NULL CHECK (typeof(onchain_msat) = 'integer'),"
        " capacity_msat INTEGER NOT NULL CHECK (typeof(capacity_msat) = 'integer'),"
        " channels INTEGER NOT NULL,"
        " revenue_msat INTEGER NOT NULL CHECK (typeof(revenue_msat) = 'integer'),"
        " costs_msat INTEGER NOT NULL CHECK (typeof(costs_msat) = 'integer'),"
        " complete INTEGER NOT NULL)"
    )
    db.execute_sql("CREATE INDEX flow_snapshot_ts ON flow_snapshot (ts)")


class Forward(BaseModel):
    created_index = IntegerField(primary_key=True)
    updated_index = IntegerField(null=True)
    in_channel = TextField()
    out_channel = TextField(null=True)
    in_msat = IntegerField()
    out_msat = IntegerField(null=True)
    fee_msat = IntegerField(null=True)
    status = IntegerField()
    failcode = IntegerField(null=True)
    received_time = FloatField()
    resolved_time = FloatField(null=True)


class FlowDaily(BaseModel):
    day = IntegerField()
    scid = TextField()
    in_volume_msat = IntegerField(default=0)
    settled_in = IntegerField(default=0)
    failed_in = IntegerField(default=0)
    local_failed_in = IntegerField(default=0)
    out_volume_msat = IntegerField(default=0)
    fees_msat = IntegerField(default=0)
    settled_out = IntegerField(default=0)
    failed_out = IntegerField(default=0)
    local_failed_out = IntegerField(default=0)
    liquidity_failed_out = IntegerField(default=0)

    class Meta:
        primary_key = False


class FlowCursor(BaseModel):
    name = TextField(primary_key=True)
    value = IntegerField()


class FlowChannel(BaseModel):
    scid = TextField(primary_key=True)
    underwater_since = FloatField(null=True)
    updated_at = FloatField()


class ChannelCost(BaseModel):
    id = AutoField()
    ts = FloatField()
    scid = TextField()
    kind = TextField()
    amount_msat = IntegerField()
    reference = TextField(unique=True)


class FlowSnapshot(BaseModel):
    id = AutoField()
    ts = FloatField()
    trigger = TextField()
    local_balance_msat = IntegerField()
    onchain_msat = IntegerField()
    capacity_msat = IntegerField()
    channels = IntegerField()
    revenue_msat = IntegerField()
    costs_msat = IntegerField()
    complete = IntegerField()


MODELS: tuple[type[BaseModel], ...] = (Forward, FlowDaily, FlowCursor, FlowChannel, ChannelCost,
                                       FlowSnapshot)
