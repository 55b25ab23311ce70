"""Pooled actors behave like pykka ThreadingActors, without a thread each.

Most tests run one body against both ``ThreadingActor`` and ``PooledActor``
(the ``base`` fixture), so the comparison with pykka is real; the rest test
what only the pool has (bounded threads, fairness, shutdown, debug checks).
"""

from __future__ import annotations

import gc
import sys
import threading
from collections import deque
from collections.abc import Iterator
from typing import Any

import pykka
import pytest
from pykka import ActorDeadError, ActorRegistry, ThreadingActor, Timeout
from pykka._envelope import Envelope

from actors.pool import ActorPool, BlockingInPoolError, PooledActor, PooledFuture

WAIT = 10.0  # generous bound for "this must happen"; never reached when green
POOL_SIZE = 4


def _pool_threads(pool: ActorPool) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(f"{pool.name}-")]


def _join_helper_threads() -> None:
    # The BaseException path stops all actors from a short-lived thread.
    for thread in threading.enumerate():
        if thread.name == "actor-pool-stop-all":
            thread.join(WAIT)


@pytest.fixture(autouse=True)
def _stop_all_actors() -> Iterator[None]:
    yield
    ActorRegistry.stop_all()
    _join_helper_threads()


@pytest.fixture
def pool() -> Iterator[ActorPool]:
    before = set(threading.enumerate())
    p = ActorPool(POOL_SIZE, name="test-pool").start()
    yield p
    ActorRegistry.stop_all()
    _join_helper_threads()
    p.shutdown(wait=True)
    assert _pool_threads(p) == []
    assert set(threading.enumerate()) - before == set()


@pytest.fixture(params=["threading", "pooled"])
def base(request: pytest.FixtureRequest) -> type[pykka.Actor]:
    if request.param == "threading":
        return ThreadingActor
    pool = request.getfixturevalue("pool")
    return type("OnTestPool", (PooledActor,), {"actor_pool": pool})


class Recorder:
    """Behaviour shared by the test actors; mixed into a base per test."""

    def __init__(self, log: list[Any] | None = None) -> None:
        super().__init__()
        self.log = log if log is not None else []
        self.value = 0

    def on_receive(self, message: Any) -> Any:
        match message:
            case ("wait", threading.Event() as gate):
                gate.wait(WAIT)
            case ("raise", str(text)):
                raise ValueError(text)
            case "thread":
                return threading.current_thread().name
            case _:
                self.log.append(message)
                return ("got", message)
        return None

    def add(self, n: int) -> int:
        self.value += n
        return self.value

    def on_stop(self) -> None:
        self.log.append("on_stop")


def recorder(base: type[pykka.Actor]) -> type[Any]:
    return type("Rec", (Recorder, base), {})


# --- messaging ------------------------------------------------------------


def test_tell_and_ask_reach_on_receive(base: type[pykka.Actor]) -> None:
    log: list[Any] = []
    ref = recorder(base).start(log)
    ref.tell("a")
    assert ref.ask("b") == ("got", "b")
    fut = ref.ask("c", block=False)
    assert isinstance(fut, pykka.Future)
    assert fut.get(timeout=WAIT) == ("got", "c")
    assert log == ["a", "b", "c"]


def test_ask_times_out_while_actor_is_busy(base: type[pykka.Actor]) -> None:
    ref = recorder(base).start()
    gate = threading.Event()
    ref.tell(("wait", gate))
    with pytest.raises(Timeout):
        ref.ask("x", timeout=0.05)
    gate.set()
    assert ref.ask("y", timeout=WAIT) == ("got", "y")


def test_proxy_calls_and_attribute_get_set(base: type[pykka.Actor]) -> None:
    proxy = recorder(base).start().proxy()
    assert proxy.add(2).get(timeout=WAIT) == 2
    assert proxy.add(3).get(timeout=WAIT) == 5
    assert proxy.value.get(timeout=WAIT) == 5
    proxy.value = 40
    assert proxy.add(2).get(timeout=WAIT) == 42
    proxy.add.defer(1)
    assert proxy.value.get(timeout=WAIT) == 43


