"""The ``revenue-*`` commands: names, parameters, help text, and which actor
answers each (pure data; ``revops/plugin.py`` registers them with pyln).

Parameters bind by name or by position with CLN's own rules and messages
(``revops/jsonrpc.py``), so ``lightning-cli revenue-config set fee-interval
600`` and ``lightning-cli -k revenue-config action=set key=fee-interval
value=600`` are the same call, and a bad one says which parameter and what
is accepted.
"""

from __future__ import annotations

from revops.commandspec import CommandSpec
from revops.jsonrpc import opt, p_any, p_enum, p_text, req


BACKBONE_COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec(
        "revenue-status", (),
        "Health of revops: version, uptime, dry-run, config generation, database, "
        "channel count, every actor (alive, restarts, last tick and its duration), "
        "metrics endpoint."),
    CommandSpec(
        "revenue-config",
        (req("action", p_enum("get", "set", "reset", "list")),
         opt("key", p_text(100)), opt("value", p_any)),
        "Runtime configuration. 'list': every tunable with value, default, source and "
        "accepted range; 'get [key]'; 'set key value' (validated, stored, then applied "
        "to the next cycle; survives restarts); 'reset key' (back to the startup option "
        "or default)."),
    CommandSpec(
        "revenue-channels", (),
        "Every channel actor and its persisted state.", route="fee"),
    CommandSpec(
        "revenue-dev-crash", (req("actor", p_text(100)),),
        "Crash an actor on purpose (store, rpc, ticker, mempool, flow, fee, rebalance, "
        "or channel:<scid>) to exercise supervision. Only under revops-sim.", dev=True),
)


def _feature_commands() -> tuple[CommandSpec, ...]:
    from revops.features import FEATURES
    return tuple(cmd for feature in FEATURES for cmd in feature.commands)


COMMANDS: tuple[CommandSpec, ...] = BACKBONE_COMMANDS + _feature_commands()


def routes(commands: tuple[CommandSpec, ...] = COMMANDS) -> dict[str, str]:
    return {c.name: c.route for c in commands if c.route != "supervisor"}
