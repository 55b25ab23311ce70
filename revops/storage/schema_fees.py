"""The fee engine's tables (schema v3): fee history with reasons, per-peer
policies, ignored peers, and on-chain fee-rate readings."""

from __future__ import annotations

from peewee import AutoField, FloatField, IntegerField, SqliteDatabase, TextField
from playhouse.migrate import SqliteMigrator

from revops.storage.base import BaseModel


def v3_fees(db: SqliteDatabase, migrator: SqliteMigrator) -> None:
    """Fee history, peer policies, ignored peers, mempool readings."""
    db.execute_sql(
        "CREATE TABLE fee_history ("
        " id INTEGER NOT NULL PRIMARY KEY,"
        " ts REAL NOT NULL,"
        " scid TEXT NOT NULL,"
        " old_fee_ppm INTEGER,"
        " new_fee_ppm INTEGER NOT NULL CHECK (typeof(new_fee_ppm) = 'integer'),"
        " base_msat INTEGER NOT NULL CHECK (typeof(base_msat) = 'integer'),"
        " mode TEXT NOT NULL,"
        " reason TEXT NOT NULL,"
        " outcome TEXT NOT NULL"
        "  CHECK (outcome IN ('broadcast', 'failed', 'dry_run')))"
    )
    db.execute_sql("CREATE INDEX fee_history_scid_ts ON fee_history (scid, ts)")
    db.execute_sql("CREATE INDEX fee_history_ts ON fee_history (ts)")
    db.execute_sql(
        "CREATE TABLE peer_policy ("
        " peer_id TEXT NOT NULL PRIMARY KEY,"
        " mode TEXT NOT NULL CHECK (mode IN ('dynamic', 'static', 'passive', 'hive')),"
        " fee_ppm INTEGER,"
        " base_msat INTEGER,"
        " updated_at REAL NOT NULL)"
    )
    db.execute_sql(
        "CREATE TABLE ignored_peer ("
        " peer_id TEXT NOT NULL PRIMARY KEY,"
        " reason TEXT NOT NULL DEFAULT '',"
        " ignored_at REAL NOT NULL)"
    )
    db.execute_sql(
        "CREATE TABLE mempool_sample ("
        " ts REAL NOT NULL PRIMARY KEY,"
        " rate_perkb INTEGER NOT NULL CHECK (typeof(rate_perkb) = 'integer'))"
    )


class FeeHistory(BaseModel):
    id = AutoField()
    ts = FloatField()
    scid = TextField()
    old_fee_ppm = IntegerField(null=True)
    new_fee_ppm = IntegerField()
    base_msat = IntegerField()
    mode = TextField()
    reason = TextField()
    outcome = TextField()


class PeerPolicy(BaseModel):
    peer_id = TextField(primary_key=True)
    mode = TextField()
    fee_ppm = IntegerField(null=True)
    base_msat = IntegerField(null=True)
    updated_at = FloatField()


class IgnoredPeer(BaseModel):
    peer_id = TextField(primary_key=True)
    reason = TextField(default="")
    ignored_at = FloatField()


class MempoolSample(BaseModel):
    ts = FloatField(primary_key=True)
    rate_perkb = IntegerField()


MODELS: tuple[type[BaseModel], ...] = (FeeHistory, PeerPolicy, IgnoredPeer, MempoolSample)
