#!/usr/bin/env python3
"""A simulated *sling* (daywalker90's rebalancing plugin) for revops-sim.

The real sling is a Rust plugin; this stand-in speaks its commands with
their parameters and answer shapes, so the revops rebalancer's sling mode
can be tested against the simulated node:

- ``sling-job scid direction amount maxppm [outppm] [target] [maxhops]
  [candidates] [depleteuptopercent] [depleteuptoamount] [paralleljobs]``:
  add (or replace in place) the job for our channel ``scid``
  (``direction`` ``pull``: refill its outbound side from candidates;
  ``push``: empty it into candidates); ``{"result": "success"}``.
- ``sling-once scid direction amount maxppm onceamount [outppm] [maxhops]
  [candidates] [depleteuptopercent] [depleteuptoamount] [paralleljobs]``:
  start at once, in memory only, and end after ``onceamount`` is moved
  (``{"result": "started"}``); a payment that fails or outlives
  ``sling-timeoutpay`` no longer counts, and another is tried.
- ``sling-go [scid]`` -> ``{"jobs_started": n}``; ``sling-stop [scid]`` ->
  ``{"stopped_count": n}``; ``sling-deletejob job [delete_stats]`` (``job``
  a scid or ``all``) -> ``{"result": "success"}``.
- ``sling-jobsettings [scid]``: ``{scid: job}`` in sling's internal form
  (``sat_direction``, ``amount_msat``, ``maxppm``, ``outppm``,
  ``candidatelist``, ``target``, ...).
- ``sling-stats [scid] [json]``: a text table (``{"format-hint": "simple",
  "result": ...}``), a list of per-job summaries (``json``), or one job's
  ``successes_in_time_window`` / ``failures_in_time_window`` (amounts
  rebalanced, fee ppm, total spent).
- ``sling-except-chan`` / ``sling-except-peer`` (``list``/``add``/``remove``),
  ``sling-version``.

Files as the real one keeps them, in ``<lightning-dir>/sling/``:
``jobs.json``, ``excepts.json``, ``excepts_peers.json``, and stats as JSON
lines ``<scid>_successes.json`` / ``<scid>_failures.json``. Jobs outlive
the plugin and the node until ``sling-deletejob``; running state does not
(``sling-autogo`` starts every job at startup).

How a job works here: on the simulated clock (revops/clock.py's simclock
protocol; without ``REVOPS_SIMCLOCK`` the plugin disables itself), each of
a job's ``paralleljobs`` tasks, when idle, checks the channel against its
``target``, picks the candidate with most to spare (``outppm``,
``candidates``, deplete formula, exceptions), asks ``getroutes`` for the
path between the two peers (a layer ``sling`` with our node disabled),
wraps it into a circular route, and pays an ``invoice`` of its own with
``sendpay`` (with no label, as the real one, which settles its own HTLC
instead of an invoice: its payments show in ``listsendpays`` unlabelled);
it polls ``waitsendpay`` with ``timeout=0`` until the payment
resolves or ``sling-timeoutpay`` passes, records the result and tells
askrene about failures. ``sling-stop`` answers at once (the real one waits
up to ``sling-timeoutpay``: here a task with a payment in flight shows
``Stopping`` until it resolves) so that no caller blocks the simulated
clock.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

VERSION = "v4.1.1-revops-sim"
LAYER = "sling"
POLL_S = 10.0          # while a payment is in flight
IDLE_S = 60.0          # balanced, no candidates, no route: look again later
RETRY_S = 5.0          # after a payment resolved
INVOICE_CLTV = 18
_SCID = re.compile(r"^[0-9]+x[0-9]+x[0-9]+$")
_PUBKEY = re.compile(r"^0[23][0-9a-fA-F]{64}$")


class SlingError(Exception):
    """A command error, as sling words it (``-32600``, like cln-plugin's)."""


class CallError(Exception):
    """An RPC call to lightningd failed."""

    def __init__(self, code: int, message: str, data: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data or {}


RpcCall = Callable[[str, dict[str, Any]], Any]


# -- jobs ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    """sling's ``Job`` (amounts in msat, as sling stores them)."""

    sat_direction: str
    amount_msat: int
    maxppm: int
    outppm: int | None = None
    candidatelist: tuple[str, ...] | None = None
    target: float | None = None
    maxhops: int | None = None
    depleteuptopercent: float | None = None
    depleteuptoamount: int | None = None
    paralleljobs: int | None = None

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        if self.candidatelist is not None:
            out["candidatelist"] = list(self.candidatelist)
        return out

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Job:
        cands = raw.get("candidatelist")
        return cls(raw["sat_direction"], int(raw["amount_msat"]), int(raw["maxppm"]),
                   raw.get("outppm"), tuple(cands) if cands is not None else None,
                   raw.get("target"), raw.get("maxhops"), raw.get("depleteuptopercent"),
                   raw.get("depleteuptoamount"), raw.get("paralleljobs"))


def _uint(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SlingError(what)
    return value


def _float(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SlingError(what)
    return float(value)


def _scid(value: Any, what: str = "invalid string for scid") -> str:
    if not isinstance(value, str):
        raise SlingError(what)
    if not _SCID.match(value):
        raise SlingError(f"Malformed short_channel_id: {value}")
    return value


def parse_job(args: dict[str, Any]) -> tuple[str, Job]:
    """sling's ``parse_job``, with its checks and messages."""
    valid = ("scid", "direction", "amount", "maxppm", "outppm", "target", "maxhops",
             "candidates", "depleteuptopercent", "depleteuptoamount", "paralleljobs")
    for k in args:
        if k not in valid:
            raise SlingError(f"Invalid argument: {k}")
    if "scid" not in args:
        raise SlingError("Missing scid")
    scid = _scid(args["scid"])
    if "direction" not in args:
        raise SlingError("Missing direction")
    direction = args["direction"]
    if direction not in ("pull", "push"):
        raise SlingError("could not parse direction, use pull or push")
    if "amount" not in args:
        raise SlingError("Missing amount")
    amount = _uint(args["amount"], "amount must be a positive integer") * 1000
    if amount == 0:
        raise SlingError("amount must be greater than 0")
    if "maxppm" not in args:
        raise SlingError("Missing maxppm")
    maxppm = _uint(args["maxppm"], "maxppm must be an integer")
    outppm = (None if args.get("outppm") is None
              else _uint(args["outppm"], "outppm must be an integer"))
    target = (None if args.get("target") is None
              else _float(args["target"], "target must be a floating point"))
    if target is not None and not 0.0 <= target <= 1.0:
        raise SlingError("target needs to be between 0 and 1")
    maxhops = (None if args.get("maxhops") is None
               else _uint(args["maxhops"], "maxhops must be an integer"))
    if maxhops is not None and maxhops < 2:
        raise SlingError("maxhops must be atleast 2")
    dpct = (None if args.get("depleteuptopercent") is None
            else _float(args["depleteuptopercent"],
                        "depleteuptopercent must be a floating point"))
    if dpct is not None and not 0.0 <= dpct < 1.0:
        raise SlingError("depleteuptopercent must be between 0.0 and <1.0")
    damt = (None if args.get("depleteuptoamount") is None
            else _uint(args["depleteuptoamount"], "depleteuptoamount must be an integer") * 1000)
    parallel = (None if args.get("paralleljobs") is None
                else _uint(args["paralleljobs"], "paralleljobs must be an integer"))
    if parallel is not None and parallel < 1:
        raise SlingError("paralleljobs must be atleast 1")
    cands = args.get("candidates")
    candidates = None
    if cands is not None:
        if not isinstance(cands, list):
            raise SlingError("Invalid array for candidate list")
        candidates = tuple(_scid(c, "invalid string for channel id in candidate list")
                           for c in cands)
    if outppm is None and candidates is None:
        raise SlingError("Atleast one of outppm and candidatelist need to be set.")
    return scid, Job(direction, amount, maxppm, outppm, candidates, target, maxhops, dpct, damt,
                     parallel)


def parse_once_job(args: dict[str, Any]) -> tuple[str, Job, int]:
    """sling's ``parse_once_job``: ``sling-job``'s parameters without
    ``target``, plus ``onceamount`` (sats, a multiple of ``amount``)."""
    if "target" in args:
        raise SlingError("`target` can not be used with `sling-once`")
    rest = {k: v for k, v in args.items() if k != "onceamount"}
    scid, job = parse_job(rest)
    if "onceamount" not in args:
        raise SlingError("Missing onceamount")
    once = _uint(args["onceamount"], "onceamount must be a positive integer") * 1000
    if once == 0:
        raise SlingError("onceamount must be greater than 0")
    if once % job.amount_msat:
        raise SlingError(f"onceamount must be a multiple of amount. onceamount: {once // 1000}, "
                         f"amount: {job.amount_msat // 1000}")
    return scid, job, once


# -- files -----------------------------------------------------------------------------


class Files:
    """sling's directory: jobs, exceptions, stats (JSON lines)."""

    def __init__(self, lightning_dir: Path) -> None:
        self.dir = Path(lightning_dir) / "sling"
        self.dir.mkdir(parents=True, exist_ok=True)

    def _read(self, name: str, default: Any) -> Any:
        path = self.dir / name
        try:
            return json.loads(path.read_text(encoding="utf-8") or "null") or default
        except FileNotFoundError:
            return default

    def _write(self, name: str, value: Any) -> None:
        tmp = self.dir / (name + ".tmp")
        tmp.write_text(json.dumps(value, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(tmp, self.dir / name)

    def jobs(self) -> dict[str, Job]:
        return {k: Job.from_json(v) for k, v in self._read("jobs.json", {}).items()}

    def save_jobs(self, jobs: dict[str, Job]) -> None:
        self._write("jobs.json", {k: j.to_json() for k, j in sorted(jobs.items())})

    def delete_jobs(self) -> None:
        (self.dir / "jobs.json").unlink(missing_ok=True)

    def excepts(self, peers: bool) -> list[str]:
        return list(self._read("excepts_peers.json" if peers else "excepts.json", []))

    def save_excepts(self, peers: bool, values: list[str]) -> None:
        self._write("excepts_peers.json" if peers else "excepts.json", sorted(values))

    def append_stat(self, scid: str, kind: str, row: dict[str, Any]) -> None:
        with open(self.dir / f"{scid}_{kind}.json", "a", encoding="utf-8") as f:
            f.write(json.dumps(row, sort_keys=True) + "\n")

    def stats(self, scid: str, kind: str) -> list[dict[str, Any]]:
        try:
            text = (self.dir / f"{scid}_{kind}.json").read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def delete_stats(self, scid: str) -> None:
        for kind in ("successes", "failures"):
            (self.dir / f"{scid}_{kind}.json").unlink(missing_ok=True)


# -- tasks -------------------------------------------------------------------------------


@dataclass
class InFlight:
    payment_hash: str
    partner: str
    amount_msat: int
    fee_msat: int
    hops: int
    sent_at: float
    first_scid: str


@dataclass
class Task:
    """One of a job's parallel workers."""

    scid: str
    task_id: int
    state: str = "Starting"
    active: bool = True
    stopping: bool = False
    next_at: float = 0.0
    inflight: InFlight | None = None
    seq: int = 0
    once: bool = False  # a sling-once task: counts against its job's onceamount
    counted: bool = False  # its payment in flight is counted in the once-job's total


@dataclass
class Options:
    maxhops: int = 8
    paralleljobs: int = 1
    timeoutpay: int = 120
    depleteuptopercent: float = 0.2
    depleteuptoamount_msat: int = 2_000_000_000
    max_htlc_count: int = 5
    stats_successes_age_days: int = 30
    stats_failures_age_days: int = 30
    autogo: bool = False


def _when(t: float) -> str:
    return datetime.fromtimestamp(int(t), tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def _fee(amount: int, base: int, ppm: int) -> int:
    return base + amount * ppm // 1_000_000


@dataclass
class Sling:
    """Everything sling does, given an RPC ``call`` and the time."""

    call: RpcCall
    files: Files
    options: Options
    now: float
    our_id: str = ""
    tasks: dict[str, list[Task]] = field(default_factory=dict)
    # sling-once jobs (memory only, as in sling): scid -> (job, onceamount, counted msat)
    once: dict[str, list[Any]] = field(default_factory=dict)
    _aliases: dict[str, str] = field(default_factory=dict)
    _layer_ready: bool = False
    log: Callable[[str], None] = lambda msg: None

    # -- commands ------------------------------------------------------------------

    def cmd_job(self, args: dict[str, Any]) -> dict[str, Any]:
        scid, job = parse_job(args)
        chan = self._channels().get(scid)
        if chan is None or chan["state"] != "CHANNELD_NORMAL":
            raise SlingError(f"Could not find channel or not in CHANNELD_NORMAL state: {scid}")
        for task in self.tasks.get(scid, []):
            task.stopping = True  # stopped and updated in place
        jobs = self.files.jobs()
        jobs[scid] = job
        self.files.save_jobs(jobs)
        return {"result": "success"}

    def cmd_once(self, args: dict[str, Any]) -> dict[str, Any]:
        """``sling-once``: start at once; ends after ``onceamount`` is moved.
        A payment that fails, or that sling stops waiting for after
        ``sling-timeoutpay``, no longer counts, and another is tried (as
        the real one does: the timed-out one may still settle)."""
        scid, job, once = parse_once_job(args)
        chan = self._channels().get(scid)
        if chan is None or chan["state"] != "CHANNELD_NORMAL":
            raise SlingError(f"Could not find channel or not in CHANNELD_NORMAL state: {scid}")
        side = chan["receivable_msat"] if job.sat_direction == "pull" else chan["spendable_msat"]
        if side < once:
            raise SlingError(f"Channel {scid} has not enough capacity to "
                             f"{job.sat_direction} {once}msat")
        if scid in self.files.jobs():
            raise SlingError("There is already a job for that scid!")
        if any(t.active for t in self.tasks.get(scid, [])):
            raise SlingError("There is already a job for that scid running!")
        self.once[scid] = [job, once, 0]
        tasks = self.tasks.setdefault(scid, [])
        tasks[:] = [t for t in tasks if t.active]
        for i in range(1, (job.paralleljobs or self.options.paralleljobs) + 1):
            tasks.append(Task(scid, i, next_at=self.now, once=True))
            self.log(f"{scid}/{i}: Spawning once-job.")
        return {"result": "started"}

    def _uncount(self, task: Task) -> None:
        if task.once and task.counted:
            task.counted = False
            entry = self.once.get(task.scid)
            if entry is not None:
                entry[2] -= entry[0].amount_msat

    def cmd_go(self, scid: str | None) -> dict[str, Any]:
        jobs = self.files.jobs()
        if not jobs:
            raise SlingError("No jobs found")
        if scid is not None:
            _scid(scid)
            jobs = {k: v for k, v in jobs.items() if k == scid}
            if not jobs:
                raise SlingError("Shortchannelid not found in jobs")
        started = 0
        for chan_id, job in sorted(jobs.items()):
            tasks = self.tasks.setdefault(chan_id, [])
            for i in range(1, (job.paralleljobs or self.options.paralleljobs) + 1):
                task = next((t for t in tasks if t.task_id == i), None)
                if task is not None and task.active:
                    continue
                if task is None:
                    tasks.append(Task(chan_id, i, next_at=self.now))
                else:
                    task.state, task.active, task.stopping, task.next_at = \
                        "Starting", True, False, self.now
                started += 1
                self.log(f"{chan_id}/{i}: Spawning job.")
        return {"jobs_started": started}

    def cmd_stop(self, scid: str | None) -> dict[str, Any]:
        if scid is not None:
            _scid(scid)
            if scid not in self.tasks:
                raise SlingError(f"{scid}: No job running")
            chosen = self.tasks[scid]
        else:
            chosen = [t for ts in self.tasks.values() for t in ts]
        for task in chosen:
            self._stop(task)
        return {"stopped_count": len(chosen)}

    def _stop(self, task: Task) -> None:
        if not task.active:
            return
        task.stopping = True
        if task.inflight is None:
            task.active = False
            task.state = "Stopped"
        else:
            task.state = "Stopping"
        self.log(f"{task.scid}/{task.task_id}: Stopping job...")

    def cmd_deletejob(self, job: Any, delete_stats: bool) -> dict[str, Any]:
        if not isinstance(job, str):
            raise SlingError("invalid string for deleting job(s)")
        jobs = self.files.jobs()
        if job == "all":
            self.cmd_stop(None)
            self.files.delete_jobs()
            if delete_stats:
                for scid in jobs:
                    self.files.delete_stats(scid)
            self.log("Deleted all jobs")
        else:
            scid = _scid(job)
            if scid not in jobs:
                raise SlingError(f"{scid}: no job found")
            for task in self.tasks.get(scid, []):
                self._stop(task)
            del jobs[scid]
            self.files.save_jobs(jobs)
            if delete_stats:
                self.files.delete_stats(scid)
        return {"result": "success"}

    def cmd_jobsettings(self, scid: str | None) -> dict[str, Any]:
        jobs = self.files.jobs()
        if scid is None:
            return {k: j.to_json() for k, j in sorted(jobs.items())}
        _scid(scid)
        if scid not in jobs:
            raise SlingError("channel not found")
        return {scid: jobs[scid].to_json()}

    def cmd_except(self, peers: bool, command: Any, value: Any) -> Any:
        what = "node_id" if peers else "short_channel_id"
        current = self.files.excepts(peers)
        if value is None:
            if command == "list":
                return current
            raise SlingError(f"unknown commmand, use `list` or forgot the {what}?")
        if peers:
            if not isinstance(value, str) or not _PUBKEY.match(value):
                raise SlingError(f"invaild node_id: {value}")
        else:
            value = _scid(value, f"not a vaild short_channel_id: {value}")
            if value in self._channels():
                raise SlingError("You can't except your own channels")
        if command == "add":
            if value in current:
                raise SlingError(f"{value} is already in excepts")
            current.append(value)
        elif command == "remove":
            if value not in current:
                raise SlingError(f"{what} {value} not in excepts, nothing to remove")
            current.remove(value)
        else:
            raise SlingError(f"Unknown commmand. Use `add`/`remove` <{what}> or `list`")
        self.files.save_excepts(peers, current)
        return {"result": "success"}

    def cmd_stats(self, scid: str | None, as_json: bool) -> Any:
        if scid is not None:
            _scid(scid)
            return {"successes_in_time_window": self._success_stats(scid),
                    "failures_in_time_window": self._failure_stats(scid)}
        chans = self._channels()
        rows = []
        for job_scid in sorted(self.files.jobs()):
            chan = chans.get(job_scid)
            if chan is None or chan["state"] != "CHANNELD_NORMAL":
                continue
            window = self.now - self.options.stats_successes_age_days * 86400
            oks = [s for s in self.files.stats(job_scid, "successes")
                   if self.options.stats_successes_age_days == 0 or s["completed_at"] >= window]
            fails = self.files.stats(job_scid, "failures")
            total = sum(s["amount_msat"] for s in oks)
            wppm = (sum(s["fee_ppm"] * s["amount_msat"] for s in oks) // total) if total else 0
            last_ok = max((s["completed_at"] for s in oks), default=0)
            last_any = max([last_ok] + [f["created_at"] for f in fails])
            tasks = self.tasks.get(job_scid) or []
            rows.append({"alias": self._alias(chan["peer_id"]), "scid": job_scid,
                         "pubkey": chan["peer_id"],
                         "status": [f"{t.task_id}:{t.state}" for t in tasks] or ["0:NoJob"],
                         "rebamount": total // 1000, "w_feeppm": wppm,
                         "last_route_taken": _when(last_any) if last_any else "Never",
                         "last_success_reb": _when(last_ok) if last_ok else "Never"})
        rows.sort(key=lambda r: r["alias"].lower())
        if as_json:
            return rows
        head = ("alias", "scid", "pubkey", "status", "rebamount", "w_feeppm",
                "last_route_taken", "last_success_reb")
        table = [list(head)]
        for r in rows:
            cells = {**r, "status": " ".join(r["status"]), "rebamount": f"{r['rebamount']:,}"}
            table.append([str(cells[k]) for k in head])
        widths = [max(len(row[i]) for row in table) for i in range(len(head))]
        text = "\n".join(" | ".join(c.ljust(w) for c, w in zip(row, widths)) for row in table)
        return {"format-hint": "simple", "result": text}

    def _success_stats(self, scid: str) -> dict[str, Any] | None:
        age = self.options.stats_successes_age_days
        rows = [s for s in self.files.stats(scid, "successes")
                if age == 0 or s["completed_at"] >= self.now - age * 86400]
        if not rows:
            return None
        total = sum(s["amount_msat"] for s in rows)
        ppms = sorted(s["fee_ppm"] for s in rows)
        partners: dict[str, int] = {}
        hops: dict[int, int] = {}
        for s in rows:
            partners[s["channel_partner"]] = partners.get(s["channel_partner"], 0) \
                + s["amount_msat"] // 1000
            hops[s["hops"]] = hops.get(s["hops"], 0) + 1
        spent = sum(s.get("fee_msat", 0) for s in rows)
        return {
            "time_window_days": str(age) if age else "all",
            "total_amount_sats": total // 1000,
            "feeppm_weighted_avg": sum(s["fee_ppm"] * s["amount_msat"] for s in rows) // total,
            "feeppm_min": ppms[0], "feeppm_max": ppms[-1],
            "feeppm_median": ppms[len(ppms) // 2],
            "feeppm_90th_percentile": ppms[max(0, -(-len(ppms) * 9 // 10) - 1)],
            "top_5_channel_partners": self._partners(partners),
            "most_common_hop_count": max(sorted(hops), key=lambda h: hops[h]),
            "time_of_last_rebalance": _when(max(s["completed_at"] for s in rows)),
            "total_rebalances": len(rows),
            "total_spent_sats": spent // 1000,
            "total_spent_msat": spent,
        }

    def _failure_stats(self, scid: str) -> dict[str, Any] | None:
        age = self.options.stats_failures_age_days
        rows = [f for f in self.files.stats(scid, "failures")
                if age == 0 or f["created_at"] >= self.now - age * 86400]
        if not rows:
            return None
        partners: dict[str, int] = {}
        reasons: dict[str, int] = {}
        nodes: dict[str, int] = {}
        hops: dict[int, int] = {}
        for f in rows:
            partners[f["channel_partner"]] = partners.get(f["channel_partner"], 0) \
                + f["amount_msat"] // 1000
            reasons[f["failure_reason"]] = reasons.get(f["failure_reason"], 0) + 1
            nodes[f["failure_node"]] = nodes.get(f["failure_node"], 0) + 1
            hops[f["hops"]] = hops.get(f["hops"], 0) + 1
        top = sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
        top_nodes = sorted(nodes.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
        return {
            "time_window_days": str(age) if age else "all",
            "total_amount_tried_sats": sum(f["amount_msat"] for f in rows) // 1000,
            "top_5_failure_reasons": [{"failure_reason": r, "failure_count": n}
                                      for r, n in top],
            "top_5_fail_nodes": [{"peer_id": p, "alias": self._alias(p, "NOT_FOUND"),
                                  "count": n} for p, n in top_nodes],
            "top_5_channel_partners": self._partners(partners),
            "most_common_hop_count": max(sorted(hops), key=lambda h: hops[h]),
            "time_of_last_attempt": _when(max(f["created_at"] for f in rows)),
            "total_rebalances_tried": len(rows),
        }

    def _partners(self, sats: dict[str, int]) -> list[dict[str, Any]]:
        chans = self._channels()
        out = []
        for scid, n in sorted(sats.items(), key=lambda kv: (-kv[1], kv[0]))[:5]:
            chan = chans.get(scid)
            alias = self._alias(chan["peer_id"], "ALIAS_NOT_FOUND") if chan else "PEER_NOT_FOUND"
            out.append({"scid": scid, "alias": alias, "sats": n})
        return out

    # -- lookups ------------------------------------------------------------------------

    def _channels(self) -> dict[str, dict[str, Any]]:
        chans = self.call("listpeerchannels", {})["channels"]
        return {c["short_channel_id"]: c for c in chans if c.get("short_channel_id")}

    def _alias(self, node_id: str, missing: str = "NO_ALIAS_SET") -> str:
        if not self._aliases:
            for n in self.call("listnodes", {})["nodes"]:
                if "alias" in n:
                    self._aliases[n["nodeid"]] = n["alias"]
        return self._aliases.get(node_id, missing)

    def _ensure_layer(self) -> None:
        if self._layer_ready:
            return
        listed = self.call("askrene-listlayers", {})["layers"]
        if not any(layer["layer"] == LAYER for layer in listed):
            self.call("askrene-create-layer", {"layer": LAYER})
            self.call("askrene-disable-node", {"layer": LAYER, "node": self.our_id})
        self._layer_ready = True

    # -- the work ------------------------------------------------------------------------

    def start(self) -> None:
        """At init: ``sling-autogo`` starts every saved job."""
        if self.options.autogo and self.files.jobs():
            self.cmd_go(None)

    def tick(self, now: float) -> float | None:
        """Do what is due at ``now``; the next time anything is due."""
        self.now = max(self.now, now)
        jobs = self.files.jobs()
        chans: dict[str, dict[str, Any]] | None = None
        wake: list[float] = []
        for scid, tasks in sorted(self.tasks.items()):
            for task in tasks:
                if not task.active:
                    continue
                if task.inflight is not None:
                    self._poll(task)
                if task.stopping:
                    if task.inflight is None:
                        task.active, task.state = False, "Stopped"
                        self.log(f"{scid}/{task.task_id}: Spawned job exited.")
                    else:
                        wake.append(self.now + POLL_S)
                    continue
                entry = self.once.get(scid) if task.once else None
                job = entry[0] if entry is not None else (None if task.once else jobs.get(scid))
                if job is None:
                    task.active, task.state = False, "Stopped"
                    continue
                if task.inflight is None and task.next_at <= self.now:
                    if entry is not None:
                        if entry[2] + job.amount_msat > entry[1]:
                            self.log(f"{scid}/{task.task_id}: Done rebalancing.")
                            task.active, task.state = False, "Balanced"
                            continue
                        entry[2] += job.amount_msat
                        task.counted = True
                    if chans is None:
                        chans = self._channels()
                    self._attempt(task, job, chans)
                    if task.inflight is not None:
                        chans = None  # balances changed: read them again
                    elif task.once:
                        self._uncount(task)
                        task.next_at = min(task.next_at, self.now + 1.0)
                wake.append(self.now + POLL_S if task.inflight is not None else task.next_at)
        return min(wake) if wake else None

    def _poll(self, task: Task) -> None:
        flight = task.inflight
        assert flight is not None
        try:
            self.call("waitsendpay", {"payment_hash": flight.payment_hash, "timeout": 0})
        except CallError as e:
            if e.code == 200:  # still in flight
                if self.now - flight.sent_at >= self.options.timeoutpay:
                    self.log(f"{task.scid}/{task.task_id}: Rebalance timed out, moving on")
                    task.inflight = None
                    task.next_at = self.now
                    self._uncount(task)
                return
            self._uncount(task)
            reason = e.data.get("failcodename") or f"code {e.code}"
            node = e.data.get("erring_node", self.our_id)
            self.files.append_stat(task.scid, "failures", {
                "amount_msat": flight.amount_msat, "failure_reason": reason,
                "failure_node": node, "channel_partner": flight.partner,
                "hops": flight.hops, "created_at": int(flight.sent_at)})
            chan, direction = e.data.get("erring_channel"), e.data.get("erring_direction")
            if chan and node != self.our_id and direction is not None:
                try:
                    self.call("askrene-inform-channel", {
                        "layer": LAYER, "short_channel_id_dir": f"{chan}/{direction}",
                        "amount_msat": flight.amount_msat, "inform": "constrained"})
                except CallError:
                    pass
            self.log(f"{task.scid}/{task.task_id}: Rebalance failed: {reason} at {node}")
        else:
            task.counted = False  # moved: it stays in the once-job's total
            ppm = flight.fee_msat * 1_000_000 // flight.amount_msat
            self.files.append_stat(task.scid, "successes", {
                "amount_msat": flight.amount_msat, "fee_ppm": ppm, "fee_msat": flight.fee_msat,
                "channel_partner": flight.partner, "hops": flight.hops,
                "completed_at": int(self.now)})
            self.log(f"{task.scid}/{task.task_id}: Rebalance SUCCESSFULL after "
                     f"{int(self.now - flight.sent_at)}s, {flight.amount_msat}msat at {ppm}ppm")
        task.inflight = None
        task.next_at = self.now + RETRY_S

    def _attempt(self, task: Task, job: Job, chans: dict[str, dict[str, Any]]) -> None:
        chan = chans.get(task.scid)
        if chan is None or chan["state"] != "CHANNELD_NORMAL":
            task.state, task.next_at = "ChanNotNormal", self.now + IDLE_S
            return
        total, to_us = chan["total_msat"], chan["to_us_msat"]
        target = job.target if job.target is not None else 0.5
        mine = to_us if job.sat_direction == "pull" else total - to_us
        if not task.once and mine >= target * total:
            if task.state != "Balanced":
                self.log(f"{task.scid}/{task.task_id}: already balanced. Taking a break")
            task.state, task.next_at = "Balanced", self.now + IDLE_S
            return
        if len(chan.get("htlcs", [])) >= self.options.max_htlc_count:
            task.state, task.next_at = "HTLCcapped", self.now + RETRY_S
            return
        candidates = self._candidates(task.scid, chan, job, chans)
        if not candidates:
            task.state, task.next_at = "NoCandidates", self.now + IDLE_S
            return
        self._ensure_layer()
        cheap_missing = False
        for cand in candidates[:3]:
            first, last = (cand, chan) if job.sat_direction == "pull" else (chan, cand)
            route = self._route(first, last, job)
            if route == "expensive":
                cheap_missing = True
                continue
            if route is None:
                continue
            self._pay(task, job, route, cand["short_channel_id"], first["short_channel_id"])
            return
        task.state = "NoCheapRoute" if cheap_missing else "NoRoutes"
        task.next_at = self.now + IDLE_S

    def _candidates(self, scid: str, chan: dict[str, Any], job: Job,
                    chans: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
        excepts = set(self.files.excepts(False))
        peers_out = set(self.files.excepts(True))
        pct = job.depleteuptopercent if job.depleteuptopercent is not None \
            else self.options.depleteuptopercent
        amt = job.depleteuptoamount if job.depleteuptoamount is not None \
            else self.options.depleteuptoamount_msat
        out = []
        for cscid, c in chans.items():
            if cscid == scid or c["state"] != "CHANNELD_NORMAL" or cscid in excepts \
                    or c["peer_id"] in peers_out or c["peer_id"] == chan["peer_id"]:
                continue
            if job.candidatelist is not None and cscid not in job.candidatelist:
                continue
            if job.outppm is not None:
                ours = c["updates"]["local"]
                eff = _fee(job.amount_msat, ours["fee_base_msat"],
                           ours["fee_proportional_millionths"]) * 1_000_000 // job.amount_msat
                if (job.sat_direction == "pull" and eff > job.outppm) or \
                        (job.sat_direction == "push" and eff < job.outppm):
                    continue
            keep = min(int(pct * c["total_msat"]), amt)
            side = c["spendable_msat"] if job.sat_direction == "pull" else c["receivable_msat"]
            if side - job.amount_msat < keep:
                continue
            out.append((side, cscid, c))
        out.sort(key=lambda x: (-x[0], x[1]))
        return [c for _, _, c in out]

    def _route(self, first: dict[str, Any], last: dict[str, Any],
               job: Job) -> list[dict[str, Any]] | str | None:
        """Our hop out, askrene's path between the two peers, our hop back."""
        amount = job.amount_msat
        theirs = last["updates"]["remote"]
        fee_last = _fee(amount, theirs["fee_base_msat"], theirs["fee_proportional_millionths"])
        delta_last = theirs["cltv_expiry_delta"]
        budget = amount * job.maxppm // 1_000_000
        if budget < fee_last:
            return "expensive"
        try:
            found = self.call("getroutes", {
                "source": first["peer_id"], "destination": last["peer_id"],
                "amount_msat": amount + fee_last, "layers": [LAYER],
                "maxfee_msat": budget - fee_last, "final_cltv": INVOICE_CLTV + delta_last,
                "maxparts": 1})
        except CallError as e:
            return "expensive" if "excessive cost" in e.message else None
        path = found["routes"][0]["path"]
        if len(path) + 1 > (job.maxhops or self.options.maxhops):
            return None
        route = [{"id": first["peer_id"], "channel": first["short_channel_id"],
                  "amount_msat": path[0]["amount_in_msat"], "delay": path[0]["cltv_in"]}]
        route += [{"id": h["node_id_out"], "channel": h["short_channel_id_dir"].split("/")[0],
                   "amount_msat": h["amount_out_msat"], "delay": h["cltv_out"]} for h in path]
        route.append({"id": self.our_id, "channel": last["short_channel_id"],
                      "amount_msat": amount, "delay": INVOICE_CLTV})
        return route

    def _pay(self, task: Task, job: Job, route: list[dict[str, Any]], partner: str,
             first_scid: str) -> None:
        while True:
            task.seq += 1
            label = f"sling-{task.scid}-{task.task_id}-{int(self.now)}-{task.seq}"
            try:
                inv = self.call("invoice", {"amount_msat": job.amount_msat, "label": label,
                                            "description": f"sling rebalance {task.scid}",
                                            "cltv": INVOICE_CLTV})
                break
            except CallError as e:
                if e.code != 900:  # a label left by an earlier run: take the next one
                    raise
        fee = route[0]["amount_msat"] - job.amount_msat
        try:
            # The real sling sends with no label (nor invoice: it settles its
            # own HTLC): its payments show in listsendpays unlabelled.
            self.call("sendpay", {"route": route, "payment_hash": inv["payment_hash"],
                                  "payment_secret": inv["payment_secret"]})
        except CallError as e:
            self.log(f"{task.scid}/{task.task_id}: sendpay failed: {e.message}")
            task.state, task.next_at = "Error", self.now + IDLE_S
            return
        task.inflight = InFlight(inv["payment_hash"], partner, job.amount_msat, fee,
                                 len(route) - 1, self.now, first_scid)
        task.state = "Rebalancing"


# -- the pyln plugin ------------------------------------------------------------------------


def main() -> None:
    from pyln.client import Plugin, RpcError, RpcException

    from revops.clock import SIMCLOCK_METHOD, clock_from_env

    plugin = Plugin(dynamic=True)
    clock = clock_from_env()
    state: dict[str, Sling] = {}

    plugin.add_option("sling-maxhops", 8, "Maximum number of hops allowed in a route",
                      opt_type="int")
    plugin.add_option("sling-paralleljobs", 1, "How many routes to take in parallel",
                      opt_type="int")
    plugin.add_option("sling-timeoutpay", 120, "How long to wait for a rebalance to resolve",
                      opt_type="int")
    plugin.add_option("sling-depleteuptopercent", "0.2",
                      "Up to what percent to pull/push sats from/to candidate channels")
    plugin.add_option("sling-depleteuptoamount", 2_000_000,
                      "Up to what amount (sat) to pull/push sats from/to candidates",
                      opt_type="int")
    plugin.add_option("sling-max-htlc-count", 5, "Max pending HTLCs in participating channels",
                      opt_type="int")
    plugin.add_option("sling-stats-delete-successes-age", 30,
                      "Max age of success stats in days (0: keep)", opt_type="int")
    plugin.add_option("sling-stats-delete-failures-age", 30,
                      "Max age of failure stats in days (0: keep)", opt_type="int")
    plugin.add_option("sling-autogo", False, "Start all jobs when sling starts",
                      opt_type="bool")

    def rpc_call(method: str, params: dict[str, Any]) -> Any:
        try:
            return plugin.rpc.call(method, params)
        except RpcError as e:
            err = e.error if isinstance(e.error, dict) else {}
            raise CallError(int(err.get("code", -1)), str(err.get("message", e)),
                            err.get("data")) from None

    def sling() -> Sling:
        s = state["sling"]
        s.now = max(s.now, clock.now())
        return s

    def guarded(fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except SlingError as e:
            raise RpcException(str(e)) from None
        except CallError as e:
            raise RpcException(e.message) from None

    @plugin.init()
    def init(options: dict[str, Any], configuration: dict[str, Any], plugin: Plugin,
             **kwargs: Any) -> Any:
        if not getattr(clock, "driven", False):
            return {"disable": "revops-sim's sling stand-in runs only under revops-sim "
                               "(REVOPS_SIMCLOCK)"}
        try:
            pct = float(options["sling-depleteuptopercent"])
        except ValueError:
            pct = -1.0
        if not 0.0 <= pct < 1.0:
            return {"disable": "sling-depleteuptopercent needs to be greater than 0 and <1"}
        opts = Options(
            maxhops=int(options["sling-maxhops"]), paralleljobs=int(options["sling-paralleljobs"]),
            timeoutpay=int(options["sling-timeoutpay"]), depleteuptopercent=pct,
            depleteuptoamount_msat=int(options["sling-depleteuptoamount"]) * 1000,
            max_htlc_count=int(options["sling-max-htlc-count"]),
            stats_successes_age_days=int(options["sling-stats-delete-successes-age"]),
            stats_failures_age_days=int(options["sling-stats-delete-failures-age"]),
            autogo=bool(options["sling-autogo"]))
        s = Sling(rpc_call, Files(Path(configuration["lightning-dir"])), opts, clock.now(),
                  log=lambda msg: plugin.log(msg, level="info"))
        s.our_id = plugin.rpc.getinfo()["id"]
        state["sling"] = s
        s.start()
        return None

    @plugin.method("sling-version")
    def sling_version(plugin: Plugin) -> dict[str, Any]:
        """Print the version of the plugin."""
        return {"version": VERSION}

    @plugin.method("sling-job")
    def sling_job(plugin: Plugin, **kwargs: Any) -> dict[str, Any]:
        """Add a rebalancing job for a channel (keyword arguments only)."""
        return guarded(lambda: sling().cmd_job(kwargs))

    @plugin.method("sling-once")
    def sling_once(plugin: Plugin, **kwargs: Any) -> dict[str, Any]:
        """Rebalance a channel once, by onceamount (keyword arguments only)."""
        return guarded(lambda: sling().cmd_once(kwargs))

    @plugin.method("sling-go")
    def sling_go(plugin: Plugin, scid: str | None = None) -> dict[str, Any]:
        """Start all jobs that are not already running, or the job of {scid}."""
        return guarded(lambda: sling().cmd_go(scid))

    @plugin.method("sling-stop")
    def sling_stop(plugin: Plugin, scid: str | None = None) -> dict[str, Any]:
        """Stop all running jobs, or the job of {scid}."""
        return guarded(lambda: sling().cmd_stop(scid))

    @plugin.method("sling-deletejob")
    def sling_deletejob(plugin: Plugin, job: Any, delete_stats: bool = False) -> dict[str, Any]:
        """Stop and remove {job} (a scid, or `all`); {delete_stats} too."""
        return guarded(lambda: sling().cmd_deletejob(job, bool(delete_stats)))

    @plugin.method("sling-jobsettings")
    def sling_jobsettings(plugin: Plugin, scid: str | None = None) -> dict[str, Any]:
        """List the settings of all jobs, or of the job of {scid}."""
        return guarded(lambda: sling().cmd_jobsettings(scid))

    @plugin.method("sling-stats")
    def sling_stats(plugin: Plugin, scid: Any = None, json: bool = False) -> Any:
        """Status of all jobs, or detailed stats of the job of {scid}; {json} output."""
        if isinstance(scid, bool):  # ``sling-stats true``
            scid, json = None, scid
        return guarded(lambda: sling().cmd_stats(scid, bool(json)))

    @plugin.method("sling-except-chan")
    def sling_except_chan(plugin: Plugin, command: Any, scid: Any = None) -> Any:
        """Channels all jobs avoid: `list`, or `add`/`remove` {scid}."""
        return guarded(lambda: sling().cmd_except(False, command, scid))

    @plugin.method("sling-except-peer")
    def sling_except_peer(plugin: Plugin, command: Any, id: Any = None) -> Any:
        """Nodes all jobs avoid: `list`, or `add`/`remove` {id}."""
        return guarded(lambda: sling().cmd_except(True, command, id))

    if getattr(clock, "driven", False):
        @plugin.method(SIMCLOCK_METHOD)
        def simclock_advance(plugin: Plugin, now: float) -> dict[str, Any]:
            """revops-sim's clock: run what is due at {now}."""
            clock.advance_to(float(now))
            s = state.get("sling")
            wake = None
            if s is not None:
                try:
                    wake = s.tick(clock.now())
                except CallError as e:
                    plugin.log(f"sling tick: {e.message}", level="warn")
                    wake = clock.now() + IDLE_S
            return {"now": clock.now(), "next_wakeup": wake}

    plugin.run()


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    main()
