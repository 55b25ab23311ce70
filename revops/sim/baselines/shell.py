"""What every baseline plugin shares: a small real pyln plugin that runs one
fee policy on a schedule, through lightningd's own RPC.

A policy is an object with ``interval`` (seconds between cycles),
``configure(options)`` (its plugin options, at ``init``) and
``cycle(node, now)``, which reads channels and sets fees through the
:class:`Node` helper. The shell:

- registers the policy's options and ``<name>-status`` (cycles run,
  ``setchannel`` calls made, fees set);
- under revops-sim, speaks the simclock protocol of ``revops/clock.py``
  (``simclock-advance`` exists only when ``REVOPS_SIMCLOCK`` is set): a
  clock call runs the cycle if it is due, then answers with the next
  wake-up, so a run is the same for the same seed on any machine;
- on a real node, runs the cycle from a timer thread instead;
- runs a cycle at the next clock call after any ``channel_state_changed``
  (a newly opened channel gets its fee within one step, as an operator's
  tool reacting to the event would);
- exits on ``shutdown``.

Everything happens in pyln's dispatch thread (or the one timer thread):
no shared state between threads in simulated mode.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from pyln.client import Plugin, RpcError

from revops.clock import SIMCLOCK_METHOD, clock_from_env

NORMAL = "CHANNELD_NORMAL"
CHANNEL_FIELDS = {"peer_id": True, "state": True, "short_channel_id": True, "channel_id": True,
                  "to_us_msat": True, "total_msat": True, "fee_base_msat": True,
                  "fee_proportional_millionths": True}


@dataclass(frozen=True)
class Channel:
    """What a baseline needs of one of our channels (CHANNELD_NORMAL only)."""

    scid: str
    channel_id: str
    peer_id: str
    to_us_msat: int
    total_msat: int
    fee_base_msat: int
    fee_ppm: int


@dataclass(frozen=True)
class Option:
    name: str
    default: str
    description: str


class Node:
    """The policy's view of lightningd: a few RPC calls, counted."""

    def __init__(self, plugin: Plugin) -> None:
        self.plugin = plugin
        self.setchannel_calls = 0
        self.rpc_calls = 0

    def channels(self) -> list[Channel]:
        self.rpc_calls += 1
        res = self.plugin.rpc.call("listpeerchannels", {}, filter={"channels": [CHANNEL_FIELDS]})
        out = []
        for c in res.get("channels", []):
            if c.get("state") != NORMAL or "short_channel_id" not in c:
                continue
            out.append(Channel(c["short_channel_id"], c["channel_id"], c["peer_id"],
                               int(c["to_us_msat"]), int(c["total_msat"]),
                               int(c["fee_base_msat"]), int(c["fee_proportional_millionths"])))
        return out

    def call(self, method: str, params: Mapping[str, Any]) -> Any:
        self.rpc_calls += 1
        return self.plugin.rpc.call(method, dict(params))

    def set_fee(self, channel: Channel, base_msat: int, ppm: int) -> bool:
        """``setchannel`` for one channel; False if lightningd refused."""
        self.rpc_calls += 1
        self.setchannel_calls += 1
        try:
            self.plugin.rpc.call("setchannel", {"id": channel.scid, "feebase": base_msat,
                                                "feeppm": ppm})
        except RpcError as e:
            self.plugin.log(f"setchannel {channel.scid} failed: {e.error}", level="unusual")
            return False
        return True


class Policy(Protocol):
    interval: float

    def configure(self, options: Mapping[str, Any]) -> None: ...

    def cycle(self, node: Node, now: float) -> None: ...


def serve(name: str, policy: Policy, options: tuple[Option, ...] = ()) -> None:
    """Build and run the plugin for ``policy`` (never returns)."""
    plugin = Plugin(dynamic=True)
    clock = clock_from_env()
    node = Node(plugin)
    state: dict[str, Any] = {"cycles": 0, "next_due": None, "last_cycle": None,
                             "error": None}

    for opt in options:
        plugin.add_option(opt.name, opt.default, opt.description)

    def run_cycle(now: float) -> None:
        try:
            policy.cycle(node, now)
            state["error"] = None
        except (RpcError, OSError, ValueError, KeyError) as e:
            # Try again next interval, as a cron job would.
            state["error"] = f"{type(e).__name__}: {e}"
            plugin.log(f"{name}: cycle failed: {state['error']}", level="unusual")
        state["cycles"] += 1
        state["last_cycle"] = now
        state["next_due"] = now + policy.interval

    @plugin.init()
    def init(options: dict[str, Any], configuration: dict[str, Any], plugin: Plugin,
             **kwargs: Any) -> None:
        policy.configure(options)
        state["next_due"] = clock.now()
        if not clock.driven:
            threading.Thread(target=_wall_loop, args=(clock, run_cycle, state), daemon=True,
                             name=f"{name}-timer").start()

    def status(plugin: Plugin) -> dict[str, Any]:
        """What this baseline has done so far."""
        return {"policy": name, "cycles": state["cycles"], "last_cycle": state["last_cycle"],
                "next_due": state["next_due"], "setchannel_calls": node.setchannel_calls,
                "rpc_calls": node.rpc_calls, "error": state["error"]}

    plugin.add_method(f"{name}-status", status)

    def on_state_changed(plugin: Plugin, **kwargs: Any) -> None:
        state["next_due"] = clock.now()  # price a new channel at the next clock call

    plugin.add_subscription("channel_state_changed", on_state_changed)

    def on_shutdown(plugin: Plugin, **kwargs: Any) -> None:
        sys.exit(0)

    plugin.add_subscription("shutdown", on_shutdown)

    if clock.driven:
        def simclock_advance(plugin: Plugin, now: float) -> dict[str, Any]:
            """Moves this plugin's clock to {now} (revops-sim only)."""
            t = clock.advance_to(float(now))
            due = state["next_due"]
            if due is not None and t >= due:
                run_cycle(t)
            return {"now": t, "next_wakeup": state["next_due"]}

        plugin.add_method(SIMCLOCK_METHOD, simclock_advance)

    plugin.run()
    sys.exit(0)


def _wall_loop(clock: Any, run_cycle: Any, state: dict[str, Any]) -> None:
    stop = threading.Event()
    while True:
        now = clock.now()
        due = state["next_due"] or now
        if now >= due:
            run_cycle(now)
            continue
        stop.wait(min(60.0, due - now))
