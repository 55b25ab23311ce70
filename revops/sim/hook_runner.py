"""lightningd's ``htlc_accepted`` chain, run by the simulated node.

The market stops inside a step when an HTLC reaches the hook (it is held,
in flight on its channel); the node hands the held HTLCs here
(:meth:`HookRunner.settle`), which asks the plugins one after another
(:mod:`revops.sim.htlc_hook` has the rules) and gives the verdict back to
the market (``market.release``), which forwards, fails or settles it.

Time. lightningd puts no timeout on a hook; the sim does not either, but it
must also stay deterministic and must not stall. So no simulated time
passes while a chain runs: the step waits for the verdict, which keeps the
same seed giving the same run with a plugin that answers promptly. A plugin
that has not answered after ``wait`` seconds of wall time is holding the
HTLC, as a plugin may: the sim goes on (the HTLC stays in flight, shown in
``listpeerchannels`` as lightningd shows it, ``Waiting for the
htlc_accepted hook of plugin NAME``) and applies the verdict whenever it
comes, at the simulated time it comes. While any such chain is open, the
next ones are not waited for either (a plugin holding HTLCs answers the
next ones behind them).

A plugin that dies mid-chain is skipped (``Plugin died from htlc_accepted
hook call``); an answer lightningd cannot act on is fatal for the node.
Everything runs on the node's event loop: no locks.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

from revops.sim.htlc_hook import (
    CONTINUE,
    HOOK_NAME,
    HeldHtlc,
    HookAnswerError,
    HookUser,
    Verdict,
    apply_answer,
    check_resolve,
    hook_order,
    hook_params,
)
from revops.sim.jsonrpc import PLUGIN_TERMINATED
from revops.sim.plugin_host import PluginState

if TYPE_CHECKING:
    from revops.sim.lightningd import SimNode
    from revops.sim.plugin_host import Plugin

# Plugins whose manifest was accepted: their hooks are registered.
_REGISTERED = (PluginState.NEEDS_INIT, PluginState.AWAITING_INIT_RESPONSE,
               PluginState.INIT_COMPLETE)


class HookRunner:
    """The ``htlc_accepted`` hook for one :class:`SimNode`."""

    def __init__(self, node: SimNode, wait: float) -> None:
        self._node = node
        self._wait = wait
        # Chains still open after ``wait``: the sim no longer waits for them.
        self._late: set[asyncio.Task[Verdict | None]] = set()

    # -- who is registered, in what order -----------------------------------------

    def _users(self, states: tuple[PluginState, ...] = _REGISTERED) -> list[HookUser]:
        out = []
        for p in self._node.plugins:
            if p.dead or p.state not in states:
                continue
            spec = next((h for h in p.manifest.hook_specs if h.name == HOOK_NAME), None)
            if spec is not None:
                out.append(HookUser(p, p.path, spec.before, spec.after))
        return out

    def active(self) -> bool:
        """Is any plugin registered for the hook (cheap: once per step)?"""
        return any(not p.dead and p.state in _REGISTERED and HOOK_NAME in p.manifest.hooks
                   for p in self._node.plugins)

    def order(self) -> list[Plugin]:
        from revops.sim.lightningd import paths_match
        ordered, _ = hook_order(self._users(), paths_match)
        return ordered

    def unorderable(self) -> list[Plugin]:
        """Plugins whose ``before``/``after`` cannot be met (lightningd
        refuses them: ``Cannot meet required hook dependencies``); unknown
        names are only logged, at debug, as lightningd does."""
        from revops.sim.lightningd import paths_match

        def unknown(user: HookUser, text: str) -> None:
            self._node.log.log(user.plugin.log_source, "debug", text)

        _, stuck = hook_order(self._users(), paths_match, unknown)
        return stuck

    # -- running the chain ------------------------------------------------------------

    async def settle(self, held: list[HeldHtlc]) -> None:
        """Run the chain for each held HTLC in turn and release it to the
        market; wait for each verdict unless a chain is already late."""
        loop = asyncio.get_running_loop()
        for h in held:
            task = loop.create_task(self._chain(h))
            if not self._late:
                await asyncio.wait({task}, timeout=self._wait)
            if task.done():
                self._release(h, task.result())
                continue
            if not self._late:
                self._node.log.log("lightningd", "info",
                                   f"htlc_accepted hook of plugin {h.waiting_on} has held "
                                   f"HTLC {h.in_scid}/{h.in_htlc} for {self._wait:g}s (wall); "
                                   "the simulation goes on while it waits, as lightningd "
                                   "does (no timeout)")
            self._late.add(task)
            task.add_done_callback(lambda t, h=h: self._late_verdict(h, t))

    def _late_verdict(self, h: HeldHtlc, task: asyncio.Task[Verdict | None]) -> None:
        self._late.discard(task)
        if task.cancelled() or not self._node.running:
            return
        self._release(h, task.result())
        # Between steps nobody else will pass these on.
        self._node.deliver_market_notes()

    def _release(self, h: HeldHtlc, verdict: Verdict | None) -> None:
        if verdict is None:
            return  # fatal: the node is going down
        verdict, broken = check_resolve(h, verdict)
        if broken is not None:
            self._node.log.log(f"{h.peer_id}-chan#{h.in_channel + 1}", "broken", broken)
        self._node.market.release(h, verdict)

    async def _chain(self, h: HeldHtlc) -> Verdict | None:
        """``plugin_hook_call_next`` to the end: the verdict, or None after
        a fatal answer."""
        node = self._node
        for plugin in self.order():
            if plugin.dead:
                continue
            h.waiting_on = plugin.shortname
            params = hook_params(h, node.market.blockheight)
            node.validate_hook_request(HOOK_NAME, params)
            _, fut = plugin.request(HOOK_NAME, params)
            response = await fut
            error = response.get("error")
            if isinstance(error, dict) and error.get("code") == PLUGIN_TERMINATED:
                node.log.log("lightningd", "debug", f"Plugin died from {HOOK_NAME} hook call")
                continue
            if "result" not in response:
                node.fatal(f"Plugin {plugin.shortname} for {HOOK_NAME} returned non-result "
                           f"response {_compact(response)}")
                return None
            try:
                verdict = apply_answer(h, response["result"], self._lightningd_broken)
            except HookAnswerError as e:
                node.fatal(str(e))
                return None
            if verdict is not None:
                h.waiting_on = None
                return verdict
        h.waiting_on = None
        return CONTINUE

    def _lightningd_broken(self, text: str) -> None:
        self._node.log.log("lightningd", "broken", text)


def _compact(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
