#!/usr/bin/env python3
"""A stand-in for the community ``feeadjuster`` plugin, for plugin-time tests.

It knows nothing of revops-sim and speaks no simclock: it is a plain pyln
plugin on the wall clock, making the calls feeadjuster makes, in the same
places and with the same habits (CLN's plugins repository,
``feeadjuster/feeadjuster.py``):

- ``init``: ``getinfo``, ``listconfigs fee-base`` and ``fee-per-satoshi``,
  ``help`` (is ``listchannels`` able to filter by ``destination``?), then a
  first adjustment of every channel;
- ``forward_event`` (settled): takes a ``threading.Lock`` and, holding it,
  calls ``listpeerchannels``, ``time.sleep(1)`` (option ``standin-sleep``)
  before reading balances
  again, ``listchannels destination=<peer>`` for the median of competing
  fees, and ``setchannel`` when the channel's balance moved enough.

The fee rule is feeadjuster's default one (``50 ** (0.5 - our share)``
times the median of competitors' ppm); the stand-in is deterministic (no
fuzz). What it did, with the time in its clock (``time.time()``) and the
wall time it spent sleeping (``time.perf_counter()``, which plugin time
leaves real), is in ``feeadjuster-standin.json`` in the lightning dir after
every forward it handles, and ``feeadjuster-standin-state`` returns it.
"""

from __future__ import annotations

import json
import statistics
import threading
import time
from typing import Any

from pyln.client import Plugin

plugin = Plugin()
plugin.add_option("standin-sleep", "1", "Seconds to sleep in forward_event, holding the lock")
lock = threading.Lock()
lock.acquire()  # as feeadjuster: forward_event must wait for init
state: dict[str, Any] = {"sleeps": 0, "slept_sim": 0.0, "slept_wall": 0.0,
                         "setchannel": 0, "forward_events": 0, "by_destination": None,
                         "defaults": None, "first_time": None, "last_time": None,
                         "fees": {}}
balances: dict[str, int] = {}


def config_value(name: str) -> Any:
    conf = plugin.rpc.listconfigs(name)["configs"][name]
    for key in ("value_int", "value_msat", "value_str", "value_bool"):
        if key in conf:
            return conf[key]
    return None


def sleep(seconds: float) -> None:
    t0, w0 = time.time(), time.perf_counter()
    time.sleep(seconds)
    state["sleeps"] += 1
    state["slept_sim"] += time.time() - t0
    state["slept_wall"] += time.perf_counter() - w0


def median_ppm(peer_id: str, our_id: str) -> float:
    if state["by_destination"]:
        channels = plugin.rpc.call("listchannels", {"destination": peer_id})["channels"]
    else:
        channels = plugin.rpc.listchannels()["channels"]
    fees = [c["fee_per_millionth"] for c in channels
            if c["destination"] == peer_id and c["source"] != our_id
            and 0 < c["fee_per_millionth"] < 5000]
    return statistics.median(fees) if fees else state["defaults"][1]


def adjust(channel: dict[str, Any], our_id: str) -> None:
    scid = channel["short_channel_id"]
    our, total = int(channel["to_us_msat"]), int(channel["total_msat"])
    last = balances.get(scid)
    if last is not None and abs(last - our) / total <= 0.05:
        return
    share = our / total
    ppm = int(median_ppm(channel["peer_id"], our_id) * 50 ** (0.5 - share))
    base = state["defaults"][0]
    if (channel["fee_base_msat"], channel["fee_proportional_millionths"]) == (base, ppm):
        return
    plugin.rpc.setchannel(scid, base, ppm)
    balances[scid] = our
    state["setchannel"] += 1
    state["fees"][scid] = ppm


def normal_channels() -> list[dict[str, Any]]:
    return [c for c in plugin.rpc.listpeerchannels()["channels"]
            if c.get("state") == "CHANNELD_NORMAL" and c.get("short_channel_id")]


@plugin.init()
def init(options: dict[str, Any], configuration: dict[str, Any], plugin: Plugin,
         **kwargs: Any) -> None:
    info = plugin.rpc.getinfo()
    state["our_id"] = info["id"]
    state["defaults"] = (int(config_value("fee-base")), int(config_value("fee-per-satoshi")))
    commands = [c["command"] for c in plugin.rpc.help()["help"]]
    state["by_destination"] = any(c.startswith("listchannels ") and "destination" in c
                                  for c in commands)
    state["first_time"] = time.time()
    state["sleep"] = float(options["standin-sleep"])
    lock.release()
    with lock:
        for channel in normal_channels():
            adjust(channel, info["id"])
        save()


@plugin.subscribe("forward_event")
def forward_event(plugin: Plugin, forward_event: dict[str, Any], **kwargs: Any) -> None:
    if forward_event["status"] != "settled":
        return
    with lock:
        state["forward_events"] += 1
        wanted = {forward_event["in_channel"], forward_event["out_channel"]}
        before = {c["short_channel_id"]: c for c in normal_channels()}
        sleep(state["sleep"])  # feeadjuster waits for balances to settle, holding the lock
        for channel in normal_channels():
            if channel["short_channel_id"] in wanted and channel["short_channel_id"] in before:
                adjust(channel, state["our_id"])
        if state["forward_events"] % 50 == 0:
            sleep(5)  # its pseudo-random hysteresis, made regular here
        state["last_time"] = time.time()
        save()


def save() -> None:
    with open("feeadjuster-standin.json", "w", encoding="utf-8") as f:
        json.dump(state, f)


@plugin.method("feeadjuster-standin-state")
def standin_state(plugin: Plugin) -> dict[str, Any]:
    """What the stand-in did so far."""
    return {**state, "now": time.time()}


plugin.run()
