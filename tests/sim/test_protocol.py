"""The plugin protocol as the simulated lightningd speaks it, end to end with a
real pyln plugin (tests/sim/hello_plugin.py), plus the pure pieces under it:
the JSON stream reader and the manifest/option checks."""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from pyln.client import RpcError

from revops.sim.harness import run_sim
from revops.sim.jsonstream import JsonStream, JsonStreamError, encode
from revops.sim.plugin_manifest import (
    HookSpec,
    ManifestError,
    OptionSpec,
    check_option_value,
    init_options,
    parse_manifest,
)
from revops.sim.schemas import validate_notification, validate_response

START = 1767225600.0  # the default scenario's start time
HELLO = "hello_plugin.py"


# -- the JSON stream reader ----------------------------------------------------------

def test_stream_reassembles_a_message_fed_byte_by_byte() -> None:
    stream = JsonStream()
    data = encode({"jsonrpc": "2.0", "id": 1, "result": {"text": "h\u00e9llo \u20ac"}})
    got = []
    for i in range(len(data)):
        got += stream.feed(data[i:i + 1])  # splits the multi-byte characters too
    assert got == [{"jsonrpc": "2.0", "id": 1, "result": {"text": "h\u00e9llo \u20ac"}}]
    assert stream.pending == 0


def test_stream_splits_several_messages_and_keeps_the_partial_one() -> None:
    stream = JsonStream()
    first = stream.feed(b'{"a":1}{"b":[1,2]}\n\n  {"c":"x}y"}{"d":')
    assert first == []  # ends mid-message: nothing can be complete yet
    assert stream.feed(b'{"e":2}}') == [{"a": 1}, {"b": [1, 2]}, {"c": "x}y"},
                                       {"d": {"e": 2}}]
    assert stream.pending == 0


def test_stream_handles_a_big_message_in_chunks() -> None:
    big = {"id": "x", "result": {"rows": [{"i": i, "s": "z" * 50} for i in range(20000)]}}
    data = encode(big)
    assert len(data) > 1_000_000
    stream = JsonStream()
    out = []
    for i in range(0, len(data), 65536):
        out += stream.feed(data[i:i + 65536])
    assert out == [big]


def test_stream_rejects_what_is_not_json() -> None:
    with pytest.raises(JsonStreamError, match="Failed to parse JSON response"):
        JsonStream().feed(b"this is not json}\n\n")


# -- manifest and option checks (lightningd/plugin.c wording) ---------------------

def _manifest(**result: object) -> dict[str, object]:
    base: dict[str, object] = {"options": [], "rpcmethods": [], "subscriptions": [],
                               "hooks": [], "dynamic": True, "nonnumericids": True}
    base.update(result)
    return {"jsonrpc": "2.0", "id": 0, "result": base}


def test_manifest_as_pyln_sends_it() -> None:
    m = parse_manifest(_manifest(
        options=[{"name": "greeting", "type": "string", "default": "hi", "description": "d",
                  "multi": False, "deprecated": None, "dynamic": False},
                 {"name": "n", "type": "int", "default": 5, "description": "d"},
                 {"name": "f", "type": "flag", "default": False, "description": "d"}],
        rpcmethods=[{"name": "hello", "usage": "[name]", "description": "says hi"}],
        subscriptions=["forward_event", "shutdown"],
        hooks=[{"name": "htlc_accepted", "before": ["a.py"], "after": []}],
        notifications=[{"method": "my_topic"}]))
    assert [o.name for o in m.options] == ["greeting", "n", "f"]
    assert m.options[1].default == "5" and m.options[2].default is None
    assert m.methods[0].category == "plugin" and m.methods[0].usage == "[name]"
    assert m.subscriptions == ("forward_event", "shutdown")
    assert m.notifications == ("my_topic",) and m.dynamic and m.nonnumericids
    assert m.hooks == ("htlc_accepted",)
    assert m.hook_specs == (HookSpec("htlc_accepted", before=("a.py",)),)


