"""The calls the fidelity check makes, the same on the real node and on the simulated one.

These are the RPC calls revops makes (``grep -rhoE 'rpc\\("[a-z-]+"' actors``),
those the peer plugins make (feeadjuster: ``getinfo``, ``listconfigs`` for
``fee-base`` and ``fee-per-satoshi``, ``help`` to detect ``listchannels ...
destination`` and ``setchannel``, ``listpeerchannels``, ``listchannels``,
``setchannel``; cl-revenue-ops: bookkeeper's ``bkpr-*``, ``listforwards``,
``listclosedchannels``), with the parameter mistakes a plugin makes, whose
errors must match too.

:func:`run_probes` runs them through a ``call(method, params, filter)``
function and returns one :class:`Observation` per probe, in order. Some
probes feed the next (a rebalance: ``invoice``, ``getroutes``, ``sendpay``,
``waitsendpay``). What a probe needs from the node it talks to (its own id,
a peer, a channel) is in the ``context`` the caller builds for that node;
a probe whose context is missing is skipped on both sides.

Probes that change something (``setchannel``, ``invoice``, ``sendpay``,
askrene layers, the datastore) run only when ``writes`` is true: on a
regtest node, never on one with real money.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# A valid public key (the generator point) that no node in either graph has.
UNKNOWN_NODE = "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"
NOT_A_POINT = "02" + "11" * 32  # 33 bytes, but not a point on the curve
UNKNOWN_CHANNEL_ID = "ab" * 32
UNKNOWN_SCID = "1x1x1"
LAYER = "fidelity"
REBALANCE_MSAT = 50_000
INVOICE_LABEL = "fidelity-rebalance"


class ProbeSkipped(Exception):
    """The node lacks what this probe needs (no second channel, say)."""


@dataclass(frozen=True)
class Observation:
    """One probe's call and what came back (exactly one of result, error)."""

    name: str
    method: str
    params: Any
    result: Any = None
    error: dict[str, Any] | None = None
    skipped: str | None = None
    heavy: bool = False

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "method": self.method, "params": self.params}
        if self.skipped is not None:
            out["skipped"] = self.skipped
        elif self.error is not None:
            out["error"] = self.error
        else:
            out["result"] = self.result
        return out


Call = Callable[[str, Any, Any], Any]


class CallFailed(Exception):
    """The node answered with a JSON-RPC error (``error`` is that object)."""

    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(error.get("message", ""))
        self.error = error


class _Prober:
    def __init__(self, call: Call, context: dict[str, str], writes: bool, heavy: bool,
                 settle: Callable[[], None]) -> None:
        self._call = call
        self.ctx = context
        self.writes = writes
        self.heavy = heavy
        self.settle = settle
        self.observations: list[Observation] = []

    def need(self, *keys: str) -> list[str]:
        missing = [k for k in keys if not self.ctx.get(k)]
        if missing:
            raise ProbeSkipped("no " + ", ".join(missing))
        return [self.ctx[k] for k in keys]

    def probe(self, name: str, method: str, params: Any = None, *, flt: Any = None,
              heavy: bool = False, write: bool = False,
              needs: tuple[str, ...] = ()) -> Observation:
        """Call and record; a skipped probe records why."""
        if write and not self.writes:
            return self._skip(name, method, params, "changes the node (read-only run)")
        if heavy and not self.heavy:
            return self._skip(name, method, params, "unbounded answer on a large node")
        missing = [k for k in needs if not self.ctx.get(k)]
        if missing:
            return self._skip(name, method, params, "no " + ", ".join(missing))
        try:
            result = self._call(method, params if params is not None else {}, flt)
        except CallFailed as e:
            obs = Observation(name, method, params, error=e.error, heavy=heavy)
        else:
            obs = Observation(name, method, params, result=result, heavy=heavy)
        self.observations.append(obs)
        return obs

    def _skip(self, name: str, method: str, params: Any, why: str) -> Observation:
        obs = Observation(name, method, params, skipped=why)
        self.observations.append(obs)
        return obs


