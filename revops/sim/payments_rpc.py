"""The lightningd (and askrene) methods for our own payments, as the sim serves them.

:func:`register` adds them to the host's :class:`MethodTable`, like
``market_rpc.register``. Handlers get ``node`` (``node.market.payments`` is
the :class:`~revops.sim.payments.PaymentEngine`); answers follow CLN
v26.06's schemas and errors carry CLN's codes and wording
(``lightningd/pay.c``, ``lightningd/invoice.c``, ``plugins/askrene``):

- ``getroute`` (the legacy pathfinder, deprecated in v26.06: refused
  unless the node runs with ``--allow-deprecated-apis``).
- askrene: ``getroutes``, ``askrene-create-layer``, ``askrene-remove-layer``,
  ``askrene-listlayers``, ``askrene-inform-channel``,
  ``askrene-disable-node``, ``askrene-age``. Persistent layers are kept in
  the node's datastore under ``["askrene", "layers", <name>]`` and come
  back after a restart.
- ``invoice``, ``listinvoices``, ``delinvoice``.
- ``sendpay`` (route hops by v26.06's names or the older ones),
  ``waitsendpay`` (``timeout`` counts *simulated* seconds: lightningd's
  clock is the sim's), ``listsendpays``.
- ``dev-payments``: the payment model's knobs (force success or failure).

Notifications raised by a call (``invoice_creation``, a self-payment's
``sendpay_success``) go out at once through ``node.notify``; those of
payments resolving go out with the market step that resolves them.
"""

from __future__ import annotations

import re
from typing import Any

from revops.sim import routing
from revops.sim.askrene import DATASTORE_PREFIX, Askrene, p_inform, p_scidd
from revops.sim.jsonrpc import (
    JSONRPC2_INVALID_PARAMS,
    JSONRPC2_METHOD_NOT_FOUND,
    PAY_IN_PROGRESS,
    PAY_NO_SUCH_PAYMENT,
    PAY_ROUTE_NOT_FOUND,
    MethodSpec,
    MethodTable,
    RpcError,
    bad_param,
    bind_params,
    opt,
    p_array,
    p_bool,
    p_msat,
    p_node_id,
    p_number,
    p_real_range,
    p_scid,
    p_sha256,
    p_string,
    p_u32,
    p_u64,
    req,
)
from revops.sim.payments import DEFAULT_INVOICE_EXPIRY, PaymentEngine, RouteHop

_HEX = re.compile(r"^([0-9a-fA-F]{2})*$")
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")


# -- CLN's parameter types for these methods ---------------------------------------


def p_label(name: str, value: Any) -> str:
    """``param_label``: a string, or a number taken as its text."""
    if isinstance(value, (bool, dict, list)) or value is None:
        raise bad_param(name, value, "should be a string or number")
    if isinstance(value, (int, float)):
        return str(value)
    return value


def p_msat_or_any(name: str, value: Any) -> int | None:
    if value == "any":
        return None
    try:
        amount = p_msat(name, value)
    except RpcError:
        amount = 0
    if amount == 0:
        raise bad_param(name, value, "should be positive msat or 'any'")
    return amount


def p_preimage(name: str, value: Any) -> str:
    if isinstance(value, str) and _HEX64.match(value):
        return value.lower()
    raise bad_param("preimage", value, "should be 64 hex digits")


def p_secret(name: str, value: Any) -> str:
    if isinstance(value, str) and _HEX64.match(value):
        return value.lower()
    raise bad_param(name, value, "should be a 32 byte hex value")


def p_hex(name: str, value: Any) -> str:
    if isinstance(value, str) and _HEX.match(value):
        return value
    raise bad_param(name, value, "should be a hex value")


def p_pay_status(name: str, value: Any) -> str:
    if value in ("complete", "pending", "failed"):
        return value
    raise bad_param(name, value, "should be an invoice status")


def p_index(name: str, value: Any) -> str:
    if value in ("created", "updated"):
        return value
    raise bad_param(name, value, "should be a valid index")


p_rate = p_real_range(0.0, 1.0)
p_nonneg = p_real_range(0.0, 1e9)


