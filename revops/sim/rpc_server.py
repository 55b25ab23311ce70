"""lightningd's JSON-RPC server: the Unix socket ``lightning-rpc``.

Transport only, as ``lightningd/jsonrpc.c`` does it: accept connections,
read a stream of JSON requests (pyln opens one connection per call and
sends no terminator; lightning-cli may enable notifications first), check
the envelope (``Expected {} for json command``, ``No id``, ``jsonrpc:
"2.0" must be specified in the request``, ``No method``, ``No params``,
``Expected string for method``), hand each request to the node, and write
each answer followed by ``\\n\\n``. Several requests on one connection run
concurrently; answers go out as they complete.

``stop_listening`` closes the socket to new connections (the first step of
a node stop) while the open connections keep working; ``close`` drops them.

The connection a request arrived on is in :data:`current_connection` while
its handler runs (``notifications`` needs it, as do plugin commands that
relay ``message``/``progress`` notifications).
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import socket
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from revops.sim.jsonrpc import JSONRPC2_INVALID_REQUEST, LIGHTNINGD
from revops.sim.jsonstream import JsonStream, JsonStreamError, encode
from revops.sim.nodelog import NodeLog

_UNIX_PATH_MAX = 107


@dataclass(frozen=True)
class Request:
    id: Any
    method: str
    params: Any
    filter: Any
    raw: dict[str, Any]


Dispatch = Callable[[Request], Awaitable[dict[str, Any]]]


def error_response(rid: Any, code: int, message: str, data: Any = None) -> dict[str, Any]:
    err: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        err["data"] = data
    return {"jsonrpc": "2.0", "id": rid, "error": err}


class Connection:
    """One client connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 dispatch: Dispatch, log: NodeLog, number: int) -> None:
        self.notifications_enabled = False
        self._reader = reader
        self._writer = writer
        self._dispatch = dispatch
        self._log = log
        self._source = f"jsonrpc#{number}"
        self._tasks: set[asyncio.Task[None]] = set()
        self._peer_pid: int | None = None

    def peer_pid(self) -> int | None:
        """The client's process id (Linux ``SO_PEERCRED``), or None: plugin
        time tells a plugin's own long-polling calls from others'."""
        if self._peer_pid is None and hasattr(socket, "SO_PEERCRED"):
            sock = self._writer.get_extra_info("socket")
            try:
                creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                        struct.calcsize("3i"))
                self._peer_pid = struct.unpack("3i", creds)[0] or None
            except (OSError, AttributeError):
                pass
        return self._peer_pid

    def send(self, message: dict[str, Any]) -> None:
        try:
            data = encode(message)
        except (TypeError, ValueError) as e:
            # NaN or a non-JSON value in an answer: a sim bug, but the
            # client still gets an answer rather than waiting forever.
            self._log.log("lightningd", "broken", f"unserialisable answer: {e}")
            data = encode(error_response(message.get("id"), LIGHTNINGD,
                                         f"revops-sim internal error: unserialisable "
                                         f"answer: {e}"))
        if not self._writer.is_closing():
            self._writer.write(data)

    async def serve(self) -> None:
        stream = JsonStream()
        try:
            while True:
                data = await self._reader.read(1 << 20)
                if not data:
                    break
                try:
                    messages = stream.feed(data)
                except JsonStreamError as e:
                    self.send(error_response(None, JSONRPC2_INVALID_REQUEST,
                                             f"Invalid token in json input: {e}"))
                    break
                for message in messages:
                    self._start(message)
            # The client may half-close after its request: finish what it asked.
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)
            await self._drain()
        except (ConnectionError, OSError):
            pass
        finally:
            self.close()

    def _start(self, message: Any) -> None:
        request, problem = parse_envelope(message)
        if request is None:
            assert problem is not None
            self.send(problem)
            return
        ctx = contextvars.copy_context()
        ctx.run(current_connection.set, self)
        task = asyncio.get_running_loop().create_task(self._run(request), context=ctx)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, request: Request) -> None:
        response = await self._dispatch(request)
        self.send(response)
        await self._drain()

    async def _drain(self) -> None:
        try:
            await self._writer.drain()
        except (ConnectionError, OSError):
            pass

    async def finish(self, grace: float) -> None:
        """Let the requests in flight answer (up to ``grace`` seconds), then close."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=grace)
        for task in list(self._tasks):
            task.cancel()
        await self._drain()
        self.close()

    def close(self) -> None:
        if not self._writer.is_closing():
            self._writer.close()


current_connection: contextvars.ContextVar[Connection | None] = contextvars.ContextVar(
    "current_connection", default=None)


def parse_envelope(message: Any) -> tuple[Request | None, dict[str, Any] | None]:
    """lightningd's ``parse_request`` checks, in its order."""
    if not isinstance(message, dict):
        return None, error_response(None, JSONRPC2_INVALID_REQUEST,
                                    "Expected {} for json command")
    if "id" not in message:
        return None, error_response(None, JSONRPC2_INVALID_REQUEST, "No id")
    rid = message["id"]
    if isinstance(rid, (dict, list)):
        return None, error_response(None, JSONRPC2_INVALID_REQUEST,
                                    "Expected string/primitive for id")
    if message.get("jsonrpc") != "2.0":
        return None, error_response(None, JSONRPC2_INVALID_REQUEST,
                                    'jsonrpc: "2.0" must be specified in the request')
    if "method" not in message or "params" not in message:
        return None, error_response(rid, JSONRPC2_INVALID_REQUEST,
                                    "No params" if "method" in message else "No method")
    if not isinstance(message["method"], str):
        return None, error_response(rid, JSONRPC2_INVALID_REQUEST, "Expected string for method")
    return Request(rid, message["method"], message["params"], message.get("filter"),
                   message), None


