"""Benchmark: many pooled actors on a few threads vs one ThreadingActor each.

Not collected by pytest (no ``test_`` prefix). Run:

    python tests/actors/bench_pool.py                 # the default matrix
    python tests/actors/bench_pool.py --actors 5000 --workers 8 --kind pooled
    python tests/actors/bench_pool.py --freeze-gc      # gc.freeze() after start

For each case it starts N actors, fans out one ask to every actor and
gathers (``--rounds`` times), then stops them all, and reports: start time,
the first ask round (wall time, asks/s), the median of the later rounds,
stop time, peak thread count, and the worst stall seen by a bystander
thread that wakes every millisecond (what pyln's stdin loop would feel).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import threading
import time
from dataclasses import dataclass
from typing import Any, Self

import pykka
from pykka import ActorRegistry, ThreadingActor

from actors.pool import ActorPool, PooledActor


class _Echo:
    def on_receive(self, message: Any) -> Any:
        return message


class ThreadedEcho(_Echo, ThreadingActor):
    pass


class PooledEcho(_Echo, PooledActor):
    pass


class Bystander:
    """A thread that wants to wake every millisecond; records its worst delay."""

    def __init__(self) -> None:
        self.worst = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bystander")

    def _run(self) -> None:
        last = time.monotonic()
        while not self._stop.wait(0.001):
            now = time.monotonic()
            self.worst = max(self.worst, now - last - 0.001)
            last = now

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@dataclass(frozen=True)
class Result:
    kind: str
    actors: int
    workers: int
    start_s: float
    first_round_s: float
    later_round_s: float
    stop_s: float
    peak_threads: int
    bystander_worst_ms: float

    def line(self) -> str:
        workers = f"{self.workers} workers" if self.kind == "pooled" else "1 thread each"
        later = (
            f"{self.later_round_s * 1e3:8.1f} ms ({self.actors / self.later_round_s:9,.0f}/s)"
            if self.later_round_s
            else " " * 29
        )
        return (
            f"{self.kind:9} {self.actors:5} actors, {workers:14}| "
            f"start {self.start_s * 1e3:7.1f} ms | "
            f"1st ask round {self.first_round_s * 1e3:8.1f} ms "
            f"({self.actors / self.first_round_s:9,.0f}/s) | later {later} | "
            f"stop {self.stop_s * 1e3:7.1f} ms | peak threads {self.peak_threads:5} | "
            f"bystander worst stall {self.bystander_worst_ms:6.1f} ms"
        )


def run_case(kind: str, actors: int, workers: int, rounds: int, freeze_gc: bool) -> Result:
    base_threads = threading.active_count()
    pool = ActorPool(workers, name="bench-pool").start() if kind == "pooled" else None
    with Bystander() as bystander:
        t0 = time.perf_counter()
        if pool is not None:
            refs = [PooledEcho.start_on(pool) for _ in range(actors)]
        else:
            refs = [ThreadedEcho.start() for _ in range(actors)]
        t1 = time.perf_counter()
        if freeze_gc:
            # Long-lived actors out of the collector's way: full collections
            # otherwise re-walk every actor each time.
            gc.freeze()
        peak = threading.active_count()
        times = []
        for r in range(rounds):
            t = time.perf_counter()
            futures = [ref.ask(r, block=False) for ref in refs]
            answers = pykka.get_all(futures, timeout=120)
            times.append(time.perf_counter() - t)
            assert answers == [r] * actors
            peak = max(peak, threading.active_count())
        t2 = time.perf_counter()
        ActorRegistry.stop_all(timeout=120)
        if pool is not None:
            pool.shutdown(wait=True)
        t3 = time.perf_counter()
        if freeze_gc:
            gc.unfreeze()
    # Bystander and this thread are not actor threads.
    peak -= 1
    assert threading.active_count() <= base_threads + (actors if pool is None else 0)
    return Result(
        kind=kind,
        actors=actors,
        workers=workers if pool is not None else actors,
        start_s=t1 - t0,
        first_round_s=times[0],
        later_round_s=statistics.median(times[1:]) if len(times) > 1 else 0.0,
        stop_s=t3 - t2,
        peak_threads=peak,
        bystander_worst_ms=bystander.worst * 1e3,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--actors", type=int, nargs="*", default=[100, 5000])
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--kind", choices=["pooled", "threading"], nargs="*",
                        default=["pooled", "threading"])
    parser.add_argument("--freeze-gc", action="store_true",
                        help="gc.freeze() once the actors are started")
    args = parser.parse_args()
    print(f"python threads at start: {threading.active_count()}; "
          f"peak threads counts this process's threads (main included)")
    for actors in args.actors:
        for kind in args.kind:
            print(run_case(kind, actors, args.workers, args.rounds, args.freeze_gc).line(), flush=True)
            # let exited actor threads be reaped before the next case
            for t in threading.enumerate():
                if t is not threading.current_thread() and not t.daemon:
                    t.join(10)


if __name__ == "__main__":
    main()
