"""What every coordinator actor shares: cycles on ``Tick``, config
snapshots, commands answered from the actor, crash reporting to the parent.

A cycle binds to the config snapshot current when it starts. When it ends
(well or not) the coordinator tells its parent a :class:`CycleDone` and sets
the tick's ack future. An exception escaping a cycle is a crash: the actor
stops, ``on_failure`` tells the parent, and the parent starts a fresh one
from persisted state (expected failures such as an RPC error are values,
handled inside the cycle, and never get here).
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable, ClassVar, Mapping

import pykka
from pyln.client.plugin import RpcException

from actors.messages import (
    ChildFailed,
    EconomicsUpdate,
    FeeStateUpdate,
    MempoolState,
    RefillCosts,
    Command,
    ConfigChanged,
    Crash,
    CrashRequested,
    CycleDone,
    Dependencies,
    Notification,
    Ping,
    Tick,
)
from revops.config import ConfigSnapshot
from revops.jsonrpc import RpcError
from revops.metrics import Metrics

log = logging.getLogger("revops.actors")

_FEATURE_NEWS = (EconomicsUpdate, FeeStateUpdate, MempoolState, RefillCosts)

# How long a coordinator waits on the RpcActor or StoreActor. RPC calls
# carry their own deadline; this bounds everything else (a stuck queue).
ASK_TIMEOUT = 120.0


def answer(request: Any, fn: Callable[[], Any]) -> None:
    """Run ``fn`` and answer ``request`` with its result, or with a JSON-RPC
    error that says what was wrong (never a traceback for bad input)."""
    try:
        result = fn()
    except RpcError as e:
        request.set_exception(RpcException(e.message, e.code))
        return
    except Exception as e:  # a bug: still answer, and log it loudly
        log.exception("command %s failed", getattr(request, "method", "?"))
        request.set_exception(RpcException(f"internal error: {type(e).__name__}: {e}", -1))
        return
    request.set_result(result)


class Coordinator(pykka.ThreadingActor):
    """Base for FeeCoordinator, FlowCoordinator, MempoolCoordinator,
    RebalanceCoordinator. Subclasses implement :meth:`cycle` and register
    their commands in :attr:`commands`."""

    name: ClassVar[str] = "coordinator"
    use_daemon_thread = True

    def __init__(self, deps: Dependencies, config: ConfigSnapshot, metrics: Metrics,
                 parent: pykka.ActorRef[Any] | None) -> None:
        super().__init__()
        self.deps = deps
        self.config = config
        self.metrics = metrics
        self.parent = parent
        self.commands: dict[str, Callable[[Mapping[str, Any], float], Any]] = {}
        self.rpc_calls = 0  # RPC calls made during the current cycle (for status and benches)
        self._proxies: dict[str, Any] = {}

    # -- subclass API ----------------------------------------------------------
    def cycle(self, now: float, config: ConfigSnapshot, forced: bool) -> Mapping[str, Any]:
        """One cycle's work; returns a small summary for status."""
        raise NotImplementedError

    def on_config(self, old: ConfigSnapshot, new: ConfigSnapshot) -> None:
        """React to a new config snapshot (between cycles)."""

    def on_dependencies(self, deps: Dependencies) -> None:
        """React to new shared-actor refs."""

    def on_notification(self, note: Notification) -> None:
        """A lightningd notification (tell; never blocks on RPC)."""

    def handle(self, message: Any) -> Any:
        """Messages a subclass handles; news from the other features that
        this coordinator has no use for is dropped quietly."""
        if isinstance(message, _FEATURE_NEWS):
            return None
        return super().on_receive(message)

    # -- helpers ---------------------------------------------------------------
    def rpc(self, method: str, params: Any = None, filter: Any = None) -> Any:
        """Ask the RpcActor; returns an ``RpcResult`` (never raises for RPC errors)."""
        return self.rpc_async(method, params, filter).get(timeout=ASK_TIMEOUT)

    def rpc_async(self, method: str, params: Any = None, filter: Any = None
                  ) -> pykka.Future[Any]:
        """Queue a call at the RpcActor now, its ``RpcResult`` later: calls
        queued together run back to back, not interleaved with other
        coordinators' (slow) calls."""
        self.rpc_calls += 1
        return self._proxy("rpc", self.deps.rpc).call(method, params, filter)

    @property
    def store(self) -> Any:
        return self._proxy("store", self.deps.store)

    def _proxy(self, role: str, ref: pykka.ActorRef[Any]) -> Any:
        """A proxy of the actor in ``role``, built once per ref: building one
        introspects the actor, and a cycle makes hundreds of calls (a
        restarted actor is a new ref, so a new proxy)."""
        proxy = self._proxies.get(role)
        if proxy is None or proxy.actor_ref is not ref:
            proxy = self._proxies[role] = ref.proxy()
        return proxy

    def peer(self, name: str) -> pykka.ActorRef[Any] | None:
        return self.deps.peers.get(name)

    # -- message loop ---------------------------------------------------------------
    def on_receive(self, message: Any) -> Any:
        if isinstance(message, Tick):
            return self._tick(message)
        if isinstance(message, Ping):
            return True
        if isinstance(message, Notification):
            return self.on_notification(message)
        if isinstance(message, Command):
            handler = self.commands.get(message.name)
            if handler is None:
                message.request.set_exception(
                    RpcException(f"{self.name} does not handle {message.name}", -32601))
                return None
            answer(message.request, lambda: handler(message.params, message.now))
            return None
        if isinstance(message, ConfigChanged):
            old, self.config = self.config, message.snapshot
            self.on_config(old, message.snapshot)
            return None
        if isinstance(message, Dependencies):
            self.deps = message
            self.on_dependencies(message)
            return None
        if isinstance(message, Crash):
            raise CrashRequested(message.reason)
        return self.handle(message)

    def _tick(self, tick: Tick) -> None:
        config = self.config
        start = time.monotonic()
        self.rpc_calls = 0
        summary: Mapping[str, Any] = {}
        error: BaseException | None = None
        try:
            summary = self.cycle(tick.now, config, tick.forced) or {}
        except Exception as e:
            error = e
        seconds = time.monotonic() - start
        summary = {**summary, "rpc_calls": self.rpc_calls}
        self.metrics.cycle_seconds.labels(self.name).observe(seconds)
        self.tell_parent(CycleDone(self.name, tick.now, seconds, error is None, dict(summary),
                                   None if error is None else f"{type(error).__name__}: {error}"))
        if tick.ack is not None:
            tick.ack.set(dict(summary) if error is None else {"error": repr(error)})
        if error is not None:
            raise error

    def on_failure(self, exc_type: Any, exc_value: Any, tb: Any) -> None:
        self.tell_parent(ChildFailed(self.name, f"{exc_type.__name__}: {exc_value}",
                                     self.actor_urn))

    def tell_parent(self, message: Any) -> None:
        """Report upward. A parent that is stopping (the plugin shuts down
        while this cycle ran) has no use for it: that is not an error."""
        if self.parent is None:
            return
        try:
            self.parent.tell(message)
        except pykka.ActorDeadError:
            log.debug("%s: parent gone, dropped %s", self.name, type(message).__name__)