def bind_unix_socket(path: Path) -> socket.socket:
    """Bind ``path`` as lightningd does (refuse if a live server holds it).

    Paths longer than sun_path allows (pytest's tmp dirs get there) are
    bound through ``/proc/self/fd/<dir>/<name>``, the same trick pyln uses
    to connect to them."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    short = str(path)
    dirfd = None
    try:
        if len(os.fsencode(short)) > _UNIX_PATH_MAX:
            dirfd = os.open(path.parent, os.O_DIRECTORY | os.O_RDONLY)
            short = f"/proc/self/fd/{dirfd}/{path.name}"
        try:
            probe.connect(short)
        except OSError:
            pass
        else:
            raise OSError(f"rpc filename '{path}' in use")
        finally:
            probe.close()
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(short)
        sock.listen(128)
        return sock
    finally:
        if dirfd is not None:
            os.close(dirfd)


class RpcServer:
    """The listening socket and its connections."""

    def __init__(self, path: Path, dispatch: Dispatch, log: NodeLog) -> None:
        self.path = path
        self._dispatch = dispatch
        self._log = log
        self._server: asyncio.AbstractServer | None = None
        self._connections: set[Connection] = set()
        self._count = 0

    async def start(self) -> None:
        sock = bind_unix_socket(self.path)
        self._server = await asyncio.start_unix_server(self._accept, sock=sock,
                                                       limit=1 << 20)

    async def _accept(self, reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter) -> None:
        self._count += 1
        conn = Connection(reader, writer, self._dispatch, self._log, self._count)
        self._connections.add(conn)
        try:
            await conn.serve()
        finally:
            self._connections.discard(conn)

    @property
    def listening(self) -> bool:
        return self._server is not None

    def stop_listening(self) -> None:
        """New connections are refused from now on; open ones carry on."""
        if self._server is not None:
            self._server.close()
            self._server = None

    async def close(self, grace: float = 5.0) -> None:
        self.stop_listening()
        conns = list(self._connections)
        if conns:
            await asyncio.gather(*(c.finish(grace) for c in conns), return_exceptions=True)