def route_hops(value: Any) -> list[RouteHop]:
    """``param_route_hops``: each hop by v26.06's names (``node_id_out``,
    ``short_channel_id_dir``, ``amount_out_msat``, ``cltv_out``) or the
    older ones (``id``, ``channel``, ``amount_msat``, ``delay``); the new
    name wins when a hop has both (getroutes' deprecated ``amount_msat``
    means the amount *into* the hop)."""
    if not isinstance(value, list):
        raise RpcError(JSONRPC2_INVALID_PARAMS, "route must be an array")
    hops = []
    for hop in value:
        if not isinstance(hop, dict):
            raise bad_param("route", hop, "should be an object")
        name, amount = _pick(hop, "amount_out_msat", "amount_msat")
        amount_msat = p_msat(name, amount)
        name, node = _pick(hop, "node_id_out", "id")
        node_id = p_node_id(name, node)
        name, delay = _pick(hop, "cltv_out", "delay")
        cltv = p_number(name, delay)
        if hop.get("short_channel_id_dir") is not None:
            scidd = p_scidd("short_channel_id_dir", hop["short_channel_id_dir"])
            scid = scidd.split("/")[0]
        else:
            _, chan = _pick(hop, "short_channel_id_dir", "channel")
            scid = p_scid("channel", chan)
        hops.append(RouteHop(node_id, scid, amount_msat, cltv))
    return hops


def _pick(hop: dict[str, Any], new: str, old: str) -> tuple[str, Any]:
    """A hop's field by its v26.06 name, else its older one."""
    if hop.get(new) is not None:
        return new, hop[new]
    if hop.get(old) is not None:
        return old, hop[old]
    raise RpcError(JSONRPC2_INVALID_PARAMS, f"missing required parameter: {old}")


# -- helpers --------------------------------------------------------------------------


def _engine(node: Any) -> PaymentEngine:
    return node.market.payments


def _askrene(node: Any) -> Askrene:
    """askrene's layers, with the persistent ones of earlier runs loaded."""
    ask = _engine(node).askrene
    if not ask.loaded:
        store = getattr(node, "datastore", None)
        texts = []
        if store is not None:
            for entry in store.listing(DATASTORE_PREFIX):
                if "string" in entry:
                    texts.append(entry["string"])
        ask.load(texts)
    return ask


def _persist(node: Any) -> None:
    store = getattr(node, "datastore", None)
    for name, text in _engine(node).askrene.dirty():
        if store is None:
            continue
        key = (*DATASTORE_PREFIX, name)
        if text is None:
            if store.get(key) is not None:
                store.delete(key, None)
        else:
            store.store(key, text.encode("utf-8"), "create-or-replace", None)


def _flush(node: Any) -> None:
    """Deliver what the call notified (lightningd does it at once)."""
    notify = getattr(node, "notify", None)
    for topic, payload in _engine(node).take_notes():
        if notify is not None:
            notify(topic, payload)


# -- the methods ------------------------------------------------------------------------


