"""The P&L page of a real run: the plugin under revops-sim for three
simulated days on the refill node (forwards, fee changes, refills that
succeed and fail, daily snapshots), then ``revops-report`` on its database.

Every figure on the page is checked against the database itself (plain
SQL here, nothing of the report's), against the plugin's own answers, and
against the simulated market's books; the report reads the file while the
plugin writes it, changes nothing in it, and the page opens in headless
Chromium without a console error.
"""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from revops.report.page import sat
from revops.sim.cli import default_plugin_command
from revops.sim.harness import Sim
from tests.report.chromium import Chromium, find_chromium

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

REFILL = Path(__file__).resolve().parents[1] / "e2e" / "scenarios" / "refill.toml"
DAY = 86400


def report_command() -> list[str]:
    script = Path(sys.executable).with_name("revops-report")
    return [str(script)] if script.exists() else [sys.executable, "-m", "revops.report"]


def run_report(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*report_command(), *args], capture_output=True, text=True,
                          timeout=120, check=False)


class Elements(HTMLParser):
    """Every element's attributes and text, by id and by data-* keys."""

    def __init__(self) -> None:
        super().__init__()
        self.by_id: dict[str, dict[str, Any]] = {}
        self.rows: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
        self._row: tuple[str, str] | None = None
        self._open: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        el = {"tag": tag, "attrs": a, "text": ""}
        if tag == "tr":
            key = next(((k, a[k]) for k in ("data-day", "data-scid", "data-job") if k in a),
                       None)
            self._row = key
            if key:
                self.rows[key] = {}
        if "id" in a:
            self.by_id[a["id"]] = el
        if tag == "td" and self._row and "data-field" in a:
            self.rows[self._row][a["data-field"]] = el
        self._open.append(el)

    def handle_endtag(self, tag: str) -> None:
        while self._open:
            if self._open.pop()["tag"] == tag:
                break
        if tag == "tr":
            self._row = None

    def handle_data(self, data: str) -> None:
        for el in self._open:
            el["text"] += data


@pytest.fixture(scope="module")
def node(tmp_path_factory) -> Any:
    """Three simulated days of the refill node; the node keeps running."""
    sim = Sim(tmp_path_factory.mktemp("report") / "node", plugins=[default_plugin_command()],
              scenario=REFILL, options={"revenue-ops-metrics-address": "off"})
    sim.start()
    try:
        chans = {c["name"]: c for c in sim.rpc.call("dev-ledger")["channels"]}
        # The sink's senders would pay far more: the operator pins its fee
        # (refills pay), and one payment in five fails on the way (some fail).
        sim.rpc.call("revenue-policy", ["set", chans["sink"]["peer_id"], "static", 1200])
        sim.rpc.call("dev-payments", {"success_rate": 0.8})
        for _ in range(3):
            sim.advance(hours=24)
        yield sim
    finally:
        sim.stop()


@pytest.fixture(scope="module")
def page(node, tmp_path_factory) -> tuple[str, Elements]:
    out = tmp_path_factory.mktemp("page") / "pnl.html"
    r = run_report("--html", str(out), "--lightning-dir", str(node.lightning_dir))
    assert r.returncode == 0, r.stderr
    html = out.read_text()
    parsed = Elements()
    parsed.feed(html)
    return html, parsed


def db_rows(node: Any, sql: str) -> list[tuple]:
    db = sqlite3.connect(f"file:{node.lightning_dir / 'revops.sqlite3'}?mode=ro", uri=True)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def money(el: dict[str, Any]) -> int:
    """The exact msat of an element, checked against the text people read."""
    msat = int(el["attrs"]["data-msat"])
    assert el["text"].strip().rstrip("*") == sat(msat)
    return msat


def test_the_totals_are_the_databases_and_the_markets(node, page):
    _, el = page
    [(revenue, settled)] = db_rows(node, "SELECT sum(fees_msat), sum(settled_out) FROM flow_daily")
    [(costs,)] = db_rows(node, "SELECT sum(amount_msat) FROM channel_cost")
    assert revenue > 0 and costs > 0
    assert money(el.by_id["total-revenue"]) == revenue
    assert money(el.by_id["total-costs"]) == costs
    assert money(el.by_id["total-net"]) == revenue - costs
    assert el.by_id["total-settled"]["text"] == f"{settled:,}"
    # The simulated market's own books agree to the msat.
    books = node.rpc.call("dev-ledger")
    assert (books["revenue_msat"], books["rebalance_cost_msat"]) == (revenue, costs)


def test_every_day_and_every_channel_is_the_databases(node, page):
    _, el = page
    fees = dict(db_rows(node, "SELECT day, sum(fees_msat) FROM flow_daily GROUP BY day"))
    costs = dict(db_rows(node, f"SELECT CAST(ts / {DAY} AS INTEGER), sum(amount_msat)"
                               " FROM channel_cost GROUP BY 1"))
    days = {int(k[1]): row for k, row in el.rows.items() if k[0] == "data-day"}
    assert set(fees) | set(costs) <= set(days)
    for day, row in days.items():
        assert money(row["revenue"]) == fees.get(day, 0)
        assert money(row["costs"]) == costs.get(day, 0)
        assert money(row["net"]) == fees.get(day, 0) - costs.get(day, 0)

    revenue = dict(db_rows(node, "SELECT scid, sum(fees_msat) FROM flow_daily GROUP BY scid"))
    refills = dict(db_rows(node, "SELECT scid, sum(amount_msat) FROM channel_cost"
                                 " WHERE kind = 'rebalance' GROUP BY scid"))
    settled = dict(db_rows(node, "SELECT scid, sum(settled_out) FROM flow_daily GROUP BY scid"))
    channels = {k[1]: row for k, row in el.rows.items() if k[0] == "data-scid"}
    ours = {c["scid"] for c in node.rpc.call("revenue-channels")["channels"]}
    assert ours | set(revenue) == set(channels)
    for scid, row in channels.items():
        assert money(row["revenue"]) == revenue.get(scid, 0)
        assert money(row["rebalance"]) == refills.get(scid, 0)
        assert money(row["net"]) == revenue.get(scid, 0) - refills.get(scid, 0)
        assert int(row["settled_out"]["attrs"]["data-value"]) == settled.get(scid, 0)


