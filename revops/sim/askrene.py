"""askrene's layers, as the simulated lightningd keeps them.

A layer is what a plugin tells askrene (CLN's pathfinder, v24.08+) about the
graph beyond gossip: nodes and channels to avoid (``askrene-disable-node``),
capacity knowledge from its payments (``askrene-inform-channel``:
``constrained`` lowers a direction's known maximum to one msat under the
amount that failed, ``unconstrained`` raises its known minimum to the amount
that passed, ``succeeded`` records an *impression*: that much less capacity
in that direction). ``getroutes`` applies the layers it is given (see
payments.py).

Semantics follow ``plugins/askrene/layer.c`` and ``askrene.c``: layers are
listed newest first; a constraint on a direction keeps the highest minimum
and the lowest maximum it was told, with the time of its last change;
``persistent`` layers survive a restart (CLN appends them to the datastore
under ``["askrene", "layers", <name>]``; the sim stores the whole layer
there as JSON, so plugins see the same key). Non-persistent layers last the
node's life. Names starting ``auto.`` are askrene's own and cannot be
created. This module is pure: the host persists what :meth:`Askrene.dirty`
reports.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from revops.sim.jsonrpc import JSONRPC2_INVALID_PARAMS, RpcError, bad_param

AUTO_LAYERS = ("auto.localchans", "auto.sourcefree", "auto.include_fees", "auto.no_mpp_support")
# The persistent layer CLN's xpay plugin (on by default) creates at startup.
XPAY_LAYER = "xpay"
DATASTORE_PREFIX = ("askrene", "layers")
UNBOUNDED = 0xFFFFFFFFFFFFFFFF
_SCIDD = re.compile(r"^([0-9]+)x([0-9]+)x([0-9]+)/([01])$")


def p_scidd(name: str, value: Any) -> str:
    """CLN's ``param_short_channel_id_dir``: ``BLOCKxTXxOUT/DIR``."""
    if isinstance(value, str) and _SCIDD.match(value):
        return value
    raise bad_param(name, value, "should be a short_channel_id_dir")


def p_inform(name: str, value: Any) -> str:
    if value in ("constrained", "unconstrained", "succeeded"):
        return value
    raise bad_param(name, value, "must be constrained/unconstrained/succeeded")


