"""The plugin lightningd starts (``revops-plugin``): the thin shell between
pyln and the actors.

It registers every ``--revenue-ops-*`` option, every ``revenue-*`` command
and the notifications revops needs; at ``init`` it validates the options
and the database, against the marker of it in lightningd's datastore
(``revops/storage/marker.py``; one ``listdatastore``, the only RPC call made
while answering), answering ``{"disable": reason}`` when either is
unusable, and starts the Supervisor, then answers at once: slow work
happens in the actors afterwards. Commands and notifications become
messages; nothing here waits on an actor, so pyln's stdin loop is never
blocked.

On the ``shutdown`` notification, SIGTERM, or stdin closing, everything is
stopped in reverse order without needing RPC (lightningd refuses new RPC
connections while it shuts down), and the process exits.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from typing import Any, Callable, Mapping

import pykka
from pyln.client import Plugin
from pyln.client.plugin import Method, RpcException

from actors.messages import Advance, Command, Notification
from actors.pool import ActorPool
from actors.rpc import lightning_rpc_factory
from actors.runtime import build_runtime
from actors.supervisor import Supervisor
from actors.ticker import WallTimer
from revops import __version__
from revops.clock import SIMCLOCK_METHOD, Clock, DrivenClock, clock_from_env
from revops.commands import COMMANDS, CommandSpec
from revops.config import SPECS, ConfigError, build_startup_config
from revops.jsonrpc import RpcError, bind_params
from revops.metrics import Metrics
from revops.storage.db import check_database, database_state, resolve_db_path
from revops.storage.errors import StorageError
from revops.storage.marker import KEY as MARKER_KEY
from revops.storage.marker import PRESENT, Marker
from revops.storage.marker import parse as parse_marker
from revops.storage.marker import refusal as marker_refusal

log = logging.getLogger("revops")

# pyln's own handler maps WARNING to 'info'; lightningd's levels are
# debug/info/unusual/broken, and a warning is unusual.
_LEVELS = {logging.DEBUG: "debug", logging.INFO: "info", logging.WARNING: "warn",
           logging.ERROR: "error", logging.CRITICAL: "error"}

STOP_TIMEOUT = 20.0  # well within lightningd's 30 s
INIT_RPC_TIMEOUT = 10.0  # init answers within lightningd's 120 s whatever happens


class LightningdLogHandler(logging.Handler):
    """Python logging -> lightningd's log (``log`` notifications)."""

    def __init__(self, plugin: Plugin) -> None:
        super().__init__()
        self.plugin = plugin

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.plugin.log(self.format(record), level=_LEVELS.get(record.levelno, "info"))
        except Exception:  # never let logging take the plugin down
            self.handleError(record)


class _CommandMethod(Method):
    """A pyln method whose usage string comes from our parameter specs
    (pyln would derive it from the handler's ``*args`` signature)."""

    def __init__(self, spec: CommandSpec, func: Callable[..., Any]) -> None:
        super().__init__(spec.name, func, description=spec.description)
        self.background = True
        self.spec = spec

    def get_usage(self) -> str:
        return self.spec.usage


# Python refuses to turn more than 4,300 digits into an int (a defence
# against quadratic conversion); json.loads raises then.
_MAX_INT_LITERAL = 4300


def _int_literal(text: str) -> int | str:
    """A JSON integer literal: an int, or, when too long for Python, its
    digits as a string, which every number parser refuses by its length
    (``revops/numbers.py``) with the parameter's name."""
    return int(text) if len(text) <= _MAX_INT_LITERAL else text


def decode_message(payload: bytes) -> Any:
    """One message from lightningd. lightningd passes a parameter's JSON
    token through as the caller wrote it, so ``lightning-cli
    revenue-history 1111...`` with 5,000 digits arrives as a number
    literal."""
    return json.loads(payload.decode("utf8"), parse_int=_int_literal)


class _Plugin(Plugin):
    """pyln's Plugin, with two changes.

    lightningd's messages are read with :func:`decode_message`: with
    pyln's plain ``json.loads`` a number literal too long for Python raises
    in the read loop and ends the plugin.

    lightningd's ``check`` reaches our commands: with ``cancheck`` in the
    manifest, lightningd passes ``lightning-cli check revenue-...`` to us
    (method ``check``, the command's name in ``command_to_check``) instead
    of logging that we cannot check; the handler binds the parameters
    without running the command. ``check`` is lightningd's own command, so
    it is answered but never registered.
    """

    def _getmanifest(self, **kwargs: Any) -> Any:
        manifest = super()._getmanifest(**kwargs)
        manifest["rpcmethods"] = [m for m in manifest["rpcmethods"] if m["name"] != "check"]
        manifest["cancheck"] = True
        return manifest

    def _multi_dispatch(self, msgs: list[bytes]) -> bytes:
        # The last piece is an incomplete message, kept for the next read.
        for payload in msgs[:-1]:
            request = self._parse_request(decode_message(payload))
            if request.id is not None:
                self._dispatch_request(request)
            else:
                self._dispatch_notification(request)
        return msgs[-1]