def test_the_rebalance_ledger_is_every_job_with_the_plugins_own_realized_figures(node, page):
    _, el = page
    jobs = {i: (state, fee, predicted) for i, state, fee, predicted in db_rows(
        node, "SELECT id, state, fee_msat, predicted_ev_msat FROM rebalance_job")}
    rows = {int(k[1]): row for k, row in el.rows.items() if k[0] == "data-job"}
    assert set(rows) == set(jobs)
    states = [s for s, _, _ in jobs.values()]
    assert "succeeded" in states and "failed" in states
    for i, (state, fee, predicted) in jobs.items():
        assert money(rows[i]["predicted_ev"]) == predicted
        if state == "succeeded":
            assert money(rows[i]["fee"]) == fee
    # Realized EV as the rebalancer itself reports it (revenue-rebalance-status).
    mine = node.rpc.call("revenue-rebalance-status", {"limit": 1})["realized"]["total"]
    total = el.by_id["ledger-total"]["attrs"]
    assert int(total["data-realized-7d-msat"]) == mine["realized_ev_7d_msat"]
    assert int(total["data-predicted-msat"]) == mine["predicted_ev_msat"]
    assert int(total["data-fee-msat"]) == mine["fee_msat"]


def test_every_section_is_there_and_the_planner_says_it_is_not_built(page):
    html, el = page
    for section in ("net-profit", "channels", "fees", "ledger", "capacity",
                    "chart-daily", "chart-cumulative", "chart-channels", "chart-ledger"):
        assert section in el.by_id, section
    assert "Not built yet" in el.by_id["capacity-none"]["text"]
    assert html.count("<svg") >= 6 and "<script" not in html


def test_the_report_reads_the_file_and_changes_nothing_in_it(node, tmp_path):
    db = node.lightning_dir / "revops.sqlite3"
    # While the plugin runs (it writes beside us, in WAL mode) ...
    assert run_report("--html", str(tmp_path / "a.html"), "--db", str(db)).returncode == 0
    # ... and on a copy nobody writes: not one byte changes.
    copy = tmp_path / "copy.sqlite3"
    src = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    dst = sqlite3.connect(copy)
    src.backup(dst)
    src.close()
    dst.close()
    before = hashlib.sha256(copy.read_bytes()).hexdigest()
    r = run_report("--html", str(tmp_path / "b.html"), "--db", str(copy))
    assert r.returncode == 0, r.stderr
    assert hashlib.sha256(copy.read_bytes()).hexdigest() == before


def test_the_page_opens_in_chromium_without_a_console_error(page, tmp_path):
    binary = find_chromium()
    if binary is None:
        pytest.skip("chromium not installed: apt-get install chromium (.ci/run installs it)")
    html, _ = page
    path = tmp_path / "pnl.html"
    path.write_text(html)
    # The check itself can fail: a page that logs an error and misses a file.
    bad = tmp_path / "bad.html"
    bad.write_text('<!DOCTYPE html><title>bad</title><img src="missing.png">'
                   '<script>console.error("boom")</script>')
    with Chromium(binary) as chromium:
        control = chromium.visit(bad)
        visit = chromium.visit(path)
    assert any("boom" in e for e in control.errors)
    assert any("missing.png" in e or "ERR_FILE_NOT_FOUND" in e for e in control.errors)
    assert visit.errors == [], visit.errors
    assert visit.title == "revops P&L"
    shot = tmp_path / "pnl.png"
    shot.write_bytes(visit.png)
    assert visit.png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(visit.png[16:20], "big"), int.from_bytes(visit.png[20:24],
                                                                            "big")
    assert width == 1200 and height > 2000  # the whole page, not the first screen


@pytest.mark.parametrize("make, message", [
    (lambda p: None, "no revops database"),
    (lambda p: p.write_bytes(b"not a database at all, just text" * 64),
     "cannot be read as a SQLite database"),
])
def test_a_missing_or_foreign_database_is_one_line_and_exit_code_2(tmp_path, make, message):
    db = tmp_path / "revops.sqlite3"
    make(db)
    r = run_report("--html", str(tmp_path / "x.html"), "--db", str(db))
    assert r.returncode == 2 and message in r.stderr and len(r.stderr.splitlines()) == 1
    assert not (tmp_path / "x.html").exists()


def test_a_database_from_a_newer_revops_is_refused(tmp_path):
    db = tmp_path / "revops.sqlite3"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at REAL)")
    con.execute("INSERT INTO schema_version VALUES (99, 0)")
    con.commit()
    con.close()
    r = run_report("--html", str(tmp_path / "x.html"), "--db", str(db))
    assert r.returncode == 2 and "newer than this revops" in r.stderr
