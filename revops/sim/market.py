"""The market behind revops-sim: channels, payment demand, HTLCs, the ledger.

One :class:`Market` is the whole simulated world of one node on a simulated
clock (``Market.now``, UNIX seconds; nothing here reads wall time). The host
(``revops/sim`` server) calls :meth:`Market.advance` in steps, delivers the
notifications it returns, and serves RPC between steps; RPC methods
(``market_rpc.py``) read and change the market through its methods. It is
single-threaded by design: the host is one asyncio thread.

The model, and where it follows lightningd v26.06:

- Demand: each scenario flow (in channel -> out channel) is a Poisson stream
  of payment attempts with its own seeded RNG stream, so changing one
  channel's fee does not reshuffle the randomness of unrelated flows. An
  attempt routes through us only if the fee the sender sees for the out
  channel (our gossip, ``gossip_delay_s`` old) is at or below the sender's
  alternative route; otherwise we never hear of it (price elasticity).
  The incoming peer must also have the liquidity and an HTLC slot to send.
- Fees are BOLT 7 / CLN ``amount_msat_fee``: ``base + out_msat * ppm //
  1_000_000`` on the outgoing channel's policy; ``in_msat = out_msat + fee``.
- A forward that cannot be offered is inserted directly as ``local_failed``
  (as lightningd does when it fails before an outgoing HTLC exists): 4103
  WIRE_TEMPORARY_CHANNEL_FAILURE for missing spendable outbound (reserve
  kept) or no free HTLC slot (ours + background load >= max_accepted_htlcs),
  4108 WIRE_FEE_INSUFFICIENT when a stale sender pays a fee no longer
  accepted (``setchannel`` ``enforcedelay``: after an increase the previous
  fee stays accepted until ``now + enforcedelay``), 16394
  WIRE_UNKNOWN_NEXT_PEER when the out channel is closing. Otherwise it is
  ``offered`` (forward_event, ``created_index``), then after a short hold
  ``settled`` (balances move, fee earned) or ``failed`` downstream (no
  failcode: lightningd cannot read the downstream onion), which bumps
  ``updated_index`` and emits forward_event again. ``local_failed`` rows
  have no ``out_msat``/``fee_msat``/``resolved_time`` and never get an
  ``updated_index``, exactly as in CLN's wallet.
- ``htlc_accepted``: while a plugin has the hook (the host sets
  ``htlc_hooked``), every HTLC lightningd accepts (one to forward, before
  any forwarding check, or one paying our invoice) is *held*: it stays in
  flight on its channel, ``advance`` returns at that instant, and the host
  runs the hook chain (hook_runner.py) and calls :meth:`Market.release`
  with the verdict: ``continue`` forwards it as above (through the
  ``forward_to`` the chain chose), ``fail`` fails it back with no
  ``listforwards`` row (lightningd records none; the ledger counts it per
  failure code), ``resolve`` settles it. No simulated time passes while a
  prompt chain runs, so every ``continue`` gives exactly the run with no hook.
- Channels close as CLN's do: CHANNELD_NORMAL -> CHANNELD_SHUTTING_DOWN ->
  CLOSINGD_SIGEXCHANGE -> CLOSINGD_COMPLETE -> (next block) FUNDING_SPEND_SEEN
  -> ONCHAIN, and 100 blocks later -> CLOSED (``channel_state_changed``),
  when the channel leaves listpeerchannels. Shutdown broadcasts a disabling
  channel_update, so senders stop trying once gossip catches up. Channels
  open as CHANNELD_AWAITING_LOCKIN (scid at the first confirmation) ->
  CHANNELD_NORMAL at 3 confirmations (CLN's default ``funding-confirms``).
- Blocks every 600 s (``block_added``); fee rates follow the scenario series.
- Forwards are stored column-wise in ``array``s (about 80 bytes each), so a
  million historical forwards fit in ~100 MB and page in O(page).
- Our own payments (circular rebalances, probes), invoices and askrene's
  layers live in ``market.payments`` (payments.py): they resolve in
  ``advance`` through :meth:`Market.schedule` and move our channels'
  balances; the ledger counts their fees as ``rebalance_cost_msat`` (per
  destination channel too) and ``net_msat = revenue - rebalance cost``.

Seam with the host (fixed): ``Market(scenario, seed)``, ``now``, ``node_id``,
``alias``, ``color``, ``network``, ``blockheight``, ``advance(until)``,
``rpc_fault(method)``, ``report()``; with payments.py: ``schedule(t, fn,
*args)``, ``emit(topic, payload)``, ``payments``.
"""

from __future__ import annotations

import functools
import hashlib
import heapq
import itertools
import math
import random
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from revops.sim.coin_moves import HRP, WALLET, ChannelMove, CoinMoves, notification
from revops.sim.htlc_hook import HeldHtlc, OnionPayload, Verdict, encode_payload
from revops.sim.jsonrpc import RpcError
from revops.sim.scenario import DAY, ChannelSpec, Fault, Flow, Scenario, derive_pubkey

# Forward statuses, in CLN's wallet numbering.
OFFERED, SETTLED, FAILED, LOCAL_FAILED = 0, 1, 2, 3
STATUS_NAMES = {OFFERED: "offered", SETTLED: "settled", FAILED: "failed",
                LOCAL_FAILED: "local_failed"}
STATUS_BY_NAME = {v: k for k, v in STATUS_NAMES.items()}

WIRE_TEMPORARY_CHANNEL_FAILURE = 0x1007  # 4103
WIRE_FEE_INSUFFICIENT = 0x100C  # 4108
WIRE_INCORRECT_CLTV_EXPIRY = 0x100D  # 4109
WIRE_UNKNOWN_NEXT_PEER = 0x400A  # 16394
FAILREASONS = {WIRE_TEMPORARY_CHANNEL_FAILURE: "WIRE_TEMPORARY_CHANNEL_FAILURE",
               WIRE_FEE_INSUFFICIENT: "WIRE_FEE_INSUFFICIENT",
               WIRE_INCORRECT_CLTV_EXPIRY: "WIRE_INCORRECT_CLTV_EXPIRY",
               WIRE_UNKNOWN_NEXT_PEER: "WIRE_UNKNOWN_NEXT_PEER"}

BLOCK_INTERVAL_S = 600.0
FUNDING_CONFIRMS = 3  # CLN's default funding-confirms
ANNOUNCE_CONFIRMS = 6
FORGET_BLOCKS = 100  # onchaind forgets a resolved channel 100 blocks deep
GOSSIP_FORGET_BLOCKS = 12  # gossipd keeps a spent channel 12 blocks (splices)
CLOSE_STEP_S = 5.0
OUR_CLTV_DELTA = 34  # CLN's default cltv-delta
MUTUAL_CLOSE_WEIGHT = 673  # lightningd's estimate for a mutual close transaction
MAX_U64 = 0xFFFFFFFFFFFFFFFF
DUST_LIMIT_MSAT = 546_000
TO_SELF_DELAY = 144

NORMAL = "CHANNELD_NORMAL"
AWAITING_LOCKIN = "CHANNELD_AWAITING_LOCKIN"
SHUTTING_DOWN = "CHANNELD_SHUTTING_DOWN"
SIGEXCHANGE = "CLOSINGD_SIGEXCHANGE"
CLOSING_COMPLETE = "CLOSINGD_COMPLETE"
SPEND_SEEN = "FUNDING_SPEND_SEEN"
ONCHAIN = "ONCHAIN"
CLOSED = "CLOSED"
CLOSING_STATES = (SHUTTING_DOWN, SIGEXCHANGE, CLOSING_COMPLETE, SPEND_SEEN, ONCHAIN)

STATUS_TEXT = {
    AWAITING_LOCKIN: "Funding transaction locked. Waiting for their announcement signatures.",
    NORMAL: "Channel ready for use.",
    SHUTTING_DOWN: "Start shutdown: waiting for HTLCs to resolve",
    SIGEXCHANGE: "Negotiating closing fee",
    CLOSING_COMPLETE: "Closing complete",
    SPEND_SEEN: "Funding transaction spent",
    ONCHAIN: "All outputs resolved: waiting 100 more blocks before forgetting channel",
}


def fee_msat(amount_msat: int, base_msat: int, ppm: int) -> int:
    """CLN's ``amount_msat_fee``: BOLT 7 fee on the amount to forward,
    proportional part rounded down."""
    return base_msat + amount_msat * ppm // 1_000_000


