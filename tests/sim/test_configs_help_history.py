"""``listconfigs``, ``help``, ``getroute`` and ``listclosedchannels`` in the simulated node.

What the real lightningd v26.06 showed (tests/real/test_fidelity.py
compares the two): listconfigs' v26.06 shape with every plugin option and
its plugin, help entries that are only ``command``, the legacy
``getroute`` refused as deprecated, closed channels listed once forgotten.
"""

from __future__ import annotations

from typing import Any

import pytest
from pyln.client import RpcError

from revops.sim.jsonrpc import JSONRPC2_INVALID_PARAMS, JSONRPC2_METHOD_NOT_FOUND
from revops.sim.market import Market
from revops.sim.schemas import validate_response
from revops.sim.scenario import default_scenario
from tests.sim.market_fixtures import FakeNode, call, rpc_error
from tests.sim.payment_fixtures import TABLE

HOUR = 3600.0
OPTIONS = ["greeting=Hi", "hello-tag=a", "hello-tag=b", "hello-flag"]


def configs(sim: Any, **params: Any) -> dict[str, Any]:
    answer = sim.rpc.call("listconfigs", params)
    validate_response("listconfigs", answer)
    return answer["configs"]


def test_listconfigs_shows_lightningds_values_and_every_plugin_option(sim_factory,
                                                                      hello_plugin) -> None:
    sim = sim_factory(plugins=[hello_plugin], options=OPTIONS).start()
    every = configs(sim)
    assert every["fee-base"] == {"value_int": 1000, "source": "default"}
    assert every["fee-per-satoshi"] == {"value_int": 10, "source": "default"}
    assert every["network"] == {"value_str": "regtest", "source": "cmdline"}
    assert every["lightning-dir"]["value_str"] == str(sim.lightning_dir)
    assert every["mainnet"] == {"set": False, "source": "default"}
    assert every["plugin"] == {"values_str": [hello_plugin], "sources": ["cmdline"]}
    assert every["min-capacity-sat"]["dynamic"] is True
    path = next(p["name"] for p in sim.rpc.plugin("list")["plugins"])
    mine = {k: v for k, v in every.items() if v.get("plugin") == path}
    assert mine == {
        "greeting": {"value_str": "Hi", "source": "cmdline", "plugin": path},
        "hello-count": {"value_int": 1, "source": "default", "plugin": path},
        "hello-loud": {"value_bool": False, "source": "default", "plugin": path},
        "hello-flag": {"set": True, "source": "cmdline", "plugin": path},
        "hello-tag": {"values_str": ["a", "b"], "sources": ["cmdline", "cmdline"],
                      "plugin": path},
        "hello-init-delay": {"value_str": "0", "source": "default", "plugin": path},
        "hello-ignore-shutdown": {"set": False, "source": "default", "plugin": path},
        "hello-wakeup": {"value_str": "0", "source": "default", "plugin": path},
    }  # hello-disable has no default and was not given: lightningd shows nothing
    # One option by name, or by position, as feeadjuster asks for its defaults.
    assert configs(sim, config="fee-base") == {"fee-base": every["fee-base"]}
    assert sim.rpc.listconfigs("fee-per-satoshi")["configs"]["fee-per-satoshi"][
        "value_int"] == 10
    assert configs(sim, config="hello-disable") == {}
    with pytest.raises(RpcError) as err:
        sim.rpc.call("listconfigs", {"config": "no-such-option"})
    assert err.value.error == {"code": JSONRPC2_INVALID_PARAMS, "message":
                               "config: Unknown config option: invalid token '\"no-such-option\"'"}
    # Options given to `plugin start` come from there; a stopped plugin's are gone.
    sim.rpc.plugin_stop(path)
    assert "greeting" not in configs(sim)
    sim.rpc.call("plugin", {"subcommand": "start", "plugin": hello_plugin, "greeting": "Yo"})
    assert configs(sim, config="greeting")["greeting"]["source"] == "pluginstart"
    sim.stop()


