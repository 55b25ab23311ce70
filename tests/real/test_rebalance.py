"""A native circular rebalance on a real triangle, with lightningd's own
askrene, invoice and sendpay; and the plugin killed while one is in flight.

        l1
       /  \\
     l2 -- l3        l1 opened l1-l2, l2 opened l2-l3, l3 opened l3-l1

l2 runs revops: its l2-l3 channel is full (the source), l2-l1 is empty
(the destination). A refill sends l2 -> l3 -> l1 -> l2.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from pyln.testing.utils import only_one, wait_for

from tests.real.conftest import revops_plugin_path
from tests.real.test_lifecycle import revops_pids

HOLD = Path(__file__).parent / "plugins" / "hold_htlcs.py"
REVOPS = {"plugin": revops_plugin_path(), "revenue-ops-metrics-address": "off",
          # Follow payments in flight every second instead of every 30.
          "revenue-ops-rebalance-poll-interval": 1}
AMOUNT_SAT = 100_000


def launcher(tmp: Path, script: Path) -> str:
    """lightningd execs a plugin by path: a shell script that runs ours with
    this interpreter (the one that has pyln)."""
    path = tmp / f"{script.stem}.sh"
    path.write_text(f"#!/bin/sh\nexec {sys.executable} {script} \"$@\"\n")
    path.chmod(0o755)
    return str(path)


def triangle(node_factory, tmp_path):
    l1, l2, l3 = node_factory.get_nodes(
        3, opts=[{}, REVOPS, {"plugin": launcher(tmp_path, HOLD)}])
    node_factory.join_nodes([l1, l2, l3, l1], wait_for_announce=True)
    wait_for(lambda: l2.rpc.call("revenue-status")["channels"] == 2)
    return l1, l2, l3


def to_us(node, peer) -> int:
    return only_one(node.rpc.listpeerchannels(peer.info["id"])["channels"])["to_us_msat"]


def budget_spent(node) -> tuple[int, int]:
    day = next(w for w in node.rpc.call("revenue-budget")["windows"] if w["hours"] == 24)
    return day["spent_msat"], day["reserved_msat"]


def paid_fees(node) -> dict[str, int]:
    """What lightningd says each completed payment of ours cost, by hash."""
    return {p["payment_hash"]: p["amount_sent_msat"] - p["amount_msat"]
            for p in node.rpc.listsendpays()["payments"] if p["status"] == "complete"}


def test_a_refill_moves_liquidity_and_is_charged_once(node_factory, tmp_path):
    l1, l2, l3 = triangle(node_factory, tmp_path)
    src, dst = l2.get_channel_scid(l3), l2.get_channel_scid(l1)
    before = to_us(l2, l1)

    out = l2.rpc.call("revenue-rebalance", {"from": src, "to": dst,
                                            "amount_sats": AMOUNT_SAT, "max_fee_ppm": 2000})
    assert out["action"] == "started", out
    wait_for(lambda: l2.rpc.call("revenue-rebalance-status")["in_flight"] == [])
    job = l2.rpc.call("revenue-rebalance-status")["recent"][0]
    assert job["state"] == "succeeded", job
    assert to_us(l2, l1) == before + AMOUNT_SAT * 1000

    # The budget holds lightningd's real fee for this payment, once.
    fees = paid_fees(l2)
    assert job["fee_msat"] == fees[job["payment_hash"]] > 0
    assert budget_spent(l2) == (job["fee_msat"], 0)
    dash = l2.rpc.call("revenue-dashboard", [30])
    assert dash["costs"]["rebalance_msat"] == job["fee_msat"]
    # Its invoice was paid to ourselves, under a revops label.
    inv = only_one(l2.rpc.listinvoices(payment_hash=job["payment_hash"])["invoices"])
    assert inv["status"] == "paid" and inv["label"].startswith("revops-rebalance-")


def test_killed_with_a_refill_in_flight_reconciles_once(node_factory, tmp_path):
    l1, l2, l3 = triangle(node_factory, tmp_path)
    src, dst = l2.get_channel_scid(l3), l2.get_channel_scid(l1)
    l3.rpc.call("hold-htlcs", ["on"])

    out = l2.rpc.call("revenue-rebalance", [src, dst, AMOUNT_SAT, 2000])
    assert out["action"] == "started", out
    wait_for(lambda: l3.rpc.call("hold-htlcs", ["on"])["held"] == 1)
    job = only_one(l2.rpc.call("revenue-rebalance-status")["in_flight"])
    assert budget_spent(l2)[1] > 0  # its max fee is reserved

    # SIGKILL: no shutdown, no cleanup. The payment goes on without us.
    pid = only_one(revops_pids(l2))
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: revops_pids(l2) == [])
    l3.rpc.call("hold-htlcs", ["off"])
    wait_for(lambda: job["payment_hash"] in paid_fees(l2))
    fee = paid_fees(l2)[job["payment_hash"]]

    # Restarted: the job is settled from listsendpays, its real cost counted once.
    l2.rpc.plugin_start(revops_plugin_path(), **{k: v for k, v in REVOPS.items()
                                                 if k != "plugin"})
    wait_for(lambda: l2.rpc.call("revenue-rebalance-status")["in_flight"] == [])
    status = l2.rpc.call("revenue-rebalance-status")
    done = only_one([j for j in status["recent"] if j["id"] == job["id"]])
    assert done["state"] == "succeeded" and done["fee_msat"] == fee
    assert budget_spent(l2) == (fee, 0)
    assert l2.rpc.call("revenue-dashboard", [30])["costs"]["rebalance_msat"] == fee

    # The next refill gets a label lightningd has never seen.
    out = l2.rpc.call("revenue-rebalance", [src, dst, AMOUNT_SAT // 2, 2000])
    assert out["action"] == "started", out
    wait_for(lambda: l2.rpc.call("revenue-rebalance-status")["in_flight"] == [])
    labels = [i["label"] for i in l2.rpc.listinvoices()["invoices"]]
    assert len(labels) == len(set(labels)) == 2
    assert budget_spent(l2)[0] == sum(paid_fees(l2).values())