@pytest.mark.parametrize("result, message", [
    ({"options": [{"name": "x", "type": "string"}]},
     'An option is missing either "name", "description" or "type"'),
    ({"options": [{"name": "Bad", "type": "string", "description": "d"}]},
     'Option "name" must be lowercase alphanumeric, plus _ or -\''),
    ({"options": [{"name": "x", "type": "float", "description": "d"}]},
     'Only "string", "int", "bool", and "flag" options are supported'),
    ({"options": [{"name": "x", "type": "bool", "multi": True, "description": "d"}]},
     "bool type cannot be multi"),
    ({"options": [{"name": "x", "type": "flag", "default": True, "description": "d"}]},
     "--x type flag default must be 'false' not true"),
    ({"options": [{"name": "x", "type": "int", "default": "ten", "description": "d"}]},
     "Invalid default 'ten': 'ten' is not a number"),
    ({"options": [{"name": "x", "type": "int", "description": "d", "dynamic": "yes"}]},
     '--x: invalid "dynamic" field yes'),
    ({"rpcmethods": [{"name": "m", "description": "d"}]}, '"usage" not provided by plugin'),
    ({"rpcmethods": [{"usage": "", "description": "d"}]}, 'rpcmethod does not have a string'),
    ({"nonnumericids": False}, "Plugin does not allow nonnumericids"),
    ({"notifications": [{"method": "forward_event"}]},
     'plugin attempted to register a native notification topic "forward_event"'),
    ({"hooks": ["no_such_hook"]}, "Unknown hook name no_such_hook"),
    ({"hooks": ["htlc_accepted", {"name": "htlc_accepted"}]},
     "Registered for hook htlc_accepted multiple times"),
    ({"hooks": [{"name": "htlc_accepted", "filters": ["x"]}]},
     "Hook htlc_accepted does not allow filters"),
    ({"subscriptions": "forward_event"}, '"result.subscriptions" is not an array'),
])
def test_manifest_errors_are_lightningds(result: dict[str, object], message: str) -> None:
    with pytest.raises(ManifestError) as err:
        parse_manifest(_manifest(**result))
    assert message in str(err.value)


def test_manifest_missing_result_and_disable() -> None:
    with pytest.raises(ManifestError, match="Invalid/missing result tok"):
        parse_manifest({"jsonrpc": "2.0", "id": 0, "error": {"code": -1, "message": "x"}})
    assert parse_manifest({"result": {"disable": "not today"}}).disable == "not today"


@pytest.mark.parametrize("typ, text, problem", [
    ("int", "10", None), ("int", "-5", None), ("int", "0x1f", None), ("int", " 7", None),
    ("int", "abc", "'abc' is not a number"), ("int", "1.5", "'1.5' is not a number"),
    ("int", "", "'' is not a number"),
    ("int", "9223372036854775808", "'9223372036854775808' is out of range"),
    ("bool", "true", None), ("bool", "False", None), ("bool", "YES", None),
    ("bool", "1", "boolean plugin arguments must be true or false"),
    ("bool", "maybe", "Invalid argument 'maybe'"),
    ("string", "anything at all", None),
    ("flag", None, None), ("flag", "true", "doesn't allow an argument"),
])
def test_option_values_checked_like_ccan_opt(typ: str, text: str | None,
                                             problem: str | None) -> None:
    assert check_option_value(OptionSpec("x", typ, "d"), text) == problem


def test_init_options_are_typed_with_defaults_and_multi() -> None:
    specs = [OptionSpec("s", "string", "d", default="dflt"), OptionSpec("n", "int", "d"),
             OptionSpec("o", "int", "d", default="010"), OptionSpec("b", "bool", "d"),
             OptionSpec("f", "flag", "d"), OptionSpec("g", "flag", "d"),
             OptionSpec("m", "string", "d", multi=True), OptionSpec("unset", "string", "d")]
    got = init_options(specs, {"n": ["0x10"], "b": ["no"], "f": [None], "m": ["a", "b"]})
    assert got == {"s": "dflt", "n": 16, "o": 8, "b": False, "f": True, "m": ["a", "b"]}


# -- end to end with the hello plugin ---------------------------------------------

