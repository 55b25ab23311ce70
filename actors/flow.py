"""FlowCoordinator: keeps the local copy of lightningd's forwards current,
and turns it into flow classes, per-channel P&L, the operator's dashboard
and daily financial snapshots.

Each cycle (``flow-interval``):

1. sync forwards (``revops/flow/sync.py``): new ones (``index=created``
   above the top), status changes (``index=updated``), then history
   backwards, newest first, within ``flow-hydration-rows-per-cycle`` rows,
   so a long history is spread over several cycles (asked for at the next
   advance with ``RunSoon`` while history remains) while the recent
   figures are right from the first; each page is stored with the daily
   bucket changes it makes and its cursor, in one transaction;
2. read the channels (``listpeerchannels``, filtered) and the wallet
   (``listfunds``, filtered), compute every open channel's flow and
   profitability, and tell ``EconomicsUpdate`` to the fee and rebalance
   coordinators;
3. take the day's financial snapshot if it is the first cycle of a UTC
   day, and prune raw forwards past ``flow-retention-days`` once hydrated.

``forward_event`` notifications ask for a quick incremental sync (at most
one queued at a time and one a minute: a burst of events costs one sync);
the cycle's sync is the authority. Commands answer from the same code
after an incremental sync, so what they show is current. Every failure (an RPC error, the
database) is a value in the summary and a log line, never a crash.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import pykka

from actors.coordinator import ASK_TIMEOUT, Coordinator
from actors.messages import (
    Dependencies,
    EconomicsUpdate,
    FeeStateUpdate,
    Notification,
    RunSoon,
)
from revops.channels import (
    CLOSED_STATES,
    LISTPEERCHANNELS_FILTER,
    ChannelFacts,
    parse_channels,
)
from revops.config import ConfigSnapshot
from revops.flow import dashboard, views
from revops.flow import snapshot as snapshots
from revops.flow.buckets import (
    ZERO,
    BucketDelta,
    Totals,
    day_of,
    day_start,
    window_span_days,
    window_start_day,
)
from revops.flow.classes import WINDOWS, ChannelFlow, FlowParams, channel_flow
from revops.flow.forwards import Forward, to_rows
from revops.flow.metrics import FlowMetrics
from revops.flow.profitability import (
    NO_COSTS,
    ChannelProfit,
    Costs,
    ProfitParams,
    channel_profit,
    days_open,
    economics,
)
from revops.flow.sync import (
    Page,
    SyncState,
    advance,
    begin,
    history_page,
    new_page,
    updates_page,
)
from revops.jsonrpc import JSONRPC2_INVALID_PARAMS, JSONRPC2_METHOD_NOT_FOUND, RpcError
from revops.metrics import Metrics
from revops.storage.errors import StorageError

log = logging.getLogger("revops.flow")

RECENT_FORWARDS = 20
# A forward_event asks for a sync at most this often (seconds of the
# clock): a busy node emits several a second, and the cycle is the authority.
EVENT_SYNC_GAP = 60.0


@dataclass(frozen=True)
class SyncSoon:
    """To itself: forwards changed, sync the new ones (coalesced)."""


@dataclass(frozen=True)
class SyncReport:
    new: int = 0
    updates: int = 0
    history: int = 0
    pages: int = 0
    error: str | None = None

    @property
    def rows(self) -> int:
        return self.new + self.updates + self.history


class FlowCoordinator(Coordinator):
    name = "flow"

    def __init__(self, deps: Dependencies, config: ConfigSnapshot, metrics: Metrics,
                 parent: pykka.ActorRef[Any] | None) -> None:
        super().__init__(deps, config, metrics, parent)
        self.fm: FlowMetrics = metrics.flow  # type: ignore[attr-defined]
        self.loaded = False
        self.state = SyncState()
        self.node_created: int | None = None
        self.blockheight: int | None = None
        self.facts: list[ChannelFacts] | None = None
        self.onchain_msat: int | None = None
        self.zombies: frozenset[str] = frozenset()
        self.underwater: dict[str, float] = {}
        self.revenue_all: dict[str, int] = {}
        self.last_now = 0.0  # the latest time given in a message
        self.profits: dict[str, ChannelProfit] = {}
        self.flows: dict[str, ChannelFlow] = {}
        self.last_snapshot_day: int | None = None
        self.last_snapshot_note: str | None = None
        self.last_prune_day: int | None = None
        self.sync_pending = False
        self.last_sync: SyncReport | None = None
        self.last_sync_at: float | None = None
        self.failing: dict[str, str] = {}  # what is failing -> how, as logged
        self.hydration_seconds = 0.0
        self.hydration_rows = 0
        self.commands.update({
            "revenue-dashboard": self.cmd_dashboard,
            "revenue-profitability": self.cmd_profitability,
            "revenue-flow": self.cmd_flow,
            "revenue-report": self.cmd_report,
            "revenue-forwards-sync": self.cmd_forwards_sync,
            "revenue-snapshot": self.cmd_snapshot,
        })

    # -- loading persisted state ----------------------------------------------------------

    def _load(self) -> None:
        """Once per incarnation, from the database (raises StorageError)."""
        if self.loaded:
            return
        store = self.store
        self.state = store.flow_sync_state().get(timeout=ASK_TIMEOUT)
        all_time: dict[str, Totals] = store.flow_all_time().get(timeout=ASK_TIMEOUT)
        costs: Costs = store.channel_cost_totals().get(timeout=ASK_TIMEOUT)
        self.underwater = store.flow_underwater().get(timeout=ASK_TIMEOUT)
        last = store.flow_last_snapshot().get(timeout=ASK_TIMEOUT)
        self.revenue_all = {s: t.fees_msat for s, t in all_time.items() if t.fees_msat}
        self.fm.init_node(all_time, costs)
        self.last_snapshot_day = last.day if last is not None else None
        self.loaded = True

    # -- RPC helpers ----------------------------------------------------------------------------

    def _index(self, name: str) -> int | None:
        """lightningd's current forwards ``created``/``updated`` index."""
        res = self.rpc("wait", {"subsystem": "forwards", "indexname": name, "nextvalue": 0})
        if res.ok:
            self._note_ok("wait")
            value = res.result.get(name) if isinstance(res.result, dict) else None
            return value if type(value) is int else 0
        if res.kind == "error" and res.code == JSONRPC2_METHOD_NOT_FOUND:
            return self._probe_index(name)
        self._note_error("wait", f"wait forwards {name}: {res.kind}: {res.message}")
        return None

    def _probe_index(self, name: str) -> int | None:
        """Without ``wait``: the highest index with a forward, by doubling
        then bisecting one-row pages."""

        def exists(start: int) -> bool | None:
            res = self.rpc("listforwards", {"index": name, "start": start, "limit": 1})
            if not res.ok:
                return None
            return bool(res.result.get("forwards"))

        lo, hi = 0, 1
        while True:
            found = exists(hi)
            if found is None:
                return None
            if not found:
                break
            lo, hi = hi, hi * 2
        while hi - lo > 1:
            mid = (lo + hi) // 2
            found = exists(mid)
            if found is None:
                return None
            lo, hi = (mid, hi) if found else (lo, mid)
        return lo

    def _channels(self) -> list[ChannelFacts] | None:
        res = self.rpc("listpeerchannels", None, LISTPEERCHANNELS_FILTER)
        if not res.ok:
            self._note_error("listpeerchannels", f"listpeerchannels: {res.kind}: {res.message}")
            return None
        self._note_ok("listpeerchannels")
        self.facts = parse_channels(res.result)
        return self.facts

    def _funds(self) -> Mapping[str, Any] | None:
        res = self.rpc("listfunds", None, snapshots.LISTFUNDS_FILTER)
        if not res.ok:
            self._note_error("listfunds", f"listfunds: {res.kind}: {res.message}")
            return None
        self._note_ok("listfunds")
        onchain = snapshots.onchain_msat(res.result)
        if onchain is not None:
            self.onchain_msat = onchain
            self.fm.onchain.set(onchain)
        return res.result

    def _blockheight(self) -> int | None:
        if self.blockheight is None:
            res = self.rpc("getinfo")
            if res.ok and type(res.result.get("blockheight")) is int:
                self.blockheight = res.result["blockheight"]
        return self.blockheight

    def _note_error(self, kind: str, what: str) -> None:
        """Log a failure when it starts (or changes), not every cycle it lasts."""
        if self.failing.get(kind) != what:
            log.warning("flow: %s", what)
            self.failing[kind] = what

    def _note_ok(self, kind: str) -> None:
        if self.failing.pop(kind, None) is not None:
            log.info("flow: %s works again", kind)

    # -- forwards sync ---------------------------------------------------------------------------

    def _sync(self, now: float, config: ConfigSnapshot, history: bool) -> SyncReport:
        """New forwards, status changes, then (with ``history``) older ones,
        within the per-cycle row budget."""
        page_size = int(config["flow-page-size"])
        budget = int(config["flow-hydration-rows-per-cycle"])
        state = self.state
        if not state.begun:
            created, updated = self._index("created"), self._index("updated")
            if created is None or updated is None:
                return SyncReport(error="could not read lightningd's forwards indexes")
            self.node_created = created
            state = begin(created, updated, now)
            self.store.flow_save_state(state).get(timeout=ASK_TIMEOUT)
            self.state = state
            log.info("forwards history: %d forwards to hydrate, newest first", created)
        # Pages are written one at a time, each before the next is fetched:
        # with a write in flight while the next page is parsed, both threads
        # fight for the GIL (sqlite releases it at every row) and it is slower.
        committed = state
        counts = {"new": 0, "updates": 0, "history": 0}
        pages = 0
        error: str | None = None
        hist_start: float | None = None
        try:
            for phase in ("new", "updates", "history"):
                if phase == "history" and not history:
                    break
                while budget > 0:
                    size = min(page_size, budget)
                    page: Page | None
                    if phase == "new":
                        page = new_page(state, size)
                    elif phase == "updates":
                        page = updates_page(state, size)
                    else:
                        page = history_page(state, size)
                        if page is None:
                            break
                        if hist_start is None:
                            hist_start = time.monotonic()
                    res = self.rpc("listforwards", page.params())
                    if not res.ok:
                        error = f"listforwards {page.index} from {page.start}: {res.kind}: " \
                                f"{res.message}"
                        break
                    entries = res.result.get("forwards") or []
                    after = advance(state, page, entries, now)
                    if after == state and phase != "history":
                        break  # nothing usable came back: caught up
                    delta = self.store.flow_store_page(to_rows(entries), after).get(
                        timeout=ASK_TIMEOUT)
                    state = committed = after
                    self._apply(delta)
                    pages += 1
                    counts[phase] += len(entries)
                    budget -= max(1, len(entries))
                    if phase != "history" and len(entries) < page.limit:
                        break
                if error is not None:
                    break
        except StorageError as e:
            error = f"storage: {e}"
        finally:
            # Whatever was committed is the truth, even after an error.
            self.state = committed
        if hist_start is not None:
            self.hydration_seconds += time.monotonic() - hist_start
            self.hydration_rows += counts["history"]
        if self.state.hydrated_at and counts["history"]:
            log.info("forwards history hydrated: %d forwards in %.1f s of sync work",
                     self.state.target, self.hydration_seconds)
        if error is not None:
            self._note_error("sync", error)
        else:
            self._note_ok("sync")
        report = SyncReport(counts["new"], counts["updates"], counts["history"], pages, error)
        self.last_sync, self.last_sync_at = report, now
        if report.new and (self.node_created is None or self.state.created > self.node_created):
            self.node_created = self.state.created
        self.fm.sync_lag.set(self.state.lag(self.node_created))
        self.fm.hydrated.set(0 if self.state.hydrating else 1)
        return report

    def _apply(self, delta: BucketDelta) -> None:
        if delta.empty:
            return
        self.fm.add(delta)
        for scid, fees in delta.fees_msat.items():
            self.revenue_all[scid] = self.revenue_all.get(scid, 0) + fees

    def _costs(self) -> Costs:
        """Every cost recorded so far (the rebalancer records them directly);
        the counters grow by what is new."""
        total: Costs = self.store.channel_cost_totals().get(timeout=ASK_TIMEOUT)
        self.fm.set_costs(total)
        return total

    # -- analysis ------------------------------------------------------------------------------

    def _analyse(self, now: float, config: ConfigSnapshot,
                 facts: list[ChannelFacts]) -> tuple[dict[str, ChannelProfit],
                                                     dict[str, ChannelFlow]]:
        """Flow and profitability of every active channel."""
        fparams, pparams = FlowParams.from_config(config), ProfitParams.from_config(config)
        starts = {n: window_start_day(now, n) for n in WINDOWS}
        spans = {n: window_span_days(now, n) for n in WINDOWS}
        totals: dict[int, dict[str, Totals]] = self.store.flow_window_totals(
            [starts[n] for n in WINDOWS]).get(timeout=ASK_TIMEOUT)
        costs30: dict[str, Costs] = self.store.channel_costs(
            day_start(starts[30])).get(timeout=ASK_TIMEOUT)
        costs_all: dict[str, Costs] = self.store.channel_costs(None).get(timeout=ASK_TIMEOUT)
        height = self._blockheight()
        profits: dict[str, ChannelProfit] = {}
        flows: dict[str, ChannelFlow] = {}
        for c in facts:
            if not c.active:
                continue
            windows = {n: totals[starts[n]].get(c.scid, ZERO) for n in WINDOWS}
            flows[c.scid] = channel_flow(c.scid, windows, spans, fparams)
            profits[c.scid] = channel_profit(
                c.scid, capacity_msat=c.capacity_msat, local_msat=c.local_msat,
                age_days=days_open(c.scid, height), window=windows[30],
                window_costs=costs30.get(c.scid, NO_COSTS), span_days=spans[30],
                revenue_total_msat=self.revenue_all.get(c.scid, 0),
                costs_total=costs_all.get(c.scid, NO_COSTS), zombie=c.scid in self.zombies,
                underwater_since=self.underwater.get(c.scid), now=now, params=pparams)
        changes = {s: p.underwater_since for s, p in profits.items()
                   if p.underwater_since != self.underwater.get(s)}
        changes.update({s: None for s in self.underwater if s not in profits})
        if changes:
            self.store.flow_set_underwater(changes, now).get(timeout=ASK_TIMEOUT)
            for s, since in changes.items():
                if since is None:
                    self.underwater.pop(s, None)
                else:
                    self.underwater[s] = since
        return profits, flows

    def _track_channels(self, facts: list[ChannelFacts]) -> None:
        """Per-channel series for open channels; gone for closed ones."""
        open_now = {c.scid for c in facts if c.active}
        for scid in self.fm.tracked() - open_now:
            self.fm.forget_channel(scid)
        new = open_now - self.fm.tracked()
        if new:
            all_time: dict[str, Totals] = self.store.flow_all_time().get(timeout=ASK_TIMEOUT)
            for scid in sorted(new):
                self.fm.track_channel(scid, all_time.get(scid))
        b = snapshots.balances(facts)
        self.fm.local_balance.set(b.local_msat)
        self.fm.capacity.set(b.capacity_msat)

    def _tell_peers(self, now: float) -> None:
        econ = {s: economics(p, self.flows.get(s)) for s, p in self.profits.items()}
        msg = EconomicsUpdate(now, econ, dict(self.flows))
        for name in ("fee", "rebalance"):
            ref = self.peer(name)
            if ref is not None:
                try:
                    ref.tell(msg)
                except pykka.ActorDeadError:
                    pass

    # -- snapshots and retention -------------------------------------------------------------------

    def _snapshot(self, now: float, trigger: str, facts: list[ChannelFacts] | None,
                  funds: Mapping[str, Any] | None) -> snapshots.Snapshot | str:
        costs = self._costs()
        taken = snapshots.take(now, trigger, facts, funds, sum(self.revenue_all.values()),
                               costs.total_msat, complete=not self.state.hydrating)
        if isinstance(taken, str):
            log.warning("financial snapshot skipped: %s", taken)
            self.last_snapshot_note = f"{now}: {taken}"
            return taken
        self.store.flow_add_snapshot(taken).get(timeout=ASK_TIMEOUT)
        self.last_snapshot_day = taken.day
        return taken

    def _prune(self, now: float, config: ConfigSnapshot) -> int:
        today = day_of(now)
        if self.state.hydrating or self.last_prune_day == today:
            return 0
        cutoff = today - int(config["flow-retention-days"])
        if cutoff <= self.state.raw_from_day:
            self.last_prune_day = today
            return 0
        state = replace(self.state, raw_from_day=cutoff)
        deleted = self.store.flow_prune(cutoff, state).get(timeout=ASK_TIMEOUT)
        self.state = state
        self.last_prune_day = today
        if deleted:
            log.info("pruned %d raw forwards older than %d days (daily aggregates kept)",
                     deleted, int(config["flow-retention-days"]))
        return deleted

    # -- the cycle -----------------------------------------------------------------------------------

    def cycle(self, now: float, config: ConfigSnapshot, forced: bool) -> Mapping[str, Any]:
        self.last_now = max(self.last_now, now)
        try:
            self._load()
        except StorageError as e:
            self._note_error("storage", f"storage: {e}")
            return {"skipped": f"storage: {e}"}
        top = self._index("created") if self.state.begun else None
        if top is not None:
            self.node_created = top
            if top < self.state.created:
                self._note_error("index", f"lightningd's forwards created_index ({top}) is "
                                 f"behind revops' copy ({self.state.created}): was its "
                                 "database replaced?")
            else:
                self._note_ok("index")
        report = self._sync(now, config, history=True)
        if report.error is None and report.rows >= int(config["flow-hydration-rows-per-cycle"]):
            # Budget spent, so more may be waiting (history, or a backlog):
            # the next cycle comes at the next advance, not a flow-interval later.
            self.tell_parent(RunSoon(self.name, "forwards left to sync"))
        summary: dict[str, Any] = {"forwards_new": report.new, "forwards_updated": report.updates,
                                   "history_rows": report.history,
                                   "hydrating": self.state.hydrating,
                                   "sync_lag": self.state.lag(self.node_created)}
        if report.error:
            summary["sync_error"] = report.error
        try:
            facts = self._channels()
            funds = self._funds()
            if facts is not None:
                self._track_channels(facts)
                self.profits, self.flows = self._analyse(now, config, facts)
                self.fm.set_classes({s: p.klass for s, p in self.profits.items()},
                                    {s: f.class_30d for s, f in self.flows.items()})
                self._tell_peers(now)
                summary["channels"] = len(self.profits)
                summary["revenue_30d_msat"] = sum(p.revenue_msat for p in self.profits.values())
            else:
                summary["skipped_analysis"] = "listpeerchannels did not answer"
            if self.last_snapshot_day != day_of(now):
                taken = self._snapshot(now, "daily", facts, funds)
                summary["snapshot"] = "taken" if not isinstance(taken, str) else f"skipped: {taken}"
            else:
                self._costs()
            pruned = self._prune(now, config)
            if pruned:
                summary["pruned"] = pruned
        except StorageError as e:
            self._note_error("storage", f"storage: {e}")
            summary["error"] = f"storage: {e}"
        return summary

    # -- messages ---------------------------------------------------------------------------------------

    def on_notification(self, note: Notification) -> None:
        self.last_now = max(self.last_now, note.now)
        payload = note.payload
        if note.topic == "forward_event":
            recent = self.last_sync_at is not None and note.now - self.last_sync_at < EVENT_SYNC_GAP
            if not self.sync_pending and not recent and self.loaded and self.state.begun:
                self.sync_pending = True
                self.actor_ref.tell(SyncSoon())
        elif note.topic == "block_added":
            height = payload.get("height")
            if type(height) is int:
                self.blockheight = height
        elif note.topic == "channel_state_changed":
            scid = payload.get("short_channel_id")
            if scid and payload.get("new_state") in CLOSED_STATES:
                self.fm.forget_channel(scid)

    def handle(self, message: Any) -> Any:
        if isinstance(message, SyncSoon):
            self.sync_pending = False
            self._sync(self.last_now, self.config, history=False)
            return None
        if isinstance(message, FeeStateUpdate):
            self.zombies = frozenset(message.zombies)
            return None
        return super().handle(message)

    # -- commands -----------------------------------------------------------------------------------------

    def _fresh(self, now: float) -> None:
        """Before answering: stored state loaded and new forwards synced."""
        try:
            self._load()
        except StorageError as e:
            raise RpcError(-1, f"revops database unavailable: {e}") from None
        self.last_now = max(self.last_now, now)
        self._sync(now, self.config, history=False)

    def _analysed(self, now: float) -> tuple[list[ChannelFacts] | None, list[str]]:
        notes: list[str] = []
        facts = self._channels()
        if facts is None:
            facts = self.facts
            if facts is not None:
                notes.append("listpeerchannels did not answer: channels as of the last cycle")
        if facts is not None:
            self.profits, self.flows = self._analyse(now, self.config, facts)
        return facts, notes

    def _channel_param(self, scid: str | None) -> str | None:
        if scid is None:
            return None
        if scid in self.profits or any(c.scid == scid for c in self.facts or ()):
            return scid
        if self.store.flow_known_channel(scid).get(timeout=ASK_TIMEOUT):
            return scid
        raise RpcError(JSONRPC2_INVALID_PARAMS,
                       f"channel: should be the short_channel_id of one of our channels (open, "
                       f"or seen in forwards): invalid token '{scid}'")

    def _sync_view(self) -> dashboard.SyncView:
        return dashboard.SyncView(self.state.hydrating, self.state.hydrated_rows, self.state.target,
                                  self.state.lag(self.node_created),
                                  self.last_sync.error if self.last_sync else None)

    def cmd_dashboard(self, params: Mapping[str, Any], now: float) -> dict[str, Any]:
        self._fresh(now)
        window_days = int(params["window_days"])
        facts, notes = self._analysed(now)
        funds = self._funds()
        start = window_start_day(now, window_days)
        window = self.store.flow_window_totals([start]).get(timeout=ASK_TIMEOUT)[start]
        costs = self.store.channel_costs(day_start(start)).get(timeout=ASK_TIMEOUT)
        return dashboard.build(
            now=now, window_days=window_days, span_days=window_span_days(now, window_days),
            channels=facts, window=window, window_costs=costs, profits=self.profits,
            flows=self.flows, onchain_msat=snapshots.onchain_msat(funds), sync=self._sync_view(),
            notes=notes)

    def cmd_profitability(self, params: Mapping[str, Any], now: float) -> dict[str, Any]:
        self._fresh(now)
        facts, notes = self._analysed(now)
        scid = self._channel_param(params.get("channel"))
        peers = {c.scid: c.peer_id for c in facts or ()}
        rows = []
        for s in sorted(self.profits) if scid is None else [scid]:
            p = self.profits.get(s)
            if p is None:
                rows.append(self._closed_channel_profit(s, now))
                continue
            rows.append({**p.as_dict(), "peer_id": peers.get(s), "open": True,
                         "flow_class_30d": self.flows[s].class_30d if s in self.flows else None})
        out: dict[str, Any] = {"channels": rows, "params": {"min_roi": self.config["flow-min-roi"]}}
        if scid is None:
            out["bleeders"] = sorted(s for s, p in self.profits.items() if p.bleeder)
            out["node"] = views.node_roc(self.profits.values())
        if notes:
            out["warnings"] = notes
        return out

    def _closed_channel_profit(self, scid: str, now: float) -> dict[str, Any]:
        start = window_start_day(now, 30)
        window = self.store.flow_window_totals([start]).get(timeout=ASK_TIMEOUT)[start]
        costs = self.store.channel_costs(day_start(start)).get(timeout=ASK_TIMEOUT)
        all_costs = self.store.channel_costs(None).get(timeout=ASK_TIMEOUT)
        return views.closed_channel(scid, window.get(scid, ZERO), costs.get(scid, NO_COSTS),
                                    all_costs.get(scid, NO_COSTS), self.revenue_all.get(scid, 0))

    def cmd_flow(self, params: Mapping[str, Any], now: float) -> dict[str, Any]:
        self._fresh(now)
        _, notes = self._analysed(now)
        scid = self._channel_param(params.get("channel"))
        if scid is None:
            out: dict[str, Any] = {"channels": [self.flows[s].as_dict() for s in sorted(self.flows)]}
        else:
            f = self.flows.get(scid)
            if f is None:  # closed: its figures without a class
                start = {n: window_start_day(now, n) for n in WINDOWS}
                totals = self.store.flow_window_totals(list(start.values())).get(
                    timeout=ASK_TIMEOUT)
                f = channel_flow(scid, {n: totals[start[n]].get(scid, ZERO) for n in WINDOWS},
                                 {n: window_span_days(now, n) for n in WINDOWS},
                                 FlowParams.from_config(self.config))
            buckets = self.store.flow_channel_buckets(scid, window_start_day(now, 30)).get(
                timeout=ASK_TIMEOUT)
            recent: list[Forward] = self.store.flow_recent_forwards(scid, RECENT_FORWARDS).get(
                timeout=ASK_TIMEOUT)
            out = {"channel": {**f.as_dict(), "open": scid in self.flows},
                   "daily": [{"day": views.iso_day(b.day), **b.totals.as_dict()}
                             for b in buckets],
                   "recent_forwards": [views.forward_json(fw, scid) for fw in recent]}
        if notes:
            out["warnings"] = notes
        return out

    def cmd_report(self, params: Mapping[str, Any], now: float) -> dict[str, Any]:
        try:
            self._load()
        except StorageError as e:
            raise RpcError(-1, f"revops database unavailable: {e}") from None
        days = int(params["days"])
        snaps = self.store.flow_snapshots(now - days * 86400.0).get(timeout=ASK_TIMEOUT)
        out = snapshots.report(snaps, days)
        if self.last_snapshot_note:
            out["last_skipped"] = self.last_snapshot_note
        return out

    def cmd_forwards_sync(self, params: Mapping[str, Any], now: float) -> dict[str, Any]:
        self._fresh(now)
        top = self._index("created")
        if top is not None:
            self.node_created = top
            self.fm.sync_lag.set(self.state.lag(top))
        stored = self.store.flow_forward_count().get(timeout=ASK_TIMEOUT)
        last = None
        if self.last_sync is not None:
            last = {"at": self.last_sync_at, "new": self.last_sync.new,
                    "updated": self.last_sync.updates, "history": self.last_sync.history,
                    "pages": self.last_sync.pages}
            if self.last_sync.error:
                last["error"] = self.last_sync.error
        return views.sync_status(
            self.state, node_created=self.node_created, stored=stored,
            retention_days=int(self.config["flow-retention-days"]),
            page_size=int(self.config["flow-page-size"]),
            rows_per_cycle=int(self.config["flow-hydration-rows-per-cycle"]),
            sync_seconds=self.hydration_seconds, synced_rows=self.hydration_rows,
            last_sync=last)

    def cmd_snapshot(self, params: Mapping[str, Any], now: float) -> dict[str, Any]:
        self._fresh(now)
        facts = self._channels()
        funds = self._funds()
        taken = self._snapshot(now, "manual", facts, funds)
        if isinstance(taken, str):
            raise RpcError(-1, f"snapshot not taken: {taken}")
        return {"snapshot": taken.as_dict()}
