"""Forwards as lightningd lists them, normalised into the rows revops
stores (pure: JSON in, tuples and frozen dataclasses out).

``listforwards`` entries are tolerated as real nodes write them: no
``out_channel`` on a forward that failed before an outgoing channel was
chosen, no ``out_msat``/``fee_msat``/``resolved_time`` on a
``local_failed`` one, ``null`` where a field is absent, amounts as msat
integers (or ``"123msat"`` strings from nodes older than v23.05), and
channels that have closed since. A missing timestamp reads as 0, never a
crash. Statuses are kept as lightningd's wallet numbers.

The hot path (hydrating a million forwards) works on plain tuples in
:data:`ROW_FIELDS` order: one tuple per forward, no object per row.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# Statuses in lightningd's wallet numbering (wallet/wallet.h forward_status).
OFFERED, SETTLED, FAILED, LOCAL_FAILED = 0, 1, 2, 3
STATUS_CODES: Mapping[str, int] = {"offered": OFFERED, "settled": SETTLED,
                                   "failed": FAILED, "local_failed": LOCAL_FAILED}
STATUS_NAMES: Mapping[int, str] = {v: k for k, v in STATUS_CODES.items()}
# Statuses a forward ends in (``offered`` is an HTLC still in flight).
FINAL_STATUSES = ("settled", "failed", "local_failed")

# BOLT 4 UPDATE|7: the outgoing channel had no liquidity or no free HTLC
# slot (lightningd's answer when it cannot add the outgoing HTLC). A
# local_failed forward with it is demand this channel lost.
WIRE_TEMPORARY_CHANNEL_FAILURE = 0x1007
_TEMPORARY_FAILURE_NAME = "WIRE_TEMPORARY_CHANNEL_FAILURE"

# Column order of a stored forward row.
ROW_FIELDS = ("created_index", "updated_index", "in_channel", "out_channel", "in_msat",
              "out_msat", "fee_msat", "status", "failcode", "received_time", "resolved_time")

Row = tuple[int, "int | None", str, "str | None", int, "int | None", "int | None", int,
            "int | None", float, "float | None"]


@dataclass(frozen=True)
class Forward:
    """One forward, normalised (the readable form of a stored row)."""

    created_index: int
    updated_index: int | None
    in_channel: str
    out_channel: str | None
    in_msat: int
    out_msat: int | None
    fee_msat: int | None
    status: int
    failcode: int | None
    received_time: float
    resolved_time: float | None

    @property
    def status_name(self) -> str:
        return STATUS_NAMES.get(self.status, "unknown")

    @property
    def liquidity_failure(self) -> bool:
        return is_liquidity_failure(self.status, self.failcode)

    def as_row(self) -> Row:
        return (self.created_index, self.updated_index, self.in_channel, self.out_channel,
                self.in_msat, self.out_msat, self.fee_msat, self.status, self.failcode,
                self.received_time, self.resolved_time)

    @classmethod
    def from_row(cls, row: Iterable[Any]) -> Forward:
        return cls(*row)


def is_liquidity_failure(status: int, failcode: int | None) -> bool:
    """A local failure for lack of outbound liquidity or HTLC slots."""
    return status == LOCAL_FAILED and failcode == WIRE_TEMPORARY_CHANNEL_FAILURE


def msat(value: Any) -> int | None:
    """An msat amount as an int: ints as they are, ``"123msat"`` strings
    from old nodes, None for null or absent. Never a float."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.removesuffix("msat")
        return int(text) if text.isdigit() else None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _seconds(value: Any) -> float | None:
    """A timestamp as a finite, non-negative float, else None."""
    if value is None or isinstance(value, bool):
        return None
    try:
        t = float(value)
    except (TypeError, ValueError):
        return None
    return t if math.isfinite(t) and t >= 0 else None


def to_row(entry: Mapping[str, Any]) -> Row | None:
    """One ``listforwards`` entry (or ``forward_event`` payload carrying a
    ``created_index``) as a stored row; None when it has no created index
    or no incoming channel (nothing to key or attribute it by)."""
    get = entry.get
    created = get("created_index")
    in_channel = get("in_channel")
    if type(created) is not int or created < 1 or not in_channel:
        return None
    updated = get("updated_index")
    if type(updated) is not int:
        updated = None
    # Fast paths first: a million of these run during hydration.
    in_msat = get("in_msat")
    if type(in_msat) is not int:
        in_msat = msat(in_msat) or 0
    out_msat = get("out_msat")
    if out_msat is not None and type(out_msat) is not int:
        out_msat = msat(out_msat)
    fee = get("fee_msat")
    if fee is not None and type(fee) is not int:
        fee = msat(fee)
    if fee is None and out_msat is not None and in_msat >= out_msat:
        fee = in_msat - out_msat
    status = STATUS_CODES.get(get("status"), OFFERED)
    failcode = get("failcode")
    if type(failcode) is not int:
        failcode = (WIRE_TEMPORARY_CHANNEL_FAILURE
                    if get("failreason") == _TEMPORARY_FAILURE_NAME else None)
    received = get("received_time")
    # x - x is 0.0 only for a finite float: NaN and infinities go the slow way.
    if type(received) is not float or received - received != 0.0 or received < 0.0:
        received = _seconds(received) or 0.0
    resolved = get("resolved_time")
    if resolved is not None and (type(resolved) is not float or resolved - resolved != 0.0
                                 or resolved < 0.0):
        resolved = _seconds(resolved)
    return (created, updated, in_channel, get("out_channel") or None, in_msat, out_msat, fee,
            status, failcode, received, resolved)


def to_rows(entries: Iterable[Mapping[str, Any]]) -> list[Row]:
    """Every usable entry of a page, in page order."""
    rows = []
    for entry in entries:
        row = to_row(entry)
        if row is not None:
            rows.append(row)
    return rows


def parse_forward(entry: Mapping[str, Any]) -> Forward | None:
    row = to_row(entry)
    return None if row is None else Forward(*row)