def test_manifest_init_options_and_configuration(sim_factory, hello_plugin) -> None:
    opts = ["greeting=Hi", "hello-count=0x2", "hello-loud=yes", "hello-flag",
            "hello-tag=a", "hello-tag=b"]
    with sim_factory(plugins=[hello_plugin], options=opts) as sim:
        state = sim.call("hello-state")
        init = state["init"]
        assert init["options"] == {"greeting": "Hi", "hello-count": 2, "hello-loud": True,
                                   "hello-flag": True, "hello-tag": ["a", "b"],
                                   "hello-init-delay": "0", "hello-wakeup": "0"}
        conf = init["configuration"]
        assert conf["lightning-dir"] == str(sim.lightning_dir)
        assert Path(conf["lightning-dir"], conf["rpc-file"]) == sim.rpc_path
        assert conf["startup"] is True and conf["network"] == "regtest"
        assert set(conf["feature_set"]) == {"init", "node", "channel", "invoice"}
        assert init["env"] == {"LIGHTNINGD_PLUGIN": "1", "LIGHTNINGD_VERSION": "v26.06",
                               "REVOPS_SIMCLOCK": repr(START)}
        assert init["cwd"] == str(sim.lightning_dir)
        listed = sim.rpc.plugin("list")
        validate_response("plugin", listed)
        assert listed["plugins"] == [{"name": str(Path(hello_plugin.split()[-1])),
                                      "active": True, "dynamic": True}]
        assert sim.log_lines(r"INFO    plugin-hello_plugin\.py: hello plugin initialised")


def test_command_round_trip_named_positional_and_errors(sim_factory, hello_plugin) -> None:
    with sim_factory(plugins=[hello_plugin], options={"greeting": "Hey"}) as sim:
        rpc = sim.rpc
        assert rpc.call("hello", {"name": "Ann", "count": 2})["greeting"] == "Hey Ann Hey Ann"
        assert rpc.call("hello", ["Bob"]) == {"greeting": "Hey Bob", "name": "Bob", "count": 1}
        assert rpc.call("hello", []) == {"greeting": "Hey world", "name": "world", "count": 1}
        with pytest.raises(RpcError) as err:
            rpc.call("hello-fail", {"why": "on purpose"})
        assert err.value.error["code"] == -32600
        assert err.value.error["message"] == "Error while processing hello-fail: on purpose"
        assert "ValueError: on purpose" in err.value.error["traceback"]
        # The plugin reaching lightningd's own RPC from inside a command.
        assert rpc.call("hello-call", {"method": "getinfo"})["id"] == rpc.getinfo()["id"]
        usage = [h for h in rpc.help()["help"] if h["command"].startswith("hello ")]
        # v26.06's help gives the command and its usage only.
        assert len(usage) == 1 and list(usage[0]) == ["command"]
        assert usage[0]["command"].startswith("hello [name] [count]")


def test_command_messages_reach_a_client_that_asked_for_them(sim_factory,
                                                              hello_plugin) -> None:
    with sim_factory(plugins=[hello_plugin]) as sim:
        rpc, got = sim.rpc, []
        with rpc.notify(lambda message, progress, request, **kw: got.append(message)):
            assert rpc.call("hello-chatty", {"steps": 3}) == {"steps": 3}
        assert got == ["step 0", "step 1", "step 2"]
        assert rpc.call("hello-chatty", {"steps": 2}) == {"steps": 2}  # not asked: none


def test_notifications_reach_the_subscriber_schema_valid(sim_factory, hello_plugin) -> None:
    with sim_factory(plugins=[hello_plugin]) as sim:
        sim.advance(hours=2)
        state = sim.call("hello-state")
        notes = state["notifications"]
        assert notes[0]["topic"] == "plugin_started"
        for note in notes:
            validate_notification(note["topic"], note["payload"])
        events = [n["payload"] for n in notes if n["topic"] == "forward_event"]
        forwards = sim.rpc.listforwards()["forwards"]
        assert forwards, "the default scenario forwards within two hours"
        # Every insert and every status change arrived, exactly once.
        assert sorted(e["created_index"] for e in events if "created_index" in e) == \
            sorted(f["created_index"] for f in forwards)
        updated = sim.call("wait", {"subsystem": "forwards", "indexname": "updated",
                                    "nextvalue": 0})["updated"]
        assert sorted(e["updated_index"] for e in events if "updated_index" in e) == \
            list(range(1, updated + 1))