def iso_time(t: float) -> str:
    """CLN's state-change timestamp format (``2025-01-27T17:46:40.000Z``)."""
    whole = math.floor(t)
    ms = min(999, int((t - whole) * 1000))
    stamp = datetime.fromtimestamp(whole, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{ms:03d}Z"


def _hex(*parts: object) -> str:
    return hashlib.sha256(":".join(str(p) for p in parts).encode()).hexdigest()


@dataclass(frozen=True)
class Policy:
    """One channel_update of ours as senders see it through gossip."""

    since: float
    base_msat: int
    ppm: int
    enabled: bool


class Channel:
    """One of our channels: balances, policy, HTLCs in flight, counters.

    Mutable state owned by the :class:`Market` (single-threaded)."""

    def __init__(self, idx: int, spec: ChannelSpec, market_seed_tag: str) -> None:
        self.idx = idx
        self.spec = spec
        self.name = spec.name
        self.peer_id = spec.peer_id
        self.peer_alias = spec.peer_alias
        self.capacity_msat = spec.capacity_sat * 1000
        self.to_us_msat = spec.local_sat * 1000
        self.min_to_us_msat = self.to_us_msat
        self.max_to_us_msat = self.to_us_msat
        self.reserve_msat = max(DUST_LIMIT_MSAT, (self.capacity_msat // 100) // 1000 * 1000)
        self.funding_txid = _hex("funding", market_seed_tag, spec.name)
        self.funding_outnum = int(self.funding_txid[-1], 16) % 2
        # BOLT 2 channel_id: funding txid (internal byte order) xor output index.
        txid_le = bytes.fromhex(self.funding_txid)[::-1]
        cid = bytearray(txid_le)
        cid[-1] ^= self.funding_outnum
        self.channel_id = cid.hex()
        self.scid: str | None = None
        self.alias_local = f"{(int(self.funding_txid[:6], 16) % 9_000_000) + 1_000_000}x" \
                           f"{int(self.funding_txid[6:12], 16) % 9_000_000}x{int(self.funding_txid[12:16], 16)}"
        self.alias_remote = f"{(int(self.funding_txid[16:22], 16) % 9_000_000) + 1_000_000}x" \
                            f"{int(self.funding_txid[22:28], 16) % 9_000_000}x{int(self.funding_txid[28:32], 16)}"
        self.state = "OPENINGD"
        self.state_changes: list[dict[str, Any]] = []
        self.closer: str | None = None
        self.funding_height: int | None = None
        self.spend_height: int | None = None
        self.gossip_visible = False
        # Our policy (setchannel) and the previous one (enforcedelay).
        self.fee_base = spec.fee_base_msat
        self.fee_ppm = spec.fee_ppm
        self.peer_htlc_min_msat = 1000 if int(self.funding_txid[1], 16) % 2 else 0
        self.htlc_min_msat = self.peer_htlc_min_msat
        self.htlc_max_msat = self.max_possible_send_msat()
        self.ignore_fee_limits = False
        self.old_fee_base = self.fee_base
        self.old_fee_ppm = self.fee_ppm
        self.old_until = -math.inf
        self.last_update = 0
        self.gossip: list[Policy] = []
        # HTLCs in flight: htlc id -> (amount_msat, payment_hash, expiry)
        self.htlcs_in: dict[int, tuple[int, str, int]] = {}
        self.htlcs_out: dict[int, tuple[int, str, int]] = {}
        self.in_flight_in_msat = 0
        self.in_flight_out_msat = 0
        self.next_in_htlc = 0
        self.next_out_htlc = 0
        # listpeerchannels counters.
        self.in_offered = self.in_offered_msat = self.in_fulfilled = self.in_fulfilled_msat = 0
        self.out_offered = self.out_offered_msat = self.out_fulfilled = self.out_fulfilled_msat = 0
        # The sim's ledger for this channel (run only, not history).
        self.revenue_msat = 0
        self.fee_updates = 0
        self.settled_out = 0
        self.settled_in = 0
        self.volume_out_msat = 0
        self.volume_in_msat = 0
        self.local_failed_out = 0
        self.failed_out = 0
        self.hook_failed_out = 0  # failed by the htlc_accepted hook (no forward row)
        # Our own circular payments (rebalances), see payments.py.
        self.rebalanced_in_msat = 0
        self.rebalanced_out_msat = 0
        self.rebalance_cost_msat = 0

    # -- liquidity -----------------------------------------------------------

    @property
    def to_them_msat(self) -> int:
        return self.capacity_msat - self.to_us_msat

    def max_possible_send_msat(self) -> int:
        return self.capacity_msat - self.reserve_msat

    def spendable_msat(self) -> int:
        return max(0, self.to_us_msat - self.reserve_msat - self.in_flight_out_msat)

    def receivable_msat(self) -> int:
        return max(0, self.to_them_msat - self.reserve_msat - self.in_flight_in_msat)

    def usable(self) -> bool:
        return self.state == NORMAL

    def listed(self) -> bool:
        """In listpeerchannels / listpeers / listfunds (opened, not forgotten)."""
        return self.state not in ("OPENINGD", CLOSED)

    # -- policy as senders see it --------------------------------------------

    def seen_policy(self, t: float) -> Policy | None:
        """Our latest channel_update that reached senders by time ``t``."""
        seen = None
        for p in self.gossip:
            if p.since <= t:
                seen = p
            else:
                break
        return seen

    def publish(self, now: float, enabled: bool = True) -> None:
        self.gossip.append(Policy(now, self.fee_base, self.fee_ppm, enabled))
        # Keep the log short: only the newest entry older than any lag matters.
        if len(self.gossip) > 64:
            del self.gossip[:32]
        self.last_update = int(now)

    def accepts_fee(self, out_msat: int, paid_fee: int, now: float) -> bool:
        """lightningd's check_fee: the current fee, or the previous one
        until its enforcedelay runs out."""
        if paid_fee >= fee_msat(out_msat, self.fee_base, self.fee_ppm):
            return True
        return now < self.old_until and paid_fee >= fee_msat(out_msat, self.old_fee_base,
                                                              self.old_fee_ppm)

    def direction(self, our_id: str) -> int:
        return 0 if our_id < self.peer_id else 1


class ForwardStore:
    """Every forward, column-wise (``array`` columns, ~80 bytes a row).

    Row ``r`` has ``created_index`` r+1. ``upd_log[u-1]`` is the row that got
    ``updated_index`` u (a row updated twice leaves a stale entry, skipped).
    """

    def __init__(self) -> None:
        self.in_ch = array("i")
        self.out_ch = array("i")
        self.in_htlc = array("Q")
        self.out_htlc = array("q")
        self.in_msat = array("Q")
        self.out_msat = array("Q")
        self.status = array("B")
        self.failcode = array("H")
        self.received = array("d")
        self.resolved = array("d")
        self.updated = array("Q")
        self.upd_log = array("I")
        self.upd_status = array("B")
        self.by_in: dict[int, array] = {}
        self.by_out: dict[int, array] = {}

    def __len__(self) -> int:
        return len(self.status)

    @property
    def created_count(self) -> int:
        return len(self.status)

    @property
    def updated_count(self) -> int:
        return len(self.upd_log)

    def add(self, in_ch: int, out_ch: int, in_htlc: int, out_htlc: int, in_msat: int,
            out_msat: int, status: int, failcode: int, received: float) -> int:
        row = len(self.status)
        self.in_ch.append(in_ch)
        self.out_ch.append(out_ch)
        self.in_htlc.append(in_htlc)
        self.out_htlc.append(out_htlc)
        self.in_msat.append(in_msat)
        self.out_msat.append(out_msat)
        self.status.append(status)
        self.failcode.append(failcode)
        self.received.append(received)
        self.resolved.append(0.0)
        self.updated.append(0)
        self.by_in.setdefault(in_ch, array("I")).append(row)
        if out_ch >= 0:
            self.by_out.setdefault(out_ch, array("I")).append(row)
        return row + 1

    def update(self, row: int, status: int, resolved: float, failcode: int = 0) -> int:
        self.status[row] = status
        self.resolved[row] = resolved
        self.failcode[row] = failcode
        self.upd_log.append(row)
        self.upd_status.append(status)
        self.updated[row] = len(self.upd_log)
        return len(self.upd_log)


@dataclass
class _FlowState:
    idx: int
    spec: Flow
    in_ch: Channel
    out_ch: Channel
    rng: random.Random
    attempts: int = 0


@dataclass(frozen=True)
class RuntimeFault:
    """A fault set with ``dev-fault``: until ``until`` (sim time)."""

    method: str
    error_rate: float
    code: int
    message: str
    latency_s: float
    until: float


class Market:
    """The simulated world of one routing node. See the module docstring."""

    def __init__(self, scenario: Scenario, seed: int) -> None:
        self.scenario = scenario
        self.seed = seed
        self.now = float(scenario.start_time)
        self.start_time = float(scenario.start_time)
        node = scenario.node
        self.node_id = derive_pubkey("node", scenario.name, node.alias)
        self.alias = node.alias
        self.color = node.color
        self.network = node.network
        self.blockheight = node.blockheight
        self.block_hash = _hex("block", self.blockheight)
        self.forwards = ForwardStore()
        self.channels: list[Channel] = []
        self._by_scid: dict[str, Channel] = {}
        self._heap: list[tuple[float, int, str, Any]] = []
        self._seq = 0
        self._notes: list[tuple[str, dict[str, Any]]] = []
        self._fault_rng = random.Random(f"{seed}:faults")
        self._runtime_faults: dict[str, RuntimeFault] = {}
        self._outputs: list[dict[str, Any]] = []
        self._bg_cache: dict[tuple[int, int], int] = {}
        self.total_revenue_msat = 0
        self.rebalance_cost_msat = 0
        self.fee_updates = 0
        self.forwards_settled = 0
        self.forwards_failed = 0
        self.forwards_local_failed = 0
        self.forwards_offered = 0
        self.attempts = 0
        self._hist_fees_msat = 0
        # The htlc_accepted hook (see the module docstring): set by the host.
        self.htlc_hooked = False
        self._held: list[HeldHtlc] = []
        self.holding: dict[tuple[int, int], HeldHtlc] = {}
        self.forwards_hook_failed = 0
        self.hook_failcodes: dict[str, int] = {}
        self.hook_resolved_msat = 0

        tag = f"{scenario.name}"
        for i, spec in enumerate(scenario.channels):
            ch = Channel(i, spec, tag)
            self.channels.append(ch)
            if spec.open_at_day is None:
                self._init_open_channel(ch)
            else:
                self._push(self.start_time + spec.open_at_day * DAY, "open", ch.idx)
            if spec.close_at_day is not None:
                self._push(self.start_time + spec.close_at_day * DAY, "close",
                           (ch.idx, spec.close_cause))
        self._by_name = {c.name: c for c in self.channels}
        self._by_cid = {c.channel_id: c for c in self.channels}
        for i, out in enumerate(node.outputs):
            self._add_output(out.amount_sat * 1000, _hex("wallet", tag, i),
                             i % 4, self.blockheight - out.confirmations + 1
                             if out.confirmations > 0 else None)
        self._competitors = self._make_competitors()
        self._flows = [
            _FlowState(i, f, self._by_name[f.in_channel], self._by_name[f.out_channel],
                       random.Random(f"{seed}:flow:{i}:{f.in_channel}:{f.out_channel}"))
            for i, f in enumerate(scenario.flows)]
        if scenario.historical_forwards:
            self._make_history(scenario.historical_forwards)
        for fs in self._flows:
            self._schedule_arrival(fs, self.now)
        self._push(self.now + BLOCK_INTERVAL_S, "block", None)
        # lightningd's coin movements (bookkeeper's source); the node as it
        # stands at the start, as lightningd's migration records an old node.
        self.coin_moves = CoinMoves()
        self._snapshot_sent = False
        self._record_start()
        # Our own payments, invoices and askrene's layers: lightningd's state
        # for the node's life. Imported here: payments.py builds on this module.
        from revops.sim.payments import PaymentEngine
        self.payments = PaymentEngine(self)

    # -- the event engine -----------------------------------------------------

    def _push(self, t: float, kind: str, payload: Any) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (t, self._seq, kind, payload))

    def advance(self, until: float) -> list[tuple[str, dict[str, Any]]]:
        """Run every event at or before ``until``; ``now`` becomes ``until``.
        Returns the notifications lightningd would emit, in order."""
        if not self._snapshot_sent:
            self._snapshot_sent = True
            self._notes.append(("balance_snapshot", self.balance_snapshot()))
        heap = self._heap
        while heap and heap[0][0] <= until:
            t, _, kind, payload = heapq.heappop(heap)
            self.now = max(self.now, t)
            if kind == "arrival":
                self._on_arrival(payload)
                if self._held:
                    break  # an HTLC waits for the htlc_accepted hook: back to the host
            elif kind == "resolve":
                self._on_resolve(*payload)
            elif kind == "block":
                self._on_block()
            elif kind == "segment":
                self._schedule_arrival(self._flows[payload], self.now)
            elif kind == "close":
                self._start_close(self.channels[payload[0]], payload[1])
            elif kind == "close_step":
                self._close_step(self.channels[payload])
            elif kind == "open":
                self._open(self.channels[payload])
            elif kind == "hook":
                fn, args = payload
                fn(*args)
                if self._held:
                    break  # our payment reached us: the htlc_accepted hook first
        else:
            self.now = max(self.now, until)
        notes, self._notes = self._notes, []
        return notes

    def take_notes(self) -> list[tuple[str, dict[str, Any]]]:
        """Notifications queued outside :meth:`advance` (a late hook verdict)."""
        notes, self._notes = self._notes, []
        return notes

    # -- the htlc_accepted hook -------------------------------------------------

    def hold(self, held: HeldHtlc) -> None:
        """Keep an accepted HTLC in flight until the hook's verdict;
        :meth:`advance` stops after the current event."""
        ch = self.channels[held.in_channel]
        ch.htlcs_in[held.in_htlc] = (held.amount_msat, held.payment_hash, held.cltv_expiry)
        ch.in_flight_in_msat += held.amount_msat
        self.holding[(held.in_channel, held.in_htlc)] = held
        self._held.append(held)

    def take_held(self) -> list[HeldHtlc]:
        """The HTLCs held since the last call, for the host's hook chain."""
        held, self._held = self._held, []
        return held

    def release(self, held: HeldHtlc, verdict: Verdict) -> None:
        """The chain's verdict: the HTLC leaves the hook and goes on."""
        if self.holding.pop((held.in_channel, held.in_htlc), None) is None:
            return
        ch = self.channels[held.in_channel]
        del ch.htlcs_in[held.in_htlc]
        ch.in_flight_in_msat -= held.amount_msat
        held.resume(held, verdict)

    def count_hook_failure(self, verdict: Verdict) -> None:
        """The ledger's view of an HTLC the hook failed: per failure code
        (``onion`` for a failure_onion, whose code nobody here can read)."""
        code = verdict.failcode
        key = "onion" if code is None else str(code)
        self.hook_failcodes[key] = self.hook_failcodes.get(key, 0) + 1

    def hook_resolved(self, ch: Channel, amount_msat: int) -> None:
        """The hook resolved an incoming HTLC with its preimage: we are paid."""
        ch.to_us_msat += amount_msat
        ch.max_to_us_msat = max(ch.max_to_us_msat, ch.to_us_msat)
        ch.in_fulfilled += 1
        ch.in_fulfilled_msat += amount_msat
        self.hook_resolved_msat += amount_msat

    def next_event_time(self) -> float | None:
        return self._heap[0][0] if self._heap else None

    def schedule(self, t: float, fn: Any, *args: Any) -> None:
        """Run ``fn(*args)`` at sim time ``t`` inside :meth:`advance`, in
        time order with the market's own events (payments use it)."""
        self._push(max(t, self.now), "hook", (fn, args))

    def emit(self, topic: str, payload: dict[str, Any]) -> None:
        """Queue a notification; :meth:`advance` returns it with its own."""
        self._notes.append((topic, payload))

    # -- demand ----------------------------------------------------------------

    def _schedule_arrival(self, fs: _FlowState, t: float) -> None:
        spec = fs.spec
        day = (t - self.start_time) / DAY
        seg_end = math.inf
        for change in spec.profile:
            if change.from_day > day + 1e-12:
                seg_end = self.start_time + change.from_day * DAY
                break
        rate = spec.rate_per_day * spec.multiplier_at(day)
        if rate <= 0:
            if seg_end < math.inf:
                self._push(seg_end, "segment", fs.idx)
            return
        nxt = t + fs.rng.expovariate(rate / DAY)
        if nxt >= seg_end:
            # Memoryless: restarting at the boundary with the new rate is exact.
            self._push(seg_end, "segment", fs.idx)
        else:
            self._push(nxt, "arrival", fs.idx)

    def _on_arrival(self, flow_idx: int) -> None:
        fs = self._flows[flow_idx]
        spec = fs.spec
        rng = fs.rng
        # Always draw the same numbers per attempt, whatever happens to it,
        # so a fee change on one channel does not shift later randomness.
        amount_sat = rng.lognormvariate(math.log(spec.amount_median_sat), spec.amount_sigma)
        alt_ppm = rng.lognormvariate(math.log(spec.alt_fee_median_ppm), spec.alt_fee_sigma)
        lo, hi = self.scenario.htlc_hold_s
        hold = rng.uniform(lo, hi)
        downstream_fails = rng.random() < spec.fail_rate
        fs.attempts += 1
        self.attempts += 1
        self._schedule_arrival(fs, self.now)
        self._try_forward(fs, max(1, int(amount_sat * 1000)), alt_ppm, hold, downstream_fails)

    def _try_forward(self, fs: _FlowState, out_msat: int, alt_ppm: float, hold: float,
                     downstream_fails: bool) -> None:
        a, b, now = fs.in_ch, fs.out_ch, self.now
        if not a.usable() or a.scid is None or b.scid is None:
            return
        seen = b.seen_policy(now - self.scenario.gossip_delay_s)
        if seen is None or not seen.enabled:
            return
        paid_fee = fee_msat(out_msat, seen.base_msat, seen.ppm)
        alternative = fs.spec.alt_fee_base_msat + int(out_msat * alt_ppm / 1_000_000)
        if paid_fee > alternative:
            return  # the sender takes a cheaper route: we never see it
        if out_msat < b.htlc_min_msat or out_msat > b.htlc_max_msat:
            return
        in_msat = out_msat + paid_fee
        if a.receivable_msat() < in_msat:
            return  # the peer cannot send it to us: fails upstream
        if len(a.htlcs_in) + len(a.htlcs_out) + self._background(a, now) >= a.spec.max_accepted_htlcs:
            return  # our side refuses the incoming HTLC before any forward exists
        in_htlc = a.next_in_htlc
        a.next_in_htlc += 1
        a.in_offered += 1
        a.in_offered_msat += in_msat
        out_cltv = self.blockheight + OUR_CLTV_DELTA + 18
        if self.htlc_hooked:
            assert a.scid is not None and b.scid is not None
            self.hold(HeldHtlc(
                a.idx, a.peer_id, a.scid, in_htlc, in_msat, out_cltv + OUR_CLTV_DELTA,
                self.htlc_payment_hash(a.idx, in_htlc), now, False,
                encode_payload(OnionPayload(out_msat, out_cltv, b.scid)), b.channel_id,
                functools.partial(self._forward_verdict, hold=hold,
                                  downstream_fails=downstream_fails)))
            return
        self._forward(a, b, b.scid, in_htlc, in_msat, out_msat, out_cltv + OUR_CLTV_DELTA,
                      out_cltv, now, hold, downstream_fails)

    def _forward(self, a: Channel, b: Channel | None, out_scid: str | None, in_htlc: int,
                 in_msat: int, out_msat: int, in_cltv: int, out_cltv: int, received: float,
                 hold: float, downstream_fails: bool) -> None:
        """lightningd's ``forward_htlc`` for an HTLC accepted on ``a``: a
        ``local_failed`` row, or an outgoing HTLC on ``b`` that resolves
        after ``hold`` seconds (``b`` None: no channel by that id)."""
        now = self.now
        failcode = 0
        if b is None or b.state != NORMAL:
            failcode = WIRE_UNKNOWN_NEXT_PEER
        elif not b.accepts_fee(out_msat, in_msat - out_msat, now):
            failcode = WIRE_FEE_INSUFFICIENT
        elif in_cltv - out_cltv < OUR_CLTV_DELTA:
            failcode = WIRE_INCORRECT_CLTV_EXPIRY
        elif (b.spendable_msat() < out_msat
              or len(b.htlcs_out) + len(b.htlcs_in) + self._background(b, now)
              >= b.spec.max_accepted_htlcs):
            failcode = WIRE_TEMPORARY_CHANNEL_FAILURE
        if failcode:
            out_idx = b.idx if b is not None else self._by_scid[out_scid].idx \
                if out_scid in self._by_scid else -1
            ci = self.forwards.add(a.idx, out_idx, in_htlc, -1, in_msat, 0, LOCAL_FAILED,
                                   failcode, received)
            self.forwards_local_failed += 1
            if out_idx >= 0:
                self.channels[out_idx].local_failed_out += 1
            self._emit_forward(ci - 1, created=True)
            return
        assert b is not None
        out_htlc = b.next_out_htlc
        b.next_out_htlc += 1
        b.out_offered += 1
        b.out_offered_msat += out_msat
        ci = self.forwards.add(a.idx, b.idx, in_htlc, out_htlc, in_msat, out_msat, OFFERED, 0,
                               received)
        self.forwards_offered += 1
        phash = self.htlc_payment_hash(a.idx, in_htlc)
        a.htlcs_in[in_htlc] = (in_msat, phash, in_cltv)
        a.in_flight_in_msat += in_msat
        b.htlcs_out[out_htlc] = (out_msat, phash, out_cltv)
        b.in_flight_out_msat += out_msat
        self._emit_forward(ci - 1, created=True)
        self._push(now + hold, "resolve", (ci - 1, downstream_fails))

    def _forward_verdict(self, held: HeldHtlc, verdict: Verdict, hold: float,
                         downstream_fails: bool) -> None:
        """A held forward's verdict (:meth:`release` has taken it off the
        hook); ``hold`` and ``downstream_fails`` are the sender's draws."""
        a = self.channels[held.in_channel]
        onion = held.onion
        if verdict.result == "continue" and not isinstance(onion, OnionPayload):
            # The chain replaced the payload with one that does not parse.
            verdict = Verdict("fail", failure_message=onion.failure_message())
        if verdict.result == "fail":
            # Failed back: for lightningd no forward ever existed.
            self.forwards_hook_failed += 1
            target = self.channel_by_id(held.forward_to) if held.forward_to else None
            if target is not None:
                target.hook_failed_out += 1
            self.count_hook_failure(verdict)
            return
        if verdict.result == "resolve":
            self.hook_resolved(a, held.amount_msat)
            return
        assert isinstance(onion, OnionPayload)
        b = self.channel_by_id(held.forward_to) if held.forward_to else None
        out_scid = b.scid if b is not None else onion.short_channel_id
        self._forward(a, b, out_scid, held.in_htlc, held.amount_msat, onion.forward_msat,
                      held.cltv_expiry, onion.outgoing_cltv, held.received, hold,
                      downstream_fails)

    def _on_resolve(self, row: int, downstream_fails: bool) -> None:
        st = self.forwards
        a, b = self.channels[st.in_ch[row]], self.channels[st.out_ch[row]]
        in_msat, out_msat = st.in_msat[row], st.out_msat[row]
        del a.htlcs_in[st.in_htlc[row]]
        a.in_flight_in_msat -= in_msat
        del b.htlcs_out[st.out_htlc[row]]
        b.in_flight_out_msat -= out_msat
        if downstream_fails:
            st.update(row, FAILED, self.now)
            self.forwards_failed += 1
            b.failed_out += 1
        else:
            b.to_us_msat -= out_msat
            a.to_us_msat += in_msat
            b.min_to_us_msat = min(b.min_to_us_msat, b.to_us_msat)
            a.max_to_us_msat = max(a.max_to_us_msat, a.to_us_msat)
            fee = in_msat - out_msat
            a.in_fulfilled += 1
            a.in_fulfilled_msat += in_msat
            b.out_fulfilled += 1
            b.out_fulfilled_msat += out_msat
            b.revenue_msat += fee
            b.settled_out += 1
            b.volume_out_msat += out_msat
            a.settled_in += 1
            a.volume_in_msat += in_msat
            self.total_revenue_msat += fee
            self.forwards_settled += 1
            st.update(row, SETTLED, self.now)
            # lightningd credits the incoming HTLC, then debits the outgoing one.
            phash = self.htlc_payment_hash(st.in_ch[row], st.in_htlc[row])
            self.move_channel(a.channel_id, in_msat, 0, "routed", fees=fee, payment_hash=phash)
            self.move_channel(b.channel_id, 0, out_msat, "routed", fees=fee, payment_hash=phash)
        self._emit_forward(row, created=False)

    def _background(self, ch: Channel, t: float) -> int:
        """Other traffic's HTLCs in flight on ``ch``: deterministic in
        (seed, channel, 5-minute bucket), so reads never consume RNG."""
        mean = ch.spec.background_htlcs
        if mean <= 0:
            return 0
        key = (ch.idx, int(t // 300))
        n = self._bg_cache.get(key)
        if n is None:
            r = random.Random(f"{self.seed}:bg:{key[0]}:{key[1]}")
            n = round(r.gauss(mean, max(1.0, math.sqrt(mean) * 0.6)))
            n = max(0, min(ch.spec.max_accepted_htlcs, n))
            if len(self._bg_cache) > 10_000:
                self._bg_cache.clear()
            self._bg_cache[key] = n
        return n

    def preimage(self, created_index: int) -> str:
        return _hex("preimage", self.seed, created_index)

    def payment_hash(self, created_index: int) -> str:
        """The hash of :meth:`preimage`, as a real payment's is."""
        return hashlib.sha256(bytes.fromhex(self.preimage(created_index))).hexdigest()

    def htlc_preimage(self, in_channel: int, in_htlc: int) -> str:
        """A forward's preimage (what settles it), fixed by its incoming HTLC.
        ``_hex`` of the same parts, spelled out: it runs for every forward."""
        return hashlib.sha256(f"preimage:{self.seed}:{in_channel}:{in_htlc}".encode()).hexdigest()

    def htlc_payment_hash(self, in_channel: int, in_htlc: int) -> str:
        """A forward's payment hash, the hash of its preimage as a real one
        is, known from the moment its HTLC arrives (the hook shows it,
        forward_event and the coin moves repeat it)."""
        return hashlib.sha256(bytes.fromhex(self.htlc_preimage(in_channel, in_htlc))).hexdigest()

    # -- notifications ------------------------------------------------------------

    def _emit_forward(self, row: int, created: bool) -> None:
        """lightningd's ``forward_event``: the listforwards fields but the
        outgoing HTLC id, and the preimage once it settled."""
        st = self.forwards
        in_ch, in_htlc = st.in_ch[row], st.in_htlc[row]
        payload = self.forward_json(row, payment_hash=self.htlc_payment_hash(in_ch, in_htlc),
                                    created=created, updated=not created)
        payload.pop("out_htlc_id", None)
        if payload["status"] == "settled":
            payload["preimage"] = self.htlc_preimage(in_ch, in_htlc)
        self._notes.append(("forward_event", payload))

    def forward_json(self, row: int, payment_hash: str | None = None,
                     created: bool = True, updated: bool = True) -> dict[str, Any]:
        """A forward as lightningd's json_add_forwarding_fields writes it."""
        st = self.forwards
        out: dict[str, Any] = {}
        if created:
            out["created_index"] = row + 1
        upd = st.updated[row]
        if updated and upd:
            out["updated_index"] = upd
        if payment_hash is not None:
            out["payment_hash"] = payment_hash
        chans = self.channels
        out["in_channel"] = chans[st.in_ch[row]].scid
        out["in_htlc_id"] = st.in_htlc[row]
        oc = st.out_ch[row]
        if oc >= 0:
            out["out_channel"] = chans[oc].scid
            oh = st.out_htlc[row]
            if oh >= 0:
                out["out_htlc_id"] = oh
        in_msat = st.in_msat[row]
        out["in_msat"] = in_msat
        out_msat = st.out_msat[row]
        if out_msat:
            out["out_msat"] = out_msat
            out["fee_msat"] = in_msat - out_msat
        status = st.status[row]
        out["status"] = STATUS_NAMES[status]
        fc = st.failcode[row]
        if fc:
            out["failcode"] = fc
            out["failreason"] = FAILREASONS.get(fc, "WIRE_TEMPORARY_CHANNEL_FAILURE")
        out["style"] = "tlv"
        out["received_time"] = round(st.received[row], 3)
        resolved = st.resolved[row]
        if resolved and status in (SETTLED, FAILED):
            out["resolved_time"] = round(resolved, 3)
        return out

    def _state(self, ch: Channel, new: str, cause: str, message: str) -> None:
        old = ch.state
        ch.state = new
        ts = iso_time(self.now)
        if new != CLOSED:
            entry = {"timestamp": ts, "old_state": old, "new_state": new, "cause": cause,
                     "message": message}
            if old != "OPENINGD":
                ch.state_changes.append(entry)
        payload: dict[str, Any] = {"peer_id": ch.peer_id, "channel_id": ch.channel_id}
        if ch.scid:
            payload["short_channel_id"] = ch.scid
        payload["timestamp"] = ts
        if old != "OPENINGD":  # a brand-new channel has no prior state
            payload["old_state"] = old
        payload["new_state"] = new
        payload["cause"] = cause
        payload["message"] = message
        self._notes.append(("channel_state_changed", payload))

    # -- blocks, opening, closing -------------------------------------------------

    def _on_block(self) -> None:
        self.blockheight += 1
        self.block_hash = _hex("block", self.blockheight)
        self._notes.append(("block_added", {"hash": self.block_hash, "height": self.blockheight}))
        h = self.blockheight
        for ch in self.channels:
            if ch.state == AWAITING_LOCKIN:
                if ch.funding_height is None:
                    ch.funding_height = h
                    self._assign_scid(ch, h)
                elif h - ch.funding_height + 1 >= FUNDING_CONFIRMS:
                    self._state(ch, NORMAL, "user" if ch.spec.opener == "local" else "remote",
                                "Lockin complete")
                    ch.publish(self.now, True)
                    ch.gossip_visible = True
                    self._record_open(ch, self.now)
            elif ch.state == CLOSING_COMPLETE:
                ch.spend_height = h
                self._state(ch, SPEND_SEEN, "onchain", "Onchain funding spend")
                self._state(ch, ONCHAIN, "onchain", "Onchain init reply")
                self._close_confirmed(ch, h)
            elif ch.state == ONCHAIN and ch.spend_height is not None:
                if h - ch.spend_height >= GOSSIP_FORGET_BLOCKS:
                    ch.gossip_visible = False
                if h - ch.spend_height >= FORGET_BLOCKS:
                    self._state(ch, CLOSED, "onchain", "Forgetting channel: all outputs resolved")
        self._push(self.now + BLOCK_INTERVAL_S, "block", None)

    def _assign_scid(self, ch: Channel, height: int) -> None:
        tx = int(ch.funding_txid[8:12], 16) % 2500 + 1
        while f"{height}x{tx}x{ch.funding_outnum}" in self._by_scid:
            tx += 1
        ch.scid = f"{height}x{tx}x{ch.funding_outnum}"
        self._by_scid[ch.scid] = ch

    def _init_open_channel(self, ch: Channel) -> None:
        """A channel that exists at start: confirmed ``age_days`` ago."""
        height = max(1, self.blockheight - int(ch.spec.age_days * 144))
        ch.funding_height = height
        self._assign_scid(ch, height)
        ch.state = NORMAL
        opened = self.start_time - ch.spec.age_days * DAY
        ch.state_changes.append({"timestamp": iso_time(opened), "old_state": AWAITING_LOCKIN,
                                 "new_state": NORMAL,
                                 "cause": "user" if ch.spec.opener == "local" else "remote",
                                 "message": "Lockin complete"})
        ch.gossip.append(Policy(-math.inf, ch.fee_base, ch.fee_ppm, True))
        ch.last_update = int(min(opened, self.start_time) + 60)
        ch.gossip_visible = True

    def _open(self, ch: Channel) -> None:
        if ch.state != "OPENINGD":
            return
        self._state(ch, AWAITING_LOCKIN, "user" if ch.spec.opener == "local" else "remote",
                    "new channel opened")
        ch.last_update = int(self.now)
        if ch.spec.opener == "remote":  # lightningd tells plugins a peer funded one
            self._notes.append(("channel_opened", {
                "id": ch.peer_id, "funding_msat": ch.capacity_msat,
                "funding_txid": ch.funding_txid, "channel_ready": False}))

    def _start_close(self, ch: Channel, cause: str) -> None:
        if ch.state not in (NORMAL, AWAITING_LOCKIN):
            return
        ch.closer = "remote" if cause == "remote" else "local"
        msg = ("Peer closes channel" if cause == "remote"
               else "User or plugin invoked close command")
        self._state(ch, SHUTTING_DOWN, cause, msg)
        ch.publish(self.now, enabled=False)  # the disabling channel_update
        self._push(self.now + CLOSE_STEP_S, "close_step", ch.idx)

    def _close_step(self, ch: Channel) -> None:
        if ch.state == SHUTTING_DOWN:
            if ch.htlcs_in or ch.htlcs_out:
                self._push(self.now + CLOSE_STEP_S, "close_step", ch.idx)  # wait for HTLCs
                return
            self._state(ch, SIGEXCHANGE, ch.closer == "remote" and "remote" or "local",
                        "Start closingd")
            self._push(self.now + CLOSE_STEP_S, "close_step", ch.idx)
        elif ch.state == SIGEXCHANGE:
            self._state(ch, CLOSING_COMPLETE, ch.closer == "remote" and "remote" or "local",
                        "Closing complete")
            # The next block confirms the closing transaction (see _on_block).

    def open_channel(self, peer_alias: str, capacity_sat: int, local_sat: int, opener: str,
                     name: str | None = None, peer_id: str | None = None) -> Channel:
        """``dev-openchannel``: a new channel, funded now."""
        idx = len(self.channels)
        name = name or f"dev-open-{idx}"
        if name in self._by_name:
            raise ValueError(f"channel name {name!r} already used")
        pid = peer_id or next((c.peer_id for c in self.channels if c.peer_alias == peer_alias),
                              derive_pubkey("peer", peer_alias))
        spec = ChannelSpec(name=name, capacity_sat=capacity_sat, local_sat=local_sat,
                           peer_alias=peer_alias, peer_id=pid, opener=opener, age_days=0.0,
                           open_at_day=(self.now - self.start_time) / DAY)
        ch = Channel(idx, spec, f"{self.scenario.name}:dev:{idx}")
        self.channels.append(ch)
        self._by_name[name] = ch
        self._by_cid[ch.channel_id] = ch
        self._open(ch)
        return ch

    def close_channel(self, ch: Channel, cause: str = "user") -> None:
        """``dev-closechannel``: start a mutual close now."""
        self._start_close(ch, cause)

    # -- coin movements (bookkeeper's source; see coin_moves.py) -------------------------

    def _record_start(self) -> None:
        """The moves lightningd's migration gives a node that already runs:
        confirmed wallet outputs, then each open channel's opening balance
        and a journal entry for its life before."""
        t = int(self.start_time)
        for o in self._outputs:
            if o["height"] is not None and o["height"] <= self.blockheight:
                self.coin_moves.add_chain(WALLET, o["amount_msat"], 0, t, "deposit",
                                          f"{o['txid']}:{o['output']}", o["amount_msat"],
                                          o["height"])
        for ch in self.channels:
            if ch.state == NORMAL:
                funded = self._record_open(ch, t, notify=False)
                diff = ch.to_us_msat - funded
                if diff:
                    self.coin_moves.add_channel(ch.channel_id, max(diff, 0), max(-diff, 0),
                                                t + 2, "journal_entry")

    def _record_open(self, ch: Channel, now: float, notify: bool = True) -> int:
        """``channel_open`` (our funding, or 0 when they funded it), and what
        was pushed at open; returns our balance at open."""
        local = ch.spec.opener == "local"
        funded = ch.capacity_msat if local else 0
        move = self.coin_moves.add_chain(
            ch.channel_id, funded, 0, int(now), "channel_open",
            f"{ch.funding_txid}:{ch.funding_outnum}", ch.capacity_msat,
            ch.funding_height or self.blockheight, extra_tags=("opener",) if local else (),
            peer_id=ch.peer_id)
        if notify:
            self._notes.append(("coin_movement", notification(move, self.node_id, self.network)))
            pushed = funded - ch.to_us_msat
            if pushed:
                self.move_channel(ch.channel_id, max(-pushed, 0), max(pushed, 0), "pushed")
            return ch.to_us_msat
        return funded

    def _close_confirmed(self, ch: Channel, height: int) -> None:
        """The closing transaction confirmed: our balance leaves the channel
        (``channel_close``) and, less the closing fee when we opened it,
        reaches the wallet (``deposit``)."""
        txid = _hex("close", ch.funding_txid)
        fee_sat = self.mutual_close_fee_sat() if ch.spec.opener == "local" else 0
        ours = max(0, ch.to_us_msat // 1000 - fee_sat) * 1000
        theirs = ch.capacity_msat - ch.to_us_msat
        t = int(self.now)
        if ours > 0:
            self._add_output(ours, txid, 0, height)
            move = self.coin_moves.add_chain(WALLET, ours, 0, t, "deposit", f"{txid}:0", ours,
                                             height)
            self._notes.append(("coin_movement", notification(move, self.node_id, self.network)))
        move = self.coin_moves.add_chain(
            ch.channel_id, 0, ch.to_us_msat, t, "channel_close",
            f"{ch.funding_txid}:{ch.funding_outnum}", ch.capacity_msat, height,
            spending_txid=txid, output_count=int(ours > 0) + int(theirs >= 1000))
        self._notes.append(("coin_movement", notification(move, self.node_id, self.network)))

    def move_channel(self, account: str, credit: int, debit: int, tag: str, *, fees: int = 0,
                     payment_hash: str | None = None, part_id: int | None = None,
                     group_id: int | None = None) -> ChannelMove:
        """Record a channel move now and notify it (``coin_movement``)."""
        move = self.coin_moves.add_channel(account, credit, debit, int(self.now), tag,
                                           fees=fees, payment_hash=payment_hash,
                                           part_id=part_id, group_id=group_id)
        self._notes.append(("coin_movement", notification(move, self.node_id, self.network)))
        return move

    def mutual_close_fee_sat(self) -> int:
        """What a mutual close pays now (feerates' ``mutual_close`` rate)."""
        return max(253, self.feerate_perkb() // 8) * MUTUAL_CLOSE_WEIGHT // 1000

    @property
    def hrp(self) -> str:
        return HRP.get(self.network, "bcrt")

    def balance_snapshot(self) -> dict[str, Any]:
        """``balance_snapshot``: the wallet's and each live channel's balance."""
        wallet = sum(o["amount_msat"] for o in self._outputs
                     if o["height"] is not None and o["height"] <= self.blockheight)
        accounts = [{"account_id": WALLET, "balance_msat": wallet, "coin_type": self.hrp}]
        for ch in self.channels:
            if ch.state in (NORMAL, SHUTTING_DOWN, SIGEXCHANGE, SPEND_SEEN):
                accounts.append({"account_id": ch.channel_id, "balance_msat": ch.to_us_msat,
                                 "coin_type": self.hrp})
        return {"node_id": self.node_id, "blockheight": self.blockheight,
                "timestamp": int(self.now), "accounts": accounts}

    # -- the wallet -----------------------------------------------------------------

    def _add_output(self, amount_msat: int, txid: str, n: int, height: int | None) -> None:
        spk = "0014" + _hex("spk", txid, n)[:40]
        self._outputs.append({"txid": txid, "output": n, "amount_msat": amount_msat,
                              "scriptpubkey": spk,
                              "address": "bcrt1q" + _hex("addr", txid, n)[:38],
                              "height": height})

    def outputs(self) -> list[dict[str, Any]]:
        out = []
        for o in self._outputs:
            entry = {k: o[k] for k in ("txid", "output", "amount_msat", "scriptpubkey", "address")}
            if o["height"] is not None and o["height"] <= self.blockheight:
                entry["status"] = "confirmed"
                entry["blockheight"] = o["height"]
            else:
                entry["status"] = "unconfirmed"
            entry["reserved"] = False
            out.append(entry)
        return out

    # -- lookups used by the RPC methods ------------------------------------------------

    def listed_channels(self) -> Iterator[Channel]:
        return (c for c in self.channels if c.listed())

    def channel_by_scid(self, scid: str) -> Channel | None:
        return self._by_scid.get(scid)

    def channel_by_name(self, name: str) -> Channel | None:
        return self._by_name.get(name)

    def channel_by_id(self, channel_id: str) -> Channel | None:
        ch = self._by_cid.get(channel_id.lower())
        return ch if ch is not None and ch.listed() else None

    def peers(self) -> dict[str, list[Channel]]:
        """Peers we have listed channels with, in channel order."""
        out: dict[str, list[Channel]] = {}
        for c in self.listed_channels():
            out.setdefault(c.peer_id, []).append(c)
        return out

    def fees_collected_msat(self) -> int:
        return self._hist_fees_msat + self.total_revenue_msat

    def background_htlcs(self, ch: Channel) -> int:
        return self._background(ch, self.now)

    # -- setchannel ------------------------------------------------------------------

    def set_channel(self, ch: Channel, base: int | None, ppm: int | None,
                    htlc_min: int | None, htlc_max: int | None, enforce_delay: int,
                    ignore_fee_limits: bool | None) -> dict[str, Any]:
        """lightningd's set_channel_config for one channel; returns its
        response entry and counts a fee update if the fee changed."""
        now = self.now
        if ((base is not None and base > ch.fee_base) or (ppm is not None and ppm > ch.fee_ppm)
                or (htlc_min is not None and htlc_min > ch.htlc_min_msat)
                or (htlc_max is not None and htlc_max < ch.htlc_max_msat)):
            ch.old_until = now + enforce_delay
            ch.old_fee_base = ch.fee_base
            ch.old_fee_ppm = ch.fee_ppm
        before = (ch.fee_base, ch.fee_ppm, ch.htlc_min_msat, ch.htlc_max_msat)
        if base is not None:
            ch.fee_base = base
        if ppm is not None:
            ch.fee_ppm = ppm
        warn_min = warn_max = False
        if htlc_min is not None:
            if htlc_min < ch.peer_htlc_min_msat:
                warn_min = True
                ch.htlc_min_msat = ch.peer_htlc_min_msat
            else:
                ch.htlc_min_msat = htlc_min
        if htlc_max is not None:
            actual = ch.max_possible_send_msat()
            if htlc_max > actual:
                warn_max = True
                ch.htlc_max_msat = actual
            else:
                ch.htlc_max_msat = htlc_max
        if ignore_fee_limits is not None:
            ch.ignore_fee_limits = ignore_fee_limits
        after = (ch.fee_base, ch.fee_ppm, ch.htlc_min_msat, ch.htlc_max_msat)
        if after[:2] != before[:2]:
            ch.fee_updates += 1
            self.fee_updates += 1
        if after != before and ch.state == NORMAL:
            ch.publish(now, True)  # a changed channel_update goes out at once
        entry: dict[str, Any] = {"peer_id": ch.peer_id, "channel_id": ch.channel_id}
        if ch.scid:
            entry["short_channel_id"] = ch.scid
        entry["fee_base_msat"] = ch.fee_base
        entry["fee_proportional_millionths"] = ch.fee_ppm
        entry["minimum_htlc_out_msat"] = ch.htlc_min_msat
        if warn_min:
            entry["warning_htlcmin_too_low"] = "Set minimum_htlc_out_msat to minimum allowed by peer"
        entry["maximum_htlc_out_msat"] = ch.htlc_max_msat
        entry["ignore_fee_limits"] = ch.ignore_fee_limits
        if warn_max:
            entry["warning_htlcmax_too_high"] = ("Set maximum_htlc_out_msat to maximum possible "
                                                 "in channel")
        return entry

    # -- gossip: competitors, nodes, fee rates ---------------------------------------------

    def _make_competitors(self) -> list[dict[str, Any]]:
        """Other nodes' channels to our peers, fees from each peer's
        competing-fee distribution (a gossip snapshot fixed at start)."""
        rng = random.Random(f"{self.seed}:gossip")
        out: list[dict[str, Any]] = []
        seen: set[str] = set()
        height = self.blockheight
        for ch in self.channels:
            spec = ch.spec
            if ch.peer_id in seen:
                continue
            seen.add(ch.peer_id)
            for k in range(spec.competitors):
                node = derive_pubkey("competitor", spec.peer_alias, k)
                ppm = int(rng.lognormvariate(math.log(spec.competitor_fee_ppm),
                                             spec.competitor_fee_sigma))
                cap = rng.choice([2, 5, 10, 20]) * 1_000_000_000
                block = max(1, height - rng.randint(1000, 100_000))
                scid = f"{block}x{rng.randint(1, 3000)}x{rng.randint(0, 1)}"
                out.append({"node": node, "alias": f"{spec.peer_alias[:20]}-rival{k}",
                            "peer": ch.peer_id, "scid": scid, "capacity_msat": cap,
                            "ppm": ppm, "base": rng.choice([0, 1000, 1000, 1000]),
                            "peer_ppm": int(rng.choice([1, 10, 50, 100, 200])),
                            "last_update": int(self.start_time - rng.randint(60, 7 * 86400))})
        return out

    def gossip_channels(self, scid: str | None = None, source: str | None = None,
                        destination: str | None = None) -> list[dict[str, Any]]:
        """Channel directions gossip knows, ours and competitors', matching
        every filter given (entries are built only for matches: a node with
        thousands of channels answers filtered queries quickly)."""
        out: list[dict[str, Any]] = []
        us = self.node_id

        def wanted(c_scid: str, src: str, dst: str) -> bool:
            return ((scid is None or c_scid == scid) and (source is None or src == source)
                    and (destination is None or dst == destination))

        for ch in self.channels:
            if not ch.gossip_visible or ch.scid is None:
                continue
            d = ch.direction(us)
            active = ch.state == NORMAL
            pair = []
            if wanted(ch.scid, us, ch.peer_id):
                pair.append((d, {
                    "source": us, "destination": ch.peer_id, "short_channel_id": ch.scid,
                    "direction": d, "public": not ch.spec.private,
                    "amount_msat": ch.capacity_msat, "message_flags": 1,
                    "channel_flags": d | (0 if active else 2), "active": active,
                    "last_update": ch.last_update, "base_fee_millisatoshi": ch.fee_base,
                    "fee_per_millionth": ch.fee_ppm, "delay": OUR_CLTV_DELTA,
                    "htlc_minimum_msat": ch.htlc_min_msat,
                    "htlc_maximum_msat": ch.htlc_max_msat, "features": ""}))
            if wanted(ch.scid, ch.peer_id, us):
                pair.append((1 - d, {
                    "source": ch.peer_id, "destination": us, "short_channel_id": ch.scid,
                    "direction": 1 - d, "public": not ch.spec.private,
                    "amount_msat": ch.capacity_msat, "message_flags": 1,
                    "channel_flags": (1 - d) | (0 if active else 2), "active": active,
                    "last_update": ch.last_update,
                    "base_fee_millisatoshi": ch.spec.peer_fee_base_msat,
                    "fee_per_millionth": ch.spec.peer_fee_ppm, "delay": 40,
                    "htlc_minimum_msat": ch.peer_htlc_min_msat,
                    "htlc_maximum_msat": ch.max_possible_send_msat(), "features": ""}))
            out.extend(e for _, e in sorted(pair, key=lambda p: p[0]))
        for c in self._competitors:
            d = 0 if c["node"] < c["peer"] else 1
            pair = []
            if wanted(c["scid"], c["node"], c["peer"]):
                pair.append((d, {
                    "source": c["node"], "destination": c["peer"], "short_channel_id": c["scid"],
                    "direction": d, "public": True, "amount_msat": c["capacity_msat"],
                    "message_flags": 1, "channel_flags": d, "active": True,
                    "last_update": c["last_update"], "base_fee_millisatoshi": c["base"],
                    "fee_per_millionth": c["ppm"], "delay": 80, "htlc_minimum_msat": 1000,
                    "htlc_maximum_msat": c["capacity_msat"] * 99 // 100, "features": ""}))
            if wanted(c["scid"], c["peer"], c["node"]):
                pair.append((1 - d, {
                    "source": c["peer"], "destination": c["node"], "short_channel_id": c["scid"],
                    "direction": 1 - d, "public": True, "amount_msat": c["capacity_msat"],
                    "message_flags": 1, "channel_flags": 1 - d, "active": True,
                    "last_update": c["last_update"], "base_fee_millisatoshi": 1000,
                    "fee_per_millionth": c["peer_ppm"], "delay": 40, "htlc_minimum_msat": 1000,
                    "htlc_maximum_msat": c["capacity_msat"] * 99 // 100, "features": ""}))
            out.extend(e for _, e in sorted(pair, key=lambda p: p[0]))
        out.extend(self.payments.backbone_gossip(scid, source, destination))
        return out

    def gossip_nodes(self) -> list[dict[str, Any]]:
        nodes: dict[str, dict[str, Any]] = {}
        ts = int(self.start_time) - 3600

        def add(node_id: str, alias: str) -> None:
            if node_id not in nodes:
                nodes[node_id] = {"nodeid": node_id, "alias": alias[:32],
                                  "color": node_id[2:8], "last_timestamp": ts,
                                  "features": "88a0800a0269a2", "addresses": []}

        add(self.node_id, self.alias)
        nodes[self.node_id]["color"] = self.color
        for ch in self.channels:
            if ch.gossip_visible:
                add(ch.peer_id, ch.peer_alias)
        for c in self._competitors:
            add(c["node"], c["alias"])
        return list(nodes.values())

    def feerate_perkb(self, t: float | None = None) -> int:
        """The on-chain fee rate (sat/kvB) of the scenario series at ``t``."""
        t = self.now if t is None else t
        fr = self.scenario.feerates
        day = (t - self.start_time) / DAY
        rate = fr.base_perkb * (1.0 + fr.daily_swing * math.sin(2 * math.pi * day))
        for s in fr.spikes:
            if s.start_day <= day < s.start_day + s.duration_hours / 24.0:
                rate *= s.multiplier
        return max(1012, int(rate))

    # -- faults ------------------------------------------------------------------------

    def set_fault(self, method: str, error_rate: float, code: int, message: str,
                  latency_s: float, duration_s: float) -> None:
        self._runtime_faults[method] = RuntimeFault(method, error_rate, code, message,
                                                    latency_s, self.now + duration_s)

    def clear_fault(self, method: str | None) -> None:
        if method is None or method == "all":
            self._runtime_faults.clear()
        else:
            self._runtime_faults.pop(method, None)

    def active_faults(self) -> list[dict[str, Any]]:
        out = []
        for f in self._runtime_faults.values():
            if f.until > self.now:
                out.append({"method": f.method, "error_rate": f.error_rate, "code": f.code,
                            "message": f.message, "latency_s": f.latency_s,
                            "until": f.until, "source": "dev-fault"})
        day = (self.now - self.start_time) / DAY
        for sf in self.scenario.faults:
            if sf.start_day <= day < sf.end_day:
                out.append({"method": sf.method, "error_rate": sf.error_rate, "code": sf.code,
                            "message": sf.message, "latency_s": sf.latency_s,
                            "until": self.start_time + sf.end_day * DAY, "source": "scenario"})
        return out

    def rpc_fault(self, method: str) -> tuple[float, RpcError | None]:
        """Injected latency (wall seconds) and error for one call of ``method``.

        A ``dev-fault`` for the method (or ``*``) replaces the scenario's
        knobs while it lasts. ``dev-*`` methods are never hit by ``*``, so a
        fault can always be cleared. Uses its own RNG stream."""
        faults: list[Fault | RuntimeFault] = []
        for key in (method, "*"):
            rf = self._runtime_faults.get(key)
            if rf is not None and rf.until > self.now and not (key == "*" and method.startswith("dev-")):
                faults.append(rf)
        if not faults:
            day = (self.now - self.start_time) / DAY
            faults = [f for f in self.scenario.faults
                      if (f.method == method or (f.method == "*" and not method.startswith("dev-")))
                      and f.start_day <= day < f.end_day]
        latency = 0.0
        error: RpcError | None = None
        for f in faults:
            latency = max(latency, f.latency_s)
            if f.error_rate > 0 and error is None and self._fault_rng.random() < f.error_rate:
                error = RpcError(f.code, f.message)
        return latency, error

    # -- history ---------------------------------------------------------------------------

    def _make_history(self, count: int) -> None:
        """``count`` forwards before start, shaped like the flows, in created
        order: ~73 % settled, ~15 % failed downstream (both offered, then
        updated), ~12 % local_failed. Column-wise in chunks, so a million
        take a few seconds and little more memory than they occupy."""
        flows = [f for f in self._flows if f.in_ch.scid is not None
                 and f.out_ch.scid is not None and f.spec.rate_per_day > 0]
        if not flows:
            return
        rng = random.Random(f"{self.seed}:history")
        span = self.scenario.history_days * DAY
        step = span / count
        t0 = self.start_time - span
        weights = list(itertools.accumulate(f.spec.rate_per_day for f in flows))
        shape = {f.idx: (math.log(f.spec.amount_median_sat * 1000), f.spec.amount_sigma,
                         f.out_ch.fee_base, f.out_ch.fee_ppm) for f in flows}
        in_counters = {c.idx: itertools.count(c.next_in_htlc) for c in self.channels}
        out_counters = {c.idx: itertools.count(c.next_out_htlc) for c in self.channels}
        for first in range(0, count, 1 << 16):
            n = min(1 << 16, count - first)
            picks = rng.choices(flows, cum_weights=weights, k=n)
            self._history_chunk(rng, picks, first, t0, step, shape, in_counters, out_counters)
        for c in self.channels:
            c.next_in_htlc = next(in_counters[c.idx])
            c.next_out_htlc = next(out_counters[c.idx])

    def _history_chunk(self, rng: random.Random, picks: list[_FlowState], first: int,
                       t0: float, step: float, shape: dict[int, tuple[float, float, int, int]],
                       in_counters: dict[int, Iterator[int]],
                       out_counters: dict[int, Iterator[int]]) -> None:
        rand, gauss, exp = rng.random, rng.gauss, math.exp
        st = self.forwards
        in_idx = [f.in_ch.idx for f in picks]
        out_idx = [f.out_ch.idx for f in picks]
        params = [shape[f.idx] for f in picks]
        out_amt = [max(1, int(exp(mu + sigma * gauss()))) for mu, sigma, _, _ in params]
        fees = [base + amt * ppm // 1_000_000 for amt, (_, _, base, ppm) in zip(out_amt, params)]
        rolls = [rand() for _ in picks]
        status = [LOCAL_FAILED if r < 0.12 else FAILED if r < 0.27 else SETTLED for r in rolls]
        # Evenly spread with jitter: increasing, like rowids.
        received = [t0 + (i + 0.5 + 0.4 * (r - 0.5)) * step for i, r in enumerate(rolls, first)]
        st.in_ch.extend(array("i", in_idx))
        st.out_ch.extend(array("i", out_idx))
        st.in_htlc.extend(array("Q", [next(in_counters[i]) for i in in_idx]))
        st.out_htlc.extend(array("q", [-1 if s == LOCAL_FAILED else next(out_counters[o])
                                       for s, o in zip(status, out_idx)]))
        st.in_msat.extend(array("Q", [a + f for a, f in zip(out_amt, fees)]))
        st.out_msat.extend(array("Q", [0 if s == LOCAL_FAILED else a
                                       for s, a in zip(status, out_amt)]))
        st.status.extend(array("B", status))
        st.failcode.extend(array("H", [WIRE_TEMPORARY_CHANNEL_FAILURE if s == LOCAL_FAILED else 0
                                       for s in status]))
        st.received.extend(array("d", received))
        st.resolved.extend(array("d", [0.0 if s == LOCAL_FAILED else t + 0.5 + 4 * r
                                       for s, t, r in zip(status, received, rolls)]))
        upd_rows = [first + i for i, s in enumerate(status) if s != LOCAL_FAILED]
        base_u = len(st.upd_log)
        updated = array("Q", bytes(8 * len(picks)))
        for u, row in enumerate(upd_rows, base_u + 1):
            updated[row - first] = u
        st.updated.extend(updated)
        st.upd_log.extend(array("I", upd_rows))
        st.upd_status.extend(array("B", [status[r - first] for r in upd_rows]))
        by_in: dict[int, list[int]] = {}
        by_out: dict[int, list[int]] = {}
        for row, (i, o) in enumerate(zip(in_idx, out_idx), first):
            by_in.setdefault(i, []).append(row)
            by_out.setdefault(o, []).append(row)
        for idx, rows in by_in.items():
            st.by_in.setdefault(idx, array("I")).extend(array("I", rows))
        for idx, rows in by_out.items():
            st.by_out.setdefault(idx, array("I")).extend(array("I", rows))
        self._hist_fees_msat += sum(f for f, s in zip(fees, status) if s == SETTLED)

    # -- the ledger -----------------------------------------------------------------------------

    def ledger(self) -> dict[str, Any]:
        """What the sim knows the node earned and spent during the run."""
        chans = []
        for ch in self.channels:
            chans.append({
                "name": ch.name, "scid": ch.scid, "peer_id": ch.peer_id,
                "peer_alias": ch.peer_alias, "state": ch.state,
                "revenue_msat": ch.revenue_msat, "fee_updates": ch.fee_updates,
                "final_fee_base_msat": ch.fee_base, "final_fee_ppm": ch.fee_ppm,
                "forwards_settled_out": ch.settled_out, "forwards_settled_in": ch.settled_in,
                "forwards_failed_out": ch.failed_out,
                "forwards_local_failed_out": ch.local_failed_out,
                "forwards_hook_failed_out": ch.hook_failed_out,
                "volume_out_msat": ch.volume_out_msat, "volume_in_msat": ch.volume_in_msat,
                "capacity_msat": ch.capacity_msat, "to_us_msat": ch.to_us_msat,
                "spendable_msat": ch.spendable_msat(),
                "rebalanced_in_msat": ch.rebalanced_in_msat,
                "rebalanced_out_msat": ch.rebalanced_out_msat,
                "rebalance_cost_msat": ch.rebalance_cost_msat,
            })
        return {
            "now": self.now,
            "days": (self.now - self.start_time) / DAY,
            "revenue_msat": self.total_revenue_msat,
            "rebalance_cost_msat": self.rebalance_cost_msat,
            "net_msat": self.total_revenue_msat - self.rebalance_cost_msat,
            "rebalanced_msat": self.payments.rebalanced_msat,
            "rebalances_succeeded": self.payments.rebalances_succeeded,
            "rebalances_failed": self.payments.rebalances_failed,
            "payments_sent": self.payments.payments_sent,
            "forwards_settled": self.forwards_settled,
            "forwards_failed": self.forwards_failed + self.forwards_local_failed,
            "forwards_local_failed": self.forwards_local_failed,
            "forwards_downstream_failed": self.forwards_failed,
            # htlc_accepted: failed back by the hook (no forward row), per failure code.
            "forwards_hook_failed": self.forwards_hook_failed,
            "hook_failcodes": dict(sorted(self.hook_failcodes.items())),
            "hook_resolved_msat": self.hook_resolved_msat,
            "forwards_offered": self.forwards_offered,
            "payment_attempts": self.attempts,
            "fee_updates": self.fee_updates,
            "historical_forwards": self.scenario.historical_forwards,
            "channels": chans,
        }

    def report(self) -> dict[str, Any]:
        """The run's summary (the host adds ``wall_seconds``)."""
        led = self.ledger()
        return {
            "scenario": self.scenario.name,
            "seed": self.seed,
            "days": round(led["days"], 6),
            "revenue_msat": led["revenue_msat"],
            "rebalance_cost_msat": led["rebalance_cost_msat"],
            "net_msat": led["net_msat"],
            "rebalanced_msat": led["rebalanced_msat"],
            "rebalances_succeeded": led["rebalances_succeeded"],
            "rebalances_failed": led["rebalances_failed"],
            "forwards_settled": led["forwards_settled"],
            "forwards_failed": led["forwards_failed"],
            "forwards_local_failed": led["forwards_local_failed"],
            "payment_attempts": led["payment_attempts"],
            "fee_updates": led["fee_updates"],
            "channels": [{"scid": c["scid"], "name": c["name"], "peer_id": c["peer_id"],
                          "revenue_msat": c["revenue_msat"], "final_fee_ppm": c["final_fee_ppm"],
                          "final_fee_base_msat": c["final_fee_base_msat"],
                          "fee_updates": c["fee_updates"],
                          "forwards_settled_out": c["forwards_settled_out"],
                          "forwards_local_failed_out": c["forwards_local_failed_out"],
                          "to_us_msat": c["to_us_msat"], "capacity_msat": c["capacity_msat"],
                          "rebalanced_in_msat": c["rebalanced_in_msat"],
                          "rebalanced_out_msat": c["rebalanced_out_msat"],
                          "rebalance_cost_msat": c["rebalance_cost_msat"],
                          "state": c["state"]}
                         for c in led["channels"]],
        }