def test_futures_compose(base: type[pykka.Actor]) -> None:
    refs = [recorder(base).start() for _ in range(3)]
    futs = [ref.ask(i, block=False) for i, ref in enumerate(refs)]
    assert pykka.get_all(futs, timeout=WAIT) == [("got", 0), ("got", 1), ("got", 2)]
    joined = futs[0].join(futs[1], futs[2])
    assert joined.get(timeout=WAIT) == [("got", 0), ("got", 1), ("got", 2)]
    assert futs[2].map(lambda r: r[1] * 10).get(timeout=WAIT) == 20
    nums = joined.map(lambda rs: [r[1] for r in rs])
    assert nums.filter(lambda n: n > 0).get(timeout=WAIT) == [1, 2]
    assert nums.reduce(lambda a, b: a + b, 100).get(timeout=WAIT) == 103


def test_future_type_is_the_actor_types_own(base: type[pykka.Actor]) -> None:
    fut = recorder(base).start().ask("x", block=False)
    expected = PooledFuture if issubclass(base, PooledActor) else pykka.ThreadingFuture
    assert type(fut) is expected


def test_messages_from_one_sender_keep_order_and_run_one_at_a_time(
    base: type[pykka.Actor],
) -> None:
    class Guarded(base):  # type: ignore[misc,valid-type]
        def __init__(self) -> None:
            super().__init__()
            self.inside = False
            self.overlaps = 0
            self.seen: list[tuple[int, int]] = []

        def on_receive(self, message: Any) -> Any:
            if message == "report":
                return self.overlaps, list(self.seen)
            if self.inside:
                self.overlaps += 1
            self.inside = True
            total = 0
            for i in range(200):  # long enough for a thread switch to land here
                total += i
            self.seen.append(message)
            self.inside = False
            return None

    ref = Guarded.start()
    senders, per_sender = 6, 300
    go = threading.Event()

    def send(sender: int) -> None:
        go.wait(WAIT)
        for seq in range(per_sender):
            ref.tell((sender, seq))

    threads = [threading.Thread(target=send, args=(s,)) for s in range(senders)]
    for t in threads:
        t.start()
    go.set()
    for t in threads:
        t.join(WAIT)
    overlaps, seen = ref.ask("report", timeout=WAIT)
    assert overlaps == 0
    assert len(seen) == senders * per_sender
    for s in range(senders):
        assert [seq for sender, seq in seen if sender == s] == list(range(per_sender))


def test_actors_progress_concurrently(base: type[pykka.Actor]) -> None:
    # Each handler waits at a barrier: it only opens if POOL_SIZE handlers
    # are inside at the same time.
    barrier = threading.Barrier(POOL_SIZE, timeout=WAIT)

    class Meeting(base):  # type: ignore[misc,valid-type]
        def on_receive(self, message: Any) -> Any:
            return barrier.wait()

    refs = [Meeting.start() for _ in range(POOL_SIZE)]
    futs = [ref.ask("meet", block=False) for ref in refs]
    assert sorted(pykka.get_all(futs, timeout=WAIT)) == list(range(POOL_SIZE))


# --- lifecycle --------------------------------------------------------------


def test_on_start_runs_first_registered_and_in_the_actors_context(
    base: type[pykka.Actor],
) -> None:
    log: list[Any] = []

    class Starter(Recorder, base):  # type: ignore[misc,valid-type]
        def __init__(self, log: list[Any]) -> None:
            super().__init__(log)
            self.init_thread = threading.current_thread().name
            self.actor_ref.tell("told-in-init")  # queued before the actor runs

        def on_start(self) -> None:
            registered = ActorRegistry.get_by_urn(self.actor_urn) is not None
            self.log.append(("on_start", threading.current_thread().name, registered))

    ref = Starter.start(log)
    assert ref.ask("first") == ("got", "first")
    tag, start_thread, registered = log[0]
    assert tag == "on_start" and registered
    assert start_thread != threading.current_thread().name
    if issubclass(base, PooledActor):
        assert start_thread.startswith("test-pool-")
    assert log[1:] == ["told-in-init", "first"]


