"""Plugin time: any unmodified Python plugin on the simulated clock.

``revops-sim --plugin-time sim`` (the default) makes a plugin's
``time.time()``, ``datetime.now()``, ``time.sleep()`` and timed waits
follow the simulated clock, and makes the node wait, after each market
step, until the plugin has handled what it was sent and every thread of it
is waiting again, in a wait the shim follows or in an RPC call that itself
waits for the next step (``wait``, ``waitsendpay``) (see
:mod:`revops.sim.plugin_time.link` for the protocol
and ``hook/_revops_plugin_time.py`` for what runs inside the plugin).
``--plugin-time wall`` leaves plugins on the machine's clock.

A plugin that speaks revops' own simclock protocol (revops/clock.py:
revops, the benchmark baselines) keeps it: the shim steps aside as soon as
its manifest shows ``simclock-advance``. A plugin that is not Python (or
whose Python skips ``sitecustomize``: ``-S``, ``-I``) runs on wall time, and
the node says so in its log.

:class:`PluginTime` is what the node holds: one link per plugin it starts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

from revops.clock import SIMCLOCK_METHOD
from revops.sim.nodelog import NodeLog
from revops.sim.plugin_time.link import HOOK_DIR, MODES, PluginTimeLink

__all__ = ["HOOK_DIR", "MODES", "PluginTime", "PluginTimeLink"]


class PluginTime:
    """The node's plugin-time links, keyed by plugin object."""

    def __init__(self, mode: str, log: NodeLog, quiet_timeout: float) -> None:
        if mode not in MODES:
            raise ValueError(f"plugin time must be one of {', '.join(MODES)}, got {mode!r}")
        self.mode = mode
        self._log = log
        self._quiet_timeout = quiet_timeout
        self._links: dict[Any, PluginTimeLink] = {}

    def prepare(self, env: Mapping[str, str],
                start: float) -> tuple[PluginTimeLink | None, dict[str, str]]:
        """Before a plugin is made: its link (None on wall time) and the
        environment to start it with."""
        if self.mode != "sim":
            return None, dict(env)
        link = PluginTimeLink(self._log, start, self._quiet_timeout)
        return link, link.environment(env)

    def attach(self, plugin: Any, link: PluginTimeLink | None) -> None:
        """The plugin made with ``link``'s environment: it inherits its fd."""
        if link is None:
            return
        link.source = plugin.log_source
        self._links[plugin] = link
        plugin.pass_fds = (link.child_fd,)

    def spawned(self, plugin: Any) -> None:
        link = self._links.get(plugin)
        if link is not None:
            link.spawned()

    async def manifest(self, plugin: Any) -> None:
        """The plugin's manifest is in: keep, release or drop its link."""
        link = self._links.get(plugin)
        if link is None:
            return
        if not await link.check_hello():
            del self._links[plugin]
            self._log.log(plugin.log_source, "info",
                          "plugin-time: not a Python plugin with the startup hook loaded; "
                          "it runs on wall time")
            return
        if SIMCLOCK_METHOD in plugin.methods:
            link.release("wall")
            self._log.log(plugin.log_source, "debug",
                          f"plugin-time: speaks {SIMCLOCK_METHOD}; keeps its own simulated clock")
            return
        self._log.log(plugin.log_source, "debug", "plugin-time: on the simulated clock")

    async def advance(self, now: float, alive: Callable[[Any], bool]) -> None:
        """Every plugin on simulated time reads ``now`` from its clock (call
        before writing the step's notifications)."""
        await asyncio.gather(*(link.advance(now) for plugin, link in self._links.items()
                               if link.active and alive(plugin)))

    async def settle(self, alive: Callable[[Any], bool]) -> float | None:
        """After the step's notifications: wait until each plugin is quiet;
        the earliest deadline any of them is waiting for."""
        calls = [link.settle(lambda p=plugin: p.stdin_bytes)
                 for plugin, link in self._links.items() if link.active and alive(plugin)]
        if not calls:
            return None
        wakes = [w for w in await asyncio.gather(*calls) if w is not None]
        return min(wakes) if wakes else None

    def long_poll(self, pid: int | None, fut: asyncio.Future[None]) -> None:
        """An RPC call from process ``pid`` now waits for the next step
        (``wait``, ``waitsendpay``...) until ``fut`` is done: the thread that
        made it is waiting on the clock, not busy."""
        if pid is None:
            return
        for plugin, link in self._links.items():
            if plugin.pid == pid:
                link.long_poll(fut)
                return

    def gone(self, plugin: Any) -> None:
        link = self._links.pop(plugin, None)
        if link is not None:
            self._summarise(plugin, link)
            link.close()

    def shutting_down(self) -> None:
        """Pending waits end at once; clocks stay where they are."""
        for plugin, link in self._links.items():
            self._summarise(plugin, link)
            link.release("frozen")

    def _summarise(self, plugin: Any, link: PluginTimeLink) -> None:
        text = link.summary()
        if text is not None:
            link.late_steps = 0
            self._log.log(plugin.log_source, "info", text)

    def close(self) -> None:
        for link in self._links.values():
            link.close()
        self._links.clear()