def test_help_gives_each_commands_usage_as_pyln_plugins_read_it(sim_factory) -> None:
    sim = sim_factory().start()
    entries = sim.rpc.help()["help"]
    assert all(list(e) == ["command"] for e in entries)
    commands = {e["command"] for e in entries}
    # feeadjuster looks for these two to pick its code paths.
    assert "listchannels [short_channel_id] [source] [destination]" in commands
    assert any(c.startswith("setchannel id [feebase] [feeppm]") for c in commands)
    assert not any(c.startswith("getroute ") for c in commands)  # deprecated: hidden
    assert sim.rpc.help("listconfigs") == {"help": [{"command": "listconfigs [config]"}],
                                           "format-hint": "simple"}
    sim.stop()


def test_getroute_is_refused_as_deprecated_unless_the_node_allows_it(sim_factory) -> None:
    sim = sim_factory().start()
    peer = sim.rpc.listpeerchannels()["channels"][0]["peer_id"]
    with pytest.raises(RpcError) as err:
        sim.rpc.call("getroute", {"id": peer, "amount_msat": 1000, "riskfactor": 1})
    assert err.value.error == {"code": JSONRPC2_METHOD_NOT_FOUND,
                               "message": 'Command "getroute" is deprecated'}
    sim.stop()
    old = sim_factory(allow_deprecated_apis=True).start()
    chans = [c for c in old.rpc.listpeerchannels()["channels"]
             if c["state"] == "CHANNELD_NORMAL"]
    b = next(c for c in chans if c["peer_id"] != chans[0]["peer_id"])
    route = old.rpc.call("getroute", {"id": b["peer_id"], "amount_msat": 50_000,
                                      "riskfactor": 1})["route"]
    validate_response("getroute", {"route": route})
    assert route[-1]["id"] == b["peer_id"] and route[-1]["amount_msat"] == 50_000
    assert route[0]["delay"] >= route[-1]["delay"] == 9 and route[0]["style"] == "tlv"
    assert any(c.startswith("getroute id amount_msat riskfactor")
               for c in (e["command"] for e in old.rpc.help()["help"]))
    unknown = "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"
    with pytest.raises(RpcError) as err:
        old.rpc.call("getroute", {"id": unknown, "amount_msat": 1000, "riskfactor": 1})
    assert err.value.error["message"] == (
        f"{unknown}: unknown destination node_id (no public channels?)")
    old.stop()


def test_a_closed_channel_is_listed_once_lightningd_forgets_it() -> None:
    m = Market(default_scenario(), 3)
    node = FakeNode(m)
    gone = m.channel_by_name("bal-2")
    m.close_channel(gone, "user")
    m.advance(m.now + 2 * HOUR)
    assert call(TABLE, node, "listclosedchannels") == {"closedchannels": []}  # still ONCHAIN
    m.advance(m.now + 17 * HOUR)  # 100 blocks after the close confirmed
    [entry] = call(TABLE, node, "listclosedchannels")["closedchannels"]
    assert entry["channel_id"] == gone.channel_id and entry["short_channel_id"] == gone.scid
    assert (entry["opener"], entry["closer"], entry["close_cause"]) == ("local", "local", "user")
    assert entry["final_to_us_msat"] == gone.to_us_msat and entry["total_msat"] == gone.capacity_msat
    assert gone.channel_id not in {c["channel_id"] for c in
                                   call(TABLE, node, "listpeerchannels")["channels"]}
    assert call(TABLE, node, "listclosedchannels", {"id": gone.peer_id})["closedchannels"] == [entry]
    other = m.channel_by_name("bal-3").peer_id
    assert call(TABLE, node, "listclosedchannels", {"id": other}) == {"closedchannels": []}
    err = rpc_error(TABLE, node, "listclosedchannels", {"id": "nonsense"})
    assert err.message == "id: should be a node id: invalid token '\"nonsense\"'"
