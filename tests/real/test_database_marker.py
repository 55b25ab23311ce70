"""The database marker in a real lightningd's datastore (issue 15, finding
6), and a number literal too long for Python passed through by a real
lightningd (finding 4).

The simulator imitates lightningd's datastore and its init; here the real
one settles that the marker can be read while ``init`` is answered, both
for ``plugin start`` and when lightningd itself starts the plugin.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
from pyln.client import RpcError
from pyln.testing.utils import wait_for

from revops.storage import marker
from revops.storage.db import DB_FILENAME
from tests.real.conftest import revops_plugin_path as plugin_path

OPTIONS = {"revenue-ops-metrics-address": "off", "revenue-ops-dry-run": None}


def _marker(node):
    entries = node.rpc.listdatastore(key=list(marker.KEY))["datastore"]
    return json.loads(entries[0]["string"]) if entries else None


def _empty(db: Path) -> None:
    for f in (db.with_name(DB_FILENAME + "-wal"), db.with_name(DB_FILENAME + "-shm")):
        if f.exists():
            f.unlink()
    db.write_bytes(b"")


def test_an_emptied_database_is_refused_at_plugin_start_and_at_node_start(node_factory):
    l1 = node_factory.get_node(options={"plugin": plugin_path(), **OPTIONS})
    wait_for(lambda: _marker(l1) is not None)  # written once the database is open
    first = _marker(l1)
    db = Path(l1.daemon.lightning_dir) / "regtest" / DB_FILENAME
    assert first is not None and first["path"] == str(db)

    l1.rpc.plugin_stop(plugin_path())
    _empty(db)
    with pytest.raises(RpcError) as e:
        l1.rpc.plugin_start(plugin_path(), **{"revenue-ops-metrics-address": "off"})
    assert "is empty" in str(e.value.error) and first["id"] in str(e.value.error)
    assert db.stat().st_size == 0

    # lightningd starting the plugin itself: the marker is read during init too.
    l1.restart()
    wait_for(lambda: sum("disabled itself at init" in line for line in l1.daemon.logs) >= 2)
    assert not any("revops" in p["name"] for p in l1.rpc.plugin_list()["plugins"])
    assert db.stat().st_size == 0 and _marker(l1) == first

    # Starting afresh on purpose: remove the marker.
    l1.rpc.deldatastore(key=list(marker.KEY))
    l1.rpc.plugin_start(plugin_path(), **{"revenue-ops-metrics-address": "off"})
    wait_for(lambda: (_marker(l1) or first)["id"] != first["id"])
    assert l1.rpc.call("revenue-status")["started"] is True


def _raw_call(rpc_path: str, text: str) -> dict:
    """Send JSON text as written (pyln's client cannot encode 5,000 digits)."""
    # Through a directory descriptor: test paths are longer than AF_UNIX allows.
    dirfd = os.open(os.path.dirname(rpc_path), os.O_DIRECTORY | os.O_RDONLY)
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(30)
            s.connect(f"/proc/self/fd/{dirfd}/{os.path.basename(rpc_path)}")
            s.sendall(text.encode())
            buf = b""
            while b"\n\n" not in buf:
                chunk = s.recv(65536)
                assert chunk, "connection closed"
                buf += chunk
    finally:
        os.close(dirfd)
    return json.loads(buf.split(b"\n\n")[0])


def test_a_number_literal_too_long_for_python_gets_a_clear_error(node_factory):
    l1 = node_factory.get_node(options={"plugin": plugin_path(), **OPTIONS})
    digits = "7" * 5000
    answer = _raw_call(l1.rpc.socket_path, '{"jsonrpc":"2.0","id":1,'
                       '"method":"revenue-history","params":{"limit":' + digits + "}}")
    assert answer["error"]["code"] == -32602
    assert answer["error"]["message"].startswith("limit: should be an integer from 1 to 10000")
    assert l1.rpc.call("revenue-status")["started"] is True  # still running