def test_simclock_drives_the_plugin_clock(sim_factory, hello_plugin) -> None:
    with sim_factory(plugins=[hello_plugin], tick=600) as sim:
        summary = sim.advance(hours=2)
        assert summary["now"] == START + 7200 and summary["steps"] == 12
        state = sim.call("hello-state")
        # One call at start (nothing moves), then one per step.
        assert state["now"] == START + 7200 and state["simclock_calls"] == 1 + 12
    # next_wakeup shortens the steps so the plugin is woken when it asked.
    with sim_factory(plugins=[hello_plugin], tick=600, options={"hello-wakeup": "100"}) as sim:
        assert sim.advance(hours=1)["steps"] == 36
        assert sim.call("hello-state")["simclock_calls"] == 1 + 36


def test_disable_at_init_is_logged_and_the_node_goes_on(sim_factory, hello_plugin) -> None:
    with sim_factory(plugins=[hello_plugin], options={"hello-disable": "not today"}) as sim:
        assert sim.log_lines(r"plugin-hello_plugin\.py: Killing plugin: disabled itself at "
                             r"init: not today")
        assert sim.rpc.plugin("list")["plugins"] == []
        with pytest.raises(RpcError) as err:
            sim.rpc.call("hello")
        assert err.value.error == {"code": -32601, "message": "Unknown command 'hello'"}


def test_plugin_start_and_its_errors(sim_factory, hello_plugin) -> None:
    path = hello_plugin.split()[-1]
    with sim_factory(init_timeout=0.5) as sim:
        with pytest.raises(RpcError) as err:
            sim.rpc.call("plugin", {"subcommand": "start", "plugin": hello_plugin,
                                    "hello-disable": "no thanks"})
        assert err.value.error == {"code": -3,
                                   "message": f"{path}: disabled itself at init: no thanks"}
        with pytest.raises(RpcError) as err:
            sim.rpc.call("plugin", {"subcommand": "start", "plugin": hello_plugin,
                                    "options": ["hello-init-delay=3"]})
        assert err.value.error["message"] == f"{path}: timed out before replying to init"
        started = sim.rpc.call("plugin", {"subcommand": "start", "plugin": hello_plugin,
                                          "greeting": "Howdy"})
        validate_response("plugin", started)
        assert started["command"] == "start"
        assert [p["name"] for p in started["plugins"]] == [path]
        state = sim.call("hello-state")
        assert state["init"]["configuration"]["startup"] is False
        assert state["init"]["options"]["greeting"] == "Howdy"
        with pytest.raises(RpcError) as err:
            sim.rpc.plugin("start", hello_plugin)
        assert err.value.error == {"code": -32602, "message": f"{path}: already registered"}
        with pytest.raises(RpcError) as err:
            sim.rpc.plugin("stop", "nosuch.py")
        assert err.value.error == {"code": -32602, "message": "Could not find plugin nosuch.py"}


def test_a_static_plugin_cannot_be_managed_at_runtime(sim_factory, hello_plugin) -> None:
    path = hello_plugin.split()[-1]
    with sim_factory(plugins=[hello_plugin], env={"HELLO_STATIC": "1"}) as sim:
        assert sim.rpc.plugin("list")["plugins"][0]["dynamic"] is False
        with pytest.raises(RpcError) as err:
            sim.rpc.plugin("stop", HELLO)
        assert err.value.error == {"code": -32602, "message":
                                   f"{HELLO} cannot be managed when lightningd is up"}
        sim.rpc.plugin("list")  # still there
    with sim_factory(env={"HELLO_STATIC": "1"}) as sim:
        with pytest.raises(RpcError) as err:
            sim.rpc.plugin("start", hello_plugin)
        assert err.value.error == {"code": -3, "message": f"{path}: Not a dynamic plugin"}


def test_plugin_stop_sends_shutdown_and_rpc_keeps_working(sim_factory, hello_plugin) -> None:
    with sim_factory(plugins=[hello_plugin]) as sim:
        answer = sim.rpc.plugin("stop", HELLO)
        validate_response("plugin", answer)
        assert answer == {"command": "stop", "result": f"Successfully stopped {HELLO}."}
        assert json.loads((sim.lightning_dir / "hello-shutdown.json").read_text()) == \
            {"payload": {}, "now": START}
        assert sim.rpc.plugin("list")["plugins"] == []
        assert sim.rpc.getinfo()["alias"]


