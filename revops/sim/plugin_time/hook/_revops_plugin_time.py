"""revops-sim's plugin-time shim: makes a Python plugin's clock follow the
simulated clock. It runs *inside the plugin's process*, loaded by the
``sitecustomize`` beside it, which ``revops-sim`` puts first on the plugin's
``PYTHONPATH`` when ``--plugin-time sim`` (the default) applies. Standard
library only and Python 3.8+: it must work in whatever Python the plugin
runs in, so it never imports revops. The sim's side is
``revops/sim/plugin_time/link.py``; the protocol is described there.

What follows the simulated clock once installed:

- ``time.time``/``time_ns``, ``time.monotonic``/``monotonic_ns``,
  ``time.localtime``/``gmtime``/``ctime``/``asctime``/``strftime`` without
  an explicit time, ``time.clock_gettime`` for the realtime and monotonic
  clocks, ``datetime.datetime.now``/``utcnow``/``today`` and
  ``datetime.date.today``;
- ``time.sleep`` and every ``threading.Condition.wait`` with a timeout (so
  ``Event.wait``, ``Timer``, ``Semaphore``/``Barrier`` timeouts,
  ``queue.Queue.get``/``put`` with a timeout, ``Future.result(timeout)``):
  they end when the *simulated* time reaches their deadline, and the sim
  learns every deadline so that its steps land on it.

How the sim knows the plugin is done with a step ("quiet"): every thread is
either parked in one of the waits above (timed or not), or blocked reading
stdin through ``sys.stdin`` having read every byte the sim wrote, or
blocked in an RPC call that the sim itself holds until its next step
(``wait``, ``waitsendpay``: the sim counts those). Threads that block
anywhere else (a bare ``Lock.acquire``, a socket, ``select``,
``Thread.join``, ``queue.SimpleQueue.get``) count as busy; the sim gives up
waiting after a real-time cap. ``time.perf_counter``/``process_time`` stay
real: they measure the machine, not the market.

Modes (``_mode``, written only by the owner thread):

- ``startup``: until the sim's first ``advance`` (it comes once every
  plugin has answered ``init``): the clock stands at the start time, waits
  take real time, as lightningd's own startup does; each wait also carries
  its simulated deadline, which rules from the first ``advance`` on;
- ``sim``: the clock is the sim's; waits end on simulated deadlines;
- ``frozen``: the sim is shutting down (or gone): the clock stays where it
  was, pending waits end at once, new ones take real time;
- ``wall``: the plugin speaks revops' simclock protocol (revops/clock.py),
  which already gives it simulated time where it wants it: everything is
  real again (pending waits keep their remaining time, in real seconds).

No locks: plugin threads only ``put`` messages on one ``SimpleQueue``; one
owner thread holds all the state and decides who wakes. A parked thread
blocks on its own one-shot ``SimpleQueue``.
"""

from __future__ import annotations

import collections
import datetime as _datetime
import heapq
import io
import itertools
import json
import os
import socket
import sys
import threading
import time as _time
from _queue import Empty, SimpleQueue

ENV = "REVOPS_PLUGIN_TIME"
PYTHONPATH_ENV = "REVOPS_PLUGIN_TIME_PYTHONPATH"

# The real functions, captured before anything is patched.
_real_time = _time.time
_real_monotonic = _time.monotonic
_real_time_ns = _time.time_ns
_real_monotonic_ns = _time.monotonic_ns
_real_sleep = _time.sleep
_real_localtime = _time.localtime
_real_gmtime = _time.gmtime
_real_ctime = _time.ctime
_real_asctime = _time.asctime
_real_strftime = _time.strftime
_real_clock_gettime = getattr(_time, "clock_gettime", None)
_real_clock_gettime_ns = getattr(_time, "clock_gettime_ns", None)
_real_cond_wait = threading.Condition.wait
_get_ident = threading.get_ident

# Published by the owner thread, read anywhere (a float or str read is atomic).
_mode = "startup"
_now = 0.0  # simulated UNIX time
_start = 0.0
_mono_base = 0.0  # monotonic() at the start time

_inbox: SimpleQueue = SimpleQueue()
_internal: set = set()  # idents of the shim's own threads
_order = itertools.count()


