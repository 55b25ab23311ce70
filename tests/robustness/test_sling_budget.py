"""Finding 7 of issue 15: with ``--revenue-ops-rebalancer=sling`` the budget
could be exceeded. A job reserved two payments' fees, but sling starts a
new payment whenever its last one times out on its side
(``sling-timeoutpay``) while that one may still settle, and the poll only
stopped a job once a payment had completed: slow payments piled up and all
settled, and the actual spend was settled in full, over the budget.

Now a refill is a ``sling-once`` of exactly one payment's amount (sling
ends it by itself after one success), its reservation covers the worst
case (that payment and one that outlived ``sling-timeoutpay``), and the
first poll that sees any of its payments stops it, so sling cannot start
one the reservation does not cover; what was actually spent is settled.
Checked against the simulated sling and the simulated node's ledger.
"""

from __future__ import annotations

import pytest

from tests.e2e.test_rebalance_e2e import FAST, chans, ledger, pin_sink, status
from tests.e2e.test_rebalance_e2e import refill  # noqa: F401  (fixture)

pytestmark = pytest.mark.e2e


def test_slow_sling_payments_never_spend_past_the_budget(refill):  # noqa: F811
    amount_sat, max_fee_ppm = 200_000, 400
    per_payment_msat = amount_sat * 1000 * max_fee_ppm // 1_000_000
    budget_sat = 2 * per_payment_msat // 1000  # exactly one job's reservation
    sim = refill({**FAST, "revenue-ops-rebalancer": "sling",
                  "revenue-ops-rebalance-budget-daily-sats": str(budget_sat)},
                 extra_args=["--sling"])
    pin_sink(sim, fee=2)  # no automatic refill pays: the operator's job alone spends
    # Every payment settles, but only after 5 to 7 minutes: sling gives up on
    # each after 120 s (sling-timeoutpay) and tries again.
    sim.rpc.call("dev-payments", {"success_rate": 1.0, "hold_min_s": 300, "hold_max_s": 420})
    c = chans(sim)
    job = sim.rpc.call("revenue-rebalance", [c["src"]["scid"], c["sink"]["scid"], amount_sat,
                                             max_fee_ppm])
    assert job["action"] == "started" and job["mode"] == "sling"
    held = sim.rpc.call("revenue-budget")["windows"][0]
    assert held["reserved_msat"] <= budget_sat * 1000
    sim.advance(hours=2)

    led = ledger(sim)
    st = status(sim)
    assert led["rebalances_succeeded"] >= 1
    # The node never paid more than the budget allowed, and revops counted
    # exactly what the node paid.
    assert led["rebalance_cost_msat"] <= budget_sat * 1000, led
    assert st["in_flight"] == []
    assert sum(j.get("fee_msat", 0) for j in st["recent"]) == led["rebalance_cost_msat"]
    spent = sim.rpc.call("revenue-budget")["windows"][0]
    assert spent["spent_msat"] == led["rebalance_cost_msat"]
    assert spent["spent_msat"] + spent["reserved_msat"] <= budget_sat * 1000
