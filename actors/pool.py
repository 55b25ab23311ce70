"""Pooled pykka actors: thousands of actors on a few shared worker threads.

A pykka ``ThreadingActor`` is one OS thread. revops runs one actor per
channel (5,000 and more), so channel actors are :class:`PooledActor`\\ s
instead: each is still a real pykka actor (own state, own mailbox, one
message at a time, its own ``ActorRef``, proxies, futures, the registry,
``on_start``/``on_stop``/``on_failure``), but it owns no thread. An
:class:`ActorPool` of N worker threads runs an actor's mailbox only while it
has messages.

Model
-----
- Each actor has a mailbox (a deque of pykka envelopes) and a *run token*
  (a one-element deque). ``ActorRef.tell``/``ask`` append to the mailbox,
  then try to take the token; whoever takes it submits the mailbox to the
  pool's work queue. So a mailbox is in the work queue (or running) at most
  once, and at most one worker runs an actor at any time.
- A worker takes a mailbox and handles up to ``batch`` messages; if more
  are waiting it re-queues the mailbox at the back of the work queue while
  still holding the token (fairness: a flooded actor gets ``batch``
  messages per turn, then every other ready actor gets its turn). Otherwise
  it puts the token back and looks at the mailbox once more.
- The first run of an actor calls ``on_start`` before any message; it is
  submitted by ``start()``, so ``on_start`` runs in a pool worker even if
  no message ever comes. ``__init__`` runs in the caller's thread.
- When the actor stops (stop message, unhandled exception in a tell, or a
  failing ``on_start``/``on_stop``) the worker marks the mailbox dead and
  drains it: asks get ``ActorDeadError`` (stop requests get ``None``, so
  ``stop()`` reports ``True``), as pykka's teardown does. The token is
  never put back, so a dead actor is never scheduled again.

Why nothing is lost without a lock (the "lost wakeup" case)
------------------------------------------------------------
A sender appends message M and *then* tries to take the token. If it fails,
someone holds the token: a run that is queued or running and that has not
yet given the token back. That run, after giving the token back, looks at
the mailbox again; M was appended before the sender's failed attempt, which
came before the give-back, so the run sees M and takes the token again (or
another sender did and submitted). Either way M is handled. deque
``append``/``pop``/``popleft`` are atomic, and CPython's GIL makes these
steps sequentially consistent, so the ordering argument holds.

The same "write, then check the flag" shape closes two other races:

- put after death: pykka's ``ask`` checks ``is_alive()`` and then puts; if
  the actor dies in between, pykka leaves the message in a dead inbox and
  the ask hangs forever. Here the sender appends, *then* reads the dead
  flag, and the dying worker sets the flag, *then* drains: whichever comes
  last sees the message, so it is failed with ``ActorDeadError``.
- submit after the pool finished: a submitter enqueues, then reads the
  pool's ``finished`` flag; the last exiting worker sets it, then drains
  the work queue. A run that can never happen is rejected: its actor is
  stopped (without ``on_stop``) and its asks fail with ``ActorDeadError``.

Rules for pooled actors
-----------------------
- Never block a worker. A pooled actor must not wait on another actor's
  future (``.get()``, ``ask(block=True)``, ``ref.stop(block=True)``,
  ``ActorRegistry.stop_all()``): with every worker waiting, nothing runs
  and the pool deadlocks. Reply by message: tell the asker, or hand the
  answer to a future the asker gave you. An ``ActorPool(debug=True)`` turns
  a blocking ``get()`` on a not yet resolved pooled future inside a worker
  into :class:`BlockingInPoolError` (futures of ``ThreadingActor``\\ s are
  not seen by this check).
- Keep handlers short: a handler holds a worker for its whole run.

Choosing the pool
-----------------
The pool is read when the actor starts: the class attribute
``actor_pool`` (set it on a subclass), or per start with
``MyActor.start_on(pool, *args, **kwargs)``, which sets it on the instance.
``MyActor.start(*args, **kwargs)`` works exactly as pykka's when the class
names a pool. There is no hidden default pool: a pooled actor without one
fails to start (``RuntimeError``), as does one started on a pool that is not
running. Inside an actor, ``self.actor_pool`` is its pool (start children
on it with ``Child.start_on(self.actor_pool, ...)``).

Pool lifecycle
--------------
``pool.start()`` starts the workers; ``pool.shutdown(wait=True)`` refuses
new actors, stops every live actor on the pool gracefully (like
``ref.stop()``: queued messages first, then ``on_stop``) in reverse start
order, waits for them, then lets the workers finish the work queue, and
joins them. ``shutdown(wait=False)`` does the same from a short-lived
helper thread and returns at once. A pool's own actor cannot shut it down
(``RuntimeError``: it would wait for itself). ``with ActorPool(...) as pool:`` starts
and shuts down.
"""

