"""Test plugin: holds the HTLCs it forwards while told to, so a payment
stays in flight for as long as a test needs (``hold-htlcs on|off``).

Everything runs on pyln's one dispatch thread: the hook answers later by
keeping the request and setting its result when ``hold-htlcs off`` comes.
"""

from pyln.client import Plugin

plugin = Plugin()
plugin.holding = False
plugin.held = []


@plugin.async_hook("htlc_accepted")
def on_htlc_accepted(onion, htlc, request, plugin, **kwargs):
    if plugin.holding:
        plugin.held.append(request)
    else:
        request.set_result({"result": "continue"})


@plugin.method("hold-htlcs")
def hold_htlcs(plugin, mode):
    """Hold forwarded HTLCs (on) or release every held one and stop (off)."""
    plugin.holding = mode == "on"
    released = 0
    if not plugin.holding:
        for request in plugin.held:
            request.set_result({"result": "continue"})
            released += 1
        plugin.held = []
    return {"holding": plugin.holding, "held": len(plugin.held), "released": released}


plugin.run()