def test_plugin_stop_kills_a_plugin_ignoring_shutdown(sim_factory, hello_plugin) -> None:
    with sim_factory(plugins=[hello_plugin], options={"hello-ignore-shutdown": None},
                     shutdown_timeout=1.5) as sim:
        pid = sim.call("hello-state")["pid"]
        with ThreadPoolExecutor(1) as pool:
            stopping = pool.submit(sim.rpc.plugin, "stop", HELLO)
            # Once the plugin has the shutdown notification, lightningd still serves.
            sim.wait_for_log(r"ignoring shutdown")
            assert sim.rpc.getinfo()["id"]
            assert stopping.result(timeout=60)["result"] == f"Successfully stopped {HELLO}."
        assert sim.log_lines(r"UNUSUAL plugin-hello_plugin\.py: Timeout on shutdown: "
                             r"killing anyway")
        assert sim.log_lines(r"Killing plugin: stopped by lightningd via RPC")
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_node_stop_closes_the_socket_then_shuts_plugins_down(sim_factory,
                                                             hello_plugin) -> None:
    sim = sim_factory(plugins=[hello_plugin], options={"hello-ignore-shutdown": None},
                      shutdown_timeout=2).start()
    pid = sim.call("hello-state")["pid"]
    with ThreadPoolExecutor(1) as pool:
        stopping = pool.submit(sim.rpc.stop)
        sim.wait_for_log(r"JSON-RPC socket closed to new connections")
        with pytest.raises(ConnectionRefusedError):
            sim.rpc.getinfo()
        assert stopping.result(timeout=60) == "Shutdown complete"
    assert sim.proc is not None and sim.proc.wait(60) == 0
    assert (sim.lightning_dir / "hello-shutdown.json").exists()
    assert sim.log_lines(r"hello_plugin\.py: failed to self-terminate in time, killing\.")
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert sim.broken_lines() == []


def test_node_stop_is_clean_with_a_cooperative_plugin(sim_factory, hello_plugin) -> None:
    sim = sim_factory(plugins=[hello_plugin]).start()
    assert sim.stop() == 0
    shutdown = json.loads((sim.lightning_dir / "hello-shutdown.json").read_text())
    validate_notification("shutdown", shutdown["payload"])
    assert not sim.log_lines(r"failed to self-terminate")


def test_sigterm_stops_the_node_like_stop(sim_factory, hello_plugin) -> None:
    sim = sim_factory(plugins=[hello_plugin]).start()
    assert sim.terminate() == 0
    assert (sim.lightning_dir / "hello-shutdown.json").exists()


def test_slow_init_refuses_startup(tmp_path, hello_plugin) -> None:
    d = tmp_path / "node"
    done = run_sim("serve", "--dir", str(d), "--speed", "0", "--plugin", hello_plugin,
                   "--option", "hello-init-delay=5", "--init-timeout", "0.5", timeout=120)
    assert done.returncode == 1
    assert done.stderr.strip() == "revops-sim: Can't recover from plugin failure, terminating."
    assert "Killing plugin: timed out before replying to init" in (d / "log").read_text()


@pytest.mark.parametrize("option, message", [
    ("hello-count=abc", "--option hello-count=abc: 'abc' is not a number"),
    ("hello-loud=1", "--option hello-loud=1: boolean plugin arguments must be true or false"),
    ("no-such-option=1", "--option no-such-option=1: unrecognized option"),
    ("hello-flag=yes", "--option hello-flag=yes: doesn't allow an argument"),
])
def test_bad_option_values_refuse_to_start(tmp_path, hello_plugin, option: str,
                                           message: str) -> None:
    done = run_sim("serve", "--dir", str(tmp_path / "n"), "--speed", "0", "--plugin",
                   hello_plugin, "--option", option, timeout=120)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [f"revops-sim: {message}"]