def test_on_start_runs_without_any_message(base: type[pykka.Actor]) -> None:
    started = threading.Event()

    class Quiet(base):  # type: ignore[misc,valid-type]
        def on_start(self) -> None:
            started.set()

    Quiet.start()
    assert started.wait(WAIT)


def test_stop_block_returns_after_on_stop_and_after_queued_messages(
    base: type[pykka.Actor],
) -> None:
    log: list[Any] = []
    ref = recorder(base).start(log)
    for i in range(5):
        ref.tell(i)
    assert ref.stop() is True
    assert log == [0, 1, 2, 3, 4, "on_stop"]
    assert not ref.is_alive()
    assert ActorRegistry.get_by_urn(ref.actor_urn) is None
    assert ref.stop() is False


def test_stop_with_messages_pending(base: type[pykka.Actor]) -> None:
    log: list[Any] = []
    ref = recorder(base).start(log)
    gate = threading.Event()
    ref.tell(("wait", gate))
    before = ref.ask("before", block=False)
    stopping = ref.stop(block=False)
    after = ref.ask("after", block=False)
    second_stop = ref.stop(block=False)
    gate.set()
    assert before.get(timeout=WAIT) == ("got", "before")
    assert stopping.get(timeout=WAIT) is True
    with pytest.raises(ActorDeadError, match="stopped before handling the message"):
        after.get(timeout=WAIT)
    assert second_stop.get(timeout=WAIT) is True
    assert log == ["before", "on_stop"]


def test_tell_and_ask_to_a_dead_actor_raise(base: type[pykka.Actor]) -> None:
    ref = recorder(base).start()
    ref.stop()
    with pytest.raises(ActorDeadError, match="not found"):
        ref.tell("x")
    with pytest.raises(ActorDeadError, match="not found"):
        ref.ask("x")
    fut = ref.ask("x", block=False)
    with pytest.raises(ActorDeadError):
        fut.get(timeout=WAIT)
    with pytest.raises(ActorDeadError):
        ref.proxy()


def test_exception_in_ask_goes_to_caller_and_actor_lives(base: type[pykka.Actor]) -> None:
    ref = recorder(base).start()
    with pytest.raises(ValueError, match="boom"):
        ref.ask(("raise", "boom"))
    assert ref.is_alive()
    assert ref.ask("still here") == ("got", "still here")


def test_exception_in_tell_stops_actor_and_calls_on_failure(
    base: type[pykka.Actor],
) -> None:
    failed: list[Any] = []
    stopped = threading.Event()

    class Fragile(Recorder, base):  # type: ignore[misc,valid-type]
        def on_failure(self, exc_type: Any, exc: Any, tb: Any) -> None:
            failed.append((exc_type, str(exc), threading.current_thread().name))
            stopped.set()

    ref = Fragile.start()
    gate = threading.Event()
    ref.tell(("wait", gate))
    ref.tell(("raise", "bad tell"))
    later = ref.ask("later", block=False)
    gate.set()
    assert stopped.wait(WAIT)
    assert failed[0][:2] == (ValueError, "bad tell")
    with pytest.raises(ActorDeadError):
        later.get(timeout=WAIT)
    assert not ref.is_alive()
    assert ActorRegistry.get_by_urn(ref.actor_urn) is None


def test_on_start_failure_stops_actor(base: type[pykka.Actor]) -> None:
    class BadStart(Recorder, base):  # type: ignore[misc,valid-type]
        def on_start(self) -> None:
            raise RuntimeError("on_start failure")

    ref = BadStart.start()
    assert ref.actor_stopped.wait(WAIT)
    with pytest.raises(ActorDeadError):
        ref.ask("x", timeout=WAIT)
    assert ActorRegistry.get_by_urn(ref.actor_urn) is None