# -- clocks -------------------------------------------------------------------------------

def time_() -> float:
    return _now if _mode != "wall" else _real_time()


def time_ns() -> int:
    return int(_now * 1_000_000_000) if _mode != "wall" else _real_time_ns()


def monotonic() -> float:
    return _mono_base + (_now - _start) if _mode != "wall" else _real_monotonic()


def monotonic_ns() -> int:
    return int(monotonic() * 1_000_000_000) if _mode != "wall" else _real_monotonic_ns()


def _default_secs(secs):
    return time_() if secs is None else secs


def localtime(secs=None):
    return _real_localtime(_default_secs(secs))


def gmtime(secs=None):
    return _real_gmtime(_default_secs(secs))


def ctime(secs=None):
    return _real_ctime(_default_secs(secs))


def asctime(t=None):
    return _real_asctime(localtime() if t is None else t)


def strftime(fmt, t=None):
    return _real_strftime(fmt, localtime() if t is None else t)


_REALTIME = {getattr(_time, n) for n in ("CLOCK_REALTIME",) if hasattr(_time, n)}
_MONOTONIC = {getattr(_time, n) for n in ("CLOCK_MONOTONIC", "CLOCK_BOOTTIME",
                                           "CLOCK_MONOTONIC_RAW") if hasattr(_time, n)}


def clock_gettime(clk_id):
    if _mode != "wall":
        if clk_id in _REALTIME:
            return time_()
        if clk_id in _MONOTONIC:
            return monotonic()
    return _real_clock_gettime(clk_id)


def clock_gettime_ns(clk_id):
    if _mode != "wall":
        if clk_id in _REALTIME:
            return time_ns()
        if clk_id in _MONOTONIC:
            return monotonic_ns()
    return _real_clock_gettime_ns(clk_id)


_RealDateTime = _datetime.datetime
_RealDate = _datetime.date


class _DateTimeType(type):
    # Real datetime objects (made anywhere) still pass isinstance checks.
    def __instancecheck__(cls, obj):
        return isinstance(obj, _RealDateTime)

    def __subclasscheck__(cls, sub):
        return issubclass(sub, _RealDateTime)


class _DateType(type):
    def __instancecheck__(cls, obj):
        return isinstance(obj, _RealDate)

    def __subclasscheck__(cls, sub):
        return issubclass(sub, _RealDate)


class SimDateTime(_RealDateTime, metaclass=_DateTimeType):
    """``datetime.datetime`` whose ``now``/``utcnow``/``today`` read the
    simulated clock; it never has instances of its own (``__new__`` and the
    constructors return real ``datetime`` objects)."""

    def __new__(cls, *args, **kwargs):
        return _RealDateTime(*args, **kwargs)

    @classmethod
    def now(cls, tz=None):
        return _RealDateTime.fromtimestamp(time_(), tz)

    @classmethod
    def utcnow(cls):
        return _RealDateTime.fromtimestamp(time_(), _datetime.timezone.utc).replace(tzinfo=None)

    @classmethod
    def today(cls):
        return _RealDateTime.fromtimestamp(time_())


class SimDate(_RealDate, metaclass=_DateType):
    """``datetime.date`` whose ``today`` reads the simulated clock."""

    def __new__(cls, *args, **kwargs):
        return _RealDate(*args, **kwargs)

    @classmethod
    def today(cls):
        return _RealDate.fromtimestamp(time_())


for _cls, _name in ((SimDateTime, "datetime"), (SimDate, "date")):
    _cls.__module__, _cls.__qualname__, _cls.__name__ = "datetime", _name, _name


# -- waits ----------------------------------------------------------------------------------

class _Waiter:
    """One parked thread. ``release()`` is what ``Condition.notify`` calls:
    the owner hears of it first (so it never thinks a woken thread still
    parked), then the thread wakes with True; the owner wakes it with False
    when its deadline passes."""

    __slots__ = ("ident", "deadline", "real_deadline", "box", "order")

    def __init__(self, deadline, real_deadline) -> None:
        self.ident = _get_ident()
        self.deadline = deadline  # simulated, or None: only a notify ends it
        self.real_deadline = real_deadline  # only while starting up
        self.box: SimpleQueue = SimpleQueue()
        self.order = next(_order)

    def release(self) -> None:
        _inbox.put(("notified", self))
        self.box.put(True)

    def park(self) -> bool:
        _inbox.put(("park", self))
        return self.box.get()


