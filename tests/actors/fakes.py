"""Test doubles at the I/O seam: a lightningd transport answering from a
dict of handlers, and a pyln-request stand-in that records the answer."""

from __future__ import annotations

import threading
from typing import Any, Callable

from pyln.client import RpcError


class FakeTransport:
    """What RpcActor needs of pyln's LightningRpc: ``call``. Handlers get the
    params and return the result, or raise ``RpcError``."""

    def __init__(self, handlers: dict[str, Callable[[Any], Any]]) -> None:
        self.handlers = handlers
        self.calls: list[tuple[str, Any]] = []

    def call(self, method: str, payload: Any = None, cmdprefix: Any = None,
             filter: Any = None) -> Any:
        self.calls.append((method, payload))
        handler = self.handlers.get(method)
        if handler is None:
            raise RpcError(method, payload, {"code": -32601,
                                             "message": f"Unknown command '{method}'"})
        return handler(payload)


class FakeRequest:
    """Stands in for pyln's Request: the actor answers it exactly once."""

    def __init__(self, method: str = "test") -> None:
        self.method = method
        self.result: Any = None
        self.error: Any = None
        self._done = threading.Event()
        self.answers = 0

    def set_result(self, result: Any) -> None:
        self.answers += 1
        self.result = result
        self._done.set()

    def set_exception(self, exc: Any) -> None:
        self.answers += 1
        self.error = exc
        self._done.set()

    def wait(self, timeout: float = 30) -> Any:
        assert self._done.wait(timeout), f"{self.method}: no answer within {timeout}s"
        if self.error is not None:
            raise self.error
        return self.result


def channel(scid: str, peer: str, local_msat: int = 500_000_000,
            capacity_msat: int = 1_000_000_000, state: str = "CHANNELD_NORMAL",
            fee_ppm: int = 10) -> dict[str, Any]:
    """A listpeerchannels entry with the fields revops reads."""
    return {
        "peer_id": peer, "peer_connected": True, "short_channel_id": scid,
        "channel_id": "ab" * 32, "state": state, "opener": "local", "private": False,
        "total_msat": capacity_msat, "to_us_msat": local_msat,
        "spendable_msat": max(0, local_msat - capacity_msat // 100),
        "receivable_msat": max(0, capacity_msat - local_msat - capacity_msat // 100),
        "our_reserve_msat": capacity_msat // 100, "max_accepted_htlcs": 483,
        "fee_base_msat": 1000, "fee_proportional_millionths": fee_ppm,
        "htlcs": [], "funding": {"local_funds_msat": capacity_msat, "remote_funds_msat": 0},
        "out_payments_fulfilled": 0, "out_fulfilled_msat": 0,
    }


def peer(n: int) -> str:
    return "02" + f"{n:064x}"
