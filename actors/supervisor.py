"""The Supervisor: starts every actor in dependency order, restarts the ones
that crash (within a restart budget), publishes config snapshots, answers
``revenue-status`` and ``revenue-config``, and stops everything in reverse
order.

pykka has no supervision and a stopped actor cannot be restarted, so this is
done by hand: children report their crash upward (``ChildFailed`` from
``on_failure``), and the Supervisor also checks liveness on every
``Advance``; a dead child is replaced by a fresh one started from persisted
state, and everyone holding its ref gets the new one. A child that crashes
more than its budget allows (``actor-restart-limit`` in
``actor-restart-window`` seconds) is given up on: it shows as ``degraded`` in
``revenue-status`` and the rest of the plugin runs on.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import pykka
from pyln.client.plugin import RpcException

from actors.coordinator import ASK_TIMEOUT, answer
from actors.messages import (
    Advance,
    ChildDegraded,
    ChildFailed,
    Command,
    ConfigChanged,
    Crash,
    CycleDone,
    Dependencies,
    Notification,
    Ping,
    RunSoon,
)
from revops import __version__
from revops.clock import Clock
from revops.config import (
    SPECS,
    ConfigError,
    ConfigSnapshot,
    StartupConfig,
    build_startup_config,
    describe,
    lookup,
    refusal_of_change,
)
from revops.jsonrpc import JSONRPC2_INVALID_PARAMS, RpcError
from revops.metrics import Metrics, MetricsEndpoint
from revops.storage import marker
from revops.supervision import RestartBudget

log = logging.getLogger("revops.supervisor")


@dataclass
class Child:
    """The Supervisor's book on one child (mutable, owned by the Supervisor)."""

    name: str
    start: Callable[[], pykka.ActorRef[Any]]
    ref: pykka.ActorRef[Any] | None = None
    budget: RestartBudget = field(default_factory=lambda: RestartBudget(5, 600))
    restarts: int = 0
    state: str = "starting"  # running | degraded | stopped
    last_error: str | None = None
    last_cycle: CycleDone | None = None
    started_at: float = 0.0


@dataclass(frozen=True)
class Runtime:
    """Everything the Supervisor needs from the plugin shell, decided at init."""

    clock: Clock
    metrics: Metrics
    startup: StartupConfig
    init_options: Mapping[str, Any]
    db_path: str
    rpc_path: str
    # name -> factory(deps, config, metrics, parent) for each coordinator, in start order
    coordinators: tuple[tuple[str, Callable[..., pykka.ActorRef[Any]]], ...]
    store_factory: Callable[[], pykka.ActorRef[Any]]
    rpc_factory: Callable[[ConfigSnapshot], pykka.ActorRef[Any]]
    endpoint_factory: Callable[[ConfigSnapshot], MetricsEndpoint]
    ticker_factory: Callable[[ConfigSnapshot, float], pykka.ActorRef[Any]]
    on_stopped: Callable[[], None] = lambda: None
    dev: bool = False
    # Command name -> coordinator that answers it.
    routes: Mapping[str, str] = field(default_factory=dict)


