"""The simulated lightningd's end of one plugin's time link.

With ``--plugin-time sim`` every plugin is started with a private socket
(a ``socketpair``; the plugin's end is an inherited fd named in
``REVOPS_PLUGIN_TIME=<fd>:<start time>``) and with ``hook/`` first on its
``PYTHONPATH``: a Python plugin then loads the shim
(``hook/_revops_plugin_time.py``) before its own code runs. One JSON
object per line each way:

- shim -> sim ``{"hello": pid, "python": version}``, written at startup
  before the plugin's first byte on stdout, so the sim knows by the time the
  manifest arrives whether the plugin follows the simulated clock (a plugin
  in another language never says hello and runs on wall time);
- sim -> shim ``{"advance": now, "seq": n}`` after each market step (and
  once at the start time), answered ``{"clock": n}``: the plugin's clock is
  ``now`` before the sim writes anything of that step to its stdin or
  answers an RPC waiting on it;
- sim -> shim ``{"settle": n, "written": bytes}`` once the step's
  notifications are written (``bytes`` to its stdin so far): the plugin
  handles them, then the waits due by ``now`` end, one thread at a time in
  deadline order;
- sim -> shim ``{"polls": k}`` whenever the number of the plugin's RPC
  calls that wait for the next step (``wait``, ``waitsendpay``: the sim
  knows the caller's pid) changes: that many threads may look busy (blocked
  on the RPC socket) while they are in fact waiting for the clock;
- shim -> sim ``{"quiet": n, "busy": b, "read": bytes|null, "wake":
  t|null}`` once every thread but ``b <= k`` is parked in a wait the shim
  follows, or blocked reading stdin with ``read`` bytes consumed (null: no
  thread is reading), and nothing due is left to wake; ``wake`` is its
  earliest deadline. The sim takes it when ``n`` is its last advance,
  ``b`` is within its own count of long polls, and ``read`` covers
  everything it wrote (it may have written more meanwhile), then moves on,
  its next step ending at ``wake`` if that comes first — as
  ``next_wakeup`` does for simclock plugins;
- sim -> shim ``{"release": "wall"}`` when the manifest shows the plugin
  speaks revops' simclock protocol (it keeps that; the shim steps aside),
  or ``{"release": "frozen"}`` at shutdown (pending waits end at once, the
  clock stays put, new waits take real time).

The sim waits for ``quiet`` at most ``quiet_timeout`` real seconds; a
plugin that misses it is logged once and from then on waited for at most
``LAGGING_WAIT`` a step, so it cannot stall the node. Runs on the node's
asyncio loop, like everything in revops.sim.lightningd.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import socket
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from revops.sim.nodelog import NodeLog

HOOK_DIR = Path(__file__).resolve().with_name("hook")
ENV = "REVOPS_PLUGIN_TIME"
PYTHONPATH_ENV = "REVOPS_PLUGIN_TIME_PYTHONPATH"
MODES = ("sim", "wall")
# Once a plugin has missed the cap, how long each later step waits for it.
LAGGING_WAIT = 0.2


class PluginTimeLink:
    """One plugin's time link: made before the spawn (:meth:`environment`,
    :attr:`child_fd`), :meth:`spawned` right after it, :meth:`check_hello`
    when the manifest arrives, then :meth:`advance` and :meth:`settle` at
    every step."""

    def __init__(self, log: NodeLog, start: float, quiet_timeout: float) -> None:
        self.source = "plugin-manager"  # the plugin's log source, once it has one
        self._log = log
        self._start = float(start)
        self._quiet_timeout = quiet_timeout
        self._sock, self._child = socket.socketpair()
        self.child_fd = self._child.fileno()
        self.active = False  # the shim said hello and has not been released
        self.lagging = False
        self.late_steps = 0
        self.steps = 0
        self._seq = 0
        self._now = self._start
        self._report: dict[str, Any] | None = None
        self._clock_ack: Any = None
        self._polls = 0
        self._changed = asyncio.Event()
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._closed = False

    def environment(self, base: Mapping[str, str]) -> dict[str, str]:
        """``base`` plus what makes a Python plugin load the shim."""
        env = dict(base)
        old = env.get("PYTHONPATH")
        env["PYTHONPATH"] = str(HOOK_DIR) + (os.pathsep + old if old else "")
        if old is not None:
            env[PYTHONPATH_ENV] = old
        env[ENV] = f"{self.child_fd}:{self._start!r}"
        return env

    def spawned(self) -> None:
        """The plugin has its end now; ours must not keep it open."""
        self._child.close()

    async def check_hello(self) -> bool:
        """At the manifest: did the plugin's shim say hello? (It would have,
        before writing anything to stdout.) Starts reading its reports."""
        self._sock.setblocking(False)
        data = b""
        try:
            while True:
                chunk = self._sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            data = b""
        hello = False
        for line in data.splitlines():
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if isinstance(msg, dict) and "hello" in msg:
                hello = True
            else:
                self._take(msg)
        if not hello:
            self.close()
            return False
        reader, self._writer = await asyncio.open_unix_connection(sock=self._sock)
        self._reader_task = asyncio.get_running_loop().create_task(self._read(reader))
        self.active = True
        return True

    async def _read(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                try:
                    self._take(json.loads(line))
                except ValueError:
                    continue
        except (OSError, ConnectionError):
            pass
        self._closed = True
        self.active = False
        self._changed.set()

    def _take(self, msg: Any) -> None:
        if isinstance(msg, dict) and "quiet" in msg:
            self._report = msg
            self._changed.set()
        elif isinstance(msg, dict) and "clock" in msg:
            self._clock_ack = msg["clock"]
            self._changed.set()

    def _send(self, obj: dict[str, Any]) -> None:
        if self._writer is None or self._writer.is_closing():
            return
        try:
            self._writer.write(json.dumps(obj).encode() + b"\n")
        except (OSError, RuntimeError):
            pass

    def long_poll(self, fut: asyncio.Future[None]) -> None:
        """One more of the plugin's RPC calls waits for the next step."""
        self._set_polls(self._polls + 1)
        fut.add_done_callback(lambda _: self._set_polls(self._polls - 1))

    def _set_polls(self, n: int) -> None:
        self._polls = n
        if self.active:
            self._send({"polls": n})
        self._changed.set()

    def release(self, how: str) -> None:
        """``wall`` (the plugin speaks simclock) or ``frozen`` (shutdown)."""
        if self.active:
            self._send({"release": how})
        self.active = False

    async def advance(self, now: float) -> None:
        """Set the plugin's clock to ``now``; returns once the shim has."""
        if not self.active or self._closed:
            return
        self._seq += 1
        self._now = now
        self.steps += 1
        self._send({"advance": now, "seq": self._seq})
        await self._until(lambda: self._clock_ack == self._seq)

    async def settle(self, written: Callable[[], int]) -> float | None:
        """The step's stdin is written: wait until the plugin is quiet (or
        the cap); its earliest deadline after that, if any."""
        if not self.active or self._closed:
            return None
        seq = self._seq
        self._send({"settle": seq, "written": written()})

        def quiet() -> bool:
            report = self._report
            if report is None or report.get("quiet") != seq:
                return False
            read = report.get("read")
            busy = report.get("busy", 0)
            return (read is None or read >= written()) and busy <= self._polls

        if not await self._until(quiet):
            return None
        assert self._report is not None
        wake = self._report.get("wake")
        if isinstance(wake, (int, float)) and math.isfinite(wake):
            return float(wake)
        return None

    async def _until(self, ready: Callable[[], bool]) -> bool:
        """Wait for ``ready()`` (checked again at each message) within the
        cap; False if the link closed or the cap passed (logged once)."""
        loop = asyncio.get_running_loop()
        cap = LAGGING_WAIT if self.lagging else self._quiet_timeout
        deadline = loop.time() + cap
        while not ready():
            if self._closed:
                return False
            remaining = deadline - loop.time()
            if remaining <= 0:
                self._late(cap)
                return False
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                pass
        return True

    def _late(self, cap: float) -> None:
        self.late_steps += 1
        if self.lagging:
            return
        self.lagging = True
        self._log.log(self.source, "unusual",
                      f"plugin-time: not quiet after {cap:g}s of real time at simulated "
                      f"{self._now:.0f}; the node moves on without it and from now on waits at "
                      f"most {LAGGING_WAIT:g}s a step for it (a thread of it waits on "
                      "something plugin-time does not follow: a bare lock, a socket, "
                      "select, join)")

    def summary(self) -> str | None:
        if not self.late_steps:
            return None
        return (f"plugin-time: {self.late_steps} of {self.steps} steps went on without "
                "this plugin being quiet (its results may vary between runs)")

    def close(self) -> None:
        self.active = False
        self._closed = True
        if self._writer is not None:
            self._writer.close()
        else:
            self._sock.close()
        try:
            self._child.close()
        except OSError:
            pass
        if self._reader_task is not None and not self._reader_task.done():
            self._reader_task.cancel()