from __future__ import annotations

import logging
import queue
import sys
import threading
from collections import deque
from typing import TYPE_CHECKING, Any, Final, Self, cast

import pykka
from pykka import ActorDeadError, ActorRegistry, ThreadingFuture, messages

if TYPE_CHECKING:
    from types import TracebackType

    from pykka import ActorRef, Future
    from pykka._actor import ActorInbox
    from pykka._envelope import Envelope

__all__ = ["ActorPool", "BlockingInPoolError", "PooledActor", "PooledFuture"]

logger = logging.getLogger(__name__)

DEFAULT_BATCH: Final = 32
"""Messages an actor handles per turn before it yields its worker."""

# Which pool, if any, the current thread works for; read by PooledFuture.get.
_worker_local = threading.local()


class BlockingInPoolError(RuntimeError):
    """A pooled actor waited on an unresolved future inside a pool worker."""


class PooledFuture(ThreadingFuture[Any]):
    """The future of asks to pooled actors; a ``ThreadingFuture`` that can
    refuse to block inside a worker of a debug pool.
    """

    def get(self, *, timeout: float | None = None) -> Any:
        pool: ActorPool | None = getattr(_worker_local, "pool", None)
        # _result/_get_hook are ThreadingFuture's state; hooked futures
        # (join/map/stop) are checked when they get their inner futures.
        if (
            pool is not None
            and pool.debug
            and self._result is None
            and self._get_hook is None
        ):
            msg = (
                f"blocking get() inside pool {pool.name!r} worker "
                f"{threading.current_thread().name}: a pooled actor must "
                "reply by message, never wait on a future"
            )
            raise BlockingInPoolError(msg)
        return super().get(timeout=timeout)


class _Stop:
    """Work-queue sentinel: the worker that takes it exits."""


_STOP: Final = _Stop()