def _new_waiter(timeout):
    if timeout is None:
        return _Waiter(None, None)
    timeout = float(timeout)
    real = _real_monotonic() + timeout if _mode == "startup" else None
    return _Waiter(_now + timeout, real)


def _passthrough() -> bool:
    return _mode in ("wall", "frozen") or _get_ident() in _internal


def sleep(secs) -> None:
    if _passthrough():
        return _real_sleep(secs)
    if secs < 0:
        raise ValueError("sleep length must be non-negative")
    if secs == 0:
        return _real_sleep(0)
    _new_waiter(secs).park()
    return None


def condition_wait(self, timeout=None):
    if _passthrough() or (timeout is not None and timeout <= 0):
        return _real_cond_wait(self, timeout)
    if not self._is_owned():
        raise RuntimeError("cannot wait on un-acquired lock")
    waiter = _new_waiter(timeout)
    self._waiters.append(waiter)
    # Tell the owner before letting go of the lock: any notify comes after.
    _inbox.put(("park", waiter))
    saved_state = self._release_save()
    gotit = False
    try:
        gotit = waiter.box.get()
        return gotit
    finally:
        self._acquire_restore(saved_state)
        if not gotit:
            try:
                self._waiters.remove(waiter)
            except ValueError:
                pass


# -- stdin ----------------------------------------------------------------------------------

class _Stdin(io.RawIOBase):
    """fd 0, telling the owner when a thread waits on it and what it read."""

    def __init__(self, fd: int) -> None:
        super().__init__()
        self._fd = fd

    def readable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._fd

    def readinto(self, b) -> int:
        ident = _get_ident()
        _inbox.put(("stdin_wait", ident))
        data = b""
        try:
            data = os.read(self._fd, len(b))
        finally:
            _inbox.put(("stdin_got", ident, len(data)))
        n = len(data)
        b[:n] = data
        return n


def _wrap_stdin() -> None:
    old = sys.stdin
    if old is None:
        return
    try:
        fd = old.fileno()
    except (OSError, ValueError, AttributeError):
        return
    raw = _Stdin(fd)
    sys.stdin = io.TextIOWrapper(io.BufferedReader(raw), encoding=old.encoding,
                                 errors=old.errors, line_buffering=old.line_buffering)


# -- the owner ------------------------------------------------------------------------------