def run_probes(call: Call, context: dict[str, str], *, writes: bool, heavy: bool = True,
               settle: Callable[[], None] = lambda: None) -> list[Observation]:
    """Every probe, in order. ``settle()`` is called where a payment must
    resolve before the next call (the sim moves its clock there)."""
    p = _Prober(call, context, writes, heavy, settle)
    _node(p)
    _channels(p)
    _forwards(p)
    _payments_read(p)
    _bookkeeper(p, "")
    _setchannel(p)  # (probes that change something record why they were skipped)
    _rebalance(p)
    if writes:
        _bookkeeper(p, " after rebalance")
    _datastore(p)
    return p.observations


# -- the probes, by subject ------------------------------------------------------------


def _node(p: _Prober) -> None:
    p.probe("getinfo", "getinfo", {})
    p.probe("listconfigs", "listconfigs", {})
    p.probe("listconfigs fee-base", "listconfigs", {"config": "fee-base"})
    p.probe("listconfigs fee-per-satoshi (positional)", "listconfigs", ["fee-per-satoshi"])
    p.probe("listconfigs a multi option", "listconfigs", {"config": "plugin"})
    p.probe("listconfigs a flag", "listconfigs", {"config": "mainnet"})
    p.probe("listconfigs unknown option", "listconfigs", {"config": "no-such-option"})
    p.probe("listconfigs bad param", "listconfigs", {"configs": "fee-base"})
    p.probe("help", "help", {})
    p.probe("help listchannels", "help", {"command": "listchannels"})
    p.probe("help unknown command", "help", {"command": "no-such-command"})
    p.probe("plugin list", "plugin", {"subcommand": "list"})
    p.probe("plugin bad subcommand", "plugin", {"subcommand": "frobnicate"})
    p.probe("unknown method", "no-such-method", {})
    p.probe("feerates perkw", "feerates", {"style": "perkw"})
    p.probe("feerates perkb", "feerates", {"style": "perkb"})
    p.probe("feerates bad style", "feerates", {"style": "perbyte"})
    p.probe("feerates missing style", "feerates", {})
    p.probe("listfunds", "listfunds", {})


def _channels(p: _Prober) -> None:
    ctx = p.ctx
    p.probe("listpeerchannels", "listpeerchannels", {}, heavy=True)
    p.probe("listpeerchannels id", "listpeerchannels", {"id": ctx.get("peer_out")},
            needs=("peer_out",))
    p.probe("listpeerchannels filter", "listpeerchannels", {},
            flt={"channels": [{"short_channel_id": True, "peer_id": True, "state": True,
                               "to_us_msat": True, "spendable_msat": True,
                               "updates": {"local": {"fee_proportional_millionths": True}}}]})
    p.probe("listpeerchannels unknown peer", "listpeerchannels", {"id": UNKNOWN_NODE})
    p.probe("listpeerchannels bad id", "listpeerchannels", {"id": "nonsense"})
    p.probe("listpeerchannels id not on the curve", "listpeerchannels", {"id": NOT_A_POINT})
    p.probe("listpeers", "listpeers", {}, heavy=True)
    p.probe("listchannels", "listchannels", {}, heavy=True)
    p.probe("listchannels short_channel_id", "listchannels",
            {"short_channel_id": ctx.get("scid_out")}, needs=("scid_out",))
    p.probe("listchannels destination", "listchannels", {"destination": ctx.get("peer_out")},
            needs=("peer_out",))
    p.probe("listchannels source", "listchannels", {"source": ctx.get("us")}, needs=("us",))
    p.probe("listchannels bad scid", "listchannels", {"short_channel_id": "nonsense"})
    p.probe("listchannels two filters", "listchannels",
            {"source": ctx.get("us"), "destination": ctx.get("peer_out")},
            needs=("us", "peer_out"))
    p.probe("listnodes us", "listnodes", {"id": ctx.get("us")}, needs=("us",))
    p.probe("listclosedchannels", "listclosedchannels", {})
    p.probe("listclosedchannels id", "listclosedchannels", {"id": ctx.get("closed_peer")},
            needs=("closed_peer",))
    p.probe("listclosedchannels bad id", "listclosedchannels", {"id": "nonsense"})


