"""The label of the invoice a native rebalance pays to ourselves (pure).

lightningd keeps an invoice's label until the invoice is deleted (a paid
one, for good), and refuses a second invoice with the same label
("Duplicate label"). Job ids alone are not unique across databases (a new
database starts again at 1) nor, once old jobs are pruned, within one. So
the label carries the database's random id (``schema_identity``) and the
job's creation second too: ``revops-rebalance-<db id>-<job id>-<created>``.
"""

from __future__ import annotations

PREFIX = "revops-rebalance"


def label(db_id: str, job_id: int, created_at: float) -> str:
    return f"{PREFIX}-{db_id}-{job_id}-{int(created_at)}"
