"""A plugin that writes down every notification it is sent (the fidelity check's ears).

The fidelity check runs it on both nodes it compares, so the same plugin
observes the real lightningd and the simulated one. It subscribes to the
topics revops and the peer plugins rely on and appends each notification,
as received, to the JSON-lines file named by its option
``fidelity-recorder-file`` (``{"topic": ..., "params": ...}`` per line).

Run it as ``python -m revops.sim.fidelity.recorder``; lightningd wants one
executable path, so :func:`write_launcher` writes a two-line shell script
that does that with this Python.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path
from typing import Any

OPTION = "fidelity-recorder-file"
TOPICS = ("forward_event", "channel_state_changed", "channel_opened", "block_added",
          "sendpay_success", "sendpay_failure", "invoice_payment", "invoice_creation",
          "coin_movement", "balance_snapshot", "connect", "disconnect")


def write_launcher(folder: Path) -> Path:
    """An executable ``fidelity-recorder`` in ``folder`` that runs this plugin."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "fidelity-recorder"
    path.write_text(f"#!/bin/sh\nexec {shlex.quote(sys.executable)} -m "
                    "revops.sim.fidelity.recorder \"$@\"\n", encoding="utf-8")
    path.chmod(0o755)
    return path


def read_notifications(path: Path) -> list[dict[str, Any]]:
    """What a recorder wrote so far (a torn last line is left for later)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    out = []
    for line in text.splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            break
    return out


def main() -> None:  # pragma: no cover - runs as a plugin process
    from pyln.client import Plugin

    plugin = Plugin(dynamic=True)
    plugin.add_option(OPTION, "", "JSON-lines file to append every notification to")
    state: dict[str, Any] = {"file": None}

    @plugin.init()
    def init(options: dict[str, Any], configuration: dict[str, Any], plugin: Plugin,
             **kwargs: Any) -> None:
        target = options.get(OPTION) or os.path.join(configuration["lightning-dir"],
                                                     "fidelity-notifications.jsonl")
        state["file"] = open(target, "a", encoding="utf-8")

    def record(topic: str) -> Any:
        def handler(plugin: Plugin, **params: Any) -> None:
            params.pop("plugin", None)
            out = state["file"]
            if out is not None:
                out.write(json.dumps({"topic": topic, "params": params}) + "\n")
                out.flush()
        return handler

    for topic in TOPICS:
        plugin.add_subscription(topic, record(topic))
    plugin.run()


if __name__ == "__main__":
    main()
