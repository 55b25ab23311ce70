"""Timers: the Ticker actor fires ``Tick(now)`` at each coordinator on its
interval, and the WallTimer thread drives it on a real node.

Time comes from one injected clock, in ``Advance(now)`` messages:

- real node: a WallTimer thread tells ``Advance(clock.now())`` every second;
  the Ticker fires what is due and never waits, but does not fire a
  coordinator whose previous cycle has not finished (no overlap, no queue
  of stale ticks);
- under revops-sim (the simclock protocol, see ``revops/clock.py``): an
  ``Advance`` carries the ``simclock-advance`` request; the Ticker fires what
  is due one cycle at a time, in the order below, waiting for each to
  finish (cycles due at one instant never race for lightningd), then
  passes a barrier through
  every coordinator (so notifications delivered before the tick are
  handled), and only then answers with the next wake-up time. That makes a
  simulated run the same for the same seed on any machine.

Polls: besides its interval cycles, a coordinator may ask for one quick
``Tick(schedule="poll")`` at a time of its choosing, by putting
``"poll_at": t`` in the summary its cycle (or poll) answers with. The
rebalancer uses it to follow payments in flight without a fast interval
that would wake an idle node (or the simulated clock) for nothing.
"""

from __future__ import annotations

import logging
import math
import threading
from typing import Any, Mapping

import pykka

from actors.messages import Advance, ConfigChanged, Ping, Tick
from revops.clock import Clock
from revops.config import ConfigSnapshot

log = logging.getLogger("revops.ticker")

# Which coordinator runs at which interval (config keys), in firing order:
# the mempool reading first, so a fee cycle at the same instant sees it.
SCHEDULE: tuple[tuple[str, str], ...] = (
    ("mempool", "mempool-interval"),
    ("flow", "flow-interval"),
    ("fee", "fee-interval"),
    ("rebalance", "rebalance-interval"),
)

POLL = "poll"

# Driven mode: how long to wait for fired cycles (a stuck cycle must not
# hang the simulation forever; it is reported instead).
DRIVEN_WAIT = 600.0


