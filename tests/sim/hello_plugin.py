#!/usr/bin/env python3
"""A hello-world pyln plugin the simulated lightningd's tests run for real.

It declares options of every type, a few commands, subscriptions to
``forward_event``, ``plugin_started`` and ``shutdown``, and speaks the simclock
protocol of revops/clock.py (it registers ``simclock-advance`` only when
``REVOPS_SIMCLOCK`` is set, as a plugin should). Options steer its
misbehaviour so the tests can make it misbehave on purpose:

- ``hello-disable=REASON``: answer ``init`` with ``{"disable": REASON}``;
- ``hello-init-delay=SECONDS``: dawdle in ``init``;
- ``hello-ignore-shutdown``: stay alive after ``shutdown``;
- ``hello-wakeup=SECONDS``: ask to be woken that long after each clock call;
- ``hello-exit`` / ``hello-garbage``: die, or write non-JSON, mid-command;
- environment ``HELLO_EXTRA_METHOD=NAME``: also register a method NAME
  (to clash with a built-in); ``HELLO_STATIC=1``: not a dynamic plugin.

``hello-state`` returns what it saw: init's options and configuration, the
notifications it got (payloads, for schema checks), its simulated clock.
On ``shutdown`` it writes ``hello-shutdown.json`` in the lightning dir.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

from pyln.client import Plugin

from revops.clock import SIMCLOCK_ENV, SIMCLOCK_METHOD, clock_from_env

plugin = Plugin(dynamic=not os.environ.get("HELLO_STATIC"))
clock = clock_from_env()
seen: dict[str, Any] = {"notifications": [], "simclock_calls": 0, "init": None}

plugin.add_option("greeting", "Hello", "What to say before the name")
plugin.add_option("hello-count", 1, "How many times to say it", opt_type="int")
plugin.add_option("hello-loud", False, "Shout?", opt_type="bool")
plugin.add_option("hello-flag", None, "A flag", opt_type="flag")
plugin.add_option("hello-tag", None, "Tags, repeatable", multi=True)
plugin.add_option("hello-disable", None, "Disable self at init with this reason")
plugin.add_option("hello-init-delay", "0", "Seconds to dawdle in init")
plugin.add_option("hello-ignore-shutdown", None, "Ignore shutdown", opt_type="flag")
plugin.add_option("hello-wakeup", "0", "next_wakeup = now + this many seconds (0: none)")


@plugin.init()
def init(options: dict[str, Any], configuration: dict[str, Any], plugin: Plugin,
         **kwargs: Any) -> Any:
    seen["init"] = {"options": options, "configuration": configuration,
                    "env": {k: os.environ.get(k) for k in
                            ("LIGHTNINGD_PLUGIN", "LIGHTNINGD_VERSION", SIMCLOCK_ENV)},
                    "cwd": os.getcwd()}
    delay = float(options.get("hello-init-delay") or 0)
    if delay:
        time.sleep(delay)
    if options.get("hello-disable"):
        return {"disable": options["hello-disable"]}
    plugin.log("hello plugin initialised", level="info")
    return None


@plugin.method("hello")
def hello(plugin: Plugin, name: str = "world", count: int | None = None) -> dict[str, Any]:
    """Greets {name}, {count} times (default: the hello-count option)."""
    greeting = plugin.get_option("greeting")
    times = int(count if count is not None else plugin.get_option("hello-count"))
    text = " ".join([f"{greeting} {name}"] * times)
    if plugin.get_option("hello-loud"):
        text = text.upper()
    return {"greeting": text, "name": name, "count": times}


@plugin.method("hello-fail")
def hello_fail(plugin: Plugin, why: str = "asked to fail") -> None:
    """Raises, to show how errors travel back."""
    raise ValueError(why)


@plugin.method("hello-call")
def hello_call(plugin: Plugin, method: str, params: Any = None) -> Any:
    """Calls lightningd's {method} through its RPC socket, from inside the plugin."""
    return plugin.rpc.call(method, params)


@plugin.method("hello-state")
def hello_state(plugin: Plugin) -> dict[str, Any]:
    """What this plugin has seen so far."""
    return {**seen, "now": clock.now(), "pid": os.getpid()}


@plugin.method("hello-exit")
def hello_exit(plugin: Plugin, code: int = 3) -> None:
    """Exits the process at once, without answering."""
    os._exit(code)


@plugin.method("hello-garbage")
def hello_garbage(plugin: Plugin) -> None:
    """Writes something that is not JSON to lightningd."""
    # pyln turns sys.stdout into log lines; write to the real pipe.
    plugin.stdout.buffer.write(b"this is not json}\n\n")
    plugin.stdout.flush()


def _extra_method(plugin: Plugin) -> dict[str, Any]:
    """Clashes with a built-in on purpose."""
    return {}


if os.environ.get("HELLO_EXTRA_METHOD"):
    plugin.add_method(os.environ["HELLO_EXTRA_METHOD"], _extra_method)


@plugin.method("hello-chatty")
def hello_chatty(plugin: Plugin, request: Any, steps: int = 3) -> dict[str, Any]:
    """Sends {steps} messages to the caller before answering."""
    for i in range(steps):
        request.notify(f"step {i}")
    return {"steps": steps}


@plugin.method("hello-log")
def hello_log(plugin: Plugin, message: str, level: str = "info") -> dict[str, Any]:
    """Writes {message} to lightningd's log at {level}."""
    plugin.log(message, level=level)
    return {"logged": message}


@plugin.subscribe("forward_event")
def on_forward(plugin: Plugin, forward_event: dict[str, Any], **kwargs: Any) -> None:
    seen["notifications"].append({"topic": "forward_event", "payload": forward_event})


@plugin.subscribe("plugin_started")
def on_plugin_started(plugin: Plugin, plugin_started: dict[str, Any], **kwargs: Any) -> None:
    seen["notifications"].append({"topic": "plugin_started", "payload": plugin_started})


@plugin.subscribe("shutdown")
def on_shutdown(plugin: Plugin, **kwargs: Any) -> None:
    lightning_dir = (seen["init"] or {}).get("configuration", {}).get("lightning-dir", ".")
    with open(os.path.join(lightning_dir, "hello-shutdown.json"), "w") as f:
        json.dump({"payload": kwargs.get("shutdown"), "now": clock.now()}, f)
    if plugin.get_option("hello-ignore-shutdown"):
        plugin.log("ignoring shutdown", level="info")
        return
    sys.exit(0)


if clock.driven:
    @plugin.method(SIMCLOCK_METHOD)
    def simclock_advance(plugin: Plugin, now: float) -> dict[str, Any]:
        """Moves this plugin's clock to {now} (revops-sim only)."""
        clock.advance_to(now)
        seen["simclock_calls"] += 1
        wake = float(plugin.get_option("hello-wakeup") or 0)
        return {"now": clock.now(), "next_wakeup": clock.now() + wake if wake else None}


if __name__ == "__main__":
    plugin.run()
