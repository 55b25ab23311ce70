"""Test doubles at the I/O seam: a lightningd transport answering from a
dict of handlers, and a pyln-request stand-in that records the answer."""

from __future__ import annotations

import threading
from typing import Any, Callable

from pyln.client import RpcError

from revops.sim.schemas import has_schema, validate_response


class FakeTransport:
    """What RpcActor needs of pyln's LightningRpc: ``call``. Handlers get the
    params and return the result, or raise ``RpcError``."""

    def __init__(self, handlers: dict[str, Callable[[Any], Any]], validate: bool = True) -> None:
        self.handlers = handlers
        # Answers are checked against CLN's schemas, as the sim's are: a fake
        # lightningd may leave fields out only where lightningd may.
        self.validate = validate
        self.calls: list[tuple[str, Any]] = []

    def call(self, method: str, payload: Any = None, cmdprefix: Any = None,
             filter: Any = None) -> Any:
        self.calls.append((method, payload))
        handler = self.handlers.get(method)
        if handler is None:
            raise RpcError(method, payload, {"code": -32601,
                                             "message": f"Unknown command '{method}'"})
        result = handler(payload)
        if self.validate and has_schema(method):
            validate_response(method, result)
        return result


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
        "peer_id": peer, "peer_connected": True, "short_channel_id": scid, "direction": 0,
        "features": ["option_static_remotekey", "option_anchors"],
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


US = "02" + "ee" * 32


def getinfo(blockheight: int = 200, node_id: str = US) -> dict[str, Any]:
    """A complete ``getinfo`` answer (every field its schema requires)."""
    return {"id": node_id, "alias": "REVOPSTEST", "color": node_id[2:8], "num_peers": 0,
            "num_pending_channels": 0, "num_active_channels": 0, "num_inactive_channels": 0,
            "address": [], "version": "v26.06", "blockheight": blockheight,
            "network": "regtest", "fees_collected_msat": 0,
            "lightning-dir": "/tmp/revops-test/regtest"}


def utxo(n: int, amount_msat: int, status: str = "confirmed") -> dict[str, Any]:
    """One ``listfunds`` output."""
    out: dict[str, Any] = {"txid": f"{n:064x}", "output": 0, "amount_msat": amount_msat,
                           "scriptpubkey": "5120" + "ab" * 32, "status": status,
                           "reserved": False}
    if status == "confirmed":
        out["blockheight"] = 100
    return out


def feerates_perkb(opening: int, floor: int = 1012) -> dict[str, Any]:
    """A ``feerates perkb`` answer whose opening rate is ``opening``."""
    return {"perkb": {"opening": opening, "mutual_close": opening // 2,
                      "unilateral_close": opening, "penalty": opening,
                      "min_acceptable": floor, "max_acceptable": opening * 20, "floor": floor,
                      "estimates": [{"blockcount": 2, "feerate": opening * 2,
                                     "smoothed_feerate": opening * 2},
                                    {"blockcount": 12, "feerate": opening,
                                     "smoothed_feerate": opening}]}}


def sendpay(payment_hash: str, status: str, amount_msat: int, amount_sent_msat: int,
            created_at: int = 1_767_225_600, n: int = 1) -> dict[str, Any]:
    """One ``listsendpays`` entry (a complete one carries its preimage)."""
    out: dict[str, Any] = {"id": n, "created_index": n, "payment_hash": payment_hash,
                           "groupid": 1, "status": status, "created_at": created_at,
                           "amount_msat": amount_msat, "amount_sent_msat": amount_sent_msat,
                           "destination": US}
    if status == "complete":
        out["payment_preimage"] = "11" * 32
        out["completed_at"] = created_at + 5
    return out