def _forwards(p: _Prober) -> None:
    ctx = p.ctx
    p.probe("listforwards", "listforwards", {}, heavy=True)
    p.probe("listforwards created page 1", "listforwards",
            {"index": "created", "start": 0, "limit": 2})
    p.probe("listforwards created page 2", "listforwards",
            {"index": "created", "start": 3, "limit": 2})
    p.probe("listforwards updated page", "listforwards",
            {"index": "updated", "start": 1, "limit": 3})
    p.probe("listforwards created past the end", "listforwards",
            {"index": "created", "start": 10**9, "limit": 10})
    p.probe("listforwards settled", "listforwards",
            {"status": "settled", "index": "created", "start": 0, "limit": 5})
    p.probe("listforwards failed", "listforwards",
            {"status": "failed", "index": "created", "start": 0, "limit": 5})
    p.probe("listforwards local_failed", "listforwards",
            {"status": "local_failed", "index": "created", "start": 0, "limit": 5})
    p.probe("listforwards in_channel", "listforwards",
            {"in_channel": ctx.get("scid_in"), "status": "settled"}, needs=("scid_in",))
    p.probe("listforwards out_channel", "listforwards",
            {"out_channel": ctx.get("scid_out"), "status": "settled"}, needs=("scid_out",))
    p.probe("listforwards start without index", "listforwards", {"start": 1})
    p.probe("listforwards limit without index", "listforwards", {"limit": 1})
    p.probe("listforwards unknown index", "listforwards", {"index": "deleted"})
    p.probe("listforwards bad index", "listforwards", {"index": "nope"})
    p.probe("listforwards bad status", "listforwards", {"status": "nope"})
    p.probe("listforwards channel with start", "listforwards",
            {"in_channel": ctx.get("scid_in"), "index": "created", "start": 1},
            needs=("scid_in",))
    p.probe("listforwards bad limit", "listforwards",
            {"index": "created", "start": 0, "limit": -1})
    p.probe("wait forwards created", "wait",
            {"subsystem": "forwards", "indexname": "created", "nextvalue": 1})
    p.probe("wait forwards updated", "wait",
            {"subsystem": "forwards", "indexname": "updated", "nextvalue": 1})
    p.probe("wait bad subsystem", "wait",
            {"subsystem": "nope", "indexname": "created", "nextvalue": 1})


def _payments_read(p: _Prober) -> None:
    p.probe("listsendpays", "listsendpays", {}, heavy=True)
    p.probe("listsendpays page", "listsendpays", {"index": "created", "start": 1, "limit": 1})
    p.probe("listsendpays bad status", "listsendpays", {"status": "nope"})
    p.probe("listinvoices page", "listinvoices", {"index": "created", "start": 1, "limit": 2})
    p.probe("listinvoices unknown label", "listinvoices", {"label": "no-such-label"})
    p.probe("waitsendpay never attempted", "waitsendpay",
            {"payment_hash": "00" * 32, "timeout": 1})
    p.probe("getroute (deprecated)", "getroute",
            {"id": p.ctx.get("peer_out"), "amount_msat": 1000, "riskfactor": 1},
            needs=("peer_out",))
    p.probe("askrene-listlayers", "askrene-listlayers", {})
    p.probe("askrene-listlayers unknown", "askrene-listlayers", {"layer": "no-such-layer"})


