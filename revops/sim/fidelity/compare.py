"""Comparing what the real lightningd and the simulated one answered (pure functions).

Answers are compared by *shape*, not value: the two nodes hold different
channels and money, but a plugin reads the same keys with the same JSON
types from both. :class:`Shape` is the union of every value seen at a
place (arrays merge all their elements), so a key that only some
forwards have (``failcode``) is compared as present when any row has it.
Rows of different kinds are kept apart: array elements with a ``type``
(bookkeeper's chain, channel and fee events) or a ``status`` (forwards,
payments, invoices) are compared kind by kind.

A :class:`Difference` is one place where the shapes, or the errors,
disagree:

- ``missing`` / ``extra``: a key only the real node / only the sim gives;
- ``type``: the same key with other JSON types;
- ``empty``: an array the real node filled and the sim left empty (the
  sim's scenario should fill it; when only the sim's is filled, the real
  node had nothing to show: that is reported as ``unverified``, a note
  that does not fail the check);
- ``variant``: a kind of row (a ``type`` or ``status``) the real node
  listed and the sim did not (one only the sim listed is ``unverified``);
- ``pagination``: a page of a paginated list (``index``, ``start``,
  ``limit``) that breaks the rules: more than ``limit`` rows, an index
  below ``start``, or out of order;
- ``outcome``: one node answered, the other refused;
- ``error-code`` / ``error-message``: both refused, differently (messages
  are compared after replacing each node's own ids with placeholders);
- ``notification``: a topic one node sent and the other did not.

Differences that are known and harmless are in :data:`ALLOWED`, each with
its reason; everything else is *unexplained* and fails the check.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from revops.sim.fidelity.probes import Observation


DISCRIMINATORS = ("type", "status")


@dataclass
class Shape:
    """The JSON types seen at one place, and below it (array elements
    apart by their kind, see :data:`DISCRIMINATORS`)."""

    types: set[str] = field(default_factory=set)
    fields: dict[str, Shape] = field(default_factory=dict)
    items: dict[str, Shape] = field(default_factory=dict)

    def add(self, value: Any) -> Shape:
        if isinstance(value, dict):
            self.types.add("object")
            for key, sub in value.items():
                self.fields.setdefault(key, Shape()).add(sub)
        elif isinstance(value, list):
            self.types.add("array")
            for sub in value:
                self.items.setdefault(variant_of(sub), Shape()).add(sub)
        else:
            self.types.add(json_type(value))
        return self


def variant_of(value: Any) -> str:
    """``type=chain``, ``status=settled``, or "" for an element of no kind."""
    if isinstance(value, dict):
        for key in DISCRIMINATORS:
            if isinstance(value.get(key), str):
                return f"{key}={value[key]}"
    return ""


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return type(value).__name__


def shape_of(*values: Any) -> Shape:
    shape = Shape()
    for v in values:
        shape.add(v)
    return shape


@dataclass(frozen=True)
class Difference:
    probe: str
    path: str
    kind: str
    real: str
    sim: str

    def line(self) -> str:
        where = f"{self.probe}: {self.path}" if self.path else self.probe
        return f"{self.kind:<14} {where}  (real: {self.real}; sim: {self.sim})"


def _types(shape: Shape) -> str:
    return "|".join(sorted(shape.types)) or "nothing"


def diff_shapes(probe: str, real: Shape, sim: Shape, path: str = "") -> list[Difference]:
    """Every place where two shapes disagree, outermost first."""
    out: list[Difference] = []
    if real.types != sim.types:
        out.append(Difference(probe, path, "type", _types(real), _types(sim)))
    if "object" in real.types and "object" in sim.types:
        for key in real.fields:
            sub = f"{path}.{key}" if path else key
            if key not in sim.fields:
                out.append(Difference(probe, sub, "missing", _types(real.fields[key]), "absent"))
            else:
                out.extend(diff_shapes(probe, real.fields[key], sim.fields[key], sub))
        for key in sim.fields:
            if key not in real.fields:
                sub = f"{path}.{key}" if path else key
                out.append(Difference(probe, sub, "extra", "absent", _types(sim.fields[key])))
    if "array" in real.types and "array" in sim.types:
        out.extend(_diff_items(probe, real.items, sim.items, path))
    return out


def _diff_items(probe: str, real: dict[str, Shape], sim: dict[str, Shape],
                path: str) -> list[Difference]:
    if not real or not sim:
        if real:
            return [Difference(probe, f"{path}[]", "empty", "filled", "empty")]
        if sim:
            return [Difference(probe, f"{path}[]", "unverified", "empty", "filled")]
        return []
    out: list[Difference] = []
    for kind in real:
        sub = f"{path}[{kind}]" if kind else f"{path}[]"
        if kind in sim:
            out.extend(diff_shapes(probe, real[kind], sim[kind], sub))
        else:
            out.append(Difference(probe, sub, "variant", "listed", "never listed"))
    for kind in sim:
        if kind not in real:
            out.append(Difference(probe, f"{path}[{kind}]", "unverified", "never listed",
                                  "listed"))
    return out


# -- errors ------------------------------------------------------------------------

_PATTERNS = (
    (re.compile(r"\b0[23][0-9a-fA-F]{64}\b"), "<node_id>"),
    (re.compile(r"\b[0-9a-fA-F]{64}\b"), "<hash>"),
    (re.compile(r"\b[0-9]+x[0-9]+x[0-9]+(/[01])?\b"), "<scid>"),
    (re.compile(r"\b[0-9]+"), "<n>"),
)


def normalize_message(message: str, context: Mapping[str, str]) -> str:
    """An error message with this node's own ids as ``{name}`` placeholders
    and other ids, hashes and large numbers as their kind."""
    text = message
    for key, value in sorted(context.items(), key=lambda kv: -len(kv[1] or "")):
        if value and len(value) >= 5:
            text = text.replace(value, "{" + key + "}")
    for rx, placeholder in _PATTERNS:
        text = rx.sub(placeholder, text)
    return text


def compare_observations(real: Sequence[Observation], sim: Sequence[Observation],
                         real_context: Mapping[str, str],
                         sim_context: Mapping[str, str]) -> list[Difference]:
    """Probe by probe (matched by name); probes skipped on either side are
    not compared."""
    by_name = {o.name: o for o in sim}
    out: list[Difference] = []
    for r in real:
        s = by_name.get(r.name)
        if s is None or r.skipped is not None or s.skipped is not None:
            continue
        out.extend(compare_one(r, s, real_context, sim_context))
    return out


def compare_one(r: Observation, s: Observation, real_context: Mapping[str, str],
                sim_context: Mapping[str, str]) -> list[Difference]:
    name = r.name
    if r.error is None and s.error is None:
        return (diff_shapes(name, shape_of(r.result), shape_of(s.result))
                + page_problems(r, "real") + page_problems(s, "sim"))
    if (r.error is None) != (s.error is None):
        return [Difference(name, "", "outcome", _outcome(r, real_context),
                           _outcome(s, sim_context))]
    assert r.error is not None and s.error is not None
    out = []
    if r.error.get("code") != s.error.get("code"):
        out.append(Difference(name, "error.code", "error-code", str(r.error.get("code")),
                              str(s.error.get("code"))))
    rm = normalize_message(str(r.error.get("message", "")), real_context)
    sm = normalize_message(str(s.error.get("message", "")), sim_context)
    if rm != sm:
        out.append(Difference(name, "error.message", "error-message", rm, sm))
    if "data" in r.error or "data" in s.error:
        out.extend(diff_shapes(name, shape_of(r.error.get("data")), shape_of(s.error.get("data")),
                               "error.data"))
    return out


def page_problems(o: Observation, side: str) -> list[Difference]:
    """A paginated answer (``index``/``start``/``limit``) checked against the
    rules: at most ``limit`` rows, each index at least ``start``, ascending."""
    params = o.params if isinstance(o.params, dict) else {}
    index = params.get("index")
    if index not in ("created", "updated") or not isinstance(o.result, dict):
        return []
    start, limit = int(params.get("start") or 0), params.get("limit")
    rows = next((v for v in o.result.values() if isinstance(v, list)), [])
    seen = [row.get(f"{index}_index") for row in rows if isinstance(row, dict)]
    problems = []
    if limit is not None and len(rows) > int(limit):
        problems.append(f"{len(rows)} rows for limit {limit}")
    if any(not isinstance(i, int) for i in seen):
        problems.append(f"a row without {index}_index")
    elif any(i < start for i in seen):
        problems.append(f"{index}_index below start {start}")
    elif seen != sorted(set(seen)):
        problems.append(f"{index}_index not ascending")
    if not problems:
        return []
    what = "; ".join(problems)
    return [Difference(o.name, "", "pagination", what if side == "real" else "ok",
                       what if side == "sim" else "ok")]


def _outcome(o: Observation, context: Mapping[str, str]) -> str:
    if o.error is None:
        return "answered"
    return f"error {o.error.get('code')}: {normalize_message(str(o.error.get('message')), context)}"


# -- notifications -----------------------------------------------------------------

# Topics revops and the peer plugins subscribe to: each must come from both
# nodes, in the same shape.
COMPARED_TOPICS = ("forward_event", "channel_state_changed", "block_added",
                   "sendpay_success", "sendpay_failure", "invoice_payment", "invoice_creation")


def notification_shapes(notes: Iterable[Mapping[str, Any]]) -> dict[str, Shape]:
    """Per topic (``forward_event`` per status), the union of payload shapes."""
    shapes: dict[str, Shape] = {}
    for note in notes:
        topic = str(note.get("topic"))
        params = note.get("params") or {}
        key = topic
        if topic == "forward_event":
            status = (params.get("forward_event") or {}).get("status")
            key = f"forward_event[status={status}]"
        shapes.setdefault(key, Shape()).add(params)
    return shapes


def compare_notifications(real: Iterable[Mapping[str, Any]],
                          sim: Iterable[Mapping[str, Any]]) -> list[Difference]:
    rs, ss = notification_shapes(real), notification_shapes(sim)
    out: list[Difference] = []
    for key in sorted(set(rs) | set(ss)):
        topic = key.split("[", 1)[0]
        probe = f"notification {key}"
        if key in rs and key in ss:
            out.extend(diff_shapes(probe, rs[key], ss[key]))
        elif topic in COMPARED_TOPICS or key in rs:
            out.append(Difference(probe, "", "notification",
                                  "sent" if key in rs else "never sent",
                                  "sent" if key in ss else "never sent"))
    return out


# -- what is known and harmless ----------------------------------------------------


@dataclass(frozen=True)
class Allowance:
    """Differences matching ``probe``/``path`` globs (and ``kind``) are
    explained by ``reason``."""

    probe: str
    path: str
    kinds: tuple[str, ...]
    reason: str

    def matches(self, d: Difference) -> bool:
        return (d.kind in self.kinds and fnmatch.fnmatchcase(d.probe, _literal(self.probe))
                and fnmatch.fnmatchcase(d.path, _literal(self.path)))


def _literal(glob: str) -> str:
    """A glob whose brackets are the paths' own (``events[type=chain]``)."""
    return "".join({"[": "[[]", "]": "[]]"}.get(c, c) for c in glob)


