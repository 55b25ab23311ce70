"""Splitting a byte stream into JSON messages, the way lightningd reads one.

lightningd reads plugins' stdout and its RPC clients' sockets as a plain
stream of JSON objects: no length prefix and no required separator (pyln
writes ``\\n\\n`` after each message, but its RPC client writes nothing
after a request). Reads arrive in arbitrary pieces: half a message, or
several at once, or a multi-megabyte answer in many chunks.

Like lightningd (which only re-parses once a ``}`` has arrived), a
message can only be complete when the buffered text ends in a closing
bracket, so :meth:`JsonStream.feed` parses only then; a big message sent
in many chunks is parsed about once instead of once per chunk.
"""

from __future__ import annotations

import json
from typing import Any

_DECODER = json.JSONDecoder()
_WS = " \t\r\n"


class JsonStreamError(ValueError):
    """The stream holds something that is not JSON (the sender is broken)."""


def _could_be_complete(buf: bytearray) -> bool:
    end = len(buf) - 1
    while end >= 0 and buf[end] in b" \t\r\n":
        end -= 1
    return end >= 0 and buf[end] in b"}]"


def _incomplete(err: json.JSONDecodeError, length: int) -> bool:
    """Did the parser run out of text, rather than meet a wrong character?
    Inside an unfinished string the error points at the opening quote."""
    return err.pos >= length or err.msg.startswith("Unterminated string")


class JsonStream:
    """Incremental reader: feed it bytes, get back every complete message."""

    def __init__(self) -> None:
        self._buf = bytearray()

    @property
    def pending(self) -> int:
        """Bytes received but not yet part of a complete message."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[Any]:
        self._buf += data
        if not _could_be_complete(self._buf):
            if len(self._buf) < 64 and not self._buf.strip():
                self._buf.clear()  # only separators so far
            return []
        try:
            # The buffer ends in a bracket, which never sits inside a
            # multi-byte UTF-8 sequence, so it decodes whole if it is UTF-8.
            text = self._buf.decode("utf-8")
        except UnicodeDecodeError as e:
            raise JsonStreamError(f"Failed to parse JSON response (not UTF-8: {e})") from None
        out: list[Any] = []
        pos, length = 0, len(text)
        while True:
            while pos < length and text[pos] in _WS:
                pos += 1
            if pos == length:
                break
            try:
                obj, pos_after = _DECODER.raw_decode(text, pos)
            except json.JSONDecodeError as e:
                if _incomplete(e, length):
                    break
                raise JsonStreamError(
                    f"Failed to parse JSON response '{_clip(text[pos:])}'") from None
            out.append(obj)
            pos = pos_after
        if pos == length:
            self._buf.clear()
        elif pos:
            self._buf = bytearray(text[pos:].encode("utf-8"))
        return out


def _clip(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def encode(obj: Any) -> bytes:
    """One message as lightningd writes it: compact JSON, then ``\\n\\n``
    (pyln's readers split on it; JSON never holds a raw newline)."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.encode("utf-8") + b"\n\n"