class ActorPool:
    """A bounded set of worker threads that run pooled actors' mailboxes.

    Args:
        size: number of worker threads.
        name: thread name prefix (threads are ``{name}-0`` ...).
        batch: messages an actor handles per turn before yielding.
        daemon: run workers as daemon threads (like pykka's
            ``use_daemon_thread``; default False, so a pool left running
            keeps the process alive, as ThreadingActors do).
        debug: raise BlockingInPoolError when a pooled actor blocks on an
            unresolved pooled future.
    """

    def __init__(
        self,
        size: int = 8,
        *,
        name: str = "actor-pool",
        batch: int = DEFAULT_BATCH,
        daemon: bool = False,
        debug: bool = False,
    ) -> None:
        if size < 1:
            msg = f"pool size must be at least 1, got {size}"
            raise ValueError(msg)
        if batch < 1:
            msg = f"batch must be at least 1, got {batch}"
            raise ValueError(msg)
        self._size = size
        self._name = name
        self._batch = batch
        self._daemon = daemon
        self.debug = debug
        self._work: queue.SimpleQueue[_Mailbox | _Stop] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        # One-shot tokens (deque.pop is atomic): exactly one caller wins.
        self._start_token: deque[None] = deque([None])
        self._shutdown_token: deque[None] = deque([None])
        self._started = False
        self._closed = False  # no new actors
        self._finished = False  # no worker will take work again
        # One token per worker still running; the last to leave drains.
        self._live: deque[int] = deque()
        self._shutdown_thread: threading.Thread | None = None

    @property
    def size(self) -> int:
        return self._size

    @property
    def name(self) -> str:
        return self._name

    @property
    def batch(self) -> int:
        return self._batch

    @property
    def running(self) -> bool:
        """True between start() and the beginning of shutdown()."""
        return self._started and not self._closed

    def __repr__(self) -> str:
        state = "running" if self.running else "finished" if self._finished else "idle"
        return f"<ActorPool {self._name!r} size={self._size} {state}>"

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.shutdown(wait=True)

    def start(self) -> Self:
        """Start the worker threads. Called once; returns the pool."""
        if self._closed:
            msg = f"{self!r} was shut down"
            raise RuntimeError(msg)
        try:
            self._start_token.pop()
        except IndexError:
            msg = f"{self!r} was already started"
            raise RuntimeError(msg) from None
        self._live.extend(range(self._size))
        self._threads = [
            threading.Thread(
                target=self._work_loop,
                name=f"{self._name}-{i}",
                daemon=self._daemon,
            )
            for i in range(self._size)
        ]
        self._started = True
        for thread in self._threads:
            thread.start()
        return self

    def shutdown(self, *, wait: bool = True) -> None:
        """Stop the pool's actors, then its workers.

        Refuses new actors at once; stops every live actor on the pool
        (queued messages first, then on_stop), then lets the workers finish
        the work queue and exit. With ``wait`` it returns when all workers
        have exited; without, a helper thread does it. Calling it again
        only waits (if ``wait``). A pool never started just closes.

        Must not be called from a pooled actor of this pool (it waits for
        them).
        """
        if getattr(_worker_local, "pool", None) is self:
            msg = f"{self!r} cannot be shut down from one of its own actors"
            raise RuntimeError(msg)
        try:
            self._shutdown_token.pop()
        except IndexError:
            if wait:
                self._join()
            return
        self._closed = True
        if not self._started:
            self._finished = True
            return
        if wait:
            self._stop_actors_then_workers()
            self._join()
        else:
            self._shutdown_thread = threading.Thread(
                target=self._stop_actors_then_workers,
                name=f"{self._name}-shutdown",
                daemon=self._daemon,
            )
            self._shutdown_thread.start()

    def _stop_actors_then_workers(self) -> None:
        # _closed is already set, so every actor accepted by this pool is
        # registered by now (register precedes the check in start) and is
        # in this snapshot; no new one can join. Reverse order, as stop_all.
        refs = [
            ref
            for ref in reversed(ActorRegistry.get_all())
            if getattr(ref.actor_inbox, "pool", None) is self
        ]
        stops = [ref.stop(block=False) for ref in refs]
        for ref, stop in zip(refs, stops, strict=True):
            try:
                stop.get()
            except Exception:
                logger.exception("stopping %s during shutdown of %r", ref, self)
        for _ in self._threads:
            self._work.put(_STOP)

    def _join(self) -> None:
        helper = self._shutdown_thread
        if helper is not None and helper is not threading.current_thread():
            helper.join()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join()

    def _submit(self, mailbox: _Mailbox) -> None:
        """Queue a mailbox whose run token the caller holds."""
        self._work.put(mailbox)
        # Enqueue, then check: pairs with the last worker setting
        # _finished, then draining (see module docstring).
        if self._finished:
            self._reject_leftovers()

    def _reject_leftovers(self) -> None:
        while True:
            try:
                item = self._work.get_nowait()
            except queue.Empty:
                return
            if isinstance(item, _Mailbox):
                item.reject()

    def _work_loop(self) -> None:
        _worker_local.pool = self
        try:
            while True:
                item = self._work.get()
                if isinstance(item, _Stop):
                    break
                item.run()
        finally:
            _worker_local.pool = None
            self._live.pop()
            # Every worker that sees no tokens left drains; more than one
            # may, which is harmless (each item is taken once). The last
            # one always does, after every sentinel was consumed.
            if not self._live:
                self._finished = True
                self._reject_leftovers()