def test_on_start_can_stop_the_actor(base: type[pykka.Actor]) -> None:
    stopped = threading.Event()

    class EarlyStop(base):  # type: ignore[misc,valid-type]
        def on_start(self) -> None:
            self.stop()

        def on_stop(self) -> None:
            stopped.set()

    ref = EarlyStop.start()
    assert stopped.wait(WAIT)
    assert not ref.is_alive()
    assert ActorRegistry.get_all() == []


def test_on_failure_failure_still_stops_actor(base: type[pykka.Actor]) -> None:
    called = threading.Event()

    class DoubleFault(Recorder, base):  # type: ignore[misc,valid-type]
        def on_failure(self, *exc_info: Any) -> None:
            called.set()
            raise RuntimeError("on_failure failure")

    ref = DoubleFault.start()
    ref.tell(("raise", "first"))
    assert called.wait(WAIT)
    assert ref.actor_stopped.wait(WAIT)
    assert ActorRegistry.get_by_urn(ref.actor_urn) is None


def test_on_stop_failure_still_stops_actor(base: type[pykka.Actor]) -> None:
    called = threading.Event()

    class BadStop(base):  # type: ignore[misc,valid-type]
        def on_stop(self) -> None:
            called.set()
            raise RuntimeError("on_stop failure")

    ref = BadStop.start()
    assert ref.stop() is True
    assert called.is_set()
    assert not ref.is_alive()
    assert ActorRegistry.get_all() == []


class Fatal(BaseException):
    """Stands in for SystemExit/KeyboardInterrupt raised by a handler."""


def test_base_exception_stops_this_actor_and_all_others(base: type[pykka.Actor]) -> None:
    stops: list[str] = []
    all_stopped = threading.Event()

    class Member(base):  # type: ignore[misc,valid-type]
        def __init__(self, name: str) -> None:
            super().__init__()
            self.name = name

        def on_receive(self, message: Any) -> Any:
            if message == "fatal":
                raise Fatal

        def on_stop(self) -> None:
            stops.append(self.name)
            if len(stops) == 3:
                all_stopped.set()

    refs = [Member.start(n) for n in ("a", "b", "c")]
    refs[1].tell("fatal")
    assert all_stopped.wait(WAIT)
    _join_helper_threads()
    assert ActorRegistry.get_all() == []
    assert stops[0] == "b"
    # stop_all stops the rest last-started first.
    assert stops[1:] == ["c", "a"]


def test_base_exception_in_on_start_stops_actor_instead_of_leaving_a_zombie(
    pool: ActorPool,
) -> None:
    # pykka's ThreadingActor lets this escape its thread and stays "alive"
    # forever; a pooled actor stops, and all actors are stopped as for a
    # BaseException in a handler.
    class Bystander(PooledActor):
        actor_pool = pool

    class FatalStart(PooledActor):
        actor_pool = pool

        def on_start(self) -> None:
            raise Fatal

    other = Bystander.start()
    ref = FatalStart.start()
    assert ref.actor_stopped.wait(WAIT)
    with pytest.raises(ActorDeadError):
        ref.ask("x", timeout=WAIT)
    assert other.actor_stopped.wait(WAIT)
    _join_helper_threads()
    assert ActorRegistry.get_all() == []


# --- registry -----------------------------------------------------------------


def test_registry_lookup_and_stop_all_in_reverse_order(base: type[pykka.Actor]) -> None:
    stops: list[str] = []

    class Named(base):  # type: ignore[misc,valid-type]
        def __init__(self, name: str) -> None:
            super().__init__()
            self.name = name

        def on_stop(self) -> None:
            stops.append(self.name)

    refs = [Named.start(n) for n in ("first", "second", "third")]
    assert all(ref.is_alive() for ref in refs)
    assert ActorRegistry.get_by_urn(refs[1].actor_urn) is refs[1]
    assert set(ActorRegistry.get_by_class(Named)) == set(refs)
    assert ActorRegistry.get_by_class_name("Named") == refs
    ActorRegistry.broadcast("hello", target_class=Named)
    assert ActorRegistry.stop_all() == [True, True, True]
    assert stops == ["third", "second", "first"]
    assert not any(ref.is_alive() for ref in refs)
    assert ActorRegistry.get_all() == []


