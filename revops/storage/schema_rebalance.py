"""The rebalance feature's tables (schema v5): jobs and their state machine,
budget reservations, the futility breaker's memory.

A job's life (``rebalance_job.state``)::

    reserved --> sending --> pending --> succeeded
        |           |           |
        +-----------+-----------+-----> failed

``reserved``: its budget reservation is held (route being found, invoice
being made); ``sending``: written *before* ``sendpay`` (or ``sling-job``) is
called, so a crash mid-payment leaves a record to reconcile; ``pending``:
lightningd has the payment; ``succeeded``/``failed``: final, written in
the same transaction that settles or releases the reservation. The realized
revenue columns are filled once their window has closed.
"""

from __future__ import annotations

from peewee import AutoField, FloatField, IntegerField, SqliteDatabase, TextField
from playhouse.migrate import SqliteMigrator

from revops.storage.base import BaseModel

JOB_STATES = ("reserved", "sending", "pending", "succeeded", "failed")
OPEN_STATES = ("reserved", "sending", "pending")
RESERVATION_STATES = ("held", "settled", "released")


def v5_rebalance(db: SqliteDatabase, migrator: SqliteMigrator) -> None:
    """Rebalance jobs, budget reservations, breaker memory."""
    db.execute_sql(
        "CREATE TABLE rebalance_job ("
        " id INTEGER NOT NULL PRIMARY KEY,"
        " created_at REAL NOT NULL,"
        " updated_at REAL NOT NULL,"
        " mode TEXT NOT NULL CHECK (mode IN ('native', 'sling')),"
        " origin TEXT NOT NULL CHECK (origin IN ('auto', 'manual')),"
        " state TEXT NOT NULL"
        "  CHECK (state IN ('reserved', 'sending', 'pending', 'succeeded', 'failed')),"
        " source_scid TEXT NOT NULL,"
        " dest_scid TEXT NOT NULL,"
        " amount_msat INTEGER NOT NULL CHECK (typeof(amount_msat) = 'integer' AND amount_msat > 0),"
        " max_fee_msat INTEGER NOT NULL CHECK (typeof(max_fee_msat) = 'integer'),"
        " route_fee_msat INTEGER,"
        " fee_msat INTEGER,"
        " moved_msat INTEGER,"
        " payment_hash TEXT UNIQUE,"
        " label TEXT,"
        " route TEXT,"
        " dest_fee_ppm INTEGER NOT NULL,"
        " expected_revenue_msat INTEGER NOT NULL,"
        " predicted_ev_msat INTEGER NOT NULL,"
        " cursor INTEGER,"
        " reason TEXT NOT NULL DEFAULT '',"
        " completed_at REAL,"
        " realized_7d_msat INTEGER,"
        " realized_30d_msat INTEGER)"
    )
    db.execute_sql("CREATE INDEX rebalance_job_state ON rebalance_job (state)")
    db.execute_sql("CREATE INDEX rebalance_job_dest_completed ON rebalance_job (dest_scid, completed_at)")
    db.execute_sql("CREATE INDEX rebalance_job_completed ON rebalance_job (completed_at)")
    db.execute_sql(
        "CREATE TABLE rebalance_reservation ("
        " job_id INTEGER NOT NULL PRIMARY KEY REFERENCES rebalance_job (id),"
        " reserved_at REAL NOT NULL,"
        " amount_msat INTEGER NOT NULL CHECK (typeof(amount_msat) = 'integer' AND amount_msat >= 0),"
        " state TEXT NOT NULL CHECK (state IN ('held', 'settled', 'released')),"
        " spent_msat INTEGER NOT NULL DEFAULT 0"
        "  CHECK (typeof(spent_msat) = 'integer' AND spent_msat >= 0),"
        " closed_at REAL)"
    )
    db.execute_sql("CREATE INDEX rebalance_reservation_state ON rebalance_reservation (state, closed_at)")
    db.execute_sql(
        "CREATE TABLE rebalance_breaker ("
        " scid TEXT NOT NULL PRIMARY KEY CHECK (scid <> ''),"
        " failures INTEGER NOT NULL,"
        " open_until REAL,"
        " updated_at REAL NOT NULL)"
    )


class RebalanceJob(BaseModel):
    id = AutoField()
    created_at = FloatField()
    updated_at = FloatField()
    mode = TextField()
    origin = TextField()
    state = TextField()
    source_scid = TextField()
    dest_scid = TextField()
    amount_msat = IntegerField()
    max_fee_msat = IntegerField()
    route_fee_msat = IntegerField(null=True)
    fee_msat = IntegerField(null=True)
    moved_msat = IntegerField(null=True)
    payment_hash = TextField(null=True, unique=True)
    label = TextField(null=True)
    route = TextField(null=True)  # the sendpay route, JSON
    dest_fee_ppm = IntegerField()
    expected_revenue_msat = IntegerField()
    predicted_ev_msat = IntegerField()
    cursor = IntegerField(null=True)
    reason = TextField(default="")
    completed_at = FloatField(null=True)
    realized_7d_msat = IntegerField(null=True)
    realized_30d_msat = IntegerField(null=True)


class RebalanceReservation(BaseModel):
    job_id = IntegerField(primary_key=True)
    reserved_at = FloatField()
    amount_msat = IntegerField()
    state = TextField()
    spent_msat = IntegerField(default=0)
    closed_at = FloatField(null=True)


class RebalanceBreaker(BaseModel):
    scid = TextField(primary_key=True)
    failures = IntegerField()
    open_until = FloatField(null=True)
    updated_at = FloatField()


MODELS: tuple[type[BaseModel], ...] = (RebalanceJob, RebalanceReservation, RebalanceBreaker)