def _bookkeeper(p: _Prober, when: str) -> None:
    p.probe("listchainmoves" + when, "listchainmoves", {}, heavy=True)
    p.probe("listchannelmoves" + when, "listchannelmoves", {}, heavy=True)
    p.probe("listchannelmoves page" + when, "listchannelmoves",
            {"index": "created", "start": 1, "limit": 2})
    p.probe("bkpr-listbalances" + when, "bkpr-listbalances", {})
    p.probe("bkpr-listaccountevents" + when, "bkpr-listaccountevents", {}, heavy=True)
    p.probe("bkpr-listaccountevents account" + when, "bkpr-listaccountevents",
            {"account": p.ctx.get("channel_id_out")}, needs=("channel_id_out",))
    p.probe("bkpr-listincome" + when, "bkpr-listincome", {}, heavy=True)
    p.probe("bkpr-listincome unconsolidated" + when, "bkpr-listincome",
            {"consolidate_fees": False}, heavy=True)
    p.probe("bkpr-channelsapy" + when, "bkpr-channelsapy", {})
    if not when:
        p.probe("bkpr-listaccountevents unknown account", "bkpr-listaccountevents",
                {"account": UNKNOWN_CHANNEL_ID})
        p.probe("bkpr-listaccountevents account and payment_id", "bkpr-listaccountevents",
                {"account": "wallet", "payment_id": "00" * 32})
        p.probe("bkpr-listincome bad consolidate_fees", "bkpr-listincome",
                {"consolidate_fees": "yes"})


def _setchannel(p: _Prober) -> None:
    ctx = p.ctx
    scid = ctx.get("scid_out")
    need = ("scid_out",)

    def sc(name: str, params: Any, needs: tuple[str, ...] = need) -> None:
        p.probe(name, "setchannel", params, write=True, needs=needs)

    sc("setchannel feeppm", {"id": scid, "feeppm": 321})
    sc("setchannel every field", {"id": scid, "feebase": 1001, "feeppm": 322, "htlcmin": 1000,
                                  "htlcmax": 100_000, "enforcedelay": 0})
    sc("setchannel positional", [scid, 1000, 323])
    sc("setchannel htlcmax above capacity", {"id": scid, "htlcmax": 10**15})
    sc("setchannel by peer id", {"id": ctx.get("peer_out"), "feeppm": 324}, ("peer_out",))
    sc("setchannel same values again", {"id": scid, "feebase": 1000, "feeppm": 324})
    sc("setchannel unknown scid", {"id": UNKNOWN_SCID, "feeppm": 1}, ())
    sc("setchannel unknown channel id", {"id": UNKNOWN_CHANNEL_ID, "feeppm": 1}, ())
    sc("setchannel unknown peer", {"id": UNKNOWN_NODE, "feeppm": 1}, ())
    sc("setchannel bad id", {"id": "nonsense", "feeppm": 1}, ())
    sc("setchannel closed channel", {"id": ctx.get("scid_closed"), "feeppm": 1},
       ("scid_closed",))
    sc("setchannel missing id", {"feeppm": 1}, ())
    sc("setchannel negative feeppm", {"id": scid, "feeppm": -1})
    sc("setchannel feeppm above u32", {"id": scid, "feeppm": 2**32})
    sc("setchannel feeppm not a number", {"id": scid, "feeppm": "ten"})
    sc("setchannel feeppm fraction", {"id": scid, "feeppm": 1.5})
    sc("setchannel feebase above u32", {"id": scid, "feebase": 2**32})
    sc("setchannel feebase with unit", {"id": scid, "feebase": "1sat"})
    sc("setchannel htlcmax below htlcmin", {"id": scid, "htlcmin": 2000, "htlcmax": 1000})
    sc("setchannel bad enforcedelay", {"id": scid, "enforcedelay": -5})
    sc("setchannel back to defaults", {"id": scid, "feebase": 1000, "feeppm": 10,
                                       "htlcmin": 1000})


