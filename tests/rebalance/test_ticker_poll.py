"""The Ticker's polls: a coordinator whose answer carries ``poll_at`` gets a
``Tick(schedule="poll")`` then, and the simulated clock is woken for it; a
coordinator that asks nothing is never polled."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pykka
import pytest

from actors.messages import Advance, Ping, Tick
from actors.ticker import Ticker
from revops.config import build_startup_config
from tests.actors.fakes import FakeRequest

T0 = 1_000_000.0


@pytest.fixture(autouse=True)
def _stop_all_actors() -> Iterator[None]:
    yield
    pykka.ActorRegistry.stop_all(timeout=10)


class Recorder(pykka.ThreadingActor):
    """A coordinator stand-in: records its ticks, answers with ``poll_at``
    while it has polls left to ask for."""

    def __init__(self, polls: int, gap: float) -> None:
        super().__init__()
        self.ticks: list[tuple[float, str]] = []
        self.polls, self.gap = polls, gap

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, Tick):
            self.ticks.append((message.now, message.schedule))
            answer: dict[str, Any] = {}
            if self.polls > 0:
                self.polls -= 1
                answer["poll_at"] = message.now + self.gap
            message.ack.set(answer)
            return None
        if isinstance(message, Ping):
            return True
        return None

    def seen(self) -> list[tuple[float, str]]:
        return list(self.ticks)


def others() -> dict[str, Any]:
    return {name: Recorder.start(polls=0, gap=0.0) for name in ("mempool", "flow", "fee")}


def advance(ticker: Any, now: float) -> dict[str, Any]:
    req = FakeRequest("simclock-advance")
    ticker.tell(Advance(now, req))
    return req.wait()


def test_polls_fire_when_asked_and_wake_the_simulated_clock():
    cfg = build_startup_config({}).snapshot  # rebalance-interval 1800 s
    ticker = Ticker.start(cfg, T0, True)
    rec = Recorder.start(polls=2, gap=30.0)
    quiet = Recorder.start(polls=0, gap=0.0)
    ticker.proxy().set_coordinators({"rebalance": rec, **others(), "flow": quiet}).get()
    first = advance(ticker, T0)
    assert first["next_wakeup"] == T0 + 30  # the poll, sooner than any interval
    assert advance(ticker, T0 + 30)["next_wakeup"] == T0 + 60
    third = advance(ticker, T0 + 60)  # polls no more: back to the intervals
    assert third["next_wakeup"] == T0 + 600  # flow-interval
    assert rec.proxy().seen().get() == [(T0, "cycle"), (T0 + 30, "poll"), (T0 + 60, "poll")]
    assert quiet.proxy().seen().get() == [(T0, "cycle")]
    advance(ticker, T0 + 1800)
    assert rec.proxy().seen().get()[-1] == (T0 + 1800, "cycle")


def test_a_poll_due_is_fired_once_even_if_time_jumps_past_it():
    cfg = build_startup_config({}).snapshot
    ticker = Ticker.start(cfg, T0, True)
    rec = Recorder.start(polls=1, gap=30.0)
    ticker.proxy().set_coordinators({"rebalance": rec, **others()}).get()
    advance(ticker, T0)
    advance(ticker, T0 + 500)
    advance(ticker, T0 + 700)
    assert rec.proxy().seen().get() == [(T0, "cycle"), (T0 + 500, "poll")]


def test_wall_mode_reads_the_answer_at_the_next_advance():
    cfg = build_startup_config({}).snapshot
    ticker = Ticker.start(cfg, T0, False)
    rec = Recorder.start(polls=1, gap=5.0)
    ticker.proxy().set_coordinators({"rebalance": rec}).get()
    ticker.tell(Advance(T0))
    rec.proxy().seen().get()  # the cycle has run
    ticker.ask(Ping())
    ticker.tell(Advance(T0 + 1))  # reads the answer: poll due at T0 + 5
    ticker.tell(Advance(T0 + 5))
    ticker.ask(Ping())
    for _ in range(200):
        if len(rec.proxy().seen().get()) == 2:
            break
        ticker.ask(Ping())
    assert rec.proxy().seen().get() == [(T0, "cycle"), (T0 + 5, "poll")]
