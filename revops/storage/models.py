"""peewee models of the current schema, for the StoreActor's queries.

The models describe the schema as the *latest* migration leaves it; they
never create tables (migrations do, from their own frozen DDL), and a test
checks that the two agree. Nothing outside ``revops.storage`` and the
StoreActor uses them: queries hand out frozen dataclasses, never models.

``db`` is deferred and never connects by itself (``autoconnect=False``):
peewee keeps one connection per thread, and the one thread that opens it is
the StoreActor's (``open_database(path, db)`` in its ``on_start``). Any other
thread touching a model gets an error instead of a second connection.
"""

from __future__ import annotations

from peewee import AutoField, FloatField, IntegerField, TextField

from revops.storage.base import BaseModel, db  # noqa: F401  (re-exported)


class SchemaVersion(BaseModel):
    """One row per applied migration; the schema version is the highest."""

    version = IntegerField(primary_key=True)
    applied_at = FloatField()


class ConfigOverride(BaseModel):
    """A runtime ``revenue-config set``: the option's canonical string form."""

    key = TextField(primary_key=True)
    value = TextField()
    updated_at = FloatField()
    source = TextField(default="rpc")


class ChannelState(BaseModel):
    """A ChannelActor's persisted state, as JSON text of a versioned dict."""

    scid = TextField(primary_key=True)
    peer_id = TextField()
    state = TextField()
    updated_at = FloatField()


class ActorEvent(BaseModel):
    """Supervision history: an actor started, crashed, restarted, escalated."""

    id = AutoField()
    ts = FloatField()
    actor = TextField()
    kind = TextField()
    detail = TextField(default="")


BACKBONE_MODELS: tuple[type[BaseModel], ...] = (SchemaVersion, ConfigOverride, ChannelState,
                                                ActorEvent)

# Each feature keeps its tables' models and migration beside each other.
from revops.storage import (  # noqa: E402
    schema_fees,
    schema_flow,
    schema_identity,
    schema_rebalance,
)

MODELS: tuple[type[BaseModel], ...] = (BACKBONE_MODELS + schema_fees.MODELS + schema_flow.MODELS
                                       + schema_rebalance.MODELS + schema_identity.MODELS)
