"""Prometheus series revops exports, and the HTTP endpoint that serves them.

No module-level metrics: a :class:`Metrics` is built on a registry at start
and injected into whoever updates it (tests pass a fresh
``CollectorRegistry`` and read it back with ``get_sample_value``). A scrape
never triggers an RPC: series are updated by the actors as they work.

Naming: ``revops_`` prefix, unit in the name, ``_total`` only on counters,
balances as gauges, msat everywhere. Per-channel series are labelled by
``scid`` only and removed when the channel closes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

log = logging.getLogger("revops.metrics")

_RPC_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_CYCLE_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class Metrics:
    """Every series revops exports, registered on one registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.up = Gauge("revops_up", "1 while the plugin runs", registry=r)
        self.info = Gauge("revops_info", "Static facts about this revops",
                          ["version"], registry=r)
        self.channels = Gauge("revops_channels", "Open channels with a channel actor",
                              registry=r)
        self.config_generation = Gauge("revops_config_generation",
                                       "Generation of the published config snapshot",
                                       registry=r)
        self.actor_restarts = Counter("revops_actor_restarts_total",
                                      "Actor restarts by the supervisor", ["actor"],
                                      registry=r)
        self.actors_degraded = Gauge("revops_actors_degraded",
                                     "Actors given up on after their restart budget",
                                     registry=r)
        self.rpc_call_seconds = Histogram("revops_rpc_call_seconds",
                                          "Wall time of RPC calls to lightningd", ["method"],
                                          buckets=_RPC_BUCKETS, registry=r)
        self.rpc_errors = Counter("revops_rpc_errors_total",
                                  "RPC calls to lightningd that failed", ["method"],
                                  registry=r)
        self.cycle_seconds = Histogram("revops_cycle_seconds",
                                       "Wall time of one coordinator cycle", ["coordinator"],
                                       buckets=_CYCLE_BUCKETS, registry=r)

        # Each feature's own series, as metrics.<feature name>.
        from revops.features import FEATURES
        for feature in FEATURES:
            if feature.metrics is not None:
                setattr(self, feature.name, feature.metrics(r))

    def sample(self, name: str, labels: dict[str, str] | None = None) -> float | None:
        return self.registry.get_sample_value(name, labels or {})


@dataclass
class MetricsEndpoint:
    """The HTTP server, or why there is none (off, or the port was taken)."""

    address: str
    state: str  # "listening" | "off" | "failed"
    error: str | None = None
    port: int | None = None
    _server: Any = None
    _thread: Any = None

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {"address": self.address, "state": self.state}
        if self.port is not None:
            out["port"] = self.port
        if self.error:
            out["error"] = self.error
        return out

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = None
            self.state = "stopped"


def start_endpoint(hostport: tuple[str, int] | None, registry: CollectorRegistry,
                   address: str) -> MetricsEndpoint:
    """Serve ``registry`` on ``hostport``; a port in use is not fatal."""
    if hostport is None:
        return MetricsEndpoint(address, "off")
    host, port = hostport
    try:
        server, thread = start_http_server(port, addr=host, registry=registry)
    except OSError as e:
        log.warning("metrics endpoint %s not started: %s", address, e)
        return MetricsEndpoint(address, "failed", error=str(e))
    bound = server.server_address[1]
    return MetricsEndpoint(address, "listening", port=bound, _server=server, _thread=thread)