class Ticker(pykka.ThreadingActor):
    use_daemon_thread = True

    def __init__(self, config: ConfigSnapshot, start: float, driven: bool) -> None:
        super().__init__()
        self.config = config
        self.driven = driven
        self.refs: dict[str, pykka.ActorRef[Any]] = {}
        self.next_due: dict[str, float] = {name: start for name, _ in SCHEDULE}
        self.last_fired: dict[str, float] = {}
        self.pending: dict[str, tuple[pykka.ActorRef[Any], pykka.Future[Any]]] = {}
        self.poll_due: dict[str, float] = {}  # coordinator -> when it asked to be polled
        self.now = start

    def set_coordinators(self, refs: Mapping[str, pykka.ActorRef[Any]]) -> None:
        self.refs = dict(refs)

    def force(self, name: str) -> None:
        """Make ``name`` due at the next advance (an immediate re-price)."""
        self.next_due[name] = self.now

    def schedule(self) -> dict[str, Any]:
        return {"now": self.now, "next_due": dict(self.next_due),
                "poll_due": dict(self.poll_due), "running": sorted(self.pending)}

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, Advance):
            return self._advance(message)
        if isinstance(message, ConfigChanged):
            self.config = message.snapshot
            for name, key in SCHEDULE:
                if name in self.last_fired:
                    self.next_due[name] = self.last_fired[name] + float(self.config[key])
            return None
        if isinstance(message, Ping):
            return True
        return super().on_receive(message)

    def _running(self, key: str) -> bool:
        """Is the tick fired under ``key`` (a coordinator's name, or
        ``name:poll``) still running? A finished one's answer is read."""
        entry = self.pending.get(key)
        if entry is None:
            return False
        ref, fut = entry
        name = key.split(":", 1)[0]
        if ref is not self.refs.get(name) or not ref.is_alive():
            # Restarted or gone: its cycle will never ack.
            del self.pending[key]
            return False
        try:
            result = fut.get(timeout=0)
        except pykka.Timeout:
            return True
        del self.pending[key]
        self._answered(name, result)
        return False

    def _answered(self, name: str, result: Any) -> None:
        """A tick's answer may ask for a poll of its coordinator."""
        at = result.get("poll_at") if isinstance(result, Mapping) else None
        if isinstance(at, (int, float)) and not isinstance(at, bool) and math.isfinite(at):
            self.poll_due[name] = min(float(at), self.poll_due.get(name, float("inf")))

    @staticmethod
    def _await(ref: pykka.ActorRef[Any], fut: pykka.Future[Any]) -> tuple[bool, Any]:
        """Wait for a fired cycle: (False, None) if its actor died without
        running it, else (True, its answer)."""
        waited = 0.0
        while waited < DRIVEN_WAIT:
            try:
                return True, fut.get(timeout=0.05)
            except pykka.Timeout:
                waited += 0.05
            if not ref.is_alive():
                try:
                    return True, fut.get(timeout=0)
                except pykka.Timeout:
                    return False, None
        log.error("a cycle did not finish within %ss of a simulated tick", DRIVEN_WAIT)
        return True, None

    def _advance(self, msg: Advance) -> None:
        self.now = max(self.now, msg.now)
        now = self.now
        driven = msg.request is not None
        for key in list(self.pending):
            self._running(key)  # read what finished since (poll requests)
        fired: list[str] = []

        def settle(key: str) -> None:
            """Driven: wait for a fired cycle. One at a time, in SCHEDULE
            order, so that cycles due at one simulated instant (a fee and a
            rebalance cycle both calling lightningd) meet in the same order
            on every run: same seed, same run."""
            ref, fut = self.pending.pop(key)
            name = key.split(":", 1)[0]
            ran, result = self._await(ref, fut)
            if not ran:
                # It died before running the tick (pykka drops a dead
                # actor's tells): its replacement runs at the next advance.
                if key == name:
                    self.next_due[name] = now
                return
            self._answered(name, result)

        for name, key in SCHEDULE:
            ref = self.refs.get(name)
            if ref is None or self.next_due[name] > now or self._running(name):
                continue
            ack: pykka.Future[Any] = pykka.ThreadingFuture()
            try:
                ref.tell(Tick(now, ack))
            except pykka.ActorDeadError:
                continue
            self.pending[name] = (ref, ack)
            self.last_fired[name] = now
            self.next_due[name] = now + float(self.config[key])
            fired.append(name)
            if driven:
                settle(name)
        for name, due in list(self.poll_due.items()):
            ref = self.refs.get(name)
            if ref is None:
                del self.poll_due[name]
                continue
            key = f"{name}:{POLL}"
            if due > now or name in fired or self._running(name) or self._running(key):
                continue
            ack = pykka.ThreadingFuture()
            try:
                ref.tell(Tick(now, ack, schedule=POLL))
            except pykka.ActorDeadError:
                continue
            del self.poll_due[name]
            self.pending[key] = (ref, ack)
            fired.append(key)
            if driven:
                settle(key)
        if msg.request is None:
            return None
        # Driven: every fired cycle has finished; a barrier through everyone.
        barrier = []
        for ref in self.refs.values():
            try:
                barrier.append(ref.ask(Ping(), block=False))
            except pykka.ActorDeadError:
                pass
        try:
            pykka.get_all(barrier, timeout=DRIVEN_WAIT)
        except pykka.Timeout:
            log.error("barrier at simulated tick %s did not complete", now)
        except pykka.ActorDeadError:
            # Stopped meanwhile: the plugin is shutting down, or a crashed
            # actor is being restarted by its supervisor. Neither is a hang.
            log.debug("barrier at simulated tick %s: an actor stopped meanwhile", now)
        msg.request.set_result({"now": now, "next_wakeup": min(
            [*self.next_due.values(), *self.poll_due.values()])})
        return None


class WallTimer:
    """A thread that tells ``Advance(clock.now())`` every ``period`` seconds."""

    def __init__(self, clock: Clock, target: pykka.ActorRef[Any], period: float = 1.0) -> None:
        self._clock = clock
        self._target = target
        self._period = period
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="revops-timer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._period):
            try:
                self._target.tell(Advance(self._clock.now()))
            except pykka.ActorDeadError:
                return

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2 * self._period + 1)