def _rebalance(p: _Prober) -> None:
    """A circular payment as revops makes one: askrene layer, getroutes
    between the two peers, an invoice to ourselves, sendpay, waitsendpay."""
    ctx = p.ctx
    w = {"write": True}
    p.probe("askrene-create-layer", "askrene-create-layer", {"layer": LAYER}, **w)
    p.probe("askrene-create-layer again", "askrene-create-layer", {"layer": LAYER}, **w)
    p.probe("askrene-disable-node", "askrene-disable-node",
            {"layer": LAYER, "node": ctx.get("us")}, needs=("us",), **w)
    p.probe("askrene-inform-channel", "askrene-inform-channel",
            {"layer": LAYER, "short_channel_id_dir": f"{ctx.get('scid_in')}/0",
             "amount_msat": 1000, "inform": "unconstrained"}, needs=("scid_in",), **w)
    # (No probe with a bad ``inform``: CLN v26.06's askrene aborts on one
    # (param_inform fails the command but returns NULL), and lightningd
    # goes down with it.)
    p.probe("askrene-listlayers layer", "askrene-listlayers", {"layer": LAYER}, **w)
    back = _channel_back(p)
    mid = REBALANCE_MSAT if back is None else REBALANCE_MSAT + _fee_up(back, REBALANCE_MSAT)
    final_cltv = 18 + (back["delay"] if back is not None else 0)
    routes = p.probe("getroutes", "getroutes",
                     {"source": ctx.get("peer_out"), "destination": ctx.get("peer_in"),
                      "amount_msat": mid, "layers": [LAYER],
                      "maxfee_msat": 5_000, "final_cltv": final_cltv},
                     needs=("peer_out", "peer_in"), **w)
    p.probe("getroutes unknown layer", "getroutes",
            {"source": ctx.get("peer_out"), "destination": ctx.get("peer_in"),
             "amount_msat": REBALANCE_MSAT, "layers": ["no-such-layer"],
             "maxfee_msat": 5_000, "final_cltv": 18}, needs=("peer_out", "peer_in"), **w)
    p.probe("getroutes too much", "getroutes",
            {"source": ctx.get("peer_out"), "destination": ctx.get("peer_in"),
             "amount_msat": 10**13, "layers": [LAYER], "maxfee_msat": 5_000,
             "final_cltv": 18}, needs=("peer_out", "peer_in"), **w)
    p.probe("getroutes unknown source", "getroutes",
            {"source": UNKNOWN_NODE, "destination": ctx.get("peer_in"),
             "amount_msat": REBALANCE_MSAT, "layers": [], "maxfee_msat": 5_000,
             "final_cltv": 18}, needs=("peer_in",), **w)
    inv = p.probe("invoice", "invoice", {"amount_msat": REBALANCE_MSAT, "label": INVOICE_LABEL,
                                         "description": "fidelity rebalance"}, **w)
    p.probe("invoice label taken", "invoice", {"amount_msat": REBALANCE_MSAT,
                                               "label": INVOICE_LABEL, "description": "x"}, **w)
    p.probe("invoice any amount", "invoice", {"amount_msat": "any", "label": "fidelity-any",
                                              "description": "fidelity any"}, **w)
    p.probe("invoice bad amount", "invoice", {"amount_msat": -5, "label": "fidelity-bad",
                                              "description": "x"}, **w)
    p.probe("listinvoices label", "listinvoices", {"label": INVOICE_LABEL}, **w)
    route = _circular_route(p, routes, inv)
    if route is None:
        return
    phash = inv.result["payment_hash"]
    p.probe("sendpay", "sendpay", {"route": route, "payment_hash": phash,
                                   "payment_secret": inv.result["payment_secret"],
                                   "amount_msat": REBALANCE_MSAT, "label": INVOICE_LABEL,
                                   "bolt11": inv.result["bolt11"]}, **w)
    p.probe("listsendpays payment_hash (pending)", "listsendpays", {"payment_hash": phash}, **w)
    p.settle()
    p.probe("waitsendpay", "waitsendpay", {"payment_hash": phash, "timeout": 60}, **w)
    p.probe("listsendpays payment_hash", "listsendpays", {"payment_hash": phash}, **w)
    p.probe("sendpay again", "sendpay", {"route": route, "payment_hash": phash,
                                         "payment_secret": inv.result["payment_secret"],
                                         "amount_msat": REBALANCE_MSAT}, **w)
    p.probe("listinvoices paid", "listinvoices", {"payment_hash": phash}, **w)
    unknown = secrets.token_hex(32)
    p.probe("sendpay unknown payment", "sendpay",
            {"route": route, "payment_hash": unknown,
             "payment_secret": secrets.token_hex(32), "amount_msat": REBALANCE_MSAT}, **w)
    p.settle()
    p.probe("waitsendpay failed", "waitsendpay", {"payment_hash": unknown, "timeout": 60}, **w)
    p.probe("listsendpays failed", "listsendpays", {"status": "failed", "index": "created",
                                                    "start": 0, "limit": 5}, **w)
    p.probe("sendpay empty route", "sendpay", {"route": [], "payment_hash": "11" * 32}, **w)
    p.probe("delinvoice unknown", "delinvoice", {"label": "no-such-label", "status": "unpaid"},
            **w)
    p.probe("delinvoice wrong status", "delinvoice",
            {"label": "fidelity-any", "status": "paid"}, **w)
    p.probe("delinvoice", "delinvoice", {"label": "fidelity-any", "status": "unpaid"}, **w)
    p.probe("bkpr-listaccountevents payment_id", "bkpr-listaccountevents",
            {"payment_id": phash}, **w)
    p.probe("askrene-remove-layer", "askrene-remove-layer", {"layer": LAYER}, **w)
    p.probe("askrene-remove-layer again", "askrene-remove-layer", {"layer": LAYER}, **w)


