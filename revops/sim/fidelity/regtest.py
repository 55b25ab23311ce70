"""The real side of the fidelity check: a small regtest graph of real lightningd nodes.

Built with pyln-testing's ``NodeFactory`` (the same one ``node_factory`` gives
a test), when ``lightningd`` and ``bitcoind`` are on PATH::

        l1 ---------- l2 ====(2)==== l3       l2 (the subject) routes l1 <-> l3,
          \\__________________________/        and can rebalance round the triangle;
                                              its second channel to l3 is opened,
                                              then closed and forgotten

What happens on it before the check asks anything: three payments from l1
to l3 through l2 (settled forwards), one with an unknown payment hash
(failed downstream at l3), one paying l2 too little fee (``local_failed``
at l2, WIRE_FEE_INSUFFICIENT); l2 closes its second channel to l3 and 101
blocks later has forgotten it (``listclosedchannels``). l2 runs the notification
recorder from its start, so it hears every ``forward_event``,
``channel_state_changed`` and ``block_added`` of all that.

:func:`regtest_node` builds it all outside pytest (``revops-sim fidelity``);
the real-node test calls :func:`build_graph` with its own ``node_factory``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from revops.sim.fidelity.recorder import OPTION, write_launcher

# pyln-testing reads these when it is imported.
PYLN_ENV = (("TEST_NETWORK", "regtest"), ("VALGRIND", "0"), ("RUST", "0"),
            ("TEST_DEBUG", "0"))
FUNDAMOUNT_SAT = 1_000_000
PAYMENT_MSAT = 100_000


@dataclass
class RealGraph:
    """The subject node (l2) and what the check needs to know about the graph."""

    subject: Any              # pyln-testing LightningNode (l2)
    nodes: dict[str, Any]     # name -> LightningNode
    recorder_file: Path
    context: dict[str, str]

    def settle(self) -> None:
        """Wait until the subject has no payment in flight."""
        settle_payments(self.subject.rpc)


def settle_payments(rpc: Any, timeout: float = 60.0) -> None:
    """Wait (polling ``listsendpays``) until no payment is pending."""
    import time

    deadline = time.monotonic() + timeout
    while any(p["status"] == "pending" for p in rpc.listsendpays()["payments"]):
        if time.monotonic() > deadline:
            raise TimeoutError(f"payments still pending after {timeout:g}s")
        time.sleep(0.1)


def _set_env() -> None:
    for key, value in PYLN_ENV:
        os.environ.setdefault(key, value)


def _hop_fee(update: dict[str, Any], amount: int) -> int:
    return update["base_fee_millisatoshi"] + amount * update["fee_per_millionth"] // 1_000_000


def _route_via(payer: Any, hops: list[tuple[Any, str]], amount: int, final_cltv: int,
               underpay_first: bool = False) -> list[dict[str, Any]]:
    """A sendpay route through ``hops`` ((node, scid reaching it), in order),
    fees and CLTV deltas from the payer's gossip (optionally 0 fee for the
    first forwarding node)."""
    route: list[dict[str, Any]] = []
    amt, delay = amount, final_cltv
    for i in range(len(hops) - 1, -1, -1):
        node, scid = hops[i]
        route.insert(0, {"id": node.info["id"], "channel": scid, "amount_msat": amt,
                         "delay": delay})
        if i > 0:
            prev = hops[i - 1][0]
            update = next(c for c in payer.rpc.listchannels(scid)["channels"]
                          if c["source"] == prev.info["id"])
            fee = 0 if (underpay_first and i == 1) else _hop_fee(update, amt)
            amt += fee
            delay += update["delay"]
    return route


def _pay_via(payer: Any, hops: list[tuple[Any, str]], payee: Any, amount: int,
             label: str, known: bool = True, underpay: bool = False) -> None:
    from pyln.client import RpcError

    if known:
        inv = payee.rpc.invoice(amount, label, "fidelity payment")
        phash, secret = inv["payment_hash"], inv["payment_secret"]
    else:
        phash, secret = secrets.token_hex(32), secrets.token_hex(32)
    route = _route_via(payer, hops, amount, 18, underpay_first=underpay)
    payer.rpc.sendpay(route, phash, payment_secret=secret, amount_msat=amount)
    try:
        payer.rpc.waitsendpay(phash, 60)
    except RpcError:
        if known and not underpay:
            raise


def build_graph(node_factory: Any, work_dir: Path) -> RealGraph:
    """Start l1..l4, open the channels, route, fail, close (see the module
    docstring). ``node_factory`` is pyln-testing's."""
    from pyln.testing.utils import sync_blockheight, wait_for

    recorder = write_launcher(work_dir)
    recorder_file = work_dir / "l2-notifications.jsonl"
    opts = [{}, {"plugin": str(recorder), OPTION: str(recorder_file)}, {}]
    l1, l2, l3 = node_factory.get_nodes(3, opts=opts)
    bitcoind = node_factory.bitcoind
    # l2 -> l3 twice: the second channel is the one l2 closes.
    pairs = [(l1, l2), (l2, l3), (l3, l1), (l2, l3)]
    for src, dst in pairs[:3]:
        src.rpc.connect(dst.info["id"], "localhost", dst.port)
    for src, _ in pairs:
        addr = src.rpc.newaddr("bech32")["bech32"]
        bitcoind.rpc.sendtoaddress(addr, (FUNDAMOUNT_SAT + 1_000_000) / 10**8)
    bitcoind.generate_block(1)
    sync_blockheight(bitcoind, [l1, l2, l3])
    txids = [src.rpc.fundchannel(dst.info["id"], FUNDAMOUNT_SAT)["txid"] for src, dst in pairs]
    bitcoind.generate_block(1, wait_for_mempool=txids)
    for src, dst in pairs:
        wait_for(lambda src=src, dst=dst: all(
            c["state"] == "CHANNELD_NORMAL"
            for c in src.rpc.listpeerchannels(dst.info["id"])["channels"]))
    scids = {}
    for src, dst in pairs[:3]:
        scids[(src, dst)] = [c["short_channel_id"] for c in
                             src.rpc.listpeerchannels(dst.info["id"])["channels"]]
    bitcoind.generate_block(5)
    s12 = scids[(l1, l2)][0]
    s23, s23b = sorted(scids[(l2, l3)])
    s31 = scids[(l3, l1)][0]
    for sid in (s12, s23, s31):
        for n in (l1, l2, l3):
            n.wait_channel_active(sid)

    hops = [(l2, s12), (l3, s23)]
    for i in range(3):
        _pay_via(l1, hops, l3, PAYMENT_MSAT + i, f"fidelity-{i}")
    _pay_via(l1, hops, l3, PAYMENT_MSAT, "fidelity-unknown", known=False)
    _pay_via(l1, hops, l3, PAYMENT_MSAT, "fidelity-underpaid", underpay=True)

    l2.rpc.close(s23b)
    bitcoind.generate_block(1, wait_for_mempool=1)

    def closed_state() -> str:
        return next(c["state"] for c in l2.rpc.listpeerchannels(l3.info["id"])["channels"]
                    if c.get("short_channel_id") == s23b)

    wait_for(lambda: closed_state() == "ONCHAIN")
    bitcoind.generate_block(100)
    sync_blockheight(bitcoind, [l1, l2, l3])
    wait_for(lambda: l2.rpc.listclosedchannels()["closedchannels"] != [])

    context = {"us": l2.info["id"], "peer_out": l3.info["id"], "peer_in": l1.info["id"],
               "scid_out": s23, "scid_in": s12, "scid_closed": s23b,
               "closed_peer": l3.info["id"],
               "channel_id_out": next(c["channel_id"] for c in
                                      l2.rpc.listpeerchannels(l3.info["id"])["channels"]
                                      if c.get("short_channel_id") == s23)}
    return RealGraph(l2, {"l1": l1, "l2": l2, "l3": l3}, recorder_file, context)


