"""Fixtures for the flow tests: a StoreActor on a file database, hand-made
forwards as lightningd lists them, and no actor left behind."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pykka
import pytest

from actors.store import StoreActor
from revops.clock import DrivenClock

# 2026-01-01T00:00:00Z: a UTC midnight.
T0 = 1_767_225_600.0
DAY = 86_400.0
D0 = int(T0 // DAY)
HOUR = 3600.0


@pytest.fixture(autouse=True)
def _stop_all_actors() -> Iterator[None]:
    yield
    pykka.ActorRegistry.stop_all(timeout=10)


@pytest.fixture
def store(tmp_path) -> Iterator[Any]:
    ref = StoreActor.start(tmp_path / "revops.sqlite3", DrivenClock(T0))
    yield ref.proxy()
    if ref.is_alive():
        ref.stop()


def fwd(created: int, in_ch: str, out_ch: str | None, status: str, in_msat: int,
        out_msat: int | None = None, received: float = T0, updated: int | None = None,
        failcode: int | None = None) -> dict[str, Any]:
    """A listforwards entry shaped as lightningd writes it."""
    e: dict[str, Any] = {"created_index": created}
    if updated is not None:
        e["updated_index"] = updated
    e.update({"in_channel": in_ch, "in_htlc_id": created})
    if out_ch is not None:
        e["out_channel"] = out_ch
    e["in_msat"] = in_msat
    if out_msat is not None:
        e["out_msat"] = out_msat
        e["fee_msat"] = in_msat - out_msat
    e["status"] = status
    if failcode is not None:
        e["failcode"] = failcode
    e["style"] = "tlv"
    e["received_time"] = received
    if status in ("settled", "failed"):
        e["resolved_time"] = received + 2.0
    return e
