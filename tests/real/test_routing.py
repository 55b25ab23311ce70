"""revops on a routing node in the middle of a real graph: forwards, fee
cycles, gossip, and the P&L against lightningd's own records.

    l1 ---- l2 (revops) ---- l3

l1 pays l3 through l2, so l2 forwards and earns.
"""

from __future__ import annotations

from pyln.testing.utils import only_one, wait_for

from tests.real.conftest import revops_plugin_path

REVOPS = {"plugin": revops_plugin_path(), "revenue-ops-metrics-address": "off"}


def pay(payer, payee, msat: int, label: str) -> None:
    inv = payee.rpc.invoice(msat, label, label)["bolt11"]
    assert payer.rpc.pay(inv)["status"] == "complete"


def announced_fee(observer, scid: str, source: str) -> int | None:
    for c in observer.rpc.listchannels(scid)["channels"]:
        if c["source"] == source:
            return c["fee_per_millionth"]
    return None


def local_fee(node, peer) -> int:
    ch = only_one(node.rpc.listpeerchannels(peer.info["id"])["channels"])
    return ch["updates"]["local"]["fee_proportional_millionths"]


def test_forwards_earn_fees_reach_gossip_and_the_pnl_matches_lightningd(node_factory):
    l1, l2, l3 = node_factory.line_graph(3, wait_for_announce=True, opts=[{}, REVOPS, {}])
    wait_for(lambda: l2.rpc.call("revenue-status")["channels"] == 2)
    out_scid = l2.get_channel_scid(l3)

    for i in range(4):
        pay(l1, l3, 50_000_000 + i * 1_000, f"before-{i}")

    # The channel-open reaction already priced both channels: lightningd
    # holds revops' fee for the outbound channel, and l1 learns it by gossip.
    fee = l2.rpc.call("revenue-fees", [out_scid])["channels"][0]
    wait_for(lambda: local_fee(l2, l3) == fee["fee_ppm"])
    wait_for(lambda: announced_fee(l1, out_scid, l2.info["id"]) == fee["fee_ppm"])

    # A floor far above the current fee forces a change: one setchannel per
    # channel, then the same cycle again sends nothing (idempotent) and a
    # target within the hysteresis band of the broadcast fee sends nothing.
    l2.rpc.call("revenue-config", ["set", "min-fee-ppm", 700])
    cycle = l2.rpc.call("revenue-fee-cycle")
    sent = {d["scid"]: d for d in cycle["decisions"] if d["action"] == "sent"}
    assert out_scid in sent and sent[out_scid]["target_fee_ppm"] >= 700
    new_fee = sent[out_scid]["target_fee_ppm"]
    assert local_fee(l2, l3) == new_fee
    wait_for(lambda: announced_fee(l1, out_scid, l2.info["id"]) == new_fee)
    again = l2.rpc.call("revenue-fee-cycle")
    assert not [d for d in again["decisions"] if d["action"] == "sent"]
    l2.rpc.call("revenue-config", ["set", "min-fee-ppm", int(new_fee * 1.03)])
    banded = l2.rpc.call("revenue-fee-cycle")
    out = next(d for d in banded["decisions"] if d["scid"] == out_scid)
    assert out["action"] == "hysteresis" and local_fee(l2, l3) == new_fee

    # The gossip budget: two updates a day for the whole node are already
    # spent, so a floor that moves every channel is held back.
    l2.rpc.call("revenue-config", ["set", "max-fee-updates-per-day", 2])
    l2.rpc.call("revenue-config", ["set", "min-fee-ppm", 1500])
    held = l2.rpc.call("revenue-fee-cycle")
    actions = {d["scid"]: d["action"] for d in held["decisions"]}
    assert actions[out_scid] == "budget", held
    assert local_fee(l2, l3) == new_fee

    # Forwards at the new fee, then the P&L against lightningd's own record.
    for i in range(3):
        pay(l1, l3, 20_000_000 + i * 1_000, f"after-{i}")
    settled = [f for f in l2.rpc.listforwards(status="settled")["forwards"]]
    assert len(settled) == 7
    earned = sum(f["fee_msat"] for f in settled)
    assert earned > 0
    dash = l2.rpc.call("revenue-dashboard", [30])
    assert dash["gross_revenue_msat"] == earned, dash
    assert dash["forwards"]["settled"] == 7
    by_channel = {e["scid"]: e["revenue_msat"] for e in dash["top_earners"]}
    assert by_channel == {out_scid: earned}