def test_scenario_options_apply_and_the_command_line_wins(tmp_path, sim_factory,
                                                          hello_plugin) -> None:
    scenario = tmp_path / "s.json"
    scenario.write_text(json.dumps({
        "channels": [{"name": "a", "capacity_sat": 1000000, "local_sat": 500000},
                     {"name": "b", "capacity_sat": 1000000, "local_sat": 500000}],
        "plugin_options": {"greeting": "FromFile", "hello-count": "3"}}))
    with sim_factory(plugins=[hello_plugin], scenario=scenario,
                     options={"greeting": "FromFlag"}) as sim:
        options = sim.call("hello-state")["init"]["options"]
        assert options["greeting"] == "FromFlag" and options["hello-count"] == 3
    scenario.write_text(json.dumps({
        "channels": [{"name": "a", "capacity_sat": 1000000, "local_sat": 500000}],
        "plugin_options": {"hello-count": "many"}}))
    done = run_sim("serve", "--dir", str(tmp_path / "n2"), "--speed", "0", "--plugin",
                   hello_plugin, "--scenario", str(scenario), timeout=120)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"revops-sim: {scenario}: plugin option hello-count=many: 'many' is not a number"]


def test_method_clashing_with_a_builtin_is_refused(sim_factory, hello_plugin) -> None:
    with sim_factory(plugins=[hello_plugin], env={"HELLO_EXTRA_METHOD": "getinfo"}) as sim:
        assert sim.log_lines(r'Killing plugin: Could not register method "getinfo", a method '
                             r"with that name is already registered")
        assert sim.rpc.plugin("list")["plugins"] == []
        assert "id" in sim.rpc.getinfo()


def test_a_plugin_dying_mid_command_fails_it_and_is_dropped(sim_factory, hello_plugin) -> None:
    with sim_factory(plugins=[hello_plugin]) as sim:
        with pytest.raises(RpcError) as err:
            sim.rpc.call("hello-exit")
        assert err.value.error == {"code": -4, "message": "Plugin terminated before replying "
                                                          "to RPC call."}
        sim.wait_for_log(r"INFO    plugin-hello_plugin\.py: Killing plugin: exited during "
                         r"normal operation")
        assert sim.rpc.plugin("list")["plugins"] == []
        sim.advance(hours=0.5)  # the node goes on without it


def test_a_plugin_writing_garbage_is_killed(sim_factory, hello_plugin) -> None:
    with sim_factory(plugins=[hello_plugin]) as sim:
        with pytest.raises(RpcError) as err:
            sim.rpc.call("hello-garbage")
        assert err.value.error["code"] == -4
        assert sim.log_lines(r"UNUSUAL plugin-hello_plugin\.py: Killing plugin: Failed to "
                             r"parse JSON response 'this is not json")


def test_plugin_log_levels_map_to_lightningd_levels(sim_factory, hello_plugin) -> None:
    sim = sim_factory(plugins=[hello_plugin]).start()
    sim.call("hello-log", {"message": "careful", "level": "warn"})
    sim.call("hello-log", {"message": "quiet", "level": "debug"})
    sim.call("hello-log", {"message": "bad", "level": "error"})
    sim.wait_for_log(r"\*\*BROKEN\*\* plugin-hello_plugin\.py: bad")
    assert sim.log_lines(r"UNUSUAL plugin-hello_plugin\.py: careful")
    assert sim.log_lines(r"DEBUG   plugin-hello_plugin\.py: quiet")
    with pytest.raises(RpcError):
        sim.call("hello-log", {"message": "x", "level": "loud"})
    sim.wait_for_log(r'Killing plugin: Unknown log-level "loud", valid values are "debug", '
                     r'"info", "warn", or "error"\.')
    assert sim.stop(clean=False) == 0


def test_check_of_a_command_whose_plugin_cannot_check(sim_factory, hello_plugin) -> None:
    """lightningd answers success for it and logs, at unusual, that the
    plugin does not support check (``plugin_rpcmethod_check``); the
    command does not run."""
    with sim_factory(plugins=[hello_plugin]) as sim:
        out = sim.rpc.call("check", {"command_to_check": "hello", "name": "x"})
        assert out == {"command_to_check": "hello"}
        line = sim.wait_for_log(r"Plugin does not support check command for hello")
        assert "UNUSUAL" in line and "plugin-hello_plugin.py" in line
        assert "check" in {h["command"].split()[0] for h in sim.rpc.help()["help"]}
