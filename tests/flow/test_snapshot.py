"""Financial snapshots: what is counted, when one is skipped, and the report."""

from __future__ import annotations

from revops.channels import parse_channels
from revops.flow.snapshot import Snapshot, balances, onchain_msat, report, take
from tests.actors.fakes import channel, peer
from tests.flow.conftest import DAY, T0

FUNDS = {"outputs": [{"amount_msat": 1_500_000_000, "status": "confirmed"},
                     {"amount_msat": 20_000_000, "status": "unconfirmed"},
                     {"amount_msat": 999, "status": "spent"}]}


def facts():
    return parse_channels({"channels": [
        channel("100x1x0", peer(1), local_msat=300_000_000, capacity_msat=1_000_000_000),
        channel("101x1x0", peer(2), local_msat=700_000_000, capacity_msat=2_000_000_000),
        channel("102x1x0", peer(3), local_msat=50_000_000, capacity_msat=500_000_000,
                state="CHANNELD_SHUTTING_DOWN"),
        channel("103x1x0", peer(4), local_msat=400_000_000, capacity_msat=500_000_000,
                state="ONCHAIN"),
    ]})


def test_balances_count_funds_still_in_channels_and_active_capacity():
    b = balances(facts())
    assert b.local_msat == 300_000_000 + 700_000_000 + 50_000_000  # not the ONCHAIN one
    assert (b.capacity_msat, b.channels) == (3_000_000_000, 2)


def test_onchain_sums_unspent_outputs():
    assert onchain_msat(FUNDS) == 1_520_000_000
    assert onchain_msat({"outputs": []}) == 0
    assert onchain_msat({}) is None and onchain_msat(None) is None


def test_snapshot_of_a_node():
    s = take(T0, "daily", facts(), FUNDS, revenue_msat=123, costs_msat=45, complete=True)
    assert isinstance(s, Snapshot)
    assert s.tlv_msat == 1_050_000_000 + 1_520_000_000
    assert s.as_dict()["net_msat"] == 78 and s.day == int(T0 // DAY)


def test_no_snapshot_made_of_zeros_the_node_did_not_say():
    assert take(T0, "daily", None, FUNDS, 0, 0, True) == "listpeerchannels did not answer"
    assert take(T0, "daily", facts(), None, 0, 0, True) == "listfunds did not answer"
    assert take(T0, "daily", facts(), {"error": 1}, 0, 0, True) == "listfunds did not answer"
    assert "no channels" in take(T0, "daily", [], {"outputs": []}, 0, 0, True)
    # A node with only on-chain funds is a real answer.
    assert isinstance(take(T0, "daily", [], FUNDS, 0, 0, True), Snapshot)


def test_report_shows_changes_between_snapshots_and_the_period():
    snaps = [Snapshot(T0, "daily", 100, 50, 1000, 2, 10, 1, True),
             Snapshot(T0 + DAY, "daily", 120, 50, 1000, 2, 40, 5, True),
             Snapshot(T0 + 2 * DAY, "manual", 90, 70, 1000, 2, 55, 25, False)]
    r = report(snaps, 30)
    assert r["count"] == 3 and "since_previous" not in r["snapshots"][0]
    assert r["snapshots"][1]["since_previous"] == {"seconds": DAY, "revenue_msat": 30,
                                                   "costs_msat": 4, "tlv_change_msat": 20}
    assert r["period"] == {"from": T0, "to": T0 + 2 * DAY, "revenue_msat": 45,
                           "costs_msat": 24, "net_msat": 21, "tlv_change_msat": 10,
                           "complete": False}
    assert report([], 7) == {"days": 7, "count": 0, "snapshots": []}