def _channel_back(p: _Prober) -> dict[str, Any] | None:
    """``peer_in``'s side of our channel with it, as gossip shows it."""
    if not (p.writes and p.ctx.get("scid_in") and p.ctx.get("peer_in")):
        return None
    obs = p.probe("listchannels short_channel_id in", "listchannels",
                  {"short_channel_id": p.ctx["scid_in"]})
    if obs.result is None:
        return None
    return next((c for c in obs.result["channels"] if c["source"] == p.ctx["peer_in"]), None)


def _fee_up(update: dict[str, Any], amount: int) -> int:
    """BOLT 7's fee for forwarding ``amount``, proportional part rounded up."""
    return update["base_fee_millisatoshi"] + (
        amount * update["fee_per_millionth"] + 999_999) // 1_000_000


def _circular_route(p: _Prober, routes: Observation,
                    inv: Observation) -> list[dict[str, Any]] | None:
    """Our channel to ``peer_out``, getroutes' path to ``peer_in`` (for the
    amount and CLTV ``peer_in`` needs to forward to us), and ``peer_in``'s
    channel back to us: the route revops sends."""
    ctx = p.ctx
    if (routes.result is None or inv.result is None or not routes.result.get("routes")
            or not ctx.get("scid_out") or not ctx.get("scid_in")):
        return None
    path = routes.result["routes"][0]["path"]
    hops = [{"id": ctx["peer_out"], "channel": ctx["scid_out"],
             "amount_msat": path[0]["amount_in_msat"], "delay": path[0]["cltv_in"]}]
    for hop in path:
        hops.append({"id": hop["node_id_out"],
                     "channel": hop["short_channel_id_dir"].split("/")[0],
                     "amount_msat": hop["amount_out_msat"], "delay": hop["cltv_out"]})
    hops.append({"id": ctx["us"], "channel": ctx["scid_in"], "amount_msat": REBALANCE_MSAT,
                 "delay": 18})
    return hops


def _datastore(p: _Prober) -> None:
    w = {"write": True}
    key = ["fidelity", "probe"]
    p.probe("datastore", "datastore", {"key": key, "string": "one"}, **w)
    p.probe("datastore must-create again", "datastore", {"key": key, "string": "two"}, **w)
    p.probe("datastore bad mode", "datastore", {"key": key, "string": "two", "mode": "nope"},
            **w)
    p.probe("listdatastore", "listdatastore", {"key": ["fidelity"]}, **w)
    p.probe("deldatastore", "deldatastore", {"key": key}, **w)
    p.probe("deldatastore again", "deldatastore", {"key": key}, **w)
