#!/usr/bin/env python3
"""A pyln plugin registering ``htlc_accepted``, for the simulated lightningd's
hook tests (and the real-node one). What it answers is set by options
(``hook-*``; a copy of this file under another name, ``NAME.py``, calls them
``NAME-*`` so that two copies can run side by side):

- ``hook-mode``: ``continue`` (default), ``fail`` (every HTLC, with
  ``hook-failmsg``), ``hold`` (answer nothing until ``hook-release``),
  ``resolve-key`` (``resolve`` with ``hook-key``), ``bad-result`` (an
  answer lightningd cannot act on);
- ``hook-fail-scid=SCID``: fail with ``hook-failmsg`` (default ``1007``,
  WIRE_TEMPORARY_CHANNEL_FAILURE) only the forwards the onion sends out
  over that channel; continue with the rest;
- ``hook-forward-to=CHANNEL_ID``: continue, replacing ``forward_to``.

Environment ``HOOK_BEFORE_<NAME>`` / ``HOOK_AFTER_<NAME>`` (comma-separated
plugin names) become the hook's ``before``/``after``. Every call is
recorded: ``hook-state`` returns them (their params), and each call appends
``NAME payment_hash`` to the file ``HOOK_ORDER_FILE`` if that is set.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pyln.client import Plugin

NAME = Path(__file__).stem
PREFIX = "hook" if NAME == "hook_plugin" else NAME
plugin = Plugin(dynamic=True)
calls: list[dict[str, Any]] = []
held: list[Any] = []

plugin.add_option(f"{PREFIX}-mode", "continue", "continue|fail|hold|resolve-key|bad-result")
plugin.add_option(f"{PREFIX}-failmsg", "1007", "failure_message to fail with (hex)")
plugin.add_option(f"{PREFIX}-fail-scid", None, "fail forwards going out over this channel")
plugin.add_option(f"{PREFIX}-forward-to", None, "continue with this forward_to")
plugin.add_option(f"{PREFIX}-key", "00" * 32, "payment_key for resolve-key")


def opt(name: str) -> Any:
    return plugin.get_option(f"{PREFIX}-{name}")


def _list(name: str) -> list[str]:
    return [x for x in os.environ.get(name, "").split(",") if x]


def _answer(onion: dict[str, Any]) -> dict[str, Any]:
    mode = opt("mode")
    fail_scid = opt("fail-scid")
    if fail_scid and onion.get("short_channel_id") == fail_scid:
        return {"result": "fail", "failure_message": opt("failmsg")}
    if mode == "fail":
        return {"result": "fail", "failure_message": opt("failmsg")}
    if mode == "resolve-key":
        return {"result": "resolve", "payment_key": opt("key")}
    if mode == "bad-result":
        return {"result": "maybe"}
    if opt("forward-to"):
        return {"result": "continue", "forward_to": opt("forward-to")}
    return {"result": "continue"}


def on_htlc(plugin: Plugin, request: Any, **params: Any) -> None:
    calls.append(params)
    order_file = os.environ.get("HOOK_ORDER_FILE")
    if order_file:
        with open(order_file, "a", encoding="utf-8") as f:
            f.write(f"{NAME} {params['htlc']['payment_hash']}\n")
    if opt("mode") == "hold":
        held.append(request)
        return
    request.set_result(_answer(params["onion"]))


plugin.add_hook("htlc_accepted", on_htlc, background=True,
                before=_list(f"HOOK_BEFORE_{NAME}"), after=_list(f"HOOK_AFTER_{NAME}"))


def hook_state(plugin: Plugin) -> dict[str, Any]:
    """The calls so far (their params), how many are held, our pid."""
    return {"calls": calls, "held": len(held), "pid": os.getpid()}


def hook_release(plugin: Plugin) -> dict[str, Any]:
    """Answer every held HTLC with ``continue``."""
    n = len(held)
    while held:
        held.pop(0).set_result({"result": "continue"})
    return {"released": n}


plugin.add_method(f"{PREFIX}-state", hook_state)
plugin.add_method(f"{PREFIX}-release", hook_release)


@plugin.init()
def init(options: dict[str, Any], configuration: dict[str, Any], plugin: Plugin,
         **kwargs: Any) -> None:
    plugin.log(f"hook plugin ready: {json.dumps(options)}")


plugin.run()