class _Mailbox:
    """A pooled actor's inbox: pykka's ActorInbox plus the scheduling.

    Owned by the ActorRef (pykka reads ``actor_inbox`` at construction),
    so it exists before the actor is started; it schedules nothing until
    ``attach``.
    """

    __slots__ = ("_actor", "_dead", "_label", "_mail", "_set_up", "_token", "pool")

    def __init__(self) -> None:
        self._mail: deque[Envelope[Any]] = deque()
        self._token: deque[None] = deque([None])
        self._actor: PooledActor | None = None
        self.pool: ActorPool | None = None
        self._label = "actor"
        self._set_up = False
        self._dead = False

    # pykka's ActorInbox protocol. Only put() is used by pykka for pooled
    # actors; get() never blocks (nothing waits on a pooled inbox).
    def put(self, envelope: Envelope[Any], /) -> None:
        self._mail.append(envelope)
        # Append, then check (see module docstring for both races).
        if self._dead:
            self._drain()
        elif self.pool is not None:
            self._schedule()

    def get(self) -> Envelope[Any]:
        try:
            return self._mail.popleft()
        except IndexError:
            raise queue.Empty from None

    def empty(self) -> bool:
        return not self._mail

    def qsize(self) -> int:
        return len(self._mail)

    def attach(self, actor: PooledActor, pool: ActorPool) -> None:
        self._actor = actor
        self._label = str(actor.actor_ref)
        self.pool = pool
        # Always schedule the first run, so on_start runs without a message.
        self._schedule()

    def _schedule(self) -> None:
        try:
            self._token.pop()
        except IndexError:
            return  # a queued or running run holds it and will look again
        assert self.pool is not None
        self.pool._submit(self)

    def run(self) -> None:
        """Handle up to a batch of messages; called by a pool worker that
        holds the run token. Never raises.
        """
        actor = self._actor
        assert actor is not None and self.pool is not None
        stopped = actor.actor_stopped
        handled = 0
        try:
            if not self._set_up:
                self._set_up = True
                actor._actor_loop_setup()  # runs on_start
            batch = self.pool.batch
            while handled < batch and not stopped.is_set():
                try:
                    envelope = self._mail.popleft()
                except IndexError:
                    break
                handled += 1
                actor._handle_envelope(envelope)
        except BaseException:  # noqa: BLE001
            # Only a BaseException from on_start/on_stop/on_failure (or a
            # bug) gets here: handlers' are caught per message. pykka would
            # let it end the thread and leave a zombie actor; stop it instead.
            exc_info = sys.exc_info()
            actor._handle_failure(*exc_info)
            if not isinstance(exc_info[1], Exception):
                _stop_all_from_helper_thread()
        if stopped.is_set():
            self._die()  # keeps the token: never scheduled again
        elif handled == self.pool.batch and self._mail:
            self.pool._submit(self)  # token kept; back of the queue
        else:
            self._token.append(None)
            # Give back, then look: a sender that failed to take the token
            # appended before, so its message is seen here.
            if self._mail:
                self._schedule()

    def reject(self) -> None:
        """The pool will never run this mailbox again: stop the actor.

        Called with the run token held, after the pool's workers are gone.
        """
        actor = self._actor
        if actor is None:
            return
        logger.error(
            "%s stopped without on_stop: its pool %r has shut down", actor, self.pool
        )
        ActorRegistry.unregister(actor.actor_ref)
        actor.actor_stopped.set()
        self._die()

    def refuse(self, label: str) -> None:
        """The actor could not start: fail what was queued before start."""
        self._label = label
        self._die()

    def _die(self) -> None:
        self._dead = True
        self._actor = None  # let a stopped actor be collected
        self._drain()

    def _drain(self) -> None:
        """Answer everything queued to a dead actor, as pykka's teardown."""
        while True:
            try:
                envelope = self._mail.popleft()
            except IndexError:
                return
            if envelope.reply_to is None:
                continue
            if isinstance(envelope.message, messages._ActorStop):
                envelope.reply_to.set(None)
            else:
                error = ActorDeadError(f"{self._label} stopped before handling the message")
                envelope.reply_to.set_exception(exc_info=(ActorDeadError, error, None))


