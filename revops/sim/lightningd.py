"""The simulated lightningd: one node, one asyncio event loop, one thread.

:class:`SimNode` is what plugins and RPC clients talk to. It owns the
market (H2's :class:`~revops.sim.market.Market`), the plugins
(:mod:`revops.sim.plugin_host`), the JSON-RPC socket
(:mod:`revops.sim.rpc_server`) and the method table (the built-ins of
:mod:`revops.sim.builtin_rpc` plus the market's). Nothing here blocks and
nothing needs a lock: every handler, plugin pipe and clock step is a task
on the same loop.

Startup follows lightningd: spawn every plugin and send ``getmanifest``
(each has ``manifest_timeout``, lightningd's 60 s), register their options
and methods, bind the option values (``--option`` and the scenario's
plugin options; a bad value refuses to start), open the RPC socket, send
``init`` and wait for every answer (``init_timeout``, 120 s; at startup a
timeout is fatal, as in lightningd: ``Can't recover from plugin failure,
terminating.``; a dynamic ``plugin start`` gets at most 60 s), then log
``Server started with public key ...``.

The clock moves only through one task, the clock loop, which takes jobs
("advance N seconds") from a queue: ``run`` submits the whole span,
``serve --speed X`` submits what real time allows, ``dev-advance`` submits
its hours. A job advances the market in steps of at most ``tick`` simulated
seconds (sooner if a plugin's ``next_wakeup`` falls inside the step); after
each step the market's notifications go to the plugins subscribed to them,
``node.changed()`` waiters wake, and every plugin that registered
``simclock-advance`` is called with the new time and awaited (see
revops/clock.py), so plugins never fall behind or run ahead of the market.
Plugins that do not speak simclock get the same through plugin time
(:mod:`revops.sim.plugin_time`, ``--plugin-time sim``): their clock is set
before the step's notifications are written, and the step ends once they
have handled them and wait again.

lightningd never waits on a plugin's pipe: what it writes to a plugin that
does not read queues in memory without limit. The sim paces a step on its
plugins reading what the step produced, but only for ``stdin_grace``
seconds: a plugin that reads nothing for that long is not waited for (its
output queues, as lightningd's does) until its pipe is empty again.

``htlc_accepted`` (hook_runner.py): when a plugin has the hook, the market
stops inside a step at each HTLC it accepts; the notifications so far go
out, the chain runs, and the market goes on with the verdict. An answer
lightningd cannot act on is fatal, as lightningd's ``fatal()``: a BROKEN
line, the plugins lose their pipes, the node exits with that message.

Stopping follows lightningd too: the RPC socket stops accepting
connections (open ones keep working), plugins subscribed to ``shutdown``
get it and ``shutdown_timeout`` (30 s) to exit before SIGKILL, the others
lose their pipes; then the ``stop`` command gets its answer, ``Shutdown
complete``, and connections close.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
import os
import shutil
import sys
import traceback
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from revops.clock import SIMCLOCK_METHOD
from revops.sim import builtin_rpc
from revops.sim.datastore import Datastore
from revops.sim.hook_runner import HookRunner
from revops.sim.jsonrpc import (
    JSONRPC2_INVALID_PARAMS,
    LIGHTNINGD,
    PLUGIN_ERROR,
    MethodTable,
    RpcError,
    apply_filter,
    check_filter,
    unknown_command,
)
from revops.sim.nodelog import NodeLog, echo_at_least
from revops.sim.plugin_host import (
    LIGHTNINGD_VERSION,
    Plugin,
    PluginState,
    notification_bytes,
    plugin_env,
    split_command,
)
from revops.sim.plugin_manifest import (
    LIGHTNINGD_OPTIONS,
    ManifestError,
    OptionSpec,
    check_option_value,
    init_options,
    native_topics,
    parse_manifest,
)
from revops.sim.plugin_time import PluginTime
from revops.sim.rpc_server import Connection, Request, RpcServer, current_connection

# What CLN v26.06 advertises (common/features.c defaults), per place.
FEATURE_SET = {
    "init": "08a0000a8a5961",
    "node": "88a0000a8a5961",
    "channel": "",
    "invoice": "02000002024100",
}

RPC_FILENAME = "lightning-rpc"
DYNAMIC_START_TIMEOUT = 60.0


class StartupError(Exception):
    """The node refuses to start; str() is the one-line reason."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class Fatal(StartupError):
    """lightningd's ``fatal()`` while running (a hook answer it cannot act
    on): the node is gone; str() is lightningd's message."""


@dataclass(frozen=True)
class NodeConfig:
    lightning_dir: Path
    plugins: tuple[str, ...] = ()
    # --option values in command-line order; value None for a bare flag.
    options: tuple[tuple[str, str | None], ...] = ()
    scenario_options: Mapping[str, str] = field(default_factory=dict)
    scenario_label: str = "scenario"
    allow_deprecated_apis: bool = False
    manifest_timeout: float = 60.0
    init_timeout: float = 120.0  # at node startup; a dynamic `plugin start` gets at most 60 s
    shutdown_timeout: float = 30.0
    simclock_timeout: float = 600.0
    # "sim": Python plugins' clocks, sleeps and timed waits follow the
    # simulated clock and the node waits for them after each step (at most
    # plugin_quiet_timeout real seconds); "wall": the machine's clock.
    # See revops/sim/plugin_time/.
    plugin_time: str = "sim"
    plugin_quiet_timeout: float = 10.0
    tick: float = 300.0
    # Wall seconds a step waits for a plugin to read what it was sent, and
    # for an htlc_accepted verdict, before going on without it.
    stdin_grace: float = 1.0
    hook_wait: float = 10.0
    # Check every answer and notification against CLN's schemas; a violation
    # is logged as BROKEN (tests assert there is none).
    validate: bool = False
    # Log lines at this level or above also go to stderr (run mode).
    echo_level: str | None = None
    speed_interval: float = 0.25