class RevopsPlugin:
    """The pyln plugin and what it starts."""

    def __init__(self, clock: Clock | None = None, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self.clock = clock if clock is not None else clock_from_env(env)
        self.dev = isinstance(self.clock, DrivenClock)
        self.plugin = _Plugin(dynamic=True)
        self.supervisor: pykka.ActorRef[Any] | None = None
        self.pool: ActorPool | None = None
        self.wall_timer: WallTimer | None = None
        self.disabled: str | None = None
        self._stopped = threading.Event()
        self._setup_logging()
        for spec in SPECS.values():
            if spec.kind == "flag":
                self.plugin.add_flag_option(spec.option_name, spec.description)
            else:
                default = (None if spec.default == "" else
                           spec.default if spec.kind == "bool" else spec.format(spec.default))
                self.plugin.add_option(spec.option_name, default,
                                       f"{spec.description}. Accepted: {spec.accepted}",
                                       opt_type="bool" if spec.kind == "bool" else "string")
        for cmd in COMMANDS:
            if cmd.dev and not self.dev:
                continue
            self.plugin.methods[cmd.name] = _CommandMethod(cmd, self._handler(cmd))
        check = Method("check", self._check)
        check.background = True  # answers itself: a refusal is not a logged exception
        self.plugin.methods["check"] = check
        if self.dev:
            self.plugin.add_method(SIMCLOCK_METHOD, self._simclock_advance, background=True)
        self.plugin.add_subscription("forward_event", self._on_forward_event)
        self.plugin.add_subscription("channel_state_changed", self._on_channel_state_changed)
        self.plugin.add_subscription("block_added", self._on_block_added)
        self.plugin.add_subscription("shutdown", self._on_shutdown)
        self.plugin.child_init = self._init

    def _setup_logging(self) -> None:
        root = logging.getLogger()
        for h in list(root.handlers):
            root.removeHandler(h)
        handler = LightningdLogHandler(self.plugin)
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
        root.addHandler(handler)
        root.setLevel(logging.INFO)

    # -- init -----------------------------------------------------------------------
    def _init(self, options: dict[str, Any], configuration: dict[str, Any],
              plugin: Plugin, **kwargs: Any) -> dict[str, Any] | None:
        try:
            startup = build_startup_config(options)
        except ConfigError as e:
            return self._disable(str(e))
        lightning_dir = configuration["lightning-dir"]
        rpc_path = os.path.join(lightning_dir, configuration["rpc-file"])
        db_path = resolve_db_path(startup.snapshot["db-path"] or None, lightning_dir)
        state = database_state(db_path)
        marker, unread = self._read_marker(rpc_path, float(startup.snapshot["rpc-timeout"]))
        if unread and state != PRESENT:
            return self._disable(f"cannot tell whether revops ran on this node before "
                                 f"(listdatastore failed: {unread}) and {db_path} is {state}; "
                                 "nothing was created: start the plugin again once lightningd "
                                 "answers")
        why = marker_refusal(marker, db_path, state, None)
        if why is not None:
            return self._disable(why)
        try:
            version = check_database(db_path)
        except StorageError as e:
            return self._disable(f"database unusable: {e}")
        why = marker_refusal(marker, db_path, state, version)
        if why is not None:
            return self._disable(why)
        snapshot = startup.snapshot
        metrics = Metrics()
        self.pool = ActorPool(int(snapshot["channel-workers"]), name="revops-channel").start()
        driven = self.dev
        runtime = build_runtime(
            clock=self.clock, startup=startup, init_options=options, db_path=db_path,
            rpc_path=rpc_path, transport=lightning_rpc_factory(rpc_path), pool=self.pool,
            metrics=metrics, driven=driven, dev=self.dev)
        self.supervisor = Supervisor.start(runtime)
        if not driven:
            self.wall_timer = WallTimer(self.clock, self.supervisor)
            self.wall_timer.start()
        log.info("revops %s initialised (db %s%s)", __version__, db_path,
                 ", simulated clock" if driven else "")
        return None

    @staticmethod
    def _read_marker(rpc_path: str, timeout: float) -> tuple[Marker | None, str | None]:
        """lightningd's marker of our database, read once while answering
        init (its answer depends on it); (marker, None), or (None, why not)."""
        try:
            rpc = lightning_rpc_factory(rpc_path)(min(timeout, INIT_RPC_TIMEOUT))
            answer = rpc.call("listdatastore", {"key": list(MARKER_KEY)})
        except Exception as e:  # noqa: BLE001 - any failure: the marker is unknown
            return None, f"{type(e).__name__}: {e}"
        return parse_marker(answer), None

    def _disable(self, reason: str) -> dict[str, Any]:
        self.disabled = reason
        log.warning("disabling revops: %s", reason)
        return {"disable": reason}

    # -- commands -------------------------------------------------------------------
    def _handler(self, spec: CommandSpec) -> Callable[..., None]:
        def handler(plugin: Plugin, request: Any, *args: Any, **kwargs: Any) -> None:
            if args and kwargs:
                request.set_exception(RpcException(
                    "give parameters either by name or by position, not both", -32602))
                return
            try:
                params = bind_params(spec.params, list(args) if args else kwargs)
            except RpcError as e:
                request.set_exception(RpcException(e.message, e.code))
                return
            except Exception as e:  # a parser bug: still a clear answer
                log.exception("binding the parameters of %s failed", spec.name)
                request.set_exception(RpcException(
                    f"internal error binding parameters: {type(e).__name__}", -1))
                return
            self._send(Command(spec.name, params, request, self.clock.now()), request)
        return handler

    def _check(self, plugin: Plugin, request: Any, *args: Any, **kwargs: Any) -> None:
        """``check``: are these parameters right for that command? Nothing runs."""
        if args and kwargs:
            request.set_exception(RpcException(
                "give parameters either by name or by position, not both", -32602))
            return
        rest: list[Any] | dict[str, Any]
        if args:
            name, rest = args[0], list(args[1:])
        else:
            name, rest = kwargs.pop("command_to_check", None), kwargs
        spec = next((c for c in COMMANDS if c.name == name
                     and (self.dev or not c.dev)), None)
        if spec is not None:
            try:
                bind_params(spec.params, rest)
            except RpcError as e:
                request.set_exception(RpcException(e.message, e.code))
                return
        # Anything else lightningd asks us to check (``setconfig`` of an
        # option of ours): we have no dynamic options, nothing to refuse.
        request.set_result({"command_to_check": name})

    def _send(self, message: Any, request: Any | None) -> None:
        sup = self.supervisor
        if sup is None or not sup.is_alive():
            if request is not None:
                why = self.disabled or "revops is not running (see lightningd's log)"
                request.set_exception(RpcException(why, -1))
            return
        try:
            sup.tell(message)
        except pykka.ActorDeadError:
            if request is not None:
                request.set_exception(RpcException("revops is shutting down", -1))

    def _simclock_advance(self, plugin: Plugin, request: Any, now: float, **kwargs: Any) -> None:
        assert isinstance(self.clock, DrivenClock)
        t = self.clock.advance_to(float(now))
        if self.supervisor is None:
            request.set_result({"now": t, "next_wakeup": None})
            return
        self._send(Advance(t, request), request)

    # -- notifications ------------------------------------------------------------------
    def _notify(self, topic: str, payload: Any) -> None:
        if isinstance(payload, dict):
            self._send(Notification(topic, payload, self.clock.now()), None)

    def _on_forward_event(self, plugin: Plugin, forward_event: Any = None, **kwargs: Any) -> None:
        self._notify("forward_event", forward_event)

    def _on_channel_state_changed(self, plugin: Plugin, channel_state_changed: Any = None,
                                  **kwargs: Any) -> None:
        self._notify("channel_state_changed", channel_state_changed)

    def _on_block_added(self, plugin: Plugin, block_added: Any = None, **kwargs: Any) -> None:
        self._notify("block_added", block_added)

    def _on_shutdown(self, plugin: Plugin, **kwargs: Any) -> None:
        log.info("shutdown requested by lightningd")
        self.shutdown()
        sys.exit(0)

    # -- shutdown -------------------------------------------------------------------------
    def shutdown(self) -> None:
        """Stop timers, actors (reverse start order), the database and the
        metrics endpoint. Needs no RPC. Safe to call twice."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        if self.wall_timer is not None:
            self.wall_timer.stop()
        sup = self.supervisor
        if sup is not None and sup.is_alive():
            try:
                sup.stop(block=True, timeout=STOP_TIMEOUT)
            except pykka.Timeout:
                log.error("supervisor did not stop within %ss", STOP_TIMEOUT)
        if self.pool is not None:
            self.pool.shutdown(wait=True)
        leftovers = pykka.ActorRegistry.get_all()
        for ref in leftovers:
            log.error("bug: actor %s still alive at exit", ref)
        pykka.ActorRegistry.stop_all(block=True, timeout=2)
        log.info("revops stopped")

    def run(self) -> None:
        def on_sigterm(signum: int, frame: Any) -> None:
            self.shutdown()
            sys.exit(0)

        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, on_sigterm)
        try:
            self.plugin.run()
        finally:
            self.shutdown()


def main() -> None:
    RevopsPlugin().run()


if __name__ == "__main__":
    main()
