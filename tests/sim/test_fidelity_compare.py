"""The fidelity check's comparison logic (pure), and the check run sim against sim.

The real-node run is tests/real/test_fidelity.py; here the rules that
decide what counts as a difference are tested on hand-made answers, and
the whole probe sequence is run against two simulated nodes, which must
agree with each other exactly (the probes work, and nothing in them
depends on one node's data)."""

from __future__ import annotations

import json
from pathlib import Path

from revops.sim.fidelity.compare import (
    ALLOWED,
    Difference,
    classify,
    compare_notifications,
    compare_observations,
    diff_shapes,
    normalize_message,
    shape_of,
)
from revops.sim.fidelity.probes import Observation
from revops.sim.fidelity.simside import DRIVE_HOURS, SCENARIO
from revops.sim.harness import Sim, run_sim

US = "02" + "a1" * 32
THEM = "03" + "b2" * 32


def kinds(diffs: list[Difference]) -> list[tuple[str, str]]:
    return [(d.kind, d.path) for d in diffs]


def test_the_same_keys_and_types_make_no_difference_whatever_the_values() -> None:
    real = {"forwards": [{"in_msat": 1, "status": "settled", "fee_msat": 2}]}
    sim = {"forwards": [{"in_msat": 99, "status": "settled", "fee_msat": 0},
                        {"in_msat": 5, "status": "settled", "fee_msat": 7}]}
    assert diff_shapes("p", shape_of(real), shape_of(sim)) == []


def test_arrays_compare_the_union_of_their_elements() -> None:
    # A key only some rows have is compared as present.
    real = {"peers": [{"id": "a"}, {"id": "b", "netaddr": ["x"]}]}
    sim_without = {"peers": [{"id": "c"}, {"id": "d"}]}
    sim_with = {"peers": [{"id": "c", "netaddr": ["y"]}]}
    assert kinds(diff_shapes("p", shape_of(real), shape_of(sim_without))) == [
        ("missing", "peers[].netaddr")]
    assert diff_shapes("p", shape_of(real), shape_of(sim_with)) == []


def test_rows_of_different_kinds_are_compared_kind_by_kind() -> None:
    real = {"forwards": [{"status": "settled", "fee_msat": 1},
                         {"status": "local_failed", "failcode": 4103}]}
    sim = {"forwards": [{"status": "settled", "fee_msat": 2, "failcode": 1},
                        {"status": "offered"}]}
    assert kinds(diff_shapes("p", shape_of(real), shape_of(sim))) == [
        ("extra", "forwards[status=settled].failcode"),
        ("variant", "forwards[status=local_failed]"),
        ("unverified", "forwards[status=offered]")]
    # On a node whose data the check does not control, a missing kind is a note.
    variant = Difference("p", "forwards[status=local_failed]", "variant", "listed", "never")
    assert classify([variant])[0] == [variant]
    assert classify([variant], strict=False)[0] == []


def test_missing_extra_type_and_empty_are_told_apart() -> None:
    real = {"a": 1, "b": "x", "c": [1], "d": [], "nested": {"k": 1.5}}
    sim = {"a": "1", "c": [], "d": [2], "e": True, "nested": {"k": 1}}
    assert kinds(diff_shapes("p", shape_of(real), shape_of(sim))) == [
        ("type", "a"), ("missing", "b"), ("empty", "c[]"), ("unverified", "d[]"),
        ("type", "nested.k"), ("extra", "e")]


def test_error_messages_compare_with_each_nodes_own_ids_as_placeholders() -> None:
    real_ctx = {"us": US, "scid_out": "103x1x0"}
    sim_ctx = {"us": "03" + "c3" * 32, "scid_out": "930000x5x1"}
    real = Observation("p", "setchannel", {}, error={
        "code": -32602, "message": "id: Short channel id not found: invalid token '\"103x1x0\"'"})
    sim = Observation("p", "setchannel", {}, error={
        "code": -32602, "message": "id: Short channel id not found: invalid token '\"930000x5x1\"'"})
    assert compare_observations([real], [sim], real_ctx, sim_ctx) == []
    # The same text without quotes is a difference (lightningd keeps them).
    bare = Observation("p", "setchannel", {}, error={
        "code": -32602, "message": "id: Short channel id not found: invalid token '930000x5x1'"})
    assert kinds(compare_observations([real], [bare], real_ctx, sim_ctx)) == [
        ("error-message", "error.message")]
    assert normalize_message(f"peer {THEM} has 3 of 10 channels", {}) == \
        "peer <node_id> has <n> of <n> channels"


def test_an_error_against_an_answer_and_different_codes_are_differences() -> None:
    ok = Observation("p", "m", {}, result={"x": 1})
    e1 = Observation("p", "m", {}, error={"code": 205, "message": "no route"})
    e2 = Observation("p", "m", {}, error={"code": 215, "message": "no route"})
    assert kinds(compare_observations([ok], [e1], {}, {})) == [("outcome", "")]
    assert kinds(compare_observations([e1], [e2], {}, {})) == [("error-code", "error.code")]
    skipped = Observation("p", "m", {}, skipped="read-only run")
    assert compare_observations([skipped], [e1], {}, {}) == []