_PLUGIN_OPTIONS = ("askrene-*", "autoclean-*", "dev-autoclean-*", "bitcoin-*", "bwatch-*",
                   "experimental-bwatch", "funder-*", "exposesecret-*", "fetchinvoice-*",
                   "dev-invoice-bpath-scid", "dev-currency-expiry", "disable-mpp", "xpay-*",
                   "dev-xpay-*", "renepay-*", "bkpr-*", "sql-*", "grpc-*", "clnrest-*",
                   "commando-*", "chanbackup-*", "recover-*")

_NO_P2P = "the sim has no peer-to-peer address to bind (getinfo's binding, listconfigs' addr)"

ALLOWED: tuple[Allowance, ...] = (
    Allowance("listconfigs*", "configs.dev-*", ("missing",),
              "developer options pyln-testing sets on the real node; the sim has none"),
    *(Allowance("listconfigs*", f"configs.{glob}", ("missing",),
                "an option of one of CLN's built-in plugins (bcli, askrene, xpay, funder, "
                "...): the sim runs none of them as processes, it answers their methods "
                "itself") for glob in _PLUGIN_OPTIONS),
    Allowance("getinfo", "binding*", ("missing", "empty"), _NO_P2P),
    Allowance("listconfigs*", "configs.addr.*", ("empty",), _NO_P2P),
    Allowance("notification connect", "", ("notification",),
              "the sim models no peer connections: every peer is connected from the start"),
    Allowance("list*channels*", "*.last_stable_connection", ("extra",),
              "lightningd adds it once a peer has stayed connected a minute; the real "
              "graph is younger than that, the sim's peers have been connected for long"),
    Allowance("bkpr-listaccountevents account*", "events[type=onchain_fee]", ("variant",),
              "on-chain fees of funding transactions: the real graph's channels were "
              "funded during the run, the sim's wallet does not pay for channel opens"),
)


NOTES = {"unverified": "only the sim had rows of this kind: the real node showed none "
                       "to compare with",
         "variant": "the node's own data has rows of a kind the sim's scenario does not "
                    "make (only a check on our own regtest graph requires them)"}


def classify(diffs: Iterable[Difference], allowed: Sequence[Allowance] = ALLOWED,
             strict: bool = True) -> tuple[list[Difference], list[tuple[Difference, str]]]:
    """(unexplained, [(explained, reason)]). ``unverified`` is only a note;
    so is ``variant`` when not ``strict`` (on a node whose data the check
    does not control)."""
    unexplained: list[Difference] = []
    explained: list[tuple[Difference, str]] = []
    for d in diffs:
        if d.kind == "unverified" or (d.kind == "variant" and not strict):
            explained.append((d, NOTES[d.kind]))
            continue
        reason = next((a.reason for a in allowed if a.matches(d)), None)
        if reason is None:
            unexplained.append(d)
        else:
            explained.append((d, reason))
    return unexplained, explained
