"""One plugin child process, and lightningd's side of the plugin protocol.

lightningd starts a plugin with its stdin and stdout as pipes (stderr is
lightningd's own), in the lightning directory, with ``LIGHTNINGD_PLUGIN=1``
and ``LIGHTNINGD_VERSION`` in the environment; we also set
``REVOPS_SIMCLOCK`` (see revops/clock.py). Both directions carry JSON-RPC 2.0
objects; lightningd writes ``\\n\\n`` after each (pyln's reader relies on
it) and reads the plugin's output as a bare stream of objects.

From the plugin, lightningd takes:
- responses (they have an ``id``) to its own requests, matched by id;
- ``log`` notifications, written to the node log as ``plugin-<name>``;
- ``message`` / ``progress`` notifications, relayed to the RPC client whose
  command is running (if it enabled notifications);
- notifications on topics the plugin declared, relayed to subscribers.
Anything else is a protocol error and the plugin is killed, as lightningd
does (``Killing plugin: <why>``).

Request ids follow ``jsonrpc_request_start``: numeric until the manifest says
``nonnumericids`` (always, since v24.08), then ``"cln:<method>#<n>"``, or
``"<caller's id>/cln:<method>#<n>"`` for a command passed through.

Everything here runs on the sim's single asyncio loop; the class holds the
process, the pipes and the requests in flight, nothing else.
"""

from __future__ import annotations

import asyncio
import enum
import itertools
import json
import os
import shlex
import shutil
import signal
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from revops.clock import SIMCLOCK_ENV
from revops.sim.jsonrpc import PLUGIN_TERMINATED
from revops.sim.jsonstream import JsonStream, JsonStreamError, encode
from revops.sim.nodelog import NodeLog, parse_level
from revops.sim.plugin_manifest import Manifest

LIGHTNINGD_VERSION = "v26.06"

# lightningd numbers every request it sends, across all plugins.
_REQUEST_IDS = itertools.count()


class PluginState(enum.Enum):
    """lightningd's plugin states; the value is how lightningd words them
    in ``exited <state>`` / ``timed out <state>``."""

    UNCONFIGURED = "unconfigured"
    AWAITING_GETMANIFEST_RESPONSE = "before replying to getmanifest"
    NEEDS_INIT = "before we sent init"
    AWAITING_INIT_RESPONSE = "before replying to init"
    INIT_COMPLETE = "during normal operation"


def split_command(command: str) -> list[str]:
    """A ``--plugin`` value as argv. Relative paths are made absolute now,
    because the plugin runs in the lightning directory (lightningd, too,
    canonicalises plugin paths when it reads its options)."""
    argv = shlex.split(command)
    if not argv:
        raise ValueError("empty plugin command")
    out = []
    for i, arg in enumerate(argv):
        if not arg.startswith("-") and (os.sep in arg or i > 0) and os.path.exists(arg):
            arg = os.path.abspath(arg)
        out.append(arg)
    return out


def plugin_path(argv: list[str]) -> str:
    """The path lightningd would show for this plugin (``plugin list``'s
    ``name``): the script an interpreter runs, else the executable."""
    rest = argv[1:]
    if "-m" in rest:
        i = rest.index("-m")
        if i + 1 < len(rest):
            return rest[i + 1]
    for arg in rest:
        if not arg.startswith("-") and os.path.isfile(arg):
            return os.path.realpath(arg)
    found = shutil.which(argv[0])
    return os.path.realpath(found) if found else argv[0]


def _needs_escape(text: str) -> bool:
    return any(c in '"\\' or ord(c) < 0x20 for c in text)


def _id_key(value: Any) -> str:
    # lightningd matches responses on the raw id token, quotes included.
    return json.dumps(value, separators=(",", ":"))


