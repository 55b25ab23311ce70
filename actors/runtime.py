"""Assembling the actor system: which actors exist, what each is given, and
in which order they start. The plugin shell calls :func:`build_runtime` at
init; actor tests call it too, with a fake lightningd transport, so they
exercise the same wiring."""

from __future__ import annotations

from typing import Any, Mapping

from actors.fee import FeeCoordinator
from actors.flow import FlowCoordinator
from actors.mempool import MempoolCoordinator
from actors.pool import ActorPool
from actors.rebalance import RebalanceCoordinator
from actors.rpc import RpcActor, TransportFactory
from actors.store import StoreActor
from actors.supervisor import Runtime
from actors.ticker import Ticker
from revops.clock import Clock
from revops.commands import routes
from revops.config import StartupConfig, parse_address
from revops.metrics import Metrics, start_endpoint


def build_runtime(*, clock: Clock, startup: StartupConfig, init_options: Mapping[str, Any],
                  db_path: str, rpc_path: str, transport: TransportFactory,
                  pool: ActorPool, metrics: Metrics, driven: bool, dev: bool) -> Runtime:
    return Runtime(
        clock=clock,
        metrics=metrics,
        startup=startup,
        init_options=dict(init_options),
        db_path=db_path,
        rpc_path=rpc_path,
        coordinators=(
            ("mempool", lambda *a: MempoolCoordinator.start(*a)),
            ("flow", lambda *a: FlowCoordinator.start(*a)),
            ("fee", lambda *a: FeeCoordinator.start(*a, pool=pool)),
            ("rebalance", lambda *a: RebalanceCoordinator.start(*a)),
        ),
        store_factory=lambda: StoreActor.start(db_path, clock),
        rpc_factory=lambda cfg: RpcActor.start(transport, float(cfg["rpc-timeout"]), metrics),
        endpoint_factory=lambda cfg: start_endpoint(
            parse_address(cfg["metrics-address"]), metrics.registry, cfg["metrics-address"]),
        ticker_factory=lambda cfg, start: Ticker.start(cfg, start, driven),
        dev=dev,
        routes=routes(),
    )
