"""Sling mode (pure parts): the job we give sling, what it reserves, what its
payments did (from listsendpays), and when to stop it."""

from __future__ import annotations

from revops.rebalance.sling import (
    PAYMENTS_RESERVED,
    distinct_amount,
    done,
    job_for,
    outcome,
    progress,
)


def test_the_job_is_one_payment_of_the_refill_within_the_max_fee():
    job = job_for("9x9x9", 500_000_000, 150_000, ["1x1x1", "2x2x2"])
    p = job.params()
    assert p == {"scid": "9x9x9", "direction": "pull", "amount": 500_000, "maxppm": 300,
                 "onceamount": 500_000, "candidates": ["1x1x1", "2x2x2"], "paralleljobs": 1}
    assert job.payment_max_fee_msat == 150_000
    # The payment, and one more sling may start when the first outlives
    # sling-timeoutpay before we stop the job: two payments reserved.
    assert job.reserve_msat == PAYMENTS_RESERVED * 150_000


def sendpay(index: int, label: str, status: str, amount: int = 500_000_000,
            sent: int = 500_100_000) -> dict:
    return {"created_index": index, "label": label, "status": status, "payment_hash": f"{index:064x}",
            "amount_msat": amount, "amount_sent_msat": sent}


def test_progress_counts_only_the_jobs_own_payments_after_it_started():
    entries = [sendpay(3, "sling-9x9x9-1-100-1", "complete"),       # before the job
               sendpay(5, "sling-9x9x9-1-200-1", "failed"),
               sendpay(6, "sling-8x8x8-1-200-1", "complete"),       # another channel's
               sendpay(7, "revops-rebalance-4", "complete"),        # not sling's
               sendpay(8, "sling-9x9x9-1-300-2", "complete", sent=500_120_000),
               sendpay(9, "sling-9x9x9-1-400-3", "pending")]
    p = progress(entries, "9x9x9", after_index=4)
    assert (p.moved_msat, p.fee_msat, p.succeeded, p.failed, p.pending) == (
        500_000_000, 120_000, 1, 1, 1)
    assert len(p.hashes) == 3


def test_when_to_stop():
    none = progress([], "9x9x9", 0)
    assert done(none, 500_000_000) is None
    one = progress([sendpay(1, "sling-9x9x9-1-1-1", "complete")], "9x9x9", 0)
    assert done(one, 500_000_000) == "refilled"
    out = progress([sendpay(1, "sling-9x9x9-1-1-1", "pending")], "9x9x9", 0)
    assert done(out, 500_000_000) == "its payment is out"  # no other may start
    failing = progress([sendpay(i, f"sling-9x9x9-1-1-{i}", "failed") for i in range(1, 4)],
                       "9x9x9", 0)
    assert done(failing, 500_000_000) == "3 payments failed"
    two_failed = progress([sendpay(i, f"sling-9x9x9-1-1-{i}", "failed") for i in range(1, 3)],
                          "9x9x9", 0)
    assert done(two_failed, 500_000_000) is None  # failures cost nothing: sling tries again


def test_what_became_of_a_stopped_job():
    ok = progress([sendpay(1, "sling-9x9x9-1-1-1", "complete")], "9x9x9", 0)
    assert outcome(ok, 500_000_000, "its payment is out") == "refilled"
    failed = progress([sendpay(1, "sling-9x9x9-1-1-1", "failed")], "9x9x9", 0)
    assert outcome(failed, 500_000_000, "its payment is out") == "its payment failed"
    assert outcome(failed, 500_000_000, "timed out") == "timed out"


US = "02" + "1" * 64


def unlabelled(index: int, status: str, amount: int = 500_000_000, sent: int = 500_100_000,
               destination: str = US) -> dict:
    """What the real sling's sendpay leaves in listsendpays: no label."""
    return {"created_index": index, "status": status, "payment_hash": f"{index:064x}",
            "destination": destination, "amount_msat": amount, "amount_sent_msat": sent}


def test_the_real_slings_unlabelled_payments_are_told_apart_by_amount_and_destination():
    entries = [unlabelled(2, "complete"),                          # before the job
               unlabelled(5, "complete", sent=500_090_000),
               unlabelled(6, "complete", amount=499_999_000),      # another job's amount
               unlabelled(7, "complete", destination="03" + "2" * 64),  # a payment out
               sendpay(8, "revops-rebalance-ab-4-1", "complete"),  # a native refill
               unlabelled(9, "pending")]
    p = progress(entries, "9x9x9", after_index=4, our_id=US, amount_msat=500_000_000)
    assert (p.moved_msat, p.fee_msat, p.succeeded, p.pending) == (500_000_000, 90_000, 1, 1)


def test_open_sling_jobs_get_distinct_amounts():
    assert distinct_amount(500_000, []) == 500_000
    assert distinct_amount(500_000, [500_000, 499_999]) == 499_998