@dataclass
class Constraint:
    """What a layer knows about one channel direction's capacity."""

    scidd: str
    timestamp: int
    minimum: int = 0
    maximum: int = UNBOUNDED

    def to_json(self, layer: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if layer is not None:
            out["layer"] = layer
        out["short_channel_id_dir"] = self.scidd
        out["timestamp"] = self.timestamp
        if self.minimum:
            out["minimum_msat"] = self.minimum
        if self.maximum != UNBOUNDED:
            out["maximum_msat"] = self.maximum
        return out


@dataclass
class Impression:
    """A payment that went through a direction (``inform=succeeded``)."""

    scidd: str
    timestamp: int
    amount: int

    def to_json(self, layer: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if layer is not None:
            out["layer"] = layer
        out.update({"short_channel_id_dir": self.scidd, "timestamp": self.timestamp,
                    "amount_msat": self.amount})
        return out


@dataclass
class Layer:
    name: str
    persistent: bool = False
    disabled_nodes: list[str] = field(default_factory=list)
    disabled_channels: list[str] = field(default_factory=list)
    constraints: dict[str, Constraint] = field(default_factory=dict)
    impressions: list[Impression] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """One entry of ``askrene-listlayers`` / ``askrene-create-layer``."""
        return {
            "layer": self.name, "persistent": self.persistent,
            "disabled_nodes": list(self.disabled_nodes),
            "created_channels": [], "channel_updates": [],
            "constraints": [c.to_json() for c in self.constraints.values()],
            "impressions": [i.to_json() for i in self.impressions],
            "biases": [], "node_biases": [],
        }

    def to_store(self) -> str:
        return json.dumps({
            "name": self.name, "disabled_nodes": self.disabled_nodes,
            "disabled_channels": self.disabled_channels,
            "constraints": [[c.scidd, c.timestamp, c.minimum, c.maximum]
                            for c in self.constraints.values()],
            "impressions": [[i.scidd, i.timestamp, i.amount] for i in self.impressions]})

    @classmethod
    def from_store(cls, text: str) -> Layer:
        raw = json.loads(text)
        layer = cls(raw["name"], True, list(raw["disabled_nodes"]),
                    list(raw.get("disabled_channels", [])))
        for scidd, ts, lo, hi in raw["constraints"]:
            layer.constraints[scidd] = Constraint(scidd, ts, lo, hi)
        layer.impressions = [Impression(s, t, a) for s, t, a in raw["impressions"]]
        return layer


class Askrene:
    """Every layer of the node, and what changed since the host last saved."""

    def __init__(self) -> None:
        self._layers: dict[str, Layer] = {}
        self.loaded = False
        # Names of persistent layers changed (or removed) since last collected.
        self._dirty: set[str] = set()

    # -- persistence -----------------------------------------------------------

    def load(self, entries: list[str]) -> None:
        """Persistent layers saved by a previous run (datastore strings),
        and xpay's own layer, as a node with the built-in plugins has it."""
        for text in entries:
            layer = Layer.from_store(text)
            self._layers.setdefault(layer.name, layer)
        if XPAY_LAYER not in self._layers:
            self.create(XPAY_LAYER, True)
        self.loaded = True

    def dirty(self) -> list[tuple[str, str | None]]:
        """(name, stored text or None if removed) for persistent layers
        changed since the last call."""
        out = []
        for name in sorted(self._dirty):
            layer = self._layers.get(name)
            out.append((name, layer.to_store() if layer is not None and layer.persistent
                        else None))
        self._dirty.clear()
        return out

    def _touch(self, layer: Layer) -> None:
        if layer.persistent:
            self._dirty.add(layer.name)

    # -- lookups -----------------------------------------------------------------

    def get(self, name: str) -> Layer | None:
        return self._layers.get(name)

    def known(self, name: str) -> Layer:
        """``param_known_layer``."""
        layer = self._layers.get(name)
        if layer is None:
            raise bad_param("layer", name, "Unknown layer")
        return layer

    def listing(self) -> list[Layer]:
        """Newest first, as askrene's list keeps them."""
        return list(reversed(self._layers.values()))

    def check_names(self, names: list[Any]) -> list[str]:
        """``param_layer_names`` for getroutes."""
        out = []
        for value in names:
            if not isinstance(value, str):
                raise bad_param("layers", value, "should be a string")
            if value not in AUTO_LAYERS and value not in self._layers:
                raise bad_param("layers", value, "unknown layer")
            out.append(value)
        return out

    # -- changes -----------------------------------------------------------------

    def create(self, name: str, persistent: bool) -> Layer:
        if name.startswith("auto."):
            raise RpcError(JSONRPC2_INVALID_PARAMS, "Cannot create auto layer")
        layer = self._layers.get(name)
        if layer is not None and not persistent:
            raise RpcError(JSONRPC2_INVALID_PARAMS, "Layer already exists")
        if layer is None:
            layer = Layer(name, persistent)
            self._layers[name] = layer
            self._touch(layer)
        return layer

    def remove(self, name: str) -> None:
        layer = self.known(name)
        del self._layers[name]
        if layer.persistent:
            self._dirty.add(name)

    def disable_node(self, name: str, node: str) -> None:
        layer = self.known(name)
        layer.disabled_nodes.append(node)
        self._touch(layer)

    def inform(self, name: str, scidd: str, amount: int, inform: str,
               now: int) -> tuple[Constraint | None, Impression | None]:
        layer = self.known(name)
        if inform == "succeeded":
            imp = Impression(scidd, now, amount)
            layer.impressions.append(imp)
            self._touch(layer)
            return None, imp
        c = layer.constraints.get(scidd)
        if c is None:
            c = Constraint(scidd, now)
            layer.constraints[scidd] = c
        if inform == "constrained":
            # It failed: at most one msat less than what we tried.
            c.maximum = min(c.maximum, max(0, amount - 1))
        else:
            c.minimum = max(c.minimum, amount)
        c.timestamp = now
        self._touch(layer)
        return c, None

    def age(self, name: str, cutoff: int) -> int:
        """``askrene-age``: forget constraints older than ``cutoff``."""
        layer = self.known(name)
        old = [k for k, c in layer.constraints.items() if c.timestamp < cutoff]
        for k in old:
            del layer.constraints[k]
        if old:
            self._touch(layer)
        return len(old)
