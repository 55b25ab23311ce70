"""CLN v26.06 JSON schemas, turned into validators the simulated lightningd
and the tests use to prove that what the sim says is what lightningd says.

The schemas (``cln_schemas/``, copied verbatim from CLN's ``doc/schemas/``)
use CLN's own type names (``msat``, ``u64``, ``pubkey``, ``short_channel_id``,
...). :func:`to_json_schema` rewrites them into plain JSON Schema, so a
generic validator (``jsonschema``, an optional dependency installed with the
``test`` extra) can check requests, responses and notifications.

Responses carry ``msat`` as integers, as lightningd v23.05+ does; requests
may also give them as strings (``"1000msat"``, ``"10sat"``), as
lightning-cli users do.
"""

from __future__ import annotations

import copy
import functools
import json
from importlib import resources
from typing import Any

_HEX64 = "^[0-9a-fA-F]{64}$"
_SCID = "^[0-9]+x[0-9]+x[0-9]+$"

# CLN type name -> JSON Schema fragment (response side: what lightningd emits).
_RESPONSE_TYPES: dict[str, dict[str, Any]] = {
    "msat": {"type": "integer", "minimum": 0},
    "sat": {"type": "integer", "minimum": 0},
    "u8": {"type": "integer", "minimum": 0, "maximum": 0xFF},
    "u16": {"type": "integer", "minimum": 0, "maximum": 0xFFFF},
    "u32": {"type": "integer", "minimum": 0, "maximum": 0xFFFFFFFF},
    "u64": {"type": "integer", "minimum": 0, "maximum": 0xFFFFFFFFFFFFFFFF},
    "integer": {"type": "integer"},
    "INTEGER": {"type": "integer"},
    "pubkey": {"type": "string", "pattern": "^0[23][0-9a-fA-F]{64}$"},
    "hash": {"type": "string", "pattern": _HEX64},
    "secret": {"type": "string", "pattern": _HEX64},
    "txid": {"type": "string", "pattern": _HEX64},
    "hex": {"type": "string", "pattern": "^([0-9a-fA-F]{2})*$"},
    "short_channel_id": {"type": "string", "pattern": _SCID},
    "short_channel_id_dir": {"type": "string", "pattern": "^[0-9]+x[0-9]+x[0-9]+/[01]$"},
    "outpoint": {"type": "string", "pattern": "^[0-9a-fA-F]{64}:[0-9]+$"},
    "feerate": {"type": ["string", "integer"]},
    "number": {"type": "number"},
    "boolean": {"type": "boolean"},
    "string": {"type": "string"},
    "object": {"type": "object"},
    "array": {"type": "array"},
    "TEXT": {"type": "string"},
    "BLOB": {"type": "string"},
    "REAL": {"type": "number"},
}
# Anything else CLN names (chain, currency, rune, bip340sig, ...) is a string.
_OTHER = {"type": "string"}

# Request side: amounts may be strings with a unit, and lightning-cli sends
# numbers for u32 etc. The same fragments otherwise.
_REQUEST_OVERRIDES: dict[str, dict[str, Any]] = {
    "msat": {"anyOf": [{"type": "integer", "minimum": 0},
                       {"type": "string", "pattern": "^[0-9]+(msat|sat|btc)?$"}]},
    "sat": {"anyOf": [{"type": "integer", "minimum": 0},
                      {"type": "string", "pattern": "^[0-9]+(msat|sat|btc)?$"}]},
}

_SCHEMA_ONLY_KEYS = ("added", "deprecated", "description", "notification",
                     "rpc", "title", "$schema", "categories", "author",
                     "see_also", "resources", "examples", "default")


def _map_type(name: str, side: str) -> dict[str, Any]:
    if side == "request" and name in _REQUEST_OVERRIDES:
        return copy.deepcopy(_REQUEST_OVERRIDES[name])
    return copy.deepcopy(_RESPONSE_TYPES.get(name, _OTHER))


def to_json_schema(node: Any, side: str = "response") -> Any:
    """Rewrite a CLN schema fragment into plain JSON Schema (a new object)."""
    if isinstance(node, list):
        return [to_json_schema(v, side) for v in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _SCHEMA_ONLY_KEYS:
            continue
        if key == "type":
            continue
        if key in ("properties", "patternProperties", "dependentSchemas"):
            out[key] = {k: to_json_schema(v, side) for k, v in value.items()}
        elif key == "dependentUpon":
            # CLN annotation, not a validation keyword.
            continue
        else:
            out[key] = to_json_schema(value, side)
    cln_type = node.get("type")
    if cln_type is None:
        return out
    names = cln_type if isinstance(cln_type, list) else [cln_type]
    fragments = [_map_type(n, side) for n in names]
    if len(fragments) == 1:
        merged = fragments[0]
        merged.update(out)
        return merged
    out["anyOf"] = fragments
    return out


@functools.lru_cache(maxsize=None)
def raw_schema(name: str) -> dict[str, Any]:
    """The CLN schema file for a method (``listforwards``), a notification
    (``notification/forward_event``) or a hook (``hook/htlc_accepted``)."""
    path = resources.files("revops.sim").joinpath("cln_schemas", *f"{name}.json".split("/"))
    with path.open("r", encoding="utf-8") as f:
        return json.load(f)


def has_schema(name: str) -> bool:
    try:
        raw_schema(name)
    except FileNotFoundError:
        return False
    return True


@functools.lru_cache(maxsize=None)
def _validator(name: str, part: str) -> Any:
    import jsonschema  # optional: only the tests and --validate need it

    side = "request" if part == "request" else "response"
    if name.startswith("hook/"):
        # A hook's request is what lightningd writes; its response, the input.
        side = "response" if part == "request" else "request"
    schema = to_json_schema(raw_schema(name)[part], side)
    if "type" not in schema:
        schema = {"type": "object", **schema}
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    return cls(schema)


class SchemaViolation(AssertionError):
    """What lightningd would never send, with where and why."""


def _check(name: str, part: str, obj: Any) -> None:
    errors = sorted(_validator(name, part).iter_errors(obj), key=lambda e: list(e.path))
    if errors:
        lines = [f"{name} {part}: {len(errors)} schema violation(s)"]
        for e in errors[:10]:
            where = "/".join(str(p) for p in e.absolute_path) or "<root>"
            lines.append(f"  at {where}: {e.message[:300]}")
        raise SchemaViolation("\n".join(lines))


def validate_response(method: str, result: Any) -> None:
    """Raise :class:`SchemaViolation` unless ``result`` is a valid answer to
    ``method`` under CLN v26.06's schema."""
    _check(method, "response", result)


def validate_request(method: str, params: dict[str, Any]) -> None:
    """Raise :class:`SchemaViolation` unless named ``params`` are valid."""
    _check(method, "request", params)


def validate_notification(topic: str, payload: dict[str, Any]) -> None:
    """Validate a notification's payload (the object under the topic key)."""
    _check(f"notification/{topic}", "response", payload)


def validate_hook(hook: str, part: str, obj: dict[str, Any]) -> None:
    """Validate what lightningd sends a hook (``part="request"``, checked
    as lightningd writes it) or a plugin's answer (``"response"``)."""
    _check(f"hook/{hook}", part, obj)


def examples(method: str) -> list[dict[str, Any]]:
    """CLN's own request/response examples for a method."""
    return list(raw_schema(method).get("examples", []))