# --- the race pykka leaves open ---------------------------------------------------


def test_message_put_after_death_does_not_hang(base: type[pykka.Actor]) -> None:
    # A racing ask passed is_alive() just before the actor died, then puts.
    stop_threads: list[threading.Thread] = []

    class Dying(base):  # type: ignore[misc,valid-type]
        def on_stop(self) -> None:
            stop_threads.append(threading.current_thread())

    ref = Dying.start()
    ref.stop()
    fut = ref.actor_class._create_future()
    if issubclass(base, PooledActor):
        ref.actor_inbox.put(Envelope("late", reply_to=fut))
        with pytest.raises(ActorDeadError, match="stopped before handling"):
            fut.get(timeout=WAIT)
    else:
        stop_threads[0].join(WAIT)  # its teardown is over
        ref.actor_inbox.put(Envelope("late", reply_to=fut))
        # pykka's ThreadingActor leaves it unanswered forever.
        with pytest.raises(Timeout):
            fut.get(timeout=0.1)


# --- pool-only behaviour --------------------------------------------------------


def test_actors_run_on_pool_workers_only(pool: ActorPool) -> None:
    before = threading.active_count()
    Rec = recorder(type("P", (PooledActor,), {"actor_pool": pool}))
    refs = [Rec.start() for _ in range(500)]
    names = pykka.get_all([ref.ask("thread", block=False) for ref in refs], timeout=WAIT)
    assert threading.active_count() <= before
    assert {n.rsplit("-", 1)[0] for n in names} == {"test-pool"}
    assert len(set(names)) <= POOL_SIZE


def test_message_arriving_as_a_run_ends_is_not_lost(pool: ActorPool) -> None:
    # The "lost wakeup" window: a run found the mailbox empty and has not
    # yet given back its token when a sender appends and fails to take the
    # token. The run must look again after giving it back. The deque below
    # sends that message exactly inside the window, from the worker itself.
    late_handled = threading.Event()

    class Window(deque):  # type: ignore[type-arg]
        def __init__(self) -> None:
            super().__init__()
            self.inject: Any = None

        def popleft(self) -> Any:
            try:
                return super().popleft()
            except IndexError:
                if self.inject is not None:
                    ref, self.inject = self.inject, None
                    ref.tell("late")
                raise

    class Late(PooledActor):
        actor_pool = pool

        def __init__(self) -> None:
            super().__init__()
            self.actor_inbox._mail = self.window = Window()

        def on_receive(self, message: Any) -> Any:
            if message == "arm":
                self.window.inject = self.actor_ref
            elif message == "late":
                late_handled.set()

    ref = Late.start()
    ref.ask("arm", timeout=WAIT)
    # Nothing else is sent: only the run's second look can handle "late".
    assert late_handled.wait(WAIT)


