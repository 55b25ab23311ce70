#!/usr/bin/env python3
"""A plugin that stops reading its stdin once it is initialised.

It speaks the plugin protocol by hand (no pyln): answers ``getmanifest``
(subscribing to ``forward_event`` and ``block_added``) and ``init``, then
sleeps without ever reading again, so everything lightningd sends it piles
up. lightningd does not wait for it; the simulated node must not either.

With ``--simclock`` it also registers ``simclock-advance`` and answers the
first call (the node's call at startup) before it stops reading: a plugin
on our simulated clock that goes deaf must not hold every step either.
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


SIMCLOCK = "--simclock" in sys.argv[1:]
METHODS = [{"name": "simclock-advance", "usage": "now", "description": "simulated time"}]

for expected in ("getmanifest", "init") + (("simclock-advance",) if SIMCLOCK else ()):
    request = read_message()
    assert request["method"] == expected, request
    if expected == "getmanifest":
        answer(request, {"options": [], "rpcmethods": METHODS if SIMCLOCK else [],
                         "hooks": [], "dynamic": True, "nonnumericids": True,
                         "subscriptions": ["forward_event", "block_added"]})
    elif expected == "init":
        answer(request, {})
    else:
        answer(request, {"now": request["params"]["now"], "next_wakeup": None})
while True:  # (on the simulated clock too: a sleep there ends in simulated time)
    time.sleep(3600)