class _Owner:
    """All of the shim's state; only the owner thread touches it."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.parked: dict = {}  # ident -> _Waiter
        self.timed: list = []  # heap (deadline, order, waiter), lazily cleaned
        self.real_timed: list = []  # heap (real_deadline, order, waiter)
        self.to_wake: collections.deque = collections.deque()  # due, woken one at a time
        self.stdin_waiting: set = set()
        self.consumed = 0
        self.written = None  # bytes the sim wrote to stdin, once it says (settle)
        self.seq = None
        self.last_report = None
        self.polls = 0  # the plugin's RPC calls the sim holds until its next step

    # -- messages --

    def run(self) -> None:
        while True:
            try:
                msg = _inbox.get(timeout=self._timeout())
            except Empty:
                msg = None
            if msg is not None:
                self.handle(msg)
            self.wake_real_due()
            self.progress()

    def _timeout(self):
        if self.real_timed and _mode != "sim":
            return max(0.0, self.real_timed[0][0] - _real_monotonic())
        if self.written is not None and _mode == "sim" and not self.reported():
            # A backstop for what no message announces (a thread ending
            # outside threading's bootstrap): look again soon.
            return 0.05
        return None

    def handle(self, msg) -> None:
        kind = msg[0]
        if kind == "park":
            self.park(msg[1])
        elif kind == "notified":
            w = msg[1]
            if self.parked.get(w.ident) is w:
                del self.parked[w.ident]
        elif kind == "stdin_wait":
            self.stdin_waiting.add(msg[1])
        elif kind == "stdin_got":
            self.stdin_waiting.discard(msg[1])
            self.consumed += msg[2]
        elif kind == "exit":
            self.parked.pop(msg[1], None)
            self.stdin_waiting.discard(msg[1])
        elif kind == "sim":
            self.from_sim(msg[1])
        elif kind == "eof":
            self.freeze()

    def park(self, w: _Waiter) -> None:
        self.parked[w.ident] = w
        if w.deadline is None:
            return
        if _mode in ("wall", "frozen"):
            real = _real_monotonic() + max(0.0, w.deadline - _now)
            heapq.heappush(self.real_timed, (real, w.order, w))
        elif _mode == "sim" and w.deadline <= _now:
            self.to_wake.append(w)
        else:
            heapq.heappush(self.timed, (w.deadline, w.order, w))
            if _mode == "startup" and w.real_deadline is not None:
                heapq.heappush(self.real_timed, (w.real_deadline, w.order, w))

    def wake(self, w: _Waiter) -> bool:
        if self.parked.get(w.ident) is not w:
            return False  # notified (or woken) already
        del self.parked[w.ident]
        w.box.put(False)
        return True

    def wake_real_due(self) -> None:
        now = _real_monotonic()
        while self.real_timed and self.real_timed[0][0] <= now:
            self.wake(heapq.heappop(self.real_timed)[2])

    def from_sim(self, msg) -> None:
        global _mode, _now
        if "advance" in msg:
            # Whatever the plugin did not get to at the last step goes now.
            while self.to_wake:
                self.wake(self.to_wake.popleft())
            if _mode == "startup":
                _mode = "sim"
                self.real_timed = []
            if _mode == "sim":
                _now = max(_now, float(msg["advance"]))
                while self.timed and self.timed[0][0] <= _now:
                    self.to_wake.append(heapq.heappop(self.timed)[2])
            # Nothing wakes before the sim has written this step's stdin.
            self.seq, self.written = msg.get("seq"), None
            self.send({"clock": self.seq})
        elif "settle" in msg:
            if msg["settle"] == self.seq:
                self.written = int(msg.get("written", 0))
        elif "polls" in msg:
            self.polls = int(msg["polls"])
        elif "release" in msg:
            if msg["release"] == "wall":
                self.to_wall()
            else:
                self.freeze()

    def to_wall(self) -> None:
        global _mode
        if _mode == "wall":
            return
        self.to_real_time()
        _mode = "wall"
        _restore_time_module()

    def freeze(self) -> None:
        global _mode
        if _mode in ("wall", "frozen"):
            return
        self.to_real_time()
        _mode = "frozen"

    def to_real_time(self) -> None:
        """The sim stops driving: what is due wakes now, the other timed
        waits keep their remaining (simulated) time, in real seconds."""
        while self.to_wake:
            self.wake(self.to_wake.popleft())
        pending = [w for _, _, w in self.timed]
        self.timed, self.seq = [], None
        if _mode == "startup":
            return  # every timed wait has its real deadline already
        now = _real_monotonic()
        for w in pending:
            if self.parked.get(w.ident) is w:
                real = now + max(0.0, w.deadline - _now)
                heapq.heappush(self.real_timed, (real, w.order, w))

    # -- quiet --

    def busy_threads(self) -> int:
        busy = 0
        for t in threading.enumerate():
            ident = t.ident
            if ident is None:
                busy += 1  # started, not running yet
            elif ident in _internal or ident in self.parked or ident in self.stdin_waiting:
                continue
            else:
                busy += 1
        return busy

    def quiet(self) -> bool:
        # A thread blocked in an RPC call the sim holds until its next step
        # (a long poll) is waiting for the clock too: the sim counts those.
        if self.busy_threads() > self.polls:
            return False
        return not self.stdin_waiting or self.consumed >= self.written

    def next_deadline(self):
        while self.timed and self.parked.get(self.timed[0][2].ident) is not self.timed[0][2]:
            heapq.heappop(self.timed)
        return self.timed[0][0] if self.timed else None

    def reported(self) -> bool:
        return self.last_report is not None and self.last_report.get("quiet") == self.seq

    def progress(self) -> None:
        if _mode != "sim" or self.seq is None or self.written is None:
            return
        while self.to_wake and self.quiet():
            # One at a time, in deadline order: threads due at the same
            # instant run one after the other, the same way every run.
            self.wake(self.to_wake.popleft())
        if self.to_wake or not self.quiet():
            return
        report = {"quiet": self.seq, "busy": self.busy_threads(),
                  "read": self.consumed if self.stdin_waiting else None,
                  "wake": self.next_deadline()}
        if report != self.last_report:
            self.last_report = report
            self.send(report)

    def send(self, obj) -> None:
        try:
            self.sock.sendall(json.dumps(obj).encode() + b"\n")
        except OSError:
            self.freeze()


def _reader(sock: socket.socket) -> None:
    buf = b""
    while True:
        try:
            data = sock.recv(65536)
        except OSError:
            data = b""
        if not data:
            _inbox.put(("eof",))
            return
        buf += data
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            if line.strip():
                try:
                    _inbox.put(("sim", json.loads(line)))
                except ValueError:
                    pass


# -- installing -----------------------------------------------------------------------------

_PATCHES = {"time": time_, "time_ns": time_ns, "monotonic": monotonic,
            "monotonic_ns": monotonic_ns, "sleep": sleep, "localtime": localtime,
            "gmtime": gmtime, "ctime": ctime, "asctime": asctime, "strftime": strftime}
_ORIGINALS = {name: getattr(_time, name) for name in _PATCHES}
if _real_clock_gettime is not None:
    _PATCHES["clock_gettime"] = clock_gettime
    _ORIGINALS["clock_gettime"] = _real_clock_gettime
if _real_clock_gettime_ns is not None:
    _PATCHES["clock_gettime_ns"] = clock_gettime_ns
    _ORIGINALS["clock_gettime_ns"] = _real_clock_gettime_ns


def _restore_time_module() -> None:
    # For code that looks them up at call time; what was imported by name
    # keeps our function, which passes through in wall mode.
    for name, fn in _ORIGINALS.items():
        setattr(_time, name, fn)
    _datetime.datetime, _datetime.date = _RealDateTime, _RealDate
    threading.Condition.wait = _real_cond_wait


def _patch_bootstrap() -> None:
    inner = getattr(threading.Thread, "_bootstrap_inner", None)
    if inner is None:
        return

    def _bootstrap_inner(self):
        try:
            inner(self)
        finally:
            _inbox.put(("exit", _get_ident()))

    threading.Thread._bootstrap_inner = _bootstrap_inner


def install(environ=None) -> bool:
    """Take over the clock if the sim asked for it (``REVOPS_PLUGIN_TIME``);
    False if not. The variables are removed so the plugin's own children
    run on their own time."""
    global _now, _start, _mono_base
    env = os.environ if environ is None else environ
    spec = env.pop(ENV, None)
    if spec is None:
        return False
    old_path = env.pop(PYTHONPATH_ENV, None)
    if old_path is None:
        env.pop("PYTHONPATH", None)
    else:
        env["PYTHONPATH"] = old_path
    fd_text, _, start_text = spec.partition(":")
    try:
        sock = socket.socket(fileno=int(fd_text))
        _start = _now = float(start_text)
    except (OSError, ValueError):
        return False
    _mono_base = _real_monotonic()
    sock.setblocking(True)
    sock.sendall(json.dumps({"hello": os.getpid(), "python": sys.version.split()[0]}).encode()
                 + b"\n")
    owner = _Owner(sock)
    for target, args in ((owner.run, ()), (_reader, (sock,))):
        t = threading.Thread(target=target, args=args, name="revops-plugin-time", daemon=True)
        t.start()
        _internal.add(t.ident)
    for name, fn in _PATCHES.items():
        setattr(_time, name, fn)
    _datetime.datetime = SimDateTime
    _datetime.date = SimDate
    threading.Condition.wait = condition_wait
    threading._time = monotonic  # Condition.wait_for, Semaphore, Barrier deadlines
    import queue
    queue.time = monotonic  # Queue.get/put(timeout) deadlines
    _patch_bootstrap()
    _wrap_stdin()
    return True