@dataclass
class _AdvanceJob:
    seconds: float
    done: asyncio.Future[dict[str, Any]]
    progress: Callable[[float], None] | None = None


def prepare_loop() -> None:
    """Watch child processes with pidfds on the running loop. Python 3.11's
    default watcher starts a thread per child; this keeps the node to one
    thread (3.12+ does this by itself)."""
    if sys.version_info >= (3, 12) or not hasattr(os, "pidfd_open"):
        return
    try:
        os.close(os.pidfd_open(os.getpid()))
    except OSError:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        watcher = asyncio.PidfdChildWatcher()
        watcher.attach_loop(asyncio.get_running_loop())
        asyncio.get_event_loop_policy().set_child_watcher(watcher)


def default_table() -> MethodTable:
    """The built-in methods plus the market's and our payments' (and askrene's)."""
    table = MethodTable()
    builtin_rpc.register(table)
    try:
        from revops.sim import market_rpc
    except ModuleNotFoundError as e:
        if e.name != "revops.sim.market_rpc":
            raise
    else:
        market_rpc.register(table)
        from revops.sim import payments_rpc
        payments_rpc.register(table)
        from revops.sim import config_rpc
        config_rpc.register(table)
    return table


def paths_match(path: str, name: str) -> bool:
    """lightningd's ``plugin_paths_match``: a name with a slash is a path,
    anything else matches the basename."""
    if os.sep in name:
        return path == name or os.path.realpath(path) == os.path.realpath(name)
    return os.path.basename(path) == name


def _one_line(text: str) -> str:
    return " | ".join(line.strip() for line in text.strip().splitlines())