class Supervisor(pykka.ThreadingActor):
    use_daemon_thread = True

    def __init__(self, runtime: Runtime) -> None:
        super().__init__()
        self.rt = runtime
        self.metrics = runtime.metrics
        self.config: ConfigSnapshot = runtime.startup.snapshot
        self.option_values = runtime.startup.option_values
        self.started_at = runtime.clock.now()
        self.children: dict[str, Child] = {}
        self.order: list[str] = []
        self.endpoint: MetricsEndpoint | None = None
        self.schema_version: int | None = None
        self.ignored_overrides: tuple[str, ...] = runtime.startup.ignored_overrides
        self.degraded_grandchildren: dict[str, str] = {}
        self.first_cycle_wall: dict[str, float] = {}
        self.started_wall = time.monotonic()
        self.stopping = False
        self.boot_error: str | None = None
        self.marker_written = False
        self.marker_warned = False

    # -- lifecycle --------------------------------------------------------------
    def on_start(self) -> None:
        try:
            self._boot()
        except Exception as e:
            # Stay up to say why in revenue-status; never crash-loop.
            self.boot_error = f"{type(e).__name__}: {e}"
            log.exception("revops failed to start")

    def _boot(self) -> None:
        store = self._add_child("store", self.rt.store_factory)
        overrides = store.proxy().get_overrides().get(timeout=ASK_TIMEOUT)
        self.schema_version = store.proxy().schema_version().get(timeout=ASK_TIMEOUT)
        startup = build_startup_config(self.rt.init_options, overrides)
        self.config = startup.snapshot
        self.ignored_overrides = startup.ignored_overrides
        for problem in self.ignored_overrides:
            log.warning("ignoring stored override: %s", problem)
        self._apply_budgets()
        self._add_child("rpc", lambda: self.rt.rpc_factory(self.config))
        self._mark_database()
        for name, factory in self.rt.coordinators:
            self._add_child(name, self._coordinator_starter(name, factory))
        self._add_child("ticker", lambda: self.rt.ticker_factory(self.config, self.rt.clock.now()))
        self._wire()
        self.endpoint = self.rt.endpoint_factory(self.config)
        self.metrics.up.set(1)
        self.metrics.info.labels(__version__).set(1)
        self.metrics.config_generation.set(self.config.generation)
        log.info("revops %s started: %d actors, db %s (schema v%s), metrics %s",
                 __version__, len(self.children), self.rt.db_path, self.schema_version,
                 self.endpoint.status()["state"])

    def _coordinator_starter(self, name: str, factory: Callable[..., Any]) -> Callable[[], Any]:
        return lambda: factory(self._deps(), self.config, self.metrics, self.actor_ref)

    def _add_child(self, name: str, start: Callable[[], pykka.ActorRef[Any]]) -> pykka.ActorRef[Any]:
        child = Child(name, start)
        child.budget = RestartBudget(int(self.config["actor-restart-limit"]),
                                     float(self.config["actor-restart-window"]))
        child.ref = start()
        child.state = "running"
        child.started_at = self.rt.clock.now()
        self.children[name] = child
        self.order.append(name)
        return child.ref

    def _apply_budgets(self) -> None:
        for child in self.children.values():
            child.budget = child.budget.with_limits(int(self.config["actor-restart-limit"]),
                                                    float(self.config["actor-restart-window"]))

    def _ref(self, name: str) -> pykka.ActorRef[Any] | None:
        child = self.children.get(name)
        return child.ref if child is not None and child.state == "running" else None

    def _deps(self) -> Dependencies:
        peers = {name: c.ref for name, c in self.children.items()
                 if c.ref is not None and c.state == "running"
                 and name not in ("store", "rpc", "ticker")}
        return Dependencies(rpc=self.children["rpc"].ref, store=self.children["store"].ref,
                            peers=peers)

    def _wire(self) -> None:
        """Give every coordinator the current refs, and the ticker its targets."""
        deps = self._deps()
        for name, _ in self.rt.coordinators:
            ref = self._ref(name)
            if ref is not None:
                ref.tell(deps)
        ticker = self._ref("ticker")
        if ticker is not None:
            ticker.proxy().set_coordinators(deps.peers)

    def stop_children(self) -> None:
        """Stop in reverse start order, then close the metrics endpoint."""
        self.stopping = True
        for name in reversed(self.order):
            child = self.children[name]
            if child.ref is not None and child.ref.is_alive():
                try:
                    child.ref.stop(block=True, timeout=10)
                except (pykka.Timeout, pykka.ActorDeadError):
                    log.error("actor %s did not stop in time", name)
            child.state = "stopped"
        if self.endpoint is not None:
            self.endpoint.stop()
        self.metrics.up.set(0)

    def on_stop(self) -> None:
        if not self.stopping:
            self.stop_children()
        self.rt.on_stopped()

    # -- supervision --------------------------------------------------------------
    def _child_failed(self, name: str, error: str, urn: str | None = None) -> None:
        if self.stopping:
            return
        child = self.children.get(name)
        if child is None or child.state != "running":
            return
        if urn is not None and child.ref is not None and child.ref.actor_urn != urn:
            return  # about an incarnation already replaced (found dead earlier)
        now = self.rt.clock.now()
        child.last_error = error
        budget, allowed = child.budget.try_restart(now)
        child.budget = budget
        self._record_event(now, name, "crashed", error)
        if not allowed:
            child.state = "degraded"
            child.ref = None
            self.metrics.actors_degraded.set(self._degraded_count())
            log.error("actor %s crashed %d times within %ss; giving up on it (degraded): %s",
                      name, len(budget.restarts) + 1, budget.window, error)
            self._record_event(now, name, "escalated", error)
            self._wire()
            return
        if child.ref is not None and child.ref.is_alive():
            child.ref.stop(block=False)
        try:
            child.ref = child.start()
        except Exception as e:  # the restart itself failed: count it, try later
            log.exception("restarting %s failed", name)
            child.ref = None
            child.state = "degraded"
            child.last_error = f"restart failed: {e}"
            self.metrics.actors_degraded.set(self._degraded_count())
            return
        child.restarts += 1
        child.started_at = now
        self.metrics.actor_restarts.labels(name).inc()
        log.warning("actor %s crashed (%s); restarted from persisted state (%d restarts)",
                    name, error, child.restarts)
        self._record_event(now, name, "restarted", error)
        self._wire()
        if name == "ticker" or name == "rpc":
            # Fresh ones start from the current snapshot; nothing else to redo.
            pass

    def _degraded_count(self) -> int:
        return (sum(1 for c in self.children.values() if c.state == "degraded")
                + len(self.degraded_grandchildren))

    def _record_event(self, now: float, actor: str, kind: str, detail: str) -> None:
        store = self._ref("store")
        if store is None or actor == "store":
            return
        try:
            store.proxy().record_actor_event(now, actor, kind, detail[:500])
        except pykka.ActorDeadError:
            pass

    def _mark_database(self) -> None:
        """Leave (or renew) the marker of our database in lightningd's
        datastore (``revops/storage/marker.py``); retried on every Advance
        until it is written."""
        store, rpc = self._ref("store"), self._ref("rpc")
        if self.marker_written or store is None or rpc is None:
            return
        try:
            db_id = store.proxy().database_id().get(timeout=ASK_TIMEOUT)
            listed = rpc.proxy().call("listdatastore", {"key": list(marker.KEY)}).get(
                timeout=ASK_TIMEOUT)
            if not listed.ok:
                raise RuntimeError(f"listdatastore: {listed.message or listed.kind}")
            old = marker.parse(listed.result)
            if old is not None and not marker.replaced(old, db_id):
                self.marker_written = True
                return
            if old is not None:
                log.warning("database %s (%s) replaces database %s (%s) in lightningd's "
                            "datastore marker", db_id, self.rt.db_path, old.db_id, old.path)
            new = marker.Marker(db_id, self.rt.db_path, self.rt.clock.now())
            wrote = rpc.proxy().call("datastore", {
                "key": list(marker.KEY), "string": new.to_json(),
                "mode": "create-or-replace"}).get(timeout=ASK_TIMEOUT)
            if not wrote.ok:
                raise RuntimeError(f"datastore: {wrote.message or wrote.kind}")
        except Exception as e:  # noqa: BLE001 - retried at the next Advance
            if not self.marker_warned:
                log.warning("database marker not written yet (retrying): %s", e)
                self.marker_warned = True
            return
        self.marker_written = True
        log.info("database %s marked in lightningd's datastore", db_id)

    def _check_liveness(self) -> None:
        for name in list(self.order):
            child = self.children[name]
            if child.state == "running" and child.ref is not None and not child.ref.is_alive():
                self._child_failed(name, child.last_error or "actor found dead")

    # -- messages -------------------------------------------------------------------
    def on_receive(self, message: Any) -> Any:
        if isinstance(message, Advance):
            self._check_liveness()
            self._mark_database()
            ticker = self._ref("ticker")
            if ticker is None:
                if message.request is not None:
                    message.request.set_result({"now": message.now, "next_wakeup": None})
                return None
            ticker.tell(message)
            return None
        if isinstance(message, CycleDone):
            child = self.children.get(message.name)
            if child is not None:
                child.last_cycle = message
            if message.ok and message.name not in self.first_cycle_wall:
                self.first_cycle_wall[message.name] = time.monotonic() - self.started_wall
            if message.name == "fee" and "channels" in message.summary:
                self.metrics.channels.set(message.summary["channels"])
            return None
        if isinstance(message, ChildFailed):
            self._child_failed(message.name, message.error, message.urn)
            return None
        if isinstance(message, ChildDegraded):
            self.degraded_grandchildren[message.name] = message.error
            self.metrics.actors_degraded.set(self._degraded_count())
            return None
        if isinstance(message, Notification):
            for name, _ in self.rt.coordinators:
                ref = self._ref(name)
                if ref is not None:
                    ref.tell(message)
            return None
        if isinstance(message, Command):
            return self._command(message)
        if isinstance(message, RunSoon):
            ticker = self._ref("ticker")
            if ticker is not None:
                ticker.proxy().force(message.coordinator)
            return None
        if isinstance(message, Ping):
            return True
        return super().on_receive(message)

    def _command(self, cmd: Command) -> None:
        if cmd.name == "revenue-status":
            answer(cmd.request, lambda: self.status(cmd.now))
        elif cmd.name == "revenue-config":
            answer(cmd.request, lambda: self.config_command(cmd.params))
        elif cmd.name == "revenue-dev-crash":
            answer(cmd.request, lambda: self.crash(cmd.params["actor"]))
        else:
            target = self.rt.routes.get(cmd.name)
            ref = self._ref(target) if target else None
            if ref is None:
                state = self.children[target].state if target in self.children else "absent"
                cmd.request.set_exception(RpcException(
                    f"{cmd.name} is unavailable: the {target or '?'} actor is {state} "
                    "(see revenue-status)", -1))
                return
            ref.tell(cmd)

    # -- revenue-status ----------------------------------------------------------------
    def status(self, now: float) -> dict[str, Any]:
        actors = {}
        channels = None
        for name in self.order:
            c = self.children[name]
            entry: dict[str, Any] = {
                "state": c.state,
                "alive": bool(c.ref is not None and c.ref.is_alive()),
                "restarts": c.restarts,
            }
            if c.last_error:
                entry["last_error"] = c.last_error
            if c.last_cycle is not None:
                entry["last_tick"] = c.last_cycle.now
                entry["last_tick_seconds"] = round(c.last_cycle.seconds, 6)
                entry["last_tick_ok"] = c.last_cycle.ok
                entry["last_tick_summary"] = dict(c.last_cycle.summary)
                if c.last_cycle.error:
                    entry["last_tick_error"] = c.last_cycle.error
                if name == "fee":
                    channels = c.last_cycle.summary.get("channels", channels)
            actors[name] = entry
        degraded = sorted([n for n, c in self.children.items() if c.state == "degraded"]
                          + list(self.degraded_grandchildren))
        out: dict[str, Any] = {
            "version": __version__,
            "started": self.boot_error is None,
            "uptime_seconds": round(max(0.0, now - self.started_at), 3),
            "dry_run": bool(self.config["dry-run"]),
            "config_generation": self.config.generation,
            "database": {"path": self.rt.db_path, "schema_version": self.schema_version},
            "channels": channels,
            "actors": actors,
            "degraded": degraded,
            "healthy": not degraded,
            "metrics": self.endpoint.status() if self.endpoint else {"state": "starting"},
            "simulated_clock": bool(getattr(self.rt.clock, "driven", False)),
        }
        if self.boot_error:
            out["error"] = self.boot_error
            out["healthy"] = False
        if self.degraded_grandchildren:
            out["degraded_detail"] = dict(self.degraded_grandchildren)
        if self.ignored_overrides:
            out["ignored_overrides"] = list(self.ignored_overrides)
        if self.first_cycle_wall:
            out["first_cycle_wall_seconds"] = {k: round(v, 3)
                                               for k, v in self.first_cycle_wall.items()}
        return out

    # -- revenue-config ------------------------------------------------------------------
    def config_command(self, params: Mapping[str, Any]) -> dict[str, Any]:
        action = params["action"]
        key = params.get("key")
        if action == "list":
            return {"generation": self.config.generation,
                    "config": [describe(self.config, k) for k in sorted(SPECS)]}
        if action == "get":
            if key is None:
                return {"generation": self.config.generation,
                        "config": {k: self.config[k] for k in sorted(SPECS)}}
            spec = self._spec(key)
            return {"generation": self.config.generation, **describe(self.config, spec.key)}
        if key is None:
            raise RpcError(JSONRPC2_INVALID_PARAMS,
                           f"key: required for '{action}'; accepted: one of {', '.join(sorted(SPECS))}")
        spec = self._spec(key)
        if not spec.runtime:
            raise RpcError(JSONRPC2_INVALID_PARAMS,
                           f"key: {spec.key} is a startup option: set --{spec.option_name} in "
                           "lightningd's config and restart the plugin")
        store = self._ref("store")
        if store is None:
            raise RpcError(-1, "the database actor is not running; nothing was changed")
        old = self.config[spec.key]
        if action == "set":
            if params.get("value") is None:
                raise RpcError(JSONRPC2_INVALID_PARAMS,
                               f"value: required for 'set'; accepted: {spec.accepted}")
            try:
                value = spec.parse(params["value"])
            except ConfigError as e:
                raise RpcError(JSONRPC2_INVALID_PARAMS, f"value: {e}") from None
            self._refuse_contradiction(spec.key, value, "value: ")
            stored = store.proxy().set_override(spec.key, spec.format(value)).get(
                timeout=ASK_TIMEOUT)
            readback = spec.parse(stored)
            if readback != value:
                raise RpcError(-1, f"{spec.key}: stored value '{stored}' does not read back "
                                   f"as {spec.format(value)}; not applied")
            new_snapshot = self.config.with_value(spec.key, readback, "override")
        elif action == "reset":
            back = self.option_values.get(spec.key, spec.default)
            self._refuse_contradiction(spec.key, back, f"key: reset to {back} refused: ")
            store.proxy().delete_override(spec.key).get(timeout=ASK_TIMEOUT)
            if spec.key in self.option_values:
                new_snapshot = self.config.with_value(spec.key, self.option_values[spec.key],
                                                      "option")
            else:
                new_snapshot = self.config.with_value(spec.key, spec.default, "default")
        else:  # the command layer only lets the four actions through
            raise RpcError(JSONRPC2_INVALID_PARAMS, f"action: unknown '{action}'")
        self._publish(new_snapshot)
        log.info("config %s: %s -> %s (generation %d)", spec.key, old,
                 new_snapshot[spec.key], new_snapshot.generation)
        return {"generation": new_snapshot.generation, "key": spec.key, "old": old,
                "value": new_snapshot[spec.key], "source": new_snapshot.sources[spec.key]}

    def _refuse_contradiction(self, key: str, value: Any, prefix: str) -> None:
        """Nothing is stored when the change would contradict another key."""
        why = refusal_of_change(self.config, key, value)
        if why is not None:
            raise RpcError(JSONRPC2_INVALID_PARAMS, f"{prefix}{why}; nothing was changed")

    def _spec(self, key: str) -> Any:
        try:
            return lookup(key)
        except ConfigError as e:
            raise RpcError(JSONRPC2_INVALID_PARAMS, f"key: {e}") from None

    def _publish(self, snapshot: ConfigSnapshot) -> None:
        self.config = snapshot
        self._apply_budgets()
        self.metrics.config_generation.set(snapshot.generation)
        msg = ConfigChanged(snapshot)
        for name in self.order:
            ref = self._ref(name)
            if ref is None or name == "store":
                continue
            if name == "rpc":
                ref.proxy().set_timeout(float(snapshot["rpc-timeout"]))
            else:
                ref.tell(msg)

    # -- dev ------------------------------------------------------------------------------
    def crash(self, actor: str) -> dict[str, Any]:
        if not self.rt.dev:
            raise RpcError(-32601, "revenue-dev-crash exists only under revops-sim")
        if actor.startswith("channel:"):
            fee = self._ref("fee")
            if fee is None:
                raise RpcError(-1, "fee coordinator not running")
            fee.tell(Crash(actor))
            return {"crashing": actor}
        ref = self._ref(actor)
        if ref is None:
            raise RpcError(JSONRPC2_INVALID_PARAMS,
                           f"actor: should be one of {', '.join(self.order)} or channel:<scid>: "
                           f"invalid token '{actor}'")
        if actor in ("store", "rpc", "ticker"):
            ref.stop(block=False)  # not Crash-aware: stopping it is its death
        else:
            ref.tell(Crash("revenue-dev-crash"))
        # Wait for the death and supervise it now, so the next command or
        # tick already sees the restarted actor (its own report comes later
        # and is recognised as stale).
        ref.actor_stopped.wait(10)
        self._child_failed(actor, "CrashRequested: revenue-dev-crash")
        return {"crashed": actor, "restarted": self.children[actor].state == "running"}
