#!/usr/bin/env python3
"""A plugin that stops reading its stdin once it is initialised.

It speaks the plugin protocol by hand (no pyln): answers ``getmanifest``
(subscribing to ``forward_event`` and ``block_added``) and ``init``, then
sleeps without ever reading again, so everything lightningd sends it piles
up. lightningd does not wait for it; the simulated node must not either.
"""

from __future__ import annotations

import json
import sys
import time


def read_message() -> dict:
    while True:
        line = sys.stdin.buffer.readline()
        if not line:
            sys.exit(0)
        if line.strip():
            return json.loads(line)


def answer(request: dict, result: dict) -> None:
    sys.stdout.write(json.dumps({"jsonrpc": "2.0", "id": request["id"], "result": result})
                     + "\n\n")
    sys.stdout.flush()


for expected in ("getmanifest", "init"):
    request = read_message()
    assert request["method"] == expected, request
    answer(request, {"options": [], "rpcmethods": [], "hooks": [], "dynamic": True,
                     "nonnumericids": True,
                     "subscriptions": ["forward_event", "block_added"]}
           if expected == "getmanifest" else {})
while True:  # (on the simulated clock too: a sleep there ends in simulated time)
    time.sleep(3600)
