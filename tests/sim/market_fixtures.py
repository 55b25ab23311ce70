"""Helpers for the market tests: small scenarios, and calling the real RPC
handlers without the host's socket server (a tiny node with ``.market``)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from revops.sim import market_rpc
from revops.sim.jsonrpc import MethodTable, RpcError, apply_filter, unknown_command
from revops.sim.market import Market
from revops.sim.scenario import ChannelSpec, Flow, Scenario
from revops.sim.schemas import has_schema, validate_response


class FakeNode:
    """What the host hands a handler: the market, the lightning dir, and
    ``changed()``, which here advances the market one minute (the host
    resolves it after its next advance)."""

    def __init__(self, market: Market, step_s: float = 60.0) -> None:
        self.market = market
        self.lightning_dir = "/tmp/revops-sim-test"
        self.step_s = step_s
        self.notifications: list[tuple[str, dict[str, Any]]] = []

    async def changed(self) -> None:
        self.notifications.extend(self.market.advance(self.market.now + self.step_s))


def method_table() -> MethodTable:
    table = MethodTable()
    market_rpc.register(table)
    return table


def call(table: MethodTable, node: FakeNode, method: str, params: Any = None,
         filter: Any = None, validate: bool = True) -> dict[str, Any]:
    """Dispatch like lightningd: look up, bind params, run, filter; check the
    answer against CLN's schema when there is one."""
    spec = table.get(method)
    if spec is None:
        raise unknown_command(method)
    kwargs = spec.bind(params)
    result = spec.handler(node, **kwargs)
    if asyncio.iscoroutine(result):
        result = asyncio.run(result)
    if validate and has_schema(method):
        validate_response(method, result)
    if filter is not None:
        result = apply_filter(result, filter)
    return result


def rpc_error(table: MethodTable, node: FakeNode, method: str, params: Any = None) -> RpcError:
    try:
        call(table, node, method, params)
    except RpcError as e:
        return e
    raise AssertionError(f"{method} {params} did not fail")


def chan(name: str, capacity_sat: int = 10_000_000, local_sat: int = 5_000_000,
         **kw: Any) -> ChannelSpec:
    return ChannelSpec(name=name, capacity_sat=capacity_sat, local_sat=local_sat,
                       peer_alias=kw.pop("peer_alias", name), **kw)


def two_channel_scenario(rate_per_day: float = 2000.0, alt_ppm: float = 300.0,
                         alt_sigma: float = 0.3, in_kw: dict[str, Any] | None = None,
                         out_kw: dict[str, Any] | None = None, **kw: Any) -> Scenario:
    """One flow ``in`` -> ``out``: the smallest market that forwards."""
    from revops.sim.scenario import scenario_from_dict  # fills derived peer ids
    # Deep channels, so liquidity only runs out when a test wants it to.
    in_spec = {"capacity_sat": 200_000_000, "local_sat": 1_000_000, **(in_kw or {})}
    out_spec = {"capacity_sat": 200_000_000, "local_sat": 199_000_000, **(out_kw or {})}
    channels = [chan("in", **in_spec), chan("out", **out_spec)]
    flows = [Flow("in", "out", rate_per_day, amount_median_sat=20_000, amount_sigma=0.8,
                  alt_fee_median_ppm=alt_ppm, alt_fee_sigma=alt_sigma, alt_fee_base_msat=1000,
                  fail_rate=kw.pop("fail_rate", 0.05))]
    raw = {"name": "two", "channels": [_spec_dict(c) for c in channels],
           "flows": [_flow_dict(f) for f in flows]}
    raw.update(kw)
    return scenario_from_dict(raw, "<test>")


def _spec_dict(c: ChannelSpec) -> dict[str, Any]:
    d = {k: v for k, v in c.__dict__.items() if v is not None and k != "peer_id"}
    return d


def _flow_dict(f: Flow) -> dict[str, Any]:
    d = {k: v for k, v in f.__dict__.items() if k not in ("in_channel", "out_channel", "profile")}
    d["in"], d["out"] = f.in_channel, f.out_channel
    if f.profile:
        d["profile"] = [{"from_day": p.from_day, "multiplier": p.multiplier} for p in f.profile]
    return d


def with_channel(s: Scenario, name: str, **changes: Any) -> Scenario:
    return replace(s, channels=tuple(replace(c, **changes) if c.name == name else c
                                     for c in s.channels))
