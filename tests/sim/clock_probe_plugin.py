#!/usr/bin/env python3
"""A plain pyln plugin (no simclock) that waits in every way plugin time
follows, for tests/sim/test_plugin_time.py.

At ``init`` it starts, each in its own thread unless said otherwise:

- ``sleep``: ``time.sleep(437)``, then again 3600 s, forever;
- ``event``: ``threading.Event().wait(811)`` (never set);
- ``timer``: ``threading.Timer(1111, ...)``, which also hands an item to ...
- ``worker``: blocked in an untimed ``queue.Queue.get()`` until the timer's item;
- ``queue``: ``queue.Queue().get(timeout=1379)`` (nothing ever comes);
- ``wait_for``: ``Condition.wait_for(predicate, 1502)`` (never true).

Each records, when it wakes, ``time.time()``, ``time.time_ns()``,
``time.monotonic()``, ``datetime.now(timezone.utc).timestamp()`` and
``datetime.utcnow()``; ``clock-probe-state`` returns the records, its clock
at init, and ``time.time()``/``perf_counter()`` now. Option
``clock-probe-stuck``: one more thread blocks for ever on a bare
``Lock.acquire()``, which plugin time cannot see (the node must not stall).
Option ``clock-probe-waiter``: one more thread long-polls ``wait`` for new
forwards, recording each answer (a thread the sim itself holds).
"""

from __future__ import annotations

import datetime
import queue
import threading
import time
from typing import Any

from pyln.client import Plugin

plugin = Plugin()
plugin.add_option("clock-probe-stuck", None, "Block a thread on a bare lock", opt_type="flag")
plugin.add_option("clock-probe-waiter", None, "Long-poll `wait` for forwards in a thread",
                  opt_type="flag")
records: dict[str, list[dict[str, Any]]] = {}
at_init: dict[str, Any] = {}
work: queue.Queue[str] = queue.Queue()


def record(name: str) -> None:
    now = datetime.datetime.now(datetime.timezone.utc)
    records.setdefault(name, []).append({
        "time": time.time(), "time_ns": time.time_ns(), "monotonic": time.monotonic(),
        "datetime": now.timestamp(),
        "utcnow": datetime.datetime.utcnow().replace(tzinfo=datetime.timezone.utc).timestamp(),
        "is_datetime": isinstance(now, datetime.datetime),
    })


def sleeper() -> None:
    time.sleep(437)
    record("sleep")
    while True:
        time.sleep(3600)
        record("sleep")


def event() -> None:
    threading.Event().wait(811)
    record("event")


def worker() -> None:
    while True:
        item = work.get()
        record(item)


def fire() -> None:
    record("timer")
    work.put("worker")


def timed_get() -> None:
    try:
        queue.Queue().get(timeout=1379)
    except queue.Empty:
        record("queue")


def wait_for() -> None:
    cond = threading.Condition()
    with cond:
        cond.wait_for(lambda: False, 1502)
    record("wait_for")


def waiter() -> None:
    value = plugin.rpc.call("wait", {"subsystem": "forwards", "indexname": "created",
                                     "nextvalue": 0})["created"]
    while True:
        got = plugin.rpc.call("wait", {"subsystem": "forwards", "indexname": "created",
                                       "nextvalue": value + 1})
        value = got["created"]
        record("waiter")


def stuck() -> None:
    lock = threading.Lock()
    lock.acquire()
    lock.acquire()


@plugin.init()
def init(options: dict[str, Any], configuration: dict[str, Any], plugin: Plugin,
         **kwargs: Any) -> None:
    at_init.update(time=time.time(), monotonic=time.monotonic())
    for target in (sleeper, event, worker, timed_get, wait_for):
        threading.Thread(target=target, daemon=True).start()
    timer = threading.Timer(1111, fire)
    timer.daemon = True
    timer.start()
    if options.get("clock-probe-waiter"):
        threading.Thread(target=waiter, daemon=True).start()
    if options.get("clock-probe-stuck"):
        threading.Thread(target=stuck, daemon=True).start()


@plugin.method("clock-probe-state")
def state(plugin: Plugin) -> dict[str, Any]:
    """What the probe saw."""
    return {"records": records, "init": at_init, "time": time.time(),
            "perf_counter": time.perf_counter()}


plugin.run()
