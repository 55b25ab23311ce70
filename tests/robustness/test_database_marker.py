"""Finding 6 of issue 15: a zero-length database file was taken for a new
one (budget spend, jobs, policies and overrides vanished silently), and
rebalance invoice labels restarted at ``revops-rebalance-1``, colliding
with labels lightningd still held.

Now the plugin leaves a marker in lightningd's datastore naming its
database; a missing, empty or schema-less file where the marker says a
database was makes the plugin disable itself with the reason and how to
recover; and invoice labels carry the database's random id.
"""

from __future__ import annotations

import json

import pytest
from pyln.client import RpcError

from revops.rebalance import invoice
from revops.storage import marker
from revops.storage.db import DB_FILENAME

MARKED = marker.Marker("0123456789abcdef", "/ln/revops.sqlite3", 1_767_225_600.0)


@pytest.mark.parametrize("state,version,what", [
    (marker.MISSING, None, "does not exist"),
    (marker.EMPTY, None, "is empty (0 bytes)"),
    (marker.PRESENT, 0, "holds no revops tables"),
])
def test_a_database_gone_where_the_marker_says_one_was_is_refused(state, version, what):
    why = marker.refusal(MARKED, "/ln/revops.sqlite3", state, version)
    assert why is not None
    assert what in why and "0123456789abcdef" in why and "2026-01-01 00:00 UTC" in why
    assert marker.DELETE_COMMAND in why and "backup" in why


@pytest.mark.parametrize("state,version", [(marker.MISSING, None), (marker.EMPTY, None),
                                           (marker.PRESENT, 0), (marker.PRESENT, 6)])
def test_without_a_marker_any_database_is_taken(state, version):
    assert marker.refusal(None, "/ln/revops.sqlite3", state, version) is None


def test_a_database_with_its_schema_is_taken_whatever_the_marker():
    assert marker.refusal(MARKED, "/elsewhere.sqlite3", marker.PRESENT, 6) is None
    assert marker.replaced(MARKED, "fedcba9876543210")
    assert not marker.replaced(MARKED, MARKED.db_id)


def test_the_marker_reads_back_from_a_listdatastore_answer():
    answer = {"datastore": [{"key": list(marker.KEY), "generation": 0,
                             "hex": MARKED.to_json().encode().hex(),
                             "string": MARKED.to_json()}]}
    assert marker.parse(answer) == MARKED
    assert marker.parse({"datastore": []}) is None
    garbled = {"datastore": [{"key": list(marker.KEY), "generation": 0, "hex": "00"}]}
    assert marker.parse(garbled) is not None  # something is there: revops ran


def test_invoice_labels_differ_across_databases_for_the_same_job():
    assert invoice.label("aaaa", 1, 100.0) != invoice.label("bbbb", 1, 100.0)
    assert invoice.label("aaaa", 1, 100.0) != invoice.label("aaaa", 1, 200.0)
    assert invoice.label("aaaa", 1, 100.0).startswith("revops-rebalance-aaaa-1-")


def _marker(sim):
    entries = sim.rpc.call("listdatastore", {"key": list(marker.KEY)})["datastore"]
    return json.loads(entries[0]["string"]) if entries else None


@pytest.mark.e2e
def test_an_emptied_or_removed_database_is_refused_then_a_deliberate_restart_works(
        revops_sim):
    sim = revops_sim()
    sim.advance(hours=1)
    sim.wait_for_log("marked in lightningd's datastore")
    first = _marker(sim)
    db = sim.lightning_dir / DB_FILENAME
    assert first is not None and first["path"] == str(db)
    sim.stop()

    for damage in ("truncate", "remove"):
        for f in (db, db.with_name(DB_FILENAME + "-wal"), db.with_name(DB_FILENAME + "-shm")):
            if f.exists():
                f.unlink()
        if damage == "truncate":
            db.write_bytes(b"")
        again = sim.restarted().start()
        try:
            line = again.wait_for_log("disabled itself at init")
            assert first["id"] in line and "deldatastore" in line
            assert ("is empty" if damage == "truncate" else "does not exist") in line
            with pytest.raises(RpcError):
                again.rpc.call("revenue-status")
            assert _marker(again) == first  # untouched
            if damage == "remove":
                assert not db.exists()  # nothing created in its place
        finally:
            again.stop()

    # The operator chooses to start afresh: remove the marker, start again.
    fresh = sim.restarted().start()
    try:
        fresh.rpc.call("deldatastore", {"key": list(marker.KEY)})
    finally:
        fresh.stop()
    fresh = sim.restarted().start()
    try:
        fresh.advance(hours=1)
        fresh.wait_for_log("marked in lightningd's datastore")
        assert fresh.rpc.call("revenue-status")["started"] is True
        second = _marker(fresh)
        assert second["id"] != first["id"]
    finally:
        fresh.stop()
