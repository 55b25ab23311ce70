"""A fake lightningd for the flow tests: forwards listed with CLN's
pagination semantics (``index=created``/``updated``, ``start``, ``limit``),
``wait`` on the forwards indexes, channels, funds; faults on demand."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pyln.client import RpcError

from tests.actors.fakes import FakeTransport, channel, getinfo, peer, utxo
from tests.flow.conftest import T0


class FakeNode:
    def __init__(self, channels: int = 3) -> None:
        self.rows: list[dict[str, Any]] = []  # row r has created_index r + 1
        self.upd_log: list[int] = []  # updated_index u -> row
        self.channels = [channel(f"{100 + i}x1x0", peer(i + 1), local_msat=400_000_000,
                                 capacity_msat=1_000_000_000) for i in range(channels)]
        self.outputs = [utxo(1, 2_000_000_000)]
        self.blockheight = 100 + 144 * 100
        # method -> callable(params) returning True when this call must fail
        self.faults: dict[str, Callable[[Any], bool]] = {}
        self.has_wait = True
        self.transport = FakeTransport({
            "listforwards": self._guard("listforwards", self.listforwards),
            "wait": self._guard("wait", self.wait),
            "listpeerchannels": self._guard("listpeerchannels",
                                            lambda p: {"channels": list(self.channels)}),
            "listfunds": self._guard("listfunds", lambda p: {"outputs": list(self.outputs),
                                                            "channels": []}),
            "getinfo": lambda p: getinfo(self.blockheight),
        })

    @property
    def scids(self) -> list[str]:
        return [c["short_channel_id"] for c in self.channels]

    def _guard(self, method: str, fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
        def call(params: Any) -> Any:
            if method == "wait" and not self.has_wait:
                raise RpcError(method, params, {"code": -32601,
                                                "message": "Unknown command 'wait'"})
            fault = self.faults.get(method)
            if fault is not None and fault(params):
                raise RpcError(method, params, {"code": -1, "message": "injected fault"})
            return fn(params)
        return call

    # -- the node's history ------------------------------------------------------------

    def add(self, in_ch: str, out_ch: str | None, status: str, in_msat: int,
            out_msat: int | None = None, received: float = T0,
            failcode: int | None = None) -> int:
        """A new forward (created as offered; resolved ones get an update)."""
        created = len(self.rows) + 1
        e: dict[str, Any] = {"created_index": created, "in_channel": in_ch, "in_htlc_id": created}
        if out_ch is not None:
            e["out_channel"] = out_ch
        e["in_msat"] = in_msat
        if out_msat is not None:
            e["out_msat"] = out_msat
            e["fee_msat"] = in_msat - out_msat
        e["status"] = "offered" if status in ("settled", "failed") else status
        if failcode is not None:
            e["failcode"] = failcode
        e["style"] = "tlv"
        e["received_time"] = received
        self.rows.append(e)
        if status in ("settled", "failed"):
            self.resolve(created, status, received + 1.0)
        return created

    def resolve(self, created: int, status: str, when: float) -> None:
        e = self.rows[created - 1]
        self.upd_log.append(created - 1)
        e["updated_index"] = len(self.upd_log)
        e["status"] = status
        e["resolved_time"] = when

    # -- RPC ---------------------------------------------------------------------------------

    def listforwards(self, p: Any) -> dict[str, Any]:
        p = p or {}
        index, start, limit = p.get("index"), int(p.get("start") or 0), p.get("limit")
        cap = limit if limit is not None else len(self.rows) + 1
        out: list[dict[str, Any]] = []
        if index == "updated":
            for pos in range(max(start, 1) - 1, len(self.upd_log)):
                row = self.upd_log[pos]
                if self.rows[row].get("updated_index") != pos + 1:
                    continue  # superseded by a later update
                out.append(dict(self.rows[row]))
                if len(out) >= cap:
                    break
        else:
            out = [dict(r) for r in self.rows[max(start, 1) - 1:max(start, 1) - 1 + cap]]
        return {"forwards": out}

    def wait(self, p: Any) -> dict[str, Any]:
        name = p["indexname"]
        value = len(self.rows) if name == "created" else len(self.upd_log)
        assert value >= p["nextvalue"]
        return {"subsystem": "forwards", name: value}

    def fee_by_out(self, since: float = 0.0) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.rows:
            if r["status"] == "settled" and r["received_time"] >= since:
                out[r["out_channel"]] = out.get(r["out_channel"], 0) + r["fee_msat"]
        return out
