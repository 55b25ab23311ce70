"""lightningd's datastore (``lightningd/datastore.c`` over ``wallet.c``),
kept in a JSON file in the lightning directory so it survives a restart.

Keys are arrays of strings forming a hierarchy; a key holds either data or
children, never both. Each entry has a ``generation``: 0 when created, +1 on
every update. Writes take a ``mode`` (``must-create`` by default,
``must-replace``, ``create-or-replace``, ``must-append``,
``create-or-append``) and optionally the ``generation`` they expect; the
errors and their codes (1200-1206) are CLN's. Listing returns the entries
directly under a key, and one ``{"key": [...]}`` summary per deeper
subtree, in the database's key order.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from revops.sim.jsonrpc import (
    DATASTORE_DEL_DOES_NOT_EXIST,
    DATASTORE_DEL_WRONG_GENERATION,
    DATASTORE_UPDATE_ALREADY_EXISTS,
    DATASTORE_UPDATE_DOES_NOT_EXIST,
    DATASTORE_UPDATE_HAS_CHILDREN,
    DATASTORE_UPDATE_NO_CHILDREN,
    DATASTORE_UPDATE_WRONG_GENERATION,
    JSONRPC2_INVALID_PARAMS,
    RpcError,
)

Key = tuple[str, ...]

MODES = ("must-create", "must-replace", "create-or-replace", "must-append", "create-or-append")
_MUST_EXIST = {"must-replace", "must-append"}
_MUST_NOT_EXIST = {"must-create"}
_APPEND = {"must-append", "create-or-append"}


def key_text(key: Key) -> str:
    """CLN's ``datastore_key_fmt``: ``[a,b]``."""
    return "[" + ",".join(key) + "]"


def entry_json(key: Key, data: bytes | None, generation: int) -> dict[str, Any]:
    """``json_add_datastore``: the string form only when it is UTF-8 with no NUL."""
    out: dict[str, Any] = {"key": list(key)}
    if data is not None:
        out["generation"] = generation
        out["hex"] = data.hex()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        if text is not None and "\x00" not in text:
            out["string"] = text
    return out


class Datastore:
    """The entries, and the file that keeps them."""

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._entries: dict[Key, tuple[bytes, int]] = {}
        if path is not None and path.exists():
            for row in json.loads(path.read_text(encoding="utf-8")):
                self._entries[tuple(row["key"])] = (bytes.fromhex(row["hex"]),
                                                    int(row["generation"]))

    def _save(self) -> None:
        if self._path is None:
            return
        rows = [{"key": list(k), "hex": d.hex(), "generation": g}
                for k, (d, g) in sorted(self._entries.items())]
        tmp = self._path.with_name(self._path.name + ".tmp")
        tmp.write_text(json.dumps(rows), encoding="utf-8")
        os.replace(tmp, self._path)

    def _under(self, prefix: Key) -> list[Key]:
        # Tuple order of str is the database's order of "\0"-joined UTF-8 keys.
        n = len(prefix)
        return sorted(k for k in self._entries if k[:n] == prefix)

    def get(self, key: Key) -> tuple[bytes, int] | None:
        return self._entries.get(key)

    def store(self, key: Key, data: bytes, mode: str,
              generation: int | None) -> dict[str, Any]:
        if generation is not None and mode not in _MUST_EXIST:
            raise RpcError(JSONRPC2_INVALID_PARAMS,
                           "generation only valid with must-replace or must-append")
        prev = self._entries.get(key)
        if prev is None and any(k != key for k in self._under(key)):
            raise RpcError(DATASTORE_UPDATE_HAS_CHILDREN, "Key has children already")
        if prev is None:
            for i in range(1, len(key)):
                if key[:i] in self._entries:
                    raise RpcError(DATASTORE_UPDATE_NO_CHILDREN,
                                   f"Parent key {key_text(key[:i])} exists")
        if mode in _MUST_NOT_EXIST and prev is not None:
            raise RpcError(DATASTORE_UPDATE_ALREADY_EXISTS, "Key already exists")
        if mode in _MUST_EXIST and prev is None:
            raise RpcError(DATASTORE_UPDATE_DOES_NOT_EXIST, "Key does not exist")
        if generation is not None and prev is not None and prev[1] != generation:
            raise RpcError(DATASTORE_UPDATE_WRONG_GENERATION, "generation is different")
        if prev is not None:
            if mode in _APPEND:
                data = prev[0] + data
            entry = (data, prev[1] + 1)
        else:
            entry = (data, 0)
        self._entries[key] = entry
        self._save()
        return entry_json(key, *entry)

    def delete(self, key: Key, generation: int | None) -> dict[str, Any]:
        prev = self._entries.get(key)
        if prev is None:
            raise RpcError(DATASTORE_DEL_DOES_NOT_EXIST, "Key does not exist")
        if generation is not None and prev[1] != generation:
            raise RpcError(DATASTORE_DEL_WRONG_GENERATION, "generation is different")
        del self._entries[key]
        self._save()
        return entry_json(key, *prev)

    def listing(self, key: Key | None) -> list[dict[str, Any]]:
        prefix = key or ()
        depth = len(prefix) + 1
        out: list[dict[str, Any]] = []
        summarised: Key | None = None
        for k in self._under(prefix):
            if len(k) > depth:
                if summarised is None or k[:len(summarised)] != summarised:
                    summarised = k[:depth]
                    out.append(entry_json(summarised, None, 0))
            else:
                out.append(entry_json(k, *self._entries[k]))
        return out

    def usage(self, key: Key | None) -> int:
        """``datastoreusage``: data bytes plus key bytes (with separators)."""
        total = 0
        for k in self._under(key or ()):
            data, _ = self._entries[k]
            total += len(data) + len(k) - 1 + sum(len(part.encode("utf-8")) for part in k)
        return total