def register(table: MethodTable) -> None:
    """Add the payment and askrene methods to the host's table."""

    @table.method("getroutes", req("source", p_node_id), req("destination", p_node_id),
                  req("amount_msat", p_msat), req("layers", p_array),
                  req("maxfee_msat", p_msat), req("final_cltv", p_u32),
                  opt("maxdelay", p_u32, 2016), opt("maxparts", p_u32, 100),
                  category="payment",
                  description="Find routes from {source} to {destination} for {amount_msat}, "
                              "using {layers}, at most {maxfee_msat} in fees")
    def getroutes(node: Any, source: str, destination: str, amount_msat: int,
                  layers: list[Any], maxfee_msat: int, final_cltv: int, maxdelay: int,
                  maxparts: int) -> dict[str, Any]:
        names = _askrene(node).check_names(layers)
        answer = _engine(node).getroutes(source, destination, amount_msat, names, maxfee_msat,
                                         final_cltv, maxdelay, maxparts)
        if getattr(getattr(node, "config", None), "allow_deprecated_apis", False):
            for route in answer["routes"]:  # v26.06 sends the old names only then
                for hop in route["path"]:
                    hop.update({"next_node_id": hop["node_id_out"],
                                "amount_msat": hop["amount_in_msat"], "delay": hop["cltv_in"]})
        return answer

    table.add(MethodSpec(
        "getroute", GETROUTE_PARAMS, _getroute, "channels",
        "Show route to {id} for {amount_msat}, using {riskfactor} and optional {cltv} "
        "(default 9). If specified search from {fromid} otherwise use this node as source. "
        "Randomize the route with up to {fuzzpercent} (ignored)). If you specify {exclude} "
        "list of channels or nodes, they will be excluded when creating the route. Limit "
        "the number of hops in the route to {maxhops}.", deprecated=True))

    @table.method("askrene-create-layer", req("layer", p_string),
                  opt("persistent", p_bool, False), category="payment",
                  description="Create a new, empty askrene {layer} ({persistent}: saved)")
    def create_layer(node: Any, layer: str, persistent: bool) -> dict[str, Any]:
        created = _askrene(node).create(layer, persistent)
        _persist(node)
        return {"layers": [created.to_json()]}

    @table.method("askrene-remove-layer", req("layer", p_string), category="payment",
                  description="Forget askrene {layer}")
    def remove_layer(node: Any, layer: str) -> dict[str, Any]:
        _askrene(node).remove(layer)
        _persist(node)
        return {}

    @table.method("askrene-listlayers", opt("layer", p_string), category="payment",
                  description="What each askrene layer (or {layer}) changes in the graph")
    def listlayers(node: Any, layer: str | None) -> dict[str, Any]:
        ask = _askrene(node)
        if layer is not None:
            return {"layers": [ask.known(layer).to_json()]}
        return {"layers": [x.to_json() for x in ask.listing()]}

    @table.method("askrene-inform-channel", req("layer", p_string),
                  req("short_channel_id_dir", p_scidd), req("amount_msat", p_msat),
                  req("inform", p_inform), category="payment",
                  description="Tell askrene {layer} that {amount_msat} on "
                              "{short_channel_id_dir} was {inform}")
    def inform_channel(node: Any, layer: str, short_channel_id_dir: str, amount_msat: int,
                       inform: str) -> dict[str, Any]:
        ask = _askrene(node)
        ask.known(layer)
        c, imp = ask.inform(layer, short_channel_id_dir, amount_msat, inform,
                            int(node.market.now))
        _persist(node)
        return {"constraints": [c.to_json(layer)] if c is not None else [],
                "impressions": [imp.to_json(layer)] if imp is not None else []}

    @table.method("askrene-disable-node", req("layer", p_string), req("node", p_node_id),
                  category="payment",
                  description="Disable every channel of {node} whenever {layer} is used")
    def disable_node(sim: Any, layer: str, node: str) -> dict[str, Any]:
        # (``node`` is the parameter's name here; the host is ``sim``.)
        ask = _askrene(sim)
        ask.disable_node(layer, node)
        _persist(sim)
        return {}

    @table.method("askrene-age", req("layer", p_string), req("cutoff", p_u64),
                  category="payment",
                  description="Remove constraints older than {cutoff} from {layer}")
    def age(node: Any, layer: str, cutoff: int) -> dict[str, Any]:
        removed = _askrene(node).age(layer, cutoff)
        _persist(node)
        return {"layer": layer, "num_removed": removed}

    @table.method("invoice", req("amount_msat", p_msat_or_any), req("label", p_label),
                  req("description", p_string), opt("expiry", p_u64, DEFAULT_INVOICE_EXPIRY),
                  opt("fallbacks", p_array), opt("preimage", p_preimage),
                  opt("exposeprivatechannels"), opt("cltv", p_number, 18),
                  opt("deschashonly", p_bool, False), category="payment",
                  description="Create an invoice for {amount_msat} with {label} and "
                              "{description} with optional {expiry} seconds (default 1 week), "
                              "optional {fallbacks} address list(default empty list) and "
                              "optional {preimage} (default autogenerated)")
    def invoice(node: Any, amount_msat: int | None, label: str, description: str, expiry: int,
                fallbacks: Any, preimage: str | None, exposeprivatechannels: Any, cltv: int,
                deschashonly: bool) -> dict[str, Any]:
        if len(description.encode()) > 639 and not deschashonly:
            raise RpcError(JSONRPC2_INVALID_PARAMS,
                           "Descriptions greater than 639 bytes not yet supported "
                           f"(description length {len(description.encode())})")
        result = _engine(node).create_invoice(amount_msat, label, description, expiry, preimage)
        _flush(node)
        return result

    @table.method("listinvoices", opt("label", p_label), opt("invstring", p_string),
                  opt("payment_hash", p_sha256), opt("offer_id", p_sha256),
                  opt("index", p_index), opt("start", p_u64, 0), opt("limit", p_u32),
                  category="payment",
                  description="Show invoice matching {label}, {invstring}, {payment_hash} or "
                              "{offerid} (or all, if no query parameter specified)")
    def listinvoices(node: Any, label: str | None, invstring: str | None,
                     payment_hash: str | None, offer_id: str | None, index: str | None,
                     start: int, limit: int | None) -> dict[str, Any]:
        given = sum(x is not None for x in (label, invstring, payment_hash, offer_id))
        if given > 1:
            raise RpcError(JSONRPC2_INVALID_PARAMS, "Can only specify one of {label}, "
                           "{invstring}, {payment_hash} or {offer_id}")
        if start != 0 and index is None:
            raise RpcError(JSONRPC2_INVALID_PARAMS, "Can only specify {start} with {index}")
        if limit is not None and index is None:
            raise RpcError(JSONRPC2_INVALID_PARAMS, "Can only specify {limit} with {index}")
        engine = _engine(node)
        if invstring is not None:
            payment_hash = engine.hash_of_bolt11(invstring)
            if payment_hash is None:
                raise RpcError(JSONRPC2_INVALID_PARAMS, "Invalid invstring")
        if offer_id is not None:
            return {"invoices": []}  # the sim issues no BOLT 12 invoices
        return {"invoices": engine.list_invoices(label, payment_hash, index, start, limit)}

    @table.method("delinvoice", req("label", p_label), req("status", p_string),
                  opt("desconly", p_bool, False), category="payment",
                  description="Delete unpaid invoice {label} with {status}")
    def delinvoice(node: Any, label: str, status: str, desconly: bool) -> dict[str, Any]:
        return _engine(node).delete_invoice(label, status, desconly)

    @table.method("sendpay", req("route", p_array), req("payment_hash", p_sha256),
                  opt("label", p_string), opt("amount_msat", p_msat), opt("bolt11", p_string),
                  opt("payment_secret", p_secret), opt("partid", p_u64, 0),
                  opt("localinvreqid", p_sha256), opt("groupid", p_u64),
                  opt("payment_metadata", p_hex), opt("description", p_string),
                  category="payment",
                  description="Send along {route} in return for preimage of {payment_hash}")
    def sendpay(node: Any, route: list[Any], payment_hash: str, label: str | None,
                amount_msat: int | None, bolt11: str | None, payment_secret: str | None,
                partid: int, localinvreqid: str | None, groupid: int | None,
                payment_metadata: str | None, description: str | None) -> dict[str, Any]:
        hops = route_hops(route)
        try:
            return _engine(node).sendpay(hops, payment_hash, label, amount_msat, bolt11,
                                         payment_secret, partid, groupid, description)
        finally:
            _flush(node)

    @table.method("waitsendpay", req("payment_hash", p_sha256), opt("timeout", p_number),
                  opt("partid", p_u64, 0), opt("groupid", p_u64), category="payment",
                  description="Wait for payment attempt on {payment_hash} to succeed or fail, "
                              "but only up to {timeout} seconds.")
    async def waitsendpay(node: Any, payment_hash: str, timeout: int | None, partid: int,
                          groupid: int | None) -> dict[str, Any]:
        engine = _engine(node)
        p = engine.find_payment(payment_hash, partid, groupid)
        if p is None:
            raise RpcError(PAY_NO_SUCH_PAYMENT,
                           f"Never attempted payment part {partid} for '{payment_hash}'")
        deadline = None if timeout is None else float(node.market.now) + timeout
        while True:
            if p.status == "complete":
                return p.fields(with_description=False)
            if p.status == "failed":
                raise engine.failure_error(p)
            if deadline is not None and float(node.market.now) >= deadline:
                raise RpcError(PAY_IN_PROGRESS, "Timed out while waiting")
            await node.changed()

    @table.method("listsendpays", opt("bolt11", p_string), opt("payment_hash", p_sha256),
                  opt("status", p_pay_status), opt("index", p_index), opt("start", p_u64, 0),
                  opt("limit", p_u32), category="payment",
                  description="Show sendpay, old and current, optionally limiting to "
                              "{bolt11} or {payment_hash}.")
    def listsendpays(node: Any, bolt11: str | None, payment_hash: str | None,
                     status: str | None, index: str | None, start: int,
                     limit: int | None) -> dict[str, Any]:
        if payment_hash is not None and bolt11 is not None:
            raise RpcError(JSONRPC2_INVALID_PARAMS,
                           "Can only specify one of {bolt11} or {payment_hash}")
        if start != 0 and index is None:
            raise RpcError(JSONRPC2_INVALID_PARAMS, "Can only specify {start} with {index}")
        if limit is not None and index is None:
            raise RpcError(JSONRPC2_INVALID_PARAMS, "Can only specify {limit} with {index}")
        if (payment_hash is not None or bolt11 is not None) and start != 0:
            raise RpcError(JSONRPC2_INVALID_PARAMS,
                           "Cannot use start with bolt11 or payment_hash")
        engine = _engine(node)
        if bolt11 is not None:
            payment_hash = engine.hash_of_bolt11(bolt11)
            if payment_hash is None:
                raise RpcError(JSONRPC2_INVALID_PARAMS, "Invalid invstring: Bad bech32 string")
        return {"payments": engine.list_sendpays(payment_hash, status, index, start, limit)}

    @table.method("dev-payments", opt("success_rate", p_rate), opt("hop_fail_rate", p_rate),
                  opt("liquidity_factor", p_nonneg), opt("hold_min_s", p_nonneg),
                  opt("hold_max_s", p_nonneg), opt("model", p_bool, False),
                  opt("clear", p_bool, False), category="developer", dev=True,
                  description="The payment model's knobs: force remote hops to pass with "
                              "{success_rate} ({model}: back to the model; {clear}: back to "
                              "the scenario's), {hop_fail_rate}, {liquidity_factor}, hold time")
    def dev_payments(node: Any, success_rate: float | None, hop_fail_rate: float | None,
                     liquidity_factor: float | None, hold_min_s: float | None,
                     hold_max_s: float | None, model: bool, clear: bool) -> dict[str, Any]:
        engine = _engine(node)
        hold = None
        if hold_min_s is not None or hold_max_s is not None:
            lo = hold_min_s if hold_min_s is not None else engine.knobs.hold_s[0]
            hi = hold_max_s if hold_max_s is not None else engine.knobs.hold_s[1]
            if not 0 < lo <= hi:
                raise RpcError(JSONRPC2_INVALID_PARAMS,
                               "hold_min_s and hold_max_s must satisfy 0 < min <= max")
            hold = (lo, hi)
        engine.set_knobs(success_rate, hop_fail_rate, liquidity_factor, hold, model, clear)
        return engine.knobs.to_json()


