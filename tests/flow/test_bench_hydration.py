"""``revops-sim bench hydration`` runs end to end on a small history and
reports what it measured (its speed is for people to read, not asserted)."""

from __future__ import annotations

import json

from revops.sim.harness import run_sim


def test_bench_hydration_small(tmp_path):
    report = tmp_path / "report.json"
    proc = run_sim("bench", "hydration", "--forwards", "3000", "--channels", "8",
                   "--page-size", "500", "--dir", str(tmp_path / "work"),
                   "--report", str(report))
    assert proc.returncode == 0, proc.stderr
    assert "rows/s" in proc.stdout and "ratio" in proc.stdout
    r = json.loads(report.read_text())
    assert r["forwards"] == 3000 and r["pages"] == 6
    assert r["revops"]["stored_forwards"] == r["baseline"]["stored_forwards"] == 3000
    assert r["revops"]["rows_per_second"] > 0 and r["ratio"] > 0
    assert r["bucket_queries"]["raw_rows"] == 3000
    assert r["bucket_queries"]["buckets_consistent"] is True
    assert r["stand_in_misses"] <= 4  # only the empty pages above the history