def test_many_senders_many_actors_every_ask_answered(pool: ActorPool) -> None:
    # Tiny switch interval: threads interleave inside the scheduler often.
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        Rec = recorder(PooledActor)
        refs = [Rec.start_on(pool) for _ in range(20)]
        errors: list[BaseException] = []

        def ping_pong(offset: int) -> None:
            try:
                for i in range(300):
                    ref = refs[(offset + i) % len(refs)]
                    assert ref.ask(i, timeout=WAIT) == ("got", i)
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

        threads = [threading.Thread(target=ping_pong, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(old)
    assert errors == []


def test_concurrency_is_bounded_by_pool_size(pool: ActorPool) -> None:
    inside: list[int] = []  # list.append/pop are atomic
    peak: list[int] = []

    class Busy(PooledActor):
        actor_pool = pool

        def on_receive(self, message: Any) -> Any:
            inside.append(1)
            peak.append(len(inside))
            total = 0
            for i in range(5000):
                total += i
            inside.pop()
            return total

    refs = [Busy.start() for _ in range(3 * POOL_SIZE)]
    futs = [ref.ask(i, block=False) for i in range(20) for ref in refs]
    pykka.get_all(futs, timeout=WAIT)
    assert 1 <= max(peak) <= POOL_SIZE


def test_flooded_actor_does_not_starve_others() -> None:
    with ActorPool(1, name="fair-pool", batch=16) as pool:

        class Counter(PooledActor):
            actor_pool = pool

            def __init__(self) -> None:
                super().__init__()
                self.count = 0

            def on_receive(self, message: Any) -> Any:
                if isinstance(message, threading.Event):
                    message.wait(WAIT)  # holds the only worker while we queue
                    return None
                self.count += 1
                return self.count

        class Peer(PooledActor):
            actor_pool = pool

            def __init__(self, flooded: Counter) -> None:
                super().__init__()
                self.flooded = flooded

            def on_receive(self, message: Any) -> Any:
                return self.flooded.count  # racy read on purpose: progress so far

        gate = threading.Event()
        flooded_ref = Counter.start()
        flooded_actor = flooded_ref._actor_weakref()
        peer_refs = [Peer.start(flooded_actor) for _ in range(3)]
        pykka.get_all([p.ask("ready", block=False) for p in peer_refs], timeout=WAIT)
        flooded_ref.tell(gate)
        total = 5000
        for _ in range(total):
            flooded_ref.tell("work")
        peer_futs = [p.ask("how far?", block=False) for p in peer_refs]
        gate.set()
        seen = pykka.get_all(peer_futs, timeout=WAIT)
        # With one worker, each peer ran after at most a few batches of the
        # flooded actor, long before its 5000 messages were done.
        assert all(s <= 2 * pool.batch for s in seen), seen
        assert flooded_ref.ask("last", timeout=WAIT) == total + 1


def test_debug_pool_refuses_blocking_get_inside_an_actor() -> None:
    with ActorPool(2, name="debug-pool", debug=True) as pool:
        gate = threading.Event()
        slow = recorder(type("P", (PooledActor,), {"actor_pool": pool})).start()

        class Impatient(PooledActor):
            actor_pool = pool

            def on_receive(self, message: Any) -> Any:
                return slow.ask("x", block=False).get(timeout=WAIT)

        slow.tell(("wait", gate))
        with pytest.raises(BlockingInPoolError):
            Impatient.start().ask("go", timeout=WAIT)
        gate.set()
        # Outside a worker the same get() blocks as usual.
        assert slow.ask("y", block=False).get(timeout=WAIT) == ("got", "y")


def test_pool_cannot_be_shut_down_from_its_own_actor(pool: ActorPool) -> None:
    class Rogue(PooledActor):
        actor_pool = pool

        def on_receive(self, message: Any) -> Any:
            pool.shutdown()

    with pytest.raises(RuntimeError, match="own actors"):
        Rogue.start().ask("shut down", timeout=WAIT)
    assert pool.running


def test_start_needs_a_running_pool() -> None:
    class NoPool(PooledActor):
        pass

    with pytest.raises(RuntimeError, match="no actor_pool"):
        NoPool.start()
    idle = ActorPool(1, name="idle-pool")
    with pytest.raises(RuntimeError, match="not running"):
        NoPool.start_on(idle)
    assert ActorRegistry.get_all() == []
    idle.shutdown()
    with pytest.raises(RuntimeError, match="not running"):
        NoPool.start_on(idle)
    with pytest.raises(RuntimeError, match="shut down"):
        idle.start()
    running = ActorPool(1, name="twice-pool").start()
    with pytest.raises(RuntimeError, match="already started"):
        running.start()
    running.shutdown()


def test_start_on_chooses_the_pool_per_actor(pool: ActorPool) -> None:
    with ActorPool(1, name="other-pool") as other:
        Rec = recorder(PooledActor)
        a = Rec.start_on(pool)
        b = Rec.start_on(other)
        assert a.ask("thread").startswith("test-pool-")
        assert b.ask("thread") == "other-pool-0"
        assert a.proxy().actor_pool.get(timeout=WAIT) is pool
    # Leaving the with block stopped b (it lived on other), not a.
    assert not b.is_alive()
    assert a.is_alive()


def test_shutdown_stops_live_actors_gracefully_and_joins_workers() -> None:
    before = set(threading.enumerate())
    pool = ActorPool(3, name="closing-pool").start()
    assert len(_pool_threads(pool)) == 3
    log: list[Any] = []
    Rec = recorder(type("P", (PooledActor,), {"actor_pool": pool}))
    gate = threading.Event()
    refs = [Rec.start(log) for _ in range(10)]
    refs[0].tell(("wait", gate))
    for ref in refs:
        for i in range(3):
            ref.tell(i)
    threading.Timer(0.01, gate.set).start()  # release the gate from elsewhere
    pool.shutdown(wait=True)
    assert log.count("on_stop") == 10
    assert sorted(x for x in log if x != "on_stop") == sorted([0, 1, 2] * 10)
    assert not any(ref.is_alive() for ref in refs)
    assert _pool_threads(pool) == []
    for thread in set(threading.enumerate()) - before:
        thread.join(WAIT)  # the Timer
    assert set(threading.enumerate()) - before == set()
    with pytest.raises(RuntimeError, match="not running"):
        Rec.start()
    with pytest.raises(ActorDeadError):
        refs[1].tell("x")
    pool.shutdown(wait=True)  # idempotent


def test_shutdown_without_wait_finishes_in_background() -> None:
    before = set(threading.enumerate())
    pool = ActorPool(2, name="bg-pool").start()
    log: list[Any] = []
    refs = [recorder(PooledActor).start_on(pool, log) for _ in range(4)]
    pool.shutdown(wait=False)
    pool.shutdown(wait=True)  # waits for the first one
    assert log.count("on_stop") == 4
    assert not any(ref.is_alive() for ref in refs)
    assert set(threading.enumerate()) - before == set()


def test_actor_left_behind_by_shutdown_fails_instead_of_hanging() -> None:
    # An actor that left the registry is not seen (so not stopped) by
    # shutdown; a message to it afterwards cannot run: it must fail fast.
    class Hidden(PooledActor):
        def on_start(self) -> None:
            ActorRegistry.unregister(self.actor_ref)

        def on_receive(self, message: Any) -> Any:
            return message

    with ActorPool(2, name="leaky-pool") as pool:
        ref = Hidden.start_on(pool)
        assert ref.ask("ping", timeout=WAIT) == "ping"
    assert ref.is_alive()  # shutdown did not know about it
    fut = ref.ask("after shutdown", block=False)
    with pytest.raises(ActorDeadError):
        fut.get(timeout=WAIT)
    assert not ref.is_alive()


def test_stopped_actor_is_garbage_collected(pool: ActorPool) -> None:
    Rec = recorder(PooledActor)
    ref = Rec.start_on(pool)
    ref.ask("x")
    actor = ref._actor_weakref
    assert actor() is not None
    ref.stop()
    gc.collect()
    assert actor() is None
    assert not ref.is_alive()


def test_pool_parameters_are_validated() -> None:
    with pytest.raises(ValueError, match="size"):
        ActorPool(0)
    with pytest.raises(ValueError, match="batch"):
        ActorPool(1, batch=0)
    pool = ActorPool(3, name="p", batch=7)
    assert (pool.size, pool.name, pool.batch, pool.running) == (3, "p", 7, False)