def _stop_all_from_helper_thread() -> None:
    # pykka stops all actors, blocking, from the failing actor's thread. A
    # worker must not block on other actors (they may need this worker), so
    # a short-lived thread does the same blocking, LIFO stop_all.
    threading.Thread(target=ActorRegistry.stop_all, name="actor-pool-stop-all").start()


class PooledActor(pykka.Actor):
    """A pykka actor that runs on an :class:`ActorPool` instead of a thread.

    Use it like ``ThreadingActor``: subclass, override ``__init__`` (runs in
    the caller's thread), ``on_start``/``on_stop``/``on_failure`` and
    ``on_receive`` (run in a pool worker, never two at once), then
    ``MyActor.start(...)`` (with ``actor_pool`` set on the class) or
    ``MyActor.start_on(pool, ...)``. Handlers must not block (see the
    module docstring).
    """

    actor_pool: ActorPool | None = None
    """The pool this actor runs on; read when the actor starts."""

    @classmethod
    def start_on(cls, pool: ActorPool, *args: Any, **kwargs: Any) -> ActorRef[Self]:
        """Start an actor on ``pool``; other arguments go to ``__init__``.

        Same steps as ``Actor.start``: construct, register, start.
        """
        obj = cls(*args, **kwargs)
        assert obj.actor_ref is not None, (
            "Actor.__init__() has not been called. "
            "Did you forget to call super() in your override?"
        )
        obj.actor_pool = pool
        ActorRegistry.register(obj.actor_ref)
        obj._start_actor_loop()
        return obj.actor_ref

    @staticmethod
    def _create_actor_inbox() -> ActorInbox:
        return _Mailbox()

    @staticmethod
    def _create_future() -> Future[Any]:
        return PooledFuture()

    def _start_actor_loop(self) -> None:
        mailbox = cast("_Mailbox", self.actor_inbox)
        pool = self.actor_pool
        if pool is None or not pool.running:
            # Already registered by start(): undo, so nothing waits on it.
            ActorRegistry.unregister(self.actor_ref)
            self.actor_stopped.set()
            mailbox.refuse(str(self.actor_ref))
            if pool is None:
                msg = (
                    f"{type(self).__name__} has no actor_pool: set it on the "
                    "class or use start_on(pool, ...)"
                )
            else:
                msg = f"cannot start {self}: {pool!r} is not running"
            raise RuntimeError(msg)
        mailbox.attach(self, pool)

    def _handle_envelope(self, envelope: Envelope[Any]) -> None:
        """Handle one message with the semantics of pykka's actor loop.

        An exception in an ask goes to the asker and the actor lives on; in
        a tell it is logged, the actor stops (unregistered) and on_failure
        runs; a BaseException stops this actor and then all actors.
        """
        try:
            response = self._handle_receive(envelope.message)
            if envelope.reply_to is not None:
                envelope.reply_to.set(response)
        except Exception:
            if envelope.reply_to is not None:
                logger.info(
                    "Exception returned from %s to caller:", self, exc_info=sys.exc_info()
                )
                envelope.reply_to.set_exception()
            else:
                self._handle_failure(*sys.exc_info())
                try:
                    self.on_failure(*sys.exc_info())
                except Exception:  # noqa: BLE001
                    self._handle_failure(*sys.exc_info())
        except BaseException:  # noqa: BLE001
            logger.debug("%r in %s. Stopping all actors.", sys.exc_info()[1], self)
            self._stop()
            _stop_all_from_helper_thread()