def test_pages_must_keep_to_start_limit_and_order() -> None:
    params = {"index": "created", "start": 3, "limit": 2}
    good = Observation("p", "listforwards", params,
                       result={"forwards": [{"created_index": 3}, {"created_index": 4}]})
    too_many = Observation("p", "listforwards", params, result={"forwards": [
        {"created_index": 3}, {"created_index": 4}, {"created_index": 5}]})
    too_early = Observation("p", "listforwards", params,
                            result={"forwards": [{"created_index": 2}]})
    unordered = Observation("p", "listforwards", params,
                            result={"forwards": [{"created_index": 4}, {"created_index": 3}]})
    assert compare_observations([good], [good], {}, {}) == []
    for bad, why in ((too_many, "3 rows for limit 2"), (too_early, "below start 3"),
                     (unordered, "not ascending")):
        [d] = compare_observations([good], [bad], {}, {})
        assert d.kind == "pagination" and why in d.sim and d.real == "ok"


def test_notifications_compare_per_topic_and_forward_status() -> None:
    settled = {"forward_event": {"status": "settled", "in_msat": 2, "preimage": "ab"}}
    real = [{"topic": "forward_event", "params": settled},
            {"topic": "block_added", "params": {"block_added": {"hash": "h", "height": 1}}}]
    sim = [{"topic": "forward_event",
            "params": {"forward_event": {"status": "settled", "in_msat": 5}}}]
    assert kinds(compare_notifications(real, sim)) == [
        ("notification", ""), ("missing", "forward_event.preimage")]
    # A topic only the sim sends, that nobody compares, is not a difference.
    extra = sim + [{"topic": "coin_movement", "params": {"coin_movement": {}}}]
    assert [d.probe for d in compare_notifications(sim, extra)] == []


def test_only_listed_differences_are_explained_and_each_has_a_reason() -> None:
    dev = Difference("listconfigs", "configs.dev-fast-gossip", "missing", "object", "absent")
    own = Difference("listconfigs", "configs.fee-base", "missing", "object", "absent")
    note = Difference("listpeerchannels", "channels[].htlcs[]", "unverified", "empty", "filled")
    unexplained, explained = classify([dev, own, note])
    assert unexplained == [own]
    assert [d for d, _ in explained] == [dev, note]
    assert all(a.reason and a.kinds for a in ALLOWED)


def test_the_probes_find_no_difference_between_two_simulated_nodes(tmp_path: Path) -> None:
    from revops.sim.fidelity.check import _sim_side, compare_sides

    with _sim_side(tmp_path / "a", True) as a, _sim_side(tmp_path / "b", True) as b:
        report = compare_sides(a, b, writes=True, heavy=True)
    assert report.unexplained == [], report.text(verbose=True)
    assert report.notifications_compared and report.compared > 100
    names = {o.name for o in report.sim_observations if o.error is None and o.skipped is None}
    # The rebalance round went through on the simulated node.
    assert {"sendpay", "waitsendpay", "bkpr-listincome after rebalance"} <= names


def test_the_readme_lists_every_allowed_difference() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("### Fidelity: the simulator against a real lightningd")[1]
    section = section.split("\n## ")[0]
    table = [line for line in section.splitlines() if line.startswith("| ")][1:]
    # One row per kind of difference the code allows (the built-in plugins'
    # options are one row for many globs).
    assert len(table) == len({a.reason for a in ALLOWED})


def _served(tmp_path: Path, network: str) -> Sim:
    """A node in a lightning dir standing for an operator's (the fidelity
    scenario, a day into it), with a mainnet-style directory layout."""
    scenario = json.loads(json.dumps(SCENARIO))
    scenario["node"]["network"] = network
    path = tmp_path / f"{network}.json"
    path.write_text(json.dumps(scenario))
    # Its clock runs (600x), so payments the check makes resolve by themselves.
    sim = Sim(tmp_path / "operator" / network, scenario=path, speed=600.0).start()
    sim.advance(hours=DRIVE_HOURS)
    return sim


def test_a_node_on_regtest_gets_every_probe_by_its_directory(tmp_path: Path) -> None:
    node = _served(tmp_path, "regtest")
    done = run_sim("fidelity", "--lightning-dir", str(tmp_path / "operator"),
                   "--report", str(tmp_path / "report.json"))
    node.stop()
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["ok"] and report["unexplained"] == []
    assert not [o for o in report["real_observations"] if "skipped" in o]
    assert "no unexplained difference" in done.stdout


def test_a_node_with_real_money_is_only_read(tmp_path: Path) -> None:
    node = _served(tmp_path, "bitcoin")
    before = node.rpc.listpeerchannels()["channels"]
    done = run_sim("fidelity", "--lightning-dir", str(tmp_path / "operator"),
                   "--report", str(tmp_path / "report.json"))
    after = node.rpc.listpeerchannels()["channels"]
    assert [c["fee_proportional_millionths"] for c in after] == [
        c["fee_proportional_millionths"] for c in before]
    assert node.rpc.listinvoices()["invoices"] == [] and node.rpc.listsendpays()["payments"] == []
    assert node.rpc.listdatastore(["fidelity"])["datastore"] == []
    node.stop()
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    skipped = {o["name"]: o["skipped"] for o in report["real_observations"] if "skipped" in o}
    assert skipped["setchannel feeppm"] == "changes the node (read-only run)"
    assert skipped["listforwards"] == "unbounded answer on a large node"
    assert "listforwards created page 1" not in skipped  # bounded pages are read
    assert report["notifications_compared"] is False


def test_no_node_and_no_lightningd_is_a_usage_error(tmp_path: Path) -> None:
    done = run_sim("fidelity", "--lightning-dir", str(tmp_path / "nothing-here"))
    assert done.returncode == 2 and "cannot reach the node" in done.stderr