class Plugin:
    """A plugin process as lightningd sees it.

    ``on_exit(plugin, reason)`` runs once when the plugin is gone (killed,
    or its stdout closed); ``on_notify(plugin, method, params)`` gets
    ``message``/``progress`` and plugin-declared topics.
    """

    def __init__(self, command: str, *, lightning_dir: Path, env: Mapping[str, str],
                 log: NodeLog, on_exit: Callable[[Plugin, str], None],
                 on_notify: Callable[[Plugin, str, dict[str, Any]], None],
                 dynamic_start: bool = False) -> None:
        self.command = command
        self.argv = split_command(command)
        self.path = plugin_path(self.argv)
        self.shortname = os.path.basename(self.path)
        self.log_source = f"plugin-{self.shortname}"
        self.state = PluginState.UNCONFIGURED
        self.manifest = Manifest()
        self.manifest_future: asyncio.Future[dict[str, Any]] | None = None
        self.option_values: dict[str, list[str | None]] = {}
        self.dynamic_start = dynamic_start
        self.nonnumericids = False
        self.dead = False
        self.kill_reason: str | None = None
        # Set while the plugin leaves its stdin unread (see drain()).
        self.not_reading = False
        self._lightning_dir = lightning_dir
        self._env = dict(env)
        self._log = log
        self._on_exit = on_exit
        self._on_notify = on_notify
        self._proc: asyncio.subprocess.Process | None = None
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._exited = asyncio.Event()
        # Set once lightningd has let go of the plugin (after on_exit ran).
        self.gone = asyncio.Event()
        # File descriptors the child inherits (plugin time's link), and the
        # bytes queued for its stdin so far (plugin time compares them with
        # what it read).
        self.pass_fds: tuple[int, ...] = ()
        self.stdin_bytes = 0

    # -- lifecycle -------------------------------------------------------

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def dynamic(self) -> bool:
        return self.manifest.dynamic

    @property
    def methods(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.manifest.methods)

    async def spawn(self) -> None:
        """Start the process; raises OSError as ``pipecmd`` would fail."""
        self._proc = await asyncio.create_subprocess_exec(
            *self.argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=None, cwd=str(self._lightning_dir), env=self._env, pass_fds=self.pass_fds)
        self._log.log("plugin-manager", "debug", f"started({self._proc.pid}) {self.path}")
        self._tasks.append(asyncio.get_running_loop().create_task(self._read_loop()))
        self._tasks.append(asyncio.get_running_loop().create_task(self._reap()))

    async def _reap(self) -> None:
        assert self._proc is not None
        await self._proc.wait()
        self._exited.set()

    async def wait_exit(self, timeout: float) -> bool:
        """True if the process exited within ``timeout`` seconds."""
        if self._proc is None:
            return True
        try:
            await asyncio.wait_for(self._exited.wait(), timeout)
        except TimeoutError:
            return False
        return True

    @property
    def exited(self) -> bool:
        return self._exited.is_set() or self._proc is None

    def kill(self, reason: str, level: str = "info") -> None:
        """lightningd's ``plugin_kill``: log, SIGKILL, fail what is pending."""
        if self.dead:
            return
        self.dead = True
        self.kill_reason = reason
        self._log.log(self.log_source, level, f"Killing plugin: {reason}")
        self.sigkill()
        self.close_stdin()
        for rid, fut in list(self._pending.items()):
            if not fut.done():
                fut.set_result({"jsonrpc": "2.0", "id": json.loads(rid),
                                "error": {"code": PLUGIN_TERMINATED,
                                          "message": "Plugin terminated before replying "
                                                     "to RPC call."}})
        self._pending.clear()
        self._on_exit(self, reason)
        self.gone.set()

    def sigkill(self) -> None:
        # os.kill, not Process.send_signal: Popen.send_signal polls (reaps)
        # the child behind the loop's child watcher. Until the watcher has
        # set returncode the pid is still ours (alive or a zombie).
        if self._proc is not None and self._proc.returncode is None:
            try:
                os.kill(self._proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def close_stdin(self) -> None:
        if self._proc is not None and self._proc.stdin is not None:
            try:
                self._proc.stdin.close()
            except (OSError, RuntimeError):
                pass

    async def aclose(self) -> None:
        """Make sure the process is gone and reaped (tests, shutdown)."""
        self.sigkill()
        await self.wait_exit(10.0)
        for task in self._tasks:
            if not task.done():
                task.cancel()

    # -- writing ---------------------------------------------------------

    def new_id(self, method: str, prefix: Any = None) -> Any:
        n = next(_REQUEST_IDS)
        if not self.nonnumericids:
            return n
        if prefix is None:
            return f"cln:{method}#{n}"
        text = prefix if isinstance(prefix, str) else _id_key(prefix)
        if _needs_escape(text):
            text = "weird-id"
        return f"{text}/cln:{method}#{n}"

    def send_bytes(self, data: bytes) -> None:
        if self.dead or self._proc is None or self._proc.stdin is None:
            return
        self.stdin_bytes += len(data)
        try:
            self._proc.stdin.write(data)
        except (OSError, RuntimeError):
            # The reader sees the EOF and reports the death.
            pass

    def stdin_backlog(self) -> int:
        """Bytes written to the plugin that its pipe has not taken yet."""
        if self._proc is None or self._proc.stdin is None:
            return 0
        return self._proc.stdin.transport.get_write_buffer_size()

    async def drain(self, grace: float) -> None:
        """Wait, at most ``grace`` seconds, for the plugin to read what was
        written to it. lightningd never waits on a plugin (its queue of
        output has no bound): a plugin that reads nothing within ``grace``
        is marked ``not_reading`` and not waited for again until its
        backlog is gone; what it is sent meanwhile piles up in memory."""
        if self.dead or self._proc is None or self._proc.stdin is None:
            return
        backlog = self.stdin_backlog()
        if backlog == 0:
            self.not_reading = False
            return
        if self.not_reading:
            return
        try:
            await asyncio.wait_for(self._proc.stdin.drain(), grace)
        except TimeoutError:
            self.not_reading = True
            self._log.log(self.log_source, "info",
                          f"not reading its input ({self.stdin_backlog()} bytes queued): "
                          "lightningd does not wait for a plugin, so neither does the "
                          "simulation; its messages queue until it reads")
        except (OSError, RuntimeError, ConnectionError):
            pass

    def request(self, method: str, params: Any, prefix: Any = None
                ) -> tuple[Any, asyncio.Future[dict[str, Any]]]:
        """Send a request; the future gets the whole response object."""
        rid = self.new_id(method, prefix)
        return rid, self.send_request({"jsonrpc": "2.0", "id": rid, "method": method,
                                       "params": params})

    def send_request(self, message: dict[str, Any]) -> asyncio.Future[dict[str, Any]]:
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        if self.dead:
            fut.set_result({"jsonrpc": "2.0", "id": message["id"],
                            "error": {"code": PLUGIN_TERMINATED,
                                      "message": "Plugin terminated before replying to "
                                                 "RPC call."}})
            return fut
        self._pending[_id_key(message["id"])] = fut
        self.send_bytes(encode(message))
        return fut

    def forget(self, rid: Any) -> None:
        """Stop waiting for a request (its caller went away)."""
        self._pending.pop(_id_key(rid), None)

    # -- reading ---------------------------------------------------------

    async def _read_loop(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        stream = JsonStream()
        try:
            while not self.dead:
                data = await self._proc.stdout.read(1 << 20)
                if not data:
                    break
                for message in stream.feed(data):
                    problem = self._handle(message)
                    if problem is not None:
                        self.kill(problem, "unusual")
                        return
                    if self.dead:
                        return
        except JsonStreamError as e:
            self.kill(str(e), "unusual")
            return
        except (OSError, ValueError) as e:
            self.kill(f"reading stdout: {e}", "unusual")
            return
        self.kill(f"exited {self.state.value}", self.exit_level)

    # Set by the node once it is shutting down: exits are expected then.
    exit_level = "info"

    def _handle(self, message: Any) -> str | None:
        if not isinstance(message, dict):
            return "JSON-RPC message is not a valid JSON object type"
        if "jsonrpc" not in message:
            return 'JSON-RPC message does not contain "jsonrpc" field'
        if "id" not in message:
            return self._notification(message)
        fut = self._pending.pop(_id_key(message["id"]), None)
        # An unknown id: the request was abandoned; lightningd ignores it too.
        if fut is not None and not fut.done():
            fut.set_result(message)
        return None

    def _notification(self, message: dict[str, Any]) -> str | None:
        method, params = message.get("method"), message.get("params")
        if method is None or params is None:
            return ('Malformed JSON-RPC notification missing "method" or "params": '
                    f"{json.dumps(message)[:200]}")
        if method == "log":
            return self._log_notification(params)
        if not isinstance(params, dict):
            params = {"payload": params}
        if method in ("message", "progress") or method in self.manifest.notifications:
            self._on_notify(self, method, params)
        else:
            self._log.log(self.log_source, "unusual",
                          f'Plugin attempted to send a notification to topic "{method}" it '
                          "hasn't declared in its manifest, not forwarding to subscribers.")
        return None

    def _log_notification(self, params: Any) -> str | None:
        text = params.get("message") if isinstance(params, dict) else None
        if not isinstance(text, str):
            return "Log notification from plugin doesn't have a string \"message\" field"
        raw_level = params.get("level")
        if raw_level is None:
            level: str | None = "info"
        else:
            level = parse_level(raw_level) if isinstance(raw_level, str) else None
            if level == "io":
                level = None
        if level is None:
            return (f"Unknown log-level {json.dumps(raw_level)}, valid values are "
                    '"debug", "info", "warn", or "error".')
        self._log.log(self.log_source, level, text)
        return None

    # -- what lightningd asks of a running plugin -------------------------

    def subscribed(self, topic: str) -> bool:
        subs = self.manifest.subscriptions
        return topic in subs or "*" in subs

    def wants(self, topic: str) -> bool:
        return (not self.dead and self.state is PluginState.INIT_COMPLETE
                and self.subscribed(topic))


def plugin_env(base: Mapping[str, str], sim_now: float) -> dict[str, str]:
    """The environment lightningd gives plugins, plus the simclock's start."""
    env = dict(base)
    env["LIGHTNINGD_PLUGIN"] = "1"
    env["LIGHTNINGD_VERSION"] = LIGHTNINGD_VERSION
    env[SIMCLOCK_ENV] = repr(float(sim_now))
    return env


def notification_bytes(topic: str, payload: dict[str, Any]) -> bytes:
    """A native notification as v26.06 sends it: the payload under the topic
    (``notify_start``; no flat/``payload`` copy, whatever allow-deprecated-apis)."""
    return encode({"jsonrpc": "2.0", "method": topic, "params": {topic: payload}})