class SimNode:
    """One simulated lightningd. Build it, ``await start()``, then either
    ``await run_for(seconds)`` or ``await serve(speed)``; ``await shutdown()``
    at the end (``serve`` does it itself)."""

    def __init__(self, market: Any, config: NodeConfig,
                 table: MethodTable | None = None) -> None:
        self.market = market
        if not config.lightning_dir.is_absolute():
            # lightningd's path_join(cwd, dir): plugins get an absolute
            # lightning-dir, and they run in it.
            config = dataclasses.replace(config,
                                         lightning_dir=Path.cwd() / config.lightning_dir)
        self.config = config
        config.lightning_dir.mkdir(parents=True, exist_ok=True)
        self.lightning_dir = str(config.lightning_dir)
        self.rpc_path = config.lightning_dir / RPC_FILENAME
        echo = echo_at_least(config.echo_level) if config.echo_level else None
        self.log = NodeLog(config.lightning_dir / "log", clock=lambda: float(self.market.now),
                           echo=echo)
        self.datastore = Datastore(config.lightning_dir / "datastore.json")
        self.table = table if table is not None else default_table()
        self.plugins: list[Plugin] = []
        # Every process we started, until reaped: plugins leave ``plugins``
        # when lightningd lets go of them, but must still be waited for.
        self._spawned: list[Plugin] = []
        self.startup = True
        self.running = True
        self.steps = 0
        self._native = native_topics()
        self._plugin_methods: dict[str, Plugin] = {}
        self._option_owner: dict[str, tuple[Plugin, OptionSpec]] = {}
        self._server = RpcServer(self.rpc_path, self.dispatch, self.log)
        self._changed: list[asyncio.Future[None]] = []
        self._relay: dict[str, tuple[Connection, Any]] = {}
        self._next_wakeup: float | None = None
        # simclock plugins that missed a call's deadline, with that call's answer to come
        self._simclock_late: dict[Plugin, asyncio.Future[dict[str, Any]]] = {}
        self._plugin_time = PluginTime(config.plugin_time, self.log,
                                       config.plugin_quiet_timeout)
        self._clock_queue: asyncio.Queue[_AdvanceJob] = asyncio.Queue()
        self._clock_task: asyncio.Task[None] | None = None
        self._stop_requested = asyncio.Event()
        self._plugins_down = asyncio.Event()
        self._shutdown_task: asyncio.Task[None] | None = None
        self._hooks = HookRunner(self, config.hook_wait)
        # Set by fatal(): why the node died.
        self.fatal_message: str | None = None

    # -- startup ---------------------------------------------------------

    async def start(self) -> None:
        """Bring the node up; raises StartupError if lightningd would refuse."""
        self.log.log("lightningd", "debug",
                     f"revops-sim {LIGHTNINGD_VERSION} starting in {self.lightning_dir}")
        env = plugin_env(os.environ, float(self.market.now))
        seen: set[str] = set()
        for command in self.config.plugins:
            plugin = self._new_plugin(command, env)
            if plugin.path in seen:
                # lightningd registers a plugin path once and ignores repeats.
                self.plugins.remove(plugin)
                self._plugin_time.gone(plugin)
                continue
            seen.add(plugin.path)
            try:
                await plugin.spawn()
            except OSError as e:
                self._plugin_time.gone(plugin)
                raise StartupError(f"error starting plugin '{plugin.path}': "
                                   f"opening pipe: {e.strerror or e}") from None
            self._plugin_time.spawned(plugin)
            self._send_getmanifest(plugin)
        await asyncio.gather(*(self._await_manifest(p) for p in list(self.plugins)))
        self._check_hook_order()
        self._bind_startup_options()
        try:
            await self._server.start()
        except OSError as e:
            raise StartupError(f"Binding rpc socket to '{self.rpc_path}': {e}") from None
        await asyncio.gather(*(self._init(p) for p in list(self.plugins)
                               if p.state is PluginState.NEEDS_INIT))
        self.startup = False
        # One clock call at the start time, so a plugin's first wakeup is known
        # before the first step (time does not move).
        await self._plugin_time.advance(float(self.market.now), self._plugin_alive)
        self._next_wakeup = await self._tell_time(float(self.market.now))
        self._clock_task = asyncio.get_running_loop().create_task(self._clock_loop())
        self.log.log("lightningd", "info",
                     f"Server started with public key {self.market.node_id}, alias "
                     f"{self.market.alias} (color #{self.market.color}) and lightningd "
                     f"{LIGHTNINGD_VERSION}")

    def _new_plugin(self, command: str, env: Mapping[str, str],
                    dynamic_start: bool = False) -> Plugin:
        link, env = self._plugin_time.prepare(env, float(self.market.now))
        plugin = Plugin(command, lightning_dir=self.config.lightning_dir, env=env,
                        log=self.log, on_exit=self._plugin_gone,
                        on_notify=self._plugin_notify, dynamic_start=dynamic_start)
        self._plugin_time.attach(plugin, link)
        self.plugins.append(plugin)
        self._spawned.append(plugin)
        return plugin

    def _send_getmanifest(self, plugin: Plugin) -> None:
        _, fut = plugin.request("getmanifest",
                                {"allow-deprecated-apis": self.config.allow_deprecated_apis})
        plugin.state = PluginState.AWAITING_GETMANIFEST_RESPONSE
        plugin.manifest_future = fut

    async def _deadline(self, plugin: Plugin, fut: asyncio.Future[dict[str, Any]],
                        timeout: float) -> dict[str, Any] | None:
        """The answer, or None once the plugin is killed for being late
        (fatal at startup, as lightningd's plugin_manifest_timeout)."""
        try:
            return await asyncio.wait_for(asyncio.shield(fut), timeout)
        except TimeoutError:
            plugin.kill(f"timed out {plugin.state.value}", "unusual")
            if self.startup:
                raise StartupError("Can't recover from plugin failure, terminating.") from None
            return None

    async def _await_manifest(self, plugin: Plugin) -> bool:
        assert plugin.manifest_future is not None
        response = await self._deadline(plugin, plugin.manifest_future,
                                        self.config.manifest_timeout)
        if response is None or plugin.dead:
            return False
        try:
            manifest = parse_manifest(response, self._native)
        except ManifestError as e:
            plugin.kill(str(e), "unusual")
            return False
        if manifest.disable is not None:
            plugin.kill(f"disabled itself: {manifest.disable}", "info")
            return False
        problem = self._registration_problem(plugin, manifest.options, manifest.methods)
        if problem is not None:
            plugin.kill(problem, "unusual")
            return False
        plugin.manifest = manifest
        plugin.nonnumericids = manifest.nonnumericids
        await self._plugin_time.manifest(plugin)
        for spec in manifest.options:
            self._option_owner[spec.name] = (plugin, spec)
        for decl in manifest.methods:
            if decl.name == SIMCLOCK_METHOD and decl.name in self._plugin_methods:
                continue  # (several plugins may speak simclock; RPC reaches the first)
            self._plugin_methods[decl.name] = plugin
        known = self._known_topics()
        for topic in manifest.subscriptions:
            if topic != "*" and topic not in known:
                self.log.log(plugin.log_source, "unusual",
                             f"topic '{topic}' is not a known notification topic")
        if not self.startup and not manifest.dynamic:
            plugin.kill("Not a dynamic plugin", "info")
            return False
        plugin.state = PluginState.NEEDS_INIT
        return True

    def _check_hook_order(self) -> list[Plugin]:
        """lightningd's ``check_plugins_manifests``: a plugin whose hook
        ``before``/``after`` cannot be met is killed before init."""
        stuck = self._hooks.unorderable()
        for plugin in stuck:
            if plugin.state is PluginState.NEEDS_INIT:
                plugin.kill("Cannot meet required hook dependencies", "unusual")
        return stuck

    def _registration_problem(self, plugin: Plugin, options: tuple[OptionSpec, ...],
                              methods: tuple[Any, ...]) -> str | None:
        names: set[str] = set()
        for spec in options:
            if spec.name in LIGHTNINGD_OPTIONS or spec.name in self._option_owner \
                    or spec.name in names:
                if self.startup:
                    raise StartupError(f"error starting plugin '{plugin.path}': option name "
                                       f"'{spec.name}' is already taken")
                return f'Option "{spec.name}" already registered'
            names.add(spec.name)
        seen: dict[str, Plugin] = {}
        for decl in methods:
            if decl.name == SIMCLOCK_METHOD:
                continue  # each simclock plugin has its own: the clock calls each one
            owner = self._plugin_methods.get(decl.name) or seen.get(decl.name)
            if owner is not None or decl.name in self.table:
                by = f" by plugin {owner.path}" if owner is not None else ""
                return (f'Could not register method "{decl.name}", a method with that '
                        f"name is already registered{by}")
            seen[decl.name] = plugin
        return None

    def _known_topics(self) -> set[str]:
        topics = set(self._native)
        for p in self.plugins:
            topics.update(p.manifest.notifications)
        return topics

    def _bind_startup_options(self) -> None:
        """Give each plugin option its value from the scenario, then from
        ``--option`` (the command line wins, as over lightningd's config).
        Raises StartupError (exit code 2) for an unknown option or bad value."""
        sources: list[tuple[str, str, str | None]] = []
        if self.plugins or self.config.plugins:
            label = f"{self.config.scenario_label}: plugin option"
            for name, value in self.config.scenario_options.items():
                sources.append((label, name, value))
        for name, value in self.config.options:
            sources.append(("--option", name, value))
        for origin, name, value in sources:
            shown = name if value is None else f"{name}={value}"
            owner = self._option_owner.get(name)
            if owner is None:
                raise StartupError(f"{origin} {shown}: unrecognized option", 2)
            plugin, spec = owner
            if spec.type == "flag" and origin != "--option" and value is not None:
                # A scenario file spells a flag as true/false.
                if value.lower() in ("false", "no"):
                    continue
                if value.lower() in ("true", "yes"):
                    value = None
            problem = self._option_problem(spec, value)
            if problem is not None:
                raise StartupError(f"{origin} {shown}: {problem}", 2)
            if spec.multi:
                plugin.option_values.setdefault(name, []).append(value)
            else:
                plugin.option_values[name] = [value]

    def _option_problem(self, spec: OptionSpec, value: str | None) -> str | None:
        if spec.deprecated and not self.config.allow_deprecated_apis:
            return "deprecated option (will be removed!)"
        return check_option_value(spec, value)

    def _configuration(self) -> dict[str, Any]:
        return {
            "lightning-dir": self.lightning_dir,  # absolute, as lightningd's
            "rpc-file": RPC_FILENAME,
            "startup": self.startup,
            "network": self.market.network,
            "feature_set": dict(FEATURE_SET),
        }

    async def _init(self, plugin: Plugin) -> str | None:
        """Send ``init`` and wait; None on success, else why it failed."""
        params = {"options": init_options(plugin.manifest.options, plugin.option_values),
                  "configuration": self._configuration()}
        _, fut = plugin.request("init", params)
        plugin.state = PluginState.AWAITING_INIT_RESPONSE
        # lightningd gives init 120 s at startup (DESIGN.md section 7), while
        # `plugin start` must finish both handshakes within 60 s (plugin.json).
        deadline = (self.config.init_timeout if self.startup
                    else min(DYNAMIC_START_TIMEOUT, self.config.init_timeout))
        response = await self._deadline(plugin, fut, deadline)
        if response is None or plugin.dead:
            return plugin.kill_reason or "exited"
        result = response.get("result")
        if isinstance(result, dict) and "disable" in result:
            reason = result["disable"]
            reason = reason if isinstance(reason, str) else json.dumps(reason)
            plugin.kill(f"disabled itself at init: {reason}", "debug")
            return plugin.kill_reason
        # lightningd takes any other answer (even an error) as init done.
        plugin.state = PluginState.INIT_COMPLETE
        self._emit("plugin_started", {"plugin_name": plugin.shortname,
                                      "plugin_path": plugin.path,
                                      "methods": list(plugin.methods)})
        return None

    # -- plugins coming and going -----------------------------------------

    def _plugin_gone(self, plugin: Plugin, reason: str) -> None:
        was_running = plugin.state is PluginState.INIT_COMPLETE
        self._simclock_late.pop(plugin, None)
        self._plugin_time.gone(plugin)
        if plugin in self.plugins:
            self.plugins.remove(plugin)
        for name in plugin.methods:
            if self._plugin_methods.get(name) is plugin:
                del self._plugin_methods[name]
        for spec in plugin.manifest.options:
            owner = self._option_owner.get(spec.name)
            if owner is not None and owner[0] is plugin:
                del self._option_owner[spec.name]
        if was_running and self.running:
            self._emit("plugin_stopped", {"plugin_name": plugin.shortname,
                                          "plugin_path": plugin.path,
                                          "methods": list(plugin.methods)})

    def _plugin_notify(self, plugin: Plugin, method: str, params: dict[str, Any]) -> None:
        if method in ("message", "progress"):
            relay = self._relay.get(json.dumps(params.get("id"), separators=(",", ":")))
            if relay is not None and relay[0].notifications_enabled:
                conn, client_id = relay
                conn.send({"jsonrpc": "2.0", "method": method,
                           "params": {**params, "id": client_id}})
            return
        # A topic the plugin declared: lightningd wraps it with its origin.
        data = json.dumps({"jsonrpc": "2.0", "method": method,
                           "params": {"origin": plugin.shortname, "payload": params}},
                          ensure_ascii=False, separators=(",", ":")).encode() + b"\n\n"
        for p in self.plugins:
            if p.wants(method):
                p.send_bytes(data)

    def _check_running(self) -> None:
        if not self.running:
            raise RpcError(LIGHTNINGD, "lightningd is shutting down")

    def plugin_list(self, command: str) -> dict[str, Any]:
        return {"command": command,
                "plugins": [{"name": p.path, "active": p.state is PluginState.INIT_COMPLETE,
                             "dynamic": p.dynamic} for p in self.plugins]}

    async def plugin_start(self, command: str,
                           options: Mapping[str, str | None]) -> dict[str, Any]:
        """``plugin start``: the plugin must be dynamic and answer both
        handshakes in time; errors are lightningd's ``<path>: <why>``."""
        self._check_running()
        plugin = await self._start_dynamic(command, options, raise_errors=True)
        assert plugin is not None
        return self.plugin_list("start")

    async def _start_dynamic(self, command: str, options: Mapping[str, str | None],
                             raise_errors: bool) -> Plugin | None:
        try:
            argv = split_command(command)
        except ValueError as e:
            raise RpcError(JSONRPC2_INVALID_PARAMS, f"{command}: {e}") from None
        if shutil.which(argv[0]) is None:
            raise RpcError(JSONRPC2_INVALID_PARAMS,
                           f"{command} is not executable: No such file or directory")
        env = plugin_env(os.environ, float(self.market.now))
        plugin = self._new_plugin(command, env, dynamic_start=True)
        if any(p is not plugin and p.path == plugin.path for p in self.plugins):
            self.plugins.remove(plugin)
            self._plugin_time.gone(plugin)
            raise RpcError(JSONRPC2_INVALID_PARAMS, f"{plugin.path}: already registered")
        try:
            await plugin.spawn()
        except OSError as e:
            self.plugins.remove(plugin)
            self._plugin_time.gone(plugin)
            raise RpcError(PLUGIN_ERROR, f"{plugin.path}: opening pipe: {e.strerror or e}")
        self._plugin_time.spawned(plugin)
        self._send_getmanifest(plugin)
        ok = await self._await_manifest(plugin)
        if ok and plugin in self._check_hook_order():
            ok = False
        if ok:
            problem = self._bind_start_options(plugin, options)
            if problem is not None:
                plugin.kill(problem, "unusual")
                ok = False
        if ok:
            ok = await self._init(plugin) is None
        if not ok:
            await plugin.aclose()
            if raise_errors:
                raise RpcError(PLUGIN_ERROR, f"{plugin.path}: {plugin.kill_reason}")
            return None
        return plugin

    def _bind_start_options(self, plugin: Plugin,
                            options: Mapping[str, str | None]) -> str | None:
        specs = {s.name: s for s in plugin.manifest.options}
        for name, value in options.items():
            spec = specs.get(name)
            if spec is None:
                return f"unknown parameter {name}"
            problem = self._option_problem(spec, value)
            if problem is not None:
                return f"--{name}: {problem}"
            if spec.multi:
                plugin.option_values.setdefault(name, []).append(value)
            else:
                plugin.option_values[name] = [value]
        return None

    async def plugin_stop(self, name: str) -> dict[str, Any]:
        """``plugin stop``: ``shutdown`` if subscribed, SIGKILL after the
        deadline; RPC keeps working meanwhile."""
        self._check_running()
        for plugin in list(self.plugins):
            if not paths_match(plugin.path, name):
                continue
            if not plugin.dynamic:
                raise RpcError(JSONRPC2_INVALID_PARAMS,
                               f"{name} cannot be managed when lightningd is up")
            if plugin.state is PluginState.INIT_COMPLETE and plugin.subscribed("shutdown"):
                plugin.send_bytes(notification_bytes("shutdown", {}))
                exited = await plugin.wait_exit(self.config.shutdown_timeout)
                if exited:
                    # Its stdout closes too; let the reader report the exit.
                    try:
                        await asyncio.wait_for(plugin.gone.wait(), 5.0)
                    except TimeoutError:
                        pass
                if not plugin.dead:
                    self.log.log(plugin.log_source, "unusual",
                                 "Timeout on shutdown: killing anyway")
                    plugin.kill("stopped by lightningd via RPC", "info")
            else:
                plugin.kill("stopped by lightningd via RPC", "info")
            await plugin.aclose()
            return {"command": "stop", "result": f"Successfully stopped {plugin.shortname}."}
        raise RpcError(JSONRPC2_INVALID_PARAMS, f"Could not find plugin {name}")

    async def plugin_startdir(self, directory: str) -> dict[str, Any]:
        self._check_running()
        if not os.path.exists(directory):
            raise RpcError(JSONRPC2_INVALID_PARAMS, f"Could not open {directory}")
        await self._start_all_in(Path(directory))
        return self.plugin_list("startdir")

    async def plugin_rescan(self) -> dict[str, Any]:
        self._check_running()
        folder = self.config.lightning_dir / "plugins"
        if folder.is_dir():
            await self._start_all_in(folder)
        return self.plugin_list("rescan")

    async def _start_all_in(self, folder: Path) -> None:
        running = {p.path for p in self.plugins}
        for entry in sorted(folder.iterdir()):
            if (entry.name == "README.md" or not entry.is_file()
                    or not os.access(entry, os.X_OK)
                    or any(not (c.isalnum() or c in "-_.") for c in entry.name)
                    or os.path.realpath(entry) in running):
                continue
            try:
                await self._start_dynamic(str(entry.resolve()), {}, raise_errors=False)
            except RpcError as e:
                self.log.log("plugin-manager", "unusual", f"{entry}: {e.message}")

    # -- RPC -------------------------------------------------------------

    def command_help(self) -> list[dict[str, str]]:
        entries = []
        for spec in self.table:
            entries.append({"name": spec.name, "usage": spec.usage, "category": spec.category,
                            "description": spec.description,
                            "verbose": spec.description or "HELP! Please contribute a "
                                                           "description for this json_command!"})
        entries.append({"name": "check", "usage": "command_to_check", "category": "utility",
                        "description": "Don't run {command_to_check}, just verify parameters.",
                        "verbose": "check command_to_check [parameters...]"})
        for name, plugin in self._plugin_methods.items():
            decl = next(d for d in plugin.manifest.methods if d.name == name)
            if decl.deprecated and not self.config.allow_deprecated_apis:
                continue
            entries.append({"name": name, "usage": decl.usage, "category": decl.category,
                            "description": decl.description, "verbose": decl.verbose})
        return sorted(entries, key=lambda e: e["name"])

    async def dispatch(self, request: Request) -> dict[str, Any]:
        """Run one command and build its whole answer (``id`` included)."""
        try:
            if request.filter is not None:
                check_filter(request.filter)
            if request.method == "check":
                return await self._check(request)
            plugin = self._plugin_methods.get(request.method)
            spec = None if plugin is not None else self.table.get(request.method)
            if plugin is None and spec is None:
                raise unknown_command(request.method)
            if plugin is not None:
                return await self._forward(plugin, request)
            assert spec is not None
            if request.method != "stop" and not request.method.startswith("dev-"):
                latency, error = self.market.rpc_fault(request.method)
                if latency > 0:
                    await asyncio.sleep(latency)
                if error is not None:
                    raise error
            if getattr(spec.handler, "raw_params", False):
                result = spec.handler(self, request.params)
            else:
                result = spec.handler(self, **spec.bind(request.params))
            if asyncio.iscoroutine(result):
                result = await result
            if self.config.validate:
                self._validate("response", request.method, result)
            if request.filter is not None:
                result = apply_filter(result, request.filter)
            return {"jsonrpc": "2.0", "id": request.id, "result": result}
        except RpcError as e:
            return {"jsonrpc": "2.0", "id": request.id, "error": e.to_json()}
        except Exception as e:  # noqa: BLE001 - a sim bug: say so, keep serving
            self.log.log("lightningd", "broken",
                         f"{request.method} crashed: {_one_line(traceback.format_exc())}")
            return {"jsonrpc": "2.0", "id": request.id,
                    "error": {"code": LIGHTNINGD,
                              "message": f"revops-sim internal error in {request.method}: "
                                         f"{type(e).__name__}: {e}"}}

    async def _check(self, request: Request) -> dict[str, Any]:
        """lightningd's ``check``: the named command's parameters are parsed
        and nothing runs. A plugin's command goes to the plugin (method
        ``check``, the request as the client sent it) if its manifest said
        ``cancheck``; otherwise lightningd logs that it cannot check and
        answers success (``plugin_rpcmethod_check``)."""
        params = request.params
        if isinstance(params, list):
            name, rest = (params[0] if params else None), params[1:]
        elif isinstance(params, dict):
            name = params.get("command_to_check")
            rest = {k: v for k, v in params.items() if k != "command_to_check"}
        else:
            name, rest = None, []
        if name is None:
            raise RpcError(JSONRPC2_INVALID_PARAMS,
                           "missing required parameter: command_to_check")
        ok = {"jsonrpc": "2.0", "id": request.id, "result": {"command_to_check": name}}
        plugin = self._plugin_methods.get(name) if isinstance(name, str) else None
        if plugin is not None:
            if plugin.manifest.cancheck:
                return await self._forward(plugin, request)
            self.log.log(plugin.log_source, "unusual",
                         f"Plugin does not support check command for {name} "
                         f"(id {json.dumps(request.id)})")
            return ok
        spec = self.table.get(name) if isinstance(name, str) else None
        if spec is None:
            raise unknown_command(name if isinstance(name, str) else json.dumps(name))
        spec.bind(rest)
        return ok

    async def _forward(self, plugin: Plugin, request: Request) -> dict[str, Any]:
        """Pass a command to the plugin that registered it: the client's
        request untouched but for a new id, and the answer back likewise."""
        rid = plugin.new_id(request.method, prefix=request.id)
        key = json.dumps(rid, separators=(",", ":"))
        conn = current_connection.get()
        if conn is not None:
            self._relay[key] = (conn, request.id)
        try:
            response = await plugin.send_request({**request.raw, "id": rid})
        finally:
            self._relay.pop(key, None)
        return {**response, "id": request.id}

    def _validate(self, part: str, name: str, obj: Any) -> None:
        from revops.sim.schemas import (
            SchemaViolation,
            has_schema,
            validate_hook,
            validate_notification,
            validate_response,
        )
        try:
            if part == "hook":
                validate_hook(name, "request", obj)
            elif part == "notification":
                if has_schema(f"notification/{name}"):
                    validate_notification(name, obj)
            elif has_schema(name):
                # ``stop`` is the one answer whose result is a bare string;
                # its schema describes it as the field ``result``.
                validate_response(name, {"result": obj} if name == "stop" else obj)
        except SchemaViolation as e:
            self.log.log("lightningd", "broken", f"schema violation: {_one_line(str(e))}")

    # -- notifications and the clock --------------------------------------

    def _emit(self, topic: str, payload: dict[str, Any]) -> None:
        self._deliver([(topic, payload)])

    def notify(self, topic: str, payload: dict[str, Any]) -> None:
        """Send a notification now (an RPC handler's, e.g. ``invoice_creation``)."""
        self._deliver([(topic, payload)])

    def _deliver(self, notes: list[tuple[str, dict[str, Any]]]) -> None:
        for topic, payload in notes:
            if self.config.validate:
                self._validate("notification", topic, payload)
            data = None
            for plugin in self.plugins:
                if plugin.wants(topic):
                    if data is None:
                        data = notification_bytes(topic, payload)
                    plugin.send_bytes(data)

    def changed(self) -> asyncio.Future[None]:
        """Resolves after the next market advance (``wait`` uses it)."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._changed.append(fut)
        conn = current_connection.get()
        if conn is not None:
            # A plugin's thread blocked in this call waits for the clock.
            self._plugin_time.long_poll(conn.peer_pid(), fut)
        return fut

    def _wake_changed(self, error: BaseException | None = None) -> None:
        waiters, self._changed = self._changed, []
        for fut in waiters:
            if not fut.done():
                if error is None:
                    fut.set_result(None)
                else:
                    fut.set_exception(error)

    async def _simclock(self, now: float) -> float | None:
        """Tell every simclock plugin the time; the earliest ``next_wakeup``.

        A plugin that let a call go unanswered for ``simclock_timeout`` is
        not waited for again until it answers that call (it fell behind, or
        stopped reading its stdin): lightningd waits for no plugin, and one
        late plugin must not cost the timeout at every step."""
        calls = []
        for plugin in self.plugins:
            late = self._simclock_late.get(plugin)
            if late is not None:
                if not late.done():
                    continue
                del self._simclock_late[plugin]
                self.log.log(plugin.log_source, "info",
                             f"{SIMCLOCK_METHOD} answered again; waited for from now on")
            if (plugin.state is PluginState.INIT_COMPLETE and not plugin.dead
                    and SIMCLOCK_METHOD in plugin.methods):
                rid, fut = plugin.request(SIMCLOCK_METHOD, {"now": now})
                calls.append((plugin, rid, fut))
        if not calls:
            return None
        done, _ = await asyncio.wait([fut for _, _, fut in calls],
                                     timeout=self.config.simclock_timeout)
        wakeups = []
        for plugin, rid, fut in calls:
            if fut not in done:
                self._simclock_late[plugin] = fut
                self.log.log(plugin.log_source, "unusual",
                             f"{SIMCLOCK_METHOD} not answered within "
                             f"{self.config.simclock_timeout:g}s; moving on without it "
                             "until it answers")
                continue
            response = fut.result()
            if "error" in response:
                if not plugin.dead:
                    self.log.log(plugin.log_source, "unusual",
                                 f"{SIMCLOCK_METHOD} failed: {json.dumps(response['error'])}")
                continue
            result = response.get("result")
            wake = result.get("next_wakeup") if isinstance(result, dict) else None
            if isinstance(wake, (int, float)) and not isinstance(wake, bool) \
                    and math.isfinite(wake):
                wakeups.append(float(wake))
        return min(wakeups) if wakeups else None

    async def _tell_time(self, now: float) -> float | None:
        """Every plugin learns the time (simclock calls and plugin time's
        links, together) and has done what is due; the earliest wakeup."""
        simclock, timed = await asyncio.gather(self._simclock(now),
                                               self._plugin_time.settle(self._plugin_alive))
        wakes = [w for w in (simclock, timed) if w is not None]
        return min(wakes) if wakes else None

    def _plugin_alive(self, plugin: Plugin) -> bool:
        return not plugin.dead and plugin in self.plugins

    async def _clock_loop(self) -> None:
        while True:
            job = await self._clock_queue.get()
            try:
                summary = await self._advance_steps(job.seconds, job.progress)
            except asyncio.CancelledError:
                if not job.done.done():
                    job.done.set_exception(RpcError(LIGHTNINGD, "lightningd is shutting down"))
                raise
            except Exception as e:  # noqa: BLE001 - it goes to whoever asked
                if isinstance(e, Fatal):
                    # The node is dying; shutdown() reports why.
                    e = RpcError(LIGHTNINGD, "lightningd is shutting down")
                if not job.done.done():
                    job.done.set_exception(e)
            else:
                if not job.done.done():
                    job.done.set_result(summary)

    async def _advance_steps(self, seconds: float,
                             progress: Callable[[float], None] | None) -> dict[str, Any]:
        start = float(self.market.now)
        until = start + seconds
        steps = notes = 0
        while self.market.now < until and self.running and not self._stop_requested.is_set():
            now = float(self.market.now)
            end = min(until, now + self.config.tick)
            wake = self._next_wakeup
            if wake is not None and now < wake < end:
                end = wake
            notes += await self._advance_market(end)
            if self.fatal_message is not None:
                raise Fatal(self.fatal_message)
            if float(self.market.now) <= now:
                raise RuntimeError(f"market did not advance from {now} to {end}")
            steps += 1
            self.steps += 1
            self._wake_changed()
            await asyncio.gather(*(p.drain(self.config.stdin_grace) for p in self.plugins))
            self._next_wakeup = await self._tell_time(float(self.market.now))
            if progress is not None:
                progress(float(self.market.now))
            # Let RPC clients in between steps even when no plugin makes us wait.
            await asyncio.sleep(0)
        return {"now": float(self.market.now),
                "advanced_seconds": float(self.market.now) - start,
                "steps": steps, "notifications": notes}

    async def _advance_market(self, end: float) -> int:
        """Advance the market to ``end`` and send its notifications; with an
        ``htlc_accepted`` hook, stop at each held HTLC for the chain. The
        number of notifications sent."""
        hooked = self.market.htlc_hooked = self._hooks.active()
        sent = 0
        while True:
            produced = self.market.advance(end)
            sent += len(produced)
            # Plugins on simulated time read the new time before anything
            # of this step reaches them.
            await self._plugin_time.advance(float(self.market.now), self._plugin_alive)
            self._deliver(produced)
            if not hooked:
                return sent
            held = self.market.take_held()
            if not held or self.fatal_message is not None:
                return sent
            await self._hooks.settle(held)

    def validate_hook_request(self, hook: str, params: dict[str, Any]) -> None:
        """With ``--validate``: what we send a hook must match CLN's schema."""
        if self.config.validate:
            self._validate("hook", hook, params)

    def deliver_market_notes(self) -> None:
        """Send what the market queued outside a step (a late hook verdict)."""
        self._deliver(self.market.take_notes())

    def fatal(self, message: str) -> None:
        """lightningd's ``fatal()``: log it BROKEN and go down (the run
        ends with this message and exit code 1)."""
        if self.fatal_message is None:
            self.fatal_message = message
            self.log.log("lightningd", "broken", message)
        self.request_stop()

    async def advance(self, seconds: float,
                      progress: Callable[[float], None] | None = None) -> dict[str, Any]:
        """Move the simulated clock ``seconds`` forward (queued behind any
        advance already running) and return a small summary."""
        self._check_running()
        if self._clock_task is None:
            raise RpcError(LIGHTNINGD, "node not started")
        job = _AdvanceJob(seconds, asyncio.get_running_loop().create_future(), progress)
        await self._clock_queue.put(job)
        return await job.done

    async def run_for(self, seconds: float,
                      progress: Callable[[float], None] | None = None) -> dict[str, Any]:
        """``run``: advance ``seconds`` as fast as the plugins allow (stops
        early if a ``stop`` arrives)."""
        return await self.advance(seconds, progress)

    async def serve(self, speed: float) -> None:
        """``serve``: keep going until stopped; sim time runs ``speed`` times
        real time (0: only ``dev-advance`` moves it)."""
        ticker = (asyncio.get_running_loop().create_task(self._run_speed(speed))
                  if speed > 0 else None)
        await self._stop_requested.wait()
        if ticker is not None:
            ticker.cancel()
        await self.shutdown()

    async def _run_speed(self, speed: float) -> None:
        loop = asyncio.get_running_loop()
        last = loop.time()
        while self.running:
            await asyncio.sleep(self.config.speed_interval)
            now = loop.time()
            delta, last = (now - last) * speed, now
            try:
                await self.advance(delta)
            except RpcError:
                return

    # -- stopping --------------------------------------------------------

    def request_stop(self) -> None:
        """SIGTERM/SIGINT, end of ``run``, or the ``stop`` command."""
        self._stop_requested.set()

    async def stop_from_rpc(self) -> str:
        self.log.log("lightningd", "unusual", "JSON-RPC shutdown")
        self.request_stop()
        # lightningd answers ``stop`` last, once its plugins are gone.
        await self._plugins_down.wait()
        return "Shutdown complete"

    async def shutdown(self) -> None:
        """Stop as lightningd does; idempotent."""
        if self._shutdown_task is None:
            self._shutdown_task = asyncio.get_running_loop().create_task(self._shutdown())
        await asyncio.shield(self._shutdown_task)
        if self.fatal_message is not None:
            raise Fatal(self.fatal_message)

    async def _shutdown(self) -> None:
        self.running = False
        self._stop_requested.set()
        self._server.stop_listening()
        self.log.log("lightningd", "debug", "JSON-RPC socket closed to new connections")
        if self._clock_task is not None:
            self._clock_task.cancel()
            await asyncio.gather(self._clock_task, return_exceptions=True)
        self._wake_changed(RpcError(LIGHTNINGD, "lightningd is shutting down"))
        self._plugin_time.shutting_down()
        await self._shutdown_plugins()
        self._plugins_down.set()
        await self._server.close(grace=5.0)
        self.log.log("lightningd", "debug", "Shutdown complete")
        self.log.close()

    async def _shutdown_plugins(self) -> None:
        interested, others = [], []
        for plugin in list(self.plugins):
            plugin.exit_level = "debug"
            if (plugin.state is PluginState.INIT_COMPLETE and plugin.subscribed("shutdown")
                    and self.fatal_message is None):
                plugin.send_bytes(notification_bytes("shutdown", {}))
                interested.append(plugin)
            else:
                # lightningd drops these at once: they lose their pipes.
                plugin.close_stdin()
                others.append(plugin)
        if interested:
            exited = await asyncio.gather(
                *(p.wait_exit(self.config.shutdown_timeout) for p in interested))
            for plugin, ok in zip(interested, exited):
                if not ok:
                    self.log.log("lightningd", "debug",
                                 f"{plugin.shortname}: failed to self-terminate in time, "
                                 "killing.")
        # Give EOF a moment to end the uninterested ones, then make sure.
        await asyncio.gather(*(p.wait_exit(1.0) for p in others))
        await self._reap_all()

    async def _reap_all(self) -> None:
        everyone, self._spawned = self._spawned, []
        for plugin in everyone:
            plugin.sigkill()
        await asyncio.gather(*(p.aclose() for p in everyone))
        self._plugin_time.close()

    async def abort(self) -> None:
        """Tear down after a failed start: no handshakes, just cleanup."""
        self.running = False
        self._server.stop_listening()
        if self._clock_task is not None:
            self._clock_task.cancel()
        for plugin in self._spawned:
            plugin.exit_level = "debug"
        await self._reap_all()
        await self._server.close(grace=0.0)
        self.log.close()
