"""The assembled actor system (Supervisor, RpcActor, StoreActor, Ticker,
coordinators, channel actors) driven through its messages, with a fake
lightningd transport and a real database."""

from __future__ import annotations

from typing import Any

import pykka
import pytest

from actors.messages import Advance, Command
from actors.pool import ActorPool
from actors.runtime import build_runtime
from actors.supervisor import Supervisor
from revops.clock import DrivenClock
from revops.config import build_startup_config
from revops.metrics import Metrics
from tests.actors.fakes import (
    FakeRequest,
    FakeTransport,
    channel,
    feerates_perkb,
    getinfo,
    peer,
)

T0 = 1_767_225_600.0


class Node:
    """A fake lightningd's state the transport answers from."""

    def __init__(self) -> None:
        self.channels = [channel("100x1x0", peer(1)), channel("101x1x0", peer(2))]
        self.transport = FakeTransport({
            "listpeerchannels": lambda p: {"channels": list(self.channels)},
            "feerates": lambda p: feerates_perkb(5000),
            "listforwards": lambda p: {"forwards": []},
            "getinfo": lambda p: getinfo(200),
            "setchannel": self.setchannel,
        })

    def setchannel(self, p):
        for c in self.channels:
            if c["short_channel_id"] == p["id"]:
                c["fee_proportional_millionths"] = p["feeppm"]
                c["fee_base_msat"] = p["feebase"]
                return {"channels": [{
                    "peer_id": c["peer_id"], "channel_id": c["channel_id"],
                    "short_channel_id": p["id"], "fee_base_msat": p["feebase"],
                    "fee_proportional_millionths": p["feeppm"],
                    "minimum_htlc_out_msat": 0, "maximum_htlc_out_msat": c["total_msat"],
                    "ignore_fee_limits": False}]}
        raise AssertionError(p)


@pytest.fixture
def system(tmp_path):
    node = Node()
    clock = DrivenClock(T0)
    pool = ActorPool(2, name="test-channel").start()
    metrics = Metrics()
    options = {"revenue-ops-metrics-address": "off", "revenue-ops-actor-restart-limit": "2",
               "revenue-ops-actor-restart-window": "3600"}
    startup = build_startup_config(options)
    rt = build_runtime(clock=clock, startup=startup, init_options=options,
                       db_path=str(tmp_path / "revops.sqlite3"), rpc_path="unused",
                       transport=lambda timeout: node.transport, pool=pool,
                       metrics=metrics, driven=True, dev=True)
    sup = Supervisor.start(rt)

    class S:
        pass

    s = S()
    s.node, s.clock, s.sup, s.metrics, s.pool, s.tmp = node, clock, sup, metrics, pool, tmp_path

    def advance(dt: float) -> dict[str, Any]:
        now = clock.advance_to(clock.now() + dt)
        req = FakeRequest("simclock-advance")
        sup.tell(Advance(now, req))
        return req.wait()

    def command(name: str, **params: Any) -> Any:
        req = FakeRequest(name)
        sup.tell(Command(name, params, req, clock.now()))
        return req.wait()

    s.advance, s.command = advance, command
    yield s
    if sup.is_alive():
        sup.stop(block=True, timeout=20)
    pool.shutdown(wait=True)
    pykka.ActorRegistry.stop_all()


def test_first_advance_runs_every_coordinator_and_reports_next_wakeup(system):
    out = system.advance(1)
    assert out["now"] == T0 + 1
    assert out["next_wakeup"] == T0 + 1 + 600  # flow-interval is the shortest
    status = system.command("revenue-status")
    assert status["channels"] == 2
    for name in ("mempool", "flow", "fee", "rebalance"):
        assert status["actors"][name]["last_tick_ok"], name
    assert status["healthy"] is True


def test_channel_opened_and_closed_adds_and_prunes_its_actor(system):
    system.advance(1)
    system.node.channels.append(channel("102x1x0", peer(3)))
    system.advance(3600)
    chans = system.command("revenue-channels")["channels"]
    assert [c["scid"] for c in chans] == ["100x1x0", "101x1x0", "102x1x0"]
    system.node.channels = [c for c in system.node.channels if c["short_channel_id"] != "101x1x0"]
    system.advance(3600)
    chans = system.command("revenue-channels")["channels"]
    assert [c["scid"] for c in chans] == ["100x1x0", "102x1x0"]
    # the closed channel's persisted state is gone
    store = pykka.ActorRegistry.get_by_class_name("StoreActor")[0]
    assert store.proxy().load_channel_state("101x1x0").get(timeout=10) is None
    assert store.proxy().load_channel_state("100x1x0").get(timeout=10) is not None


def test_crashed_coordinator_is_restarted_and_counted(system):
    system.advance(1)
    system.command("revenue-dev-crash", actor="fee")
    system.advance(3600)
    status = system.command("revenue-status")
    assert status["actors"]["fee"]["restarts"] == 1
    assert status["actors"]["fee"]["alive"] is True
    assert status["channels"] == 2
    assert system.metrics.sample("revops_actor_restarts_total", {"actor": "fee"}) == 1


def test_restart_budget_exhausted_escalates_to_degraded(system):
    system.advance(1)
    for _ in range(3):  # limit is 2 within the window
        system.command("revenue-dev-crash", actor="mempool")
        system.advance(60)
    status = system.command("revenue-status")
    assert status["actors"]["mempool"]["state"] == "degraded"
    assert "mempool" in status["degraded"]
    assert status["healthy"] is False
    # the rest keeps running
    assert status["actors"]["fee"]["alive"] is True


def test_crashed_channel_actor_resumes_from_persisted_state(system):
    system.advance(1)
    system.advance(3600)
    before = {c["scid"]: c["state"]["cycles"]
              for c in system.command("revenue-channels")["channels"]}
    system.command("revenue-dev-crash", actor="channel:100x1x0")
    system.advance(3600)
    after = {c["scid"]: c["state"]["cycles"]
             for c in system.command("revenue-channels")["channels"]}
    assert after["100x1x0"] == before["100x1x0"] + 1  # continued, not reset
    assert after["101x1x0"] == before["101x1x0"] + 1


def test_config_set_get_reset_and_rejections(system):
    system.advance(1)
    out = system.command("revenue-config", action="set", key="fee-interval", value="900")
    assert out["value"] == 900 and out["old"] == 3600
    gen = out["generation"]
    got = system.command("revenue-config", action="get", key="fee-interval")
    assert got["value"] == 900 and got["source"] == "override"
    for bad in ("abc", "nan", "inf", "10", "1e9", "12.5"):
        with pytest.raises(Exception) as e:
            system.command("revenue-config", action="set", key="fee-interval", value=bad)
        assert "revenue-ops-fee-interval" in str(e.value) and "60 to 86400" in str(e.value)
    got = system.command("revenue-config", action="get", key="fee-interval")
    assert got["value"] == 900 and got["generation"] == gen  # unchanged
    with pytest.raises(Exception) as e:
        system.command("revenue-config", action="set", key="db-path", value="/tmp/x")
    assert "startup option" in str(e.value)
    with pytest.raises(Exception) as e:
        system.command("revenue-config", action="set", key="no-such-key", value="1")
    assert "unknown config key" in str(e.value)
    out = system.command("revenue-config", action="reset", key="fee-interval")
    assert out["value"] == 3600 and out["source"] == "default"
