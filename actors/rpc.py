"""The RpcActor: the one owner of the connection to lightningd.

pyln's ``LightningRpc`` opens a socket per call, has no timeout, is not safe
for concurrent calls, and its reader rescans the whole buffer on every
``recv`` (DESIGN.md section 7). So exactly one actor owns it, calls run one
at a time in that actor's thread, every call has a deadline
(``--revenue-ops-rpc-timeout``), and the reader is linear.

A failed call never kills the actor: it comes back as an :class:`RpcResult`
with ``ok=False`` and a ``kind`` saying what went wrong (``error`` from
lightningd, ``timeout``, ``unavailable`` when the socket refuses us, as it
does while lightningd shuts down). The asker decides what a failure means.
The actor never asks anyone; it only answers.
"""

from __future__ import annotations

import json
import logging
import socket
import time
from dataclasses import dataclass
from typing import Any, Callable, Protocol

import pykka
from pyln.client import LightningRpc, RpcError

from revops.metrics import Metrics

log = logging.getLogger("revops.rpc")


class RpcCallFailed(Exception):
    """Raised by :meth:`RpcResult.unwrap` for a failed call."""

    def __init__(self, result: "RpcResult") -> None:
        super().__init__(f"{result.method} failed ({result.kind}): {result.message}")
        self.result = result


@dataclass(frozen=True)
class RpcResult:
    """The outcome of one call: the JSON result, or why there is none."""

    method: str
    ok: bool
    result: Any = None
    kind: str = ""  # "" | "error" | "timeout" | "unavailable" | "protocol"
    code: int | None = None
    message: str = ""
    seconds: float = 0.0
    data: Any = None  # an error's ``data`` (e.g. where a payment failed)

    def unwrap(self) -> Any:
        if not self.ok:
            raise RpcCallFailed(self)
        return self.result


class RpcTransport(Protocol):
    """What the actor needs of a connection (pyln's ``call`` signature)."""

    def call(self, method: str, payload: Any = None, cmdprefix: Any = None,
             filter: Any = None) -> Any: ...


class TimedLightningRpc(LightningRpc):
    """pyln's ``LightningRpc`` with a per-call deadline and a reader that
    looks at each received byte once."""

    def __init__(self, socket_path: str, timeout: float) -> None:
        super().__init__(socket_path)
        self.timeout = timeout
        self._deadline = 0.0

    def _writeobj(self, sock: Any, obj: Any) -> None:
        # Every call starts with a write: the deadline covers the whole call.
        self._deadline = time.monotonic() + self.timeout
        sock.sock.settimeout(self.timeout)
        super()._writeobj(sock, obj)

    def _readobj(self, sock: Any, buff: bytes = b"") -> tuple[Any, bytes]:
        buf = bytearray(buff)
        scanned = 0
        while True:
            # Only look at what arrived since the last scan (keep one byte
            # of overlap for a separator split across two reads).
            idx = buf.find(b"\n\n", max(0, scanned - 1))
            if idx >= 0:
                return json.loads(bytes(buf[:idx])), bytes(buf[idx + 2:])
            scanned = len(buf)
            remaining = self._deadline - time.monotonic()
            if remaining <= 0:
                raise socket.timeout(f"no complete answer within {self.timeout:g} s")
            sock.sock.settimeout(remaining)
            chunk = sock.recv(1 << 16)
            if not chunk:
                return {"error": "Connection to RPC server lost."}, bytes(buf)
            buf += chunk


TransportFactory = Callable[[float], RpcTransport]


def lightning_rpc_factory(socket_path: str) -> TransportFactory:
    return lambda timeout: TimedLightningRpc(socket_path, timeout)


class RpcActor(pykka.ThreadingActor):
    """Answers ``call(method, params, filter)`` with an :class:`RpcResult`."""

    use_daemon_thread = True

    def __init__(self, transport_factory: TransportFactory, timeout: float,
                 metrics: Metrics) -> None:
        super().__init__()
        self._factory = transport_factory
        self._timeout = timeout
        self._metrics = metrics
        self._rpc: RpcTransport | None = None
        self.calls = 0

    def on_start(self) -> None:
        self._rpc = self._factory(self._timeout)

    def set_timeout(self, timeout: float) -> None:
        self._timeout = timeout
        if hasattr(self._rpc, "timeout"):
            self._rpc.timeout = timeout  # type: ignore[union-attr]

    def call(self, method: str, params: dict[str, Any] | list[Any] | None = None,
             filter: dict[str, Any] | None = None) -> RpcResult:
        assert self._rpc is not None
        self.calls += 1
        start = time.monotonic()
        try:
            result = self._rpc.call(method, params, filter=filter)
        except RpcError as e:
            err = e.error if isinstance(e.error, dict) else {"message": str(e.error)}
            kind = "unavailable" if "Connection to RPC server lost" in str(err) else "error"
            return self._failed(method, start, kind, err.get("code"), str(err.get("message")),
                                err.get("data"))
        except socket.timeout as e:
            return self._failed(method, start, "timeout", None, str(e) or "timed out")
        except OSError as e:
            return self._failed(method, start, "unavailable", None, f"{type(e).__name__}: {e}")
        except (ValueError, TypeError) as e:
            return self._failed(method, start, "protocol", None, str(e))
        seconds = time.monotonic() - start
        self._metrics.rpc_call_seconds.labels(method).observe(seconds)
        return RpcResult(method, True, result, seconds=seconds)

    def _failed(self, method: str, start: float, kind: str, code: int | None,
                message: str, data: Any = None) -> RpcResult:
        seconds = time.monotonic() - start
        self._metrics.rpc_call_seconds.labels(method).observe(seconds)
        self._metrics.rpc_errors.labels(method).inc()
        log.debug("rpc %s failed (%s): %s", method, kind, message)
        return RpcResult(method, False, kind=kind, code=code, message=message, seconds=seconds,
                         data=data)

    def stats(self) -> dict[str, Any]:
        return {"calls": self.calls, "timeout": self._timeout}