@contextlib.contextmanager
def regtest_node(work_dir: Path | None = None) -> Iterator[RealGraph]:
    """:func:`build_graph` on a bitcoind and nodes of our own (pyln-testing's
    classes without pytest); everything is stopped and removed on exit."""
    _set_env()
    from pyln.testing.db import SqliteDbProvider
    from pyln.testing.utils import BitcoinD, LightningNode, NodeFactory

    with tempfile.TemporaryDirectory(prefix="revops-fidelity-") as tmp:
        base = Path(tmp) if work_dir is None else work_dir
        base.mkdir(parents=True, exist_ok=True)
        bitcoind = BitcoinD(bitcoin_dir=str(base / "bitcoind"))
        db = SqliteDbProvider(str(base))
        executor = futures.ThreadPoolExecutor(max_workers=8)
        factory = None
        stack = contextlib.ExitStack()
        try:
            stack.enter_context(_stdout_to(base / "nodes-stdout.log"))
            bitcoind.start()
            blocks = bitcoind.rpc.getblockchaininfo()["blocks"]
            if blocks < 101:
                bitcoind.generate_block(101 - blocks)
            db.start()
            factory = NodeFactory(None, "fidelity", bitcoind, executor, directory=str(base),
                                  db_provider=db, node_cls=LightningNode, jsonschemas={})
            yield build_graph(factory, base)
        finally:
            if factory is not None:
                _stop_nodes(factory.nodes, executor)
            with contextlib.suppress(Exception):
                bitcoind.stop()
            with contextlib.suppress(Exception):
                db.stop()
            executor.shutdown(wait=False)
            stack.close()


def _stop_nodes(nodes: list[Any], executor: futures.Executor) -> None:
    """``stop`` every node at once (pyln-testing's killall also hunts memory
    leaks, node by node: seconds each, which this check does not need)."""
    def stop(node: Any) -> None:
        node.may_fail = True
        with contextlib.suppress(Exception):
            node.stop()

    for done in [executor.submit(stop, n) for n in nodes]:
        done.result()


@contextlib.contextmanager
def _stdout_to(path: Path) -> Iterator[None]:
    """lightningd logs to its stdout, which pyln-testing leaves as ours: send
    the nodes' (file descriptor 1, which they inherit) to a file meanwhile."""
    import sys

    sys.stdout.flush()
    saved = os.dup(1)
    with open(path, "ab") as sink:
        os.dup2(sink.fileno(), 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
