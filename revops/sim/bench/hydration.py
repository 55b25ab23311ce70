"""``revops-sim bench hydration``: how fast revops hydrates a node's
forwards history, against the plainest way to load the same rows.

1. A simulated node with ``--forwards`` historical forwards (the market's
   generator) has every ``listforwards`` page revops will ask for rendered
   up front, as lightningd would send it, and a small Unix-socket
   lightningd stand-in serves them (so what is timed is revops, not the
   sim building JSON).
2. revops hydrates: the real FlowCoordinator, RpcActor (pyln with our
   reader) and StoreActor, one flow cycle with a budget covering the whole
   history. Timed from the tick to its end: every page fetched, parsed,
   normalised, upserted with its daily bucket changes and its cursor, then
   the cycle's analysis.
3. The baseline, in the same run on the same machine: the same page bytes,
   ``json.loads`` and one ``sqlite3.executemany`` per page into a fresh
   database with the same schema (same table and indexes), a commit per
   page. The ratio is revops' rate over the baseline's.
4. The daily-bucket queries on the hydrated database: every day of every
   channel computed from the raw rows in one GROUP BY (the reference the
   buckets kept page by page must equal, and the repair), the same
   written back, and the per-cycle read of the 1/7/30-day windows.

Numbers are printed, and written as JSON with ``--report FILE``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socketserver
import sqlite3
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pykka

from revops.sim.bench import work_dir

DEFAULT_FORWARDS = 1_000_000
STATUS = {"offered": 0, "settled": 1, "failed": 2, "local_failed": 3}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--forwards", type=int, default=DEFAULT_FORWARDS, metavar="N",
                   help=f"historical forwards to hydrate (default {DEFAULT_FORWARDS:,})")
    p.add_argument("--channels", type=int, default=200, metavar="N",
                   help="channels of the generated node (default 200)")
    p.add_argument("--page-size", type=int, default=None, metavar="ROWS",
                   help="listforwards page size (default: revops' flow-page-size default)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--dir", default=None, help="work directory (default: a temporary one)")
    p.add_argument("--report", default=None, metavar="FILE", help="write the results as JSON")


# -- the lightningd stand-in ------------------------------------------------------------------

class _Handler(socketserver.BaseRequestHandler):
    """One JSON-RPC request per connection, as pyln makes them."""

    def handle(self) -> None:
        decoder = json.JSONDecoder()
        buf = b""
        while True:
            chunk = self.request.recv(65536)
            if not chunk:
                return
            buf += chunk
            try:
                request, _ = decoder.raw_decode(buf.decode())
            except ValueError:
                continue
            break
        body = self.server.answer(request["method"], request.get("params") or {})  # type: ignore
        head = b'{"jsonrpc":"2.0","id":' + json.dumps(request["id"]).encode() + b',"result":'
        self.request.sendall(head + body + b"}\n\n")


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def __init__(self, path: str, bench: StandIn) -> None:
        self.bench = bench
        super().__init__(path, _Handler)

    def answer(self, method: str, params: dict[str, Any]) -> bytes:
        return self.bench.answer(method, params)


class StandIn:
    """Serves pre-rendered listforwards pages and the few calls a flow cycle makes."""

    def __init__(self, market: Any, pages: dict[tuple[str, int, int], bytes]) -> None:
        from revops.sim import market_rpc
        self.market = market
        self.pages = pages
        self.misses = 0
        self._rpc = market_rpc
        m = market
        self.static = {
            "listpeerchannels": json.dumps({"channels": [market_rpc.channel_json(m, c)
                                                         for c in m.listed_channels()]}).encode(),
            "listfunds": json.dumps({"outputs": m.outputs(), "channels": []}).encode(),
            "getinfo": json.dumps({"blockheight": m.blockheight}).encode(),
        }

    def answer(self, method: str, params: dict[str, Any]) -> bytes:
        if method == "listforwards":
            key = (params.get("index") or "created", int(params.get("start") or 0),
                   int(params.get("limit") or 0))
            page = self.pages.get(key)
            if page is None:
                self.misses += 1
                page = render_page(self.market, *key)
            return page
        if method == "wait":
            name = params["indexname"]
            st = self.market.forwards
            return json.dumps({"subsystem": "forwards", name: st.created_count if name ==
                               "created" else st.updated_count}).encode()
        return self.static.get(method, b"{}")


def render_page(market: Any, index: str, start: int, limit: int) -> bytes:
    from revops.sim.market_rpc import select_forwards
    rows = select_forwards(market, None, None, None, index, start, limit)
    return json.dumps({"forwards": [market.forward_json(r) for r in rows]}).encode()


def history_pages(n: int, updated: int, page_size: int) -> list[tuple[str, int, int]]:
    """The pages a first-start hydration asks for, in order (revops' own plan)."""
    from revops.flow.sync import begin, history_page
    state = begin(n, updated, 0.0)
    keys = []
    while (page := history_page(state, page_size)) is not None:
        keys.append((page.index, page.start, page.limit))
        state = replace(state, low=page.start)
    return keys


# -- the two contenders ------------------------------------------------------------------------

def run_revops(work: Path, sock: str, page_size: int, n: int, now: float) -> dict[str, Any]:
    from prometheus_client import CollectorRegistry

    from actors.flow import FlowCoordinator
    from actors.messages import Command, Dependencies, Tick
    from actors.rpc import RpcActor, lightning_rpc_factory
    from actors.store import StoreActor
    from revops.clock import DrivenClock
    from revops.config import build_startup_config
    from revops.metrics import Metrics

    class Answer:
        def __init__(self) -> None:
            self.value: Any = None
            self.done = threading.Event()

        def set_result(self, v: Any) -> None:
            self.value = v
            self.done.set()

        def set_exception(self, e: Any) -> None:
            self.value = e
            self.done.set()

    metrics = Metrics(CollectorRegistry())
    config = build_startup_config({
        "revenue-ops-flow-page-size": str(page_size),
        "revenue-ops-flow-hydration-rows-per-cycle": str(max(1000, n + 10 * page_size)),
        "revenue-ops-flow-retention-days": "36500"}).snapshot
    store = StoreActor.start(work / "revops.sqlite3", DrivenClock(now))
    rpc = RpcActor.start(lightning_rpc_factory(sock), 600.0, metrics)
    flow = FlowCoordinator.start(Dependencies(rpc, store, {}), config, metrics, None)
    try:
        ack: pykka.Future[Any] = pykka.ThreadingFuture()
        t0 = time.perf_counter()
        flow.tell(Tick(now, ack))
        summary = ack.get(timeout=3600)
        wall = time.perf_counter() - t0
        answer = Answer()
        flow.tell(Command("revenue-forwards-sync", {}, answer, now))
        answer.done.wait(600)
        state = answer.value
    finally:
        for ref in (flow, rpc, store):
            ref.stop()
    if not isinstance(state, dict) or summary.get("history_rows") != n:
        raise SystemExit(f"revops-sim bench hydration: hydration did not complete: {summary} "
                         f"{state}")
    return {"seconds": wall, "rows": n, "rows_per_second": n / wall,
            "page_phase_seconds": state["hydration"]["sync_seconds"],
            "stored_forwards": state["stored_forwards"], "cycle_summary": summary}


def run_baseline(work: Path, pages: list[bytes], template_db: Path) -> dict[str, Any]:
    """json.loads + executemany of the same pages into the same schema."""
    path = work / "baseline.sqlite3"
    schema = sqlite3.connect(template_db)
    ddl = [sql for (sql,) in schema.execute(
        "SELECT sql FROM sqlite_master WHERE tbl_name = 'forward' AND sql IS NOT NULL"
        " ORDER BY type DESC")]  # the table first, then its indexes
    schema.close()
    db = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode=wal", "synchronous=normal", "cache_size=-64000"):
        db.execute(f"PRAGMA {pragma}")
    for sql in ddl:
        db.execute(sql)
    insert = "INSERT INTO forward VALUES (?,?,?,?,?,?,?,?,?,?,?)"
    rows_done = 0
    t0 = time.perf_counter()
    for body in pages:
        forwards = json.loads(body)["forwards"]
        rows = [(f["created_index"], f.get("updated_index"), f["in_channel"],
                 f.get("out_channel"), f["in_msat"], f.get("out_msat"), f.get("fee_msat"),
                 STATUS[f["status"]], f.get("failcode"), f["received_time"],
                 f.get("resolved_time")) for f in forwards]
        db.execute("BEGIN")
        db.executemany(insert, rows)
        db.execute("COMMIT")
        rows_done += len(rows)
    wall = time.perf_counter() - t0
    (count,) = db.execute("SELECT count(*) FROM forward").fetchone()
    db.close()
    return {"seconds": wall, "rows": rows_done, "rows_per_second": rows_done / wall,
            "stored_forwards": count}


def bucket_queries(db_path: Path) -> dict[str, Any]:
    """Timings of the daily-bucket queries on the hydrated database."""
    from revops.flow.buckets import window_start_day
    from revops.storage import models
    from revops.storage.db import close_database, open_database
    from revops.storage.repos import flow

    open_database(db_path, models.db)
    try:
        (rows,) = models.db.execute_sql("SELECT count(*) FROM forward").fetchone()
        d0, d1 = models.db.execute_sql(
            "SELECT CAST(min(received_time) / 86400 AS INTEGER),"
            " CAST(max(received_time) / 86400 AS INTEGER) FROM forward").fetchone()
        t0 = time.perf_counter()
        buckets = flow.aggregate(d0, d1)
        aggregate = time.perf_counter() - t0
        t0 = time.perf_counter()
        with models.db.atomic():
            repaired = flow.rebuild_days(range(d0, d1 + 1))
        rebuild = time.perf_counter() - t0
        t0 = time.perf_counter()
        for n in (1, 7, 30):
            flow.window_totals(window_start_day(d1 * 86400.0, n))
        windows = time.perf_counter() - t0
    finally:
        close_database(models.db)
    return {"raw_rows": rows, "days": d1 - d0 + 1, "buckets": len(buckets),
            # the buckets kept page by page during hydration equal the recomputed ones
            "buckets_consistent": repaired.empty,
            "aggregate_all_days_seconds": aggregate, "rebuild_all_days_seconds": rebuild,
            "window_reads_1_7_30d_seconds": windows}


# -- the benchmark -------------------------------------------------------------------------------

def main(args: Any) -> int:
    from revops.flow.options import FLOW_OPTIONS
    from revops.sim.market import Market
    from revops.sim.scenario import generate_scenario

    n = int(args.forwards)
    if n < 1:
        raise SystemExit("revops-sim bench hydration: --forwards must be at least 1")
    default_page = next(o.default for o in FLOW_OPTIONS if o.key == "flow-page-size")
    page_size = int(args.page_size or default_page)
    with work_dir(args.dir, "revops-bench-") as work:
        print(f"generating a node with {args.channels} channels and {n:,} forwards ...",
              flush=True)
        t0 = time.perf_counter()
        market = Market(generate_scenario(int(args.channels), n, int(args.seed)), int(args.seed))
        keys = history_pages(n, market.forwards.updated_count, page_size)
        pages = {k: render_page(market, *k) for k in keys}
        setup = time.perf_counter() - t0
        page_bytes = sum(len(b) for b in pages.values())
        print(f"  {len(pages)} pages of {page_size} rendered ({page_bytes / 1e6:,.0f} MB) "
              f"in {setup:.1f} s", flush=True)

        sock = str(work / "lightning-rpc")
        if os.path.exists(sock):
            os.unlink(sock)
        stand_in = StandIn(market, pages)
        server = _Server(sock, stand_in)
        thread = threading.Thread(target=server.serve_forever, name="bench-lightningd",
                                  daemon=True)
        thread.start()
        try:
            print("revops hydrating ...", flush=True)
            # The node's own clock: its history ends at the scenario's start.
            ours = run_revops(work, sock, page_size, n, float(market.now))
        finally:
            server.shutdown()
            server.server_close()
        print("baseline: json.loads + sqlite3.executemany of the same pages ...", flush=True)
        base = run_baseline(work, [pages[k] for k in keys], work / "revops.sqlite3")
        print("daily-bucket queries ...", flush=True)
        queries = bucket_queries(work / "revops.sqlite3")

    ratio = ours["rows_per_second"] / base["rows_per_second"]
    report = {
        "bench": "hydration", "forwards": n, "channels": int(args.channels),
        "page_size": page_size, "pages": len(keys), "page_megabytes": round(page_bytes / 1e6, 1),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "sqlite": sqlite3.sqlite_version, "platform": platform.platform()},
        "revops": ours, "baseline": base, "ratio": ratio, "bucket_queries": queries,
        "stand_in_misses": stand_in.misses,
    }
    print()
    print(f"hydration of {n:,} forwards ({len(keys)} pages of {page_size}):")
    print(f"  revops    {ours['seconds']:8.2f} s  {ours['rows_per_second']:>10,.0f} rows/s  "
          f"(fetch, parse, normalise, upsert with buckets and cursor)")
    print(f"  baseline  {base['seconds']:8.2f} s  {base['rows_per_second']:>10,.0f} rows/s  "
          f"(json.loads + executemany, same schema)")
    print(f"  ratio     {ratio:8.2f}  (revops / baseline)")
    print(f"daily buckets on {queries['raw_rows']:,} rows over {queries['days']} days "
          f"({queries['buckets']:,} buckets):")
    print(f"  aggregate every day      {queries['aggregate_all_days_seconds']:8.3f} s")
    print(f"  rebuild every day        {queries['rebuild_all_days_seconds']:8.3f} s  "
          f"(kept buckets {'equal' if queries['buckets_consistent'] else 'DIFFER FROM'} "
          f"the recomputed ones)")
    print(f"  read 1/7/30-day windows  {queries['window_reads_1_7_30d_seconds']:8.4f} s")
    if args.report:
        Path(args.report).write_text(json.dumps(report, indent=2, default=str) + "\n")
        print(f"report: {args.report}")
    return 0


__all__ = ["add_arguments", "main"]