def p_millionths(name: str, value: Any) -> float:
    """``param_millionths``: a non-negative number."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
        return float(value)
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            number = -1.0
        if number >= 0:
            return number
    raise bad_param(name, value, "should be a non-negative floating-point number")


GETROUTE_PARAMS = (req("id", p_node_id), req("amount_msat", p_msat),
                   req("riskfactor", p_millionths), opt("cltv", p_number, 9),
                   opt("fromid", p_node_id), opt("fuzzpercent", p_millionths),
                   opt("exclude", p_array), opt("maxhops", p_number, 20))


def _getroute(node: Any, params: Any) -> dict[str, Any]:
    """The legacy pathfinder (topology plugin), deprecated in v26.06: refused
    as lightningd refuses it unless the node allows deprecated APIs; else
    the cheapest route over gossip and our own channels, as sendpay hops."""
    if not getattr(getattr(node, "config", None), "allow_deprecated_apis", False):
        raise RpcError(JSONRPC2_METHOD_NOT_FOUND, 'Command "getroute" is deprecated')
    args = bind_params(GETROUTE_PARAMS, params)
    engine = _engine(node)
    source = args["fromid"] or node.market.node_id
    known = engine._known_nodes(True)
    for who, what in ((source, "source"), (args["id"], "destination")):
        if who not in known:
            raise RpcError(JSONRPC2_INVALID_PARAMS,
                           f"{who}: unknown {what} node_id (no public channels?)")
    try:
        found = engine.getroutes(source, args["id"], args["amount_msat"], ["auto.localchans"],
                                 1 << 62, args["cltv"], routing.MAX_DELAY, 1)
    except RpcError:
        raise RpcError(PAY_ROUTE_NOT_FOUND, "Could not find a route") from None
    path = found["routes"][0]["path"]
    if len(path) > args["maxhops"]:
        raise RpcError(PAY_ROUTE_NOT_FOUND, f"Shortest route was {len(path)}")
    return {"route": [{"id": hop["node_id_out"],
                       "channel": hop["short_channel_id_dir"].split("/")[0],
                       "direction": int(hop["short_channel_id_dir"].split("/")[1]),
                       "amount_msat": hop["amount_out_msat"], "delay": hop["cltv_out"],
                       "style": "tlv"} for hop in path]}


_getroute.raw_params = True  # type: ignore[attr-defined]  (deprecation is checked first)


def wait_index(node_market: Any, subsystem: str, indexname: str) -> int | None:
    """The ``sendpays`` / ``invoices`` wait indexes (None for others)."""
    engine = getattr(node_market, "payments", None)
    if engine is None:
        return None
    idx = {"sendpays": engine.sendpay_index, "invoices": engine.invoice_index}.get(subsystem)
    return None if idx is None else getattr(idx, indexname)


def wait_details(node_market: Any, subsystem: str, indexname: str,
                 value: int) -> dict[str, Any] | None:
    engine = node_market.payments
    idx = {"sendpays": engine.sendpay_index, "invoices": engine.invoice_index}[subsystem]
    return idx.details.get((indexname, value))


__all__ = ["register", "route_hops", "wait_details", "wait_index"]
