"""``revops-sim``: run, serve and talk to the simulated lightningd.

- ``revops-sim run [--scenario FILE | --channels N --forwards M] [--days N]
  [--seed S] [--plugin CMD|none]... [--option KEY=VALUE]... [--report FILE]
  [--tick SECONDS] [--plugin-time sim|wall]``: run the plugin (default:
  ``revops-plugin``; any CLN plugin works, a Python one on the simulated
  clock unless ``--plugin-time wall``: :mod:`revops.sim.plugin_time`) on
  the simulated node for N days as fast as it goes; a progress bar on a
  terminal, a summary table at the end, ``--report`` writes the market's
  report plus ``wall_seconds`` as JSON. ``--plugin none`` is the do-nothing
  baseline (fees stay at CLN's defaults). Same seed, same report.
  ``--sling`` (or the scenario's ``[sim] sling = true``) also runs the
  simulated sling rebalancer (``revops/sim/sling_plugin.py``); the report
  and table carry the rebalance figures (rebalanced, cost, net).
- ``revops-sim serve [--dir DIR] [--speed X] ...``: keep the node up in DIR
  (``$REVOPS_SIM_DIR`` or ``~/.revops-sim``); simulated time runs X times
  real time (0: only ``dev-advance`` moves it). SIGTERM/SIGINT or the
  ``stop`` command end it as lightningd ends.
- ``revops-sim cli [--dir DIR] [-k|-o] METHOD [PARAMS...]``: lightning-cli
  for the sim: ``key=value`` parameters are named (autodetected from the
  first one, or forced with ``-k``), others positional; numbers, ``true``,
  ``false``, ``null`` and ``[...]``/``{...}`` literals pass as JSON, the rest
  as strings. Exit 0 with the result, 1 with lightningd's error, 2 when the
  node cannot be reached, 3 for malformed parameters (lightning-cli's codes).
- ``revops-sim bench``: the benchmarks (filled in by ``revops.sim.bench``).
- ``revops-sim fidelity [--lightning-dir DIR]``: the simulated node against
  a real lightningd (``revops.sim.fidelity``), own regtest nodes by default.

Bad flags, option values and scenario files get one line on stderr and exit
code 2; a node that refuses to start (a plugin failing its handshake) exits 1.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import re
import shlex
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from revops.sim.jsonstream import JsonStream, JsonStreamError
from revops.sim.lightningd import NodeConfig, SimNode, StartupError, prepare_loop

DAY = 86400.0
EXIT_USAGE = 2
CLI_FROM_LIGHTNINGD = 1
CLI_TALKING_TO_LIGHTNINGD = 2
CLI_USAGE = 3


class UsageError(Exception):
    """A bad command line; str() is the one line to print."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: '{text}'") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got '{text}'")
    return value


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: '{text}'") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got '{text}'")
    return value


def _count(text: str) -> int:
    if not re.fullmatch(r"[0-9]+", text):
        raise argparse.ArgumentTypeError(f"must be a whole number >= 0, got '{text}'")
    return int(text)


def _seed(text: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got '{text}'") from None


def _option(text: str) -> tuple[str, str | None]:
    key, eq, value = text.partition("=")
    key = key.removeprefix("--")
    if not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got '{text}'")
    return key, (value if eq else None)


def default_plugin_command() -> str:
    """Our plugin: the ``revops-plugin`` script beside this Python, else the module."""
    script = Path(sys.executable).with_name("revops-plugin")
    if script.exists():
        return shlex.quote(str(script))
    return f"{shlex.quote(sys.executable)} -m revops.plugin"


def default_dir() -> Path:
    return Path(os.environ.get("REVOPS_SIM_DIR") or Path.home() / ".revops-sim")


# -- building a node -------------------------------------------------------------

def _node_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("node")
    g.add_argument("--scenario", metavar="FILE", help="scenario file (TOML or JSON); "
                   "default: the built-in ~40-channel node")
    g.add_argument("--channels", type=_count, metavar="N",
                   help="generate a large node with N channels instead")
    g.add_argument("--forwards", type=_count, metavar="M",
                   help="with --channels: M historical forwards in listforwards")
    g.add_argument("--seed", type=_seed, default=1, help="market seed (default 1)")
    g.add_argument("--plugin", action="append", metavar="CMD",
                   help="plugin command line, repeatable; 'none' for no plugin "
                        "(default: revops-plugin)")
    g.add_argument("--sling", action="store_true",
                   help="also run the simulated sling rebalancer plugin (scenario: "
                        "[sim] sling = true)")
    g.add_argument("--option", action="append", type=_option, default=[],
                   metavar="KEY=VALUE", help="plugin option, as lightningd's --KEY=VALUE")
    g.add_argument("--plugin-time", choices=("sim", "wall"), default="sim",
                   help="sim (default): Python plugins' time.time(), datetime.now(), sleep() "
                        "and timed waits follow the simulated clock, and the node waits for "
                        "them after each step; wall: plugins see the machine's clock. Plugins "
                        "speaking revops' simclock keep it either way")
    g.add_argument("--plugin-quiet-timeout", type=_positive, default=10.0, metavar="SECONDS",
                   help="with --plugin-time sim: longest real time the node waits for a "
                        "plugin to be done with a step before it moves on (default 10)")
    g.add_argument("--tick", type=_positive, default=300.0, metavar="SECONDS",
                   help="longest simulated step between plugin clock calls (default 300)")
    g.add_argument("--allow-deprecated-apis", action="store_true")
    g.add_argument("--manifest-timeout", type=_positive, default=60.0, metavar="SECONDS")
    g.add_argument("--init-timeout", type=_positive, default=120.0, metavar="SECONDS",
                   help="init deadline at startup (default 120; `plugin start` gets at most 60)")
    g.add_argument("--shutdown-timeout", type=_non_negative, default=30.0, metavar="SECONDS")
    g.add_argument("--simclock-timeout", type=_positive, default=600.0, metavar="SECONDS",
                   help="longest real time a step waits for a simclock plugin's answer "
                        "(default 600); one that misses it is not waited for again until "
                        "it answers")
    g.add_argument("--hook-wait", type=_non_negative, default=10.0, metavar="SECONDS",
                   help="wall seconds a step waits for an htlc_accepted verdict before going "
                        "on while the plugin holds the HTLC (default 10; lightningd has no "
                        "timeout)")
    g.add_argument("--validate", action="store_true",
                   help="check every answer and notification against CLN's schemas")
    g.add_argument("--log-level", default=None,
                   choices=("debug", "info", "unusual", "broken"),
                   help="also print log lines at this level and above on stderr")


def _scenario(args: argparse.Namespace) -> tuple[Any, str]:
    from revops.sim.scenario import default_scenario, generate_scenario, load_scenario

    if args.channels is not None:
        if args.scenario:
            raise UsageError("revops-sim: use --scenario or --channels, not both")
        return generate_scenario(args.channels, args.forwards or 0, args.seed), "generated"
    if args.forwards is not None:
        raise UsageError("revops-sim: --forwards needs --channels")
    if args.scenario:
        return load_scenario(args.scenario), args.scenario
    return default_scenario(), "default scenario"


def sling_plugin_command() -> str:
    """The simulated sling plugin (revops/sim/sling_plugin.py) with this Python."""
    script = Path(__file__).with_name("sling_plugin.py")
    return f"{shlex.quote(sys.executable)} {shlex.quote(str(script))}"


def _plugins(args: argparse.Namespace, scenario: Any = None) -> tuple[str, ...]:
    given = args.plugin or [default_plugin_command()]
    sling = getattr(args, "sling", False) or bool(getattr(scenario, "sling", False))
    if "none" in given:
        if len(given) > 1:
            raise UsageError("revops-sim: --plugin none cannot be combined with other plugins")
        return (sling_plugin_command(),) if sling else ()
    return tuple(given) + ((sling_plugin_command(),) if sling else ())


def _config(args: argparse.Namespace, lightning_dir: Path, scenario: Any, label: str,
            echo_level: str | None) -> NodeConfig:
    plugins = _plugins(args, scenario)
    return NodeConfig(
        lightning_dir=lightning_dir, plugins=plugins, options=tuple(args.option),
        scenario_options=(dict(scenario.plugin_options)
                          if any(p != sling_plugin_command() for p in plugins) else {}),
        scenario_label=label, allow_deprecated_apis=args.allow_deprecated_apis,
        manifest_timeout=args.manifest_timeout, init_timeout=args.init_timeout,
        shutdown_timeout=args.shutdown_timeout, hook_wait=args.hook_wait, tick=args.tick,
        simclock_timeout=args.simclock_timeout,
        validate=args.validate,
        echo_level=args.log_level or echo_level, plugin_time=args.plugin_time,
        plugin_quiet_timeout=args.plugin_quiet_timeout)


def _on_signals(node: SimNode) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, node.request_stop)


async def _started(market: Any, config: NodeConfig) -> SimNode:
    prepare_loop()
    node = SimNode(market, config)
    _on_signals(node)
    try:
        await node.start()
    except BaseException:
        await node.abort()
        raise
    return node


# -- run -----------------------------------------------------------------------------

class _Progress:
    """A one-line progress bar on stderr, redrawn at most ten times a second."""

    def __init__(self, start: float, span: float) -> None:
        self._start, self._span = start, span
        self._wall0 = self._last = time.monotonic()

    def update(self, now: float) -> None:
        wall = time.monotonic()
        if wall - self._last < 0.1 and now < self._start + self._span:
            return
        self._last = wall
        done = min(1.0, (now - self._start) / self._span) if self._span > 0 else 1.0
        bar = "#" * int(done * 30)
        days = (now - self._start) / DAY
        sys.stderr.write(f"\r[{bar:<30}] {days:7.2f}/{self._span / DAY:.2f} days "
                         f"{wall - self._wall0:6.1f}s")
        sys.stderr.flush()

    def finish(self) -> None:
        sys.stderr.write("\n")
        sys.stderr.flush()


def _run(args: argparse.Namespace) -> int:
    from revops.sim.market import Market

    scenario, label = _scenario(args)
    market = Market(scenario, args.seed)
    with tempfile.TemporaryDirectory(prefix="revops-sim-") as tmp:
        lightning_dir = Path(args.dir) if args.dir else Path(tmp)
        config = _config(args, lightning_dir, scenario, label, "unusual")
        wall0 = time.perf_counter()
        asyncio.run(_run_async(market, config, args.days * DAY))
        wall = time.perf_counter() - wall0
    report = dict(market.report())
    report["wall_seconds"] = round(wall, 3)
    if args.report:
        Path(args.report).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if not args.quiet:
        print(summary_table(report))
    return 0


async def _run_async(market: Any, config: NodeConfig, seconds: float) -> None:
    node = await _started(market, config)
    bar = _Progress(float(market.now), seconds) if sys.stderr.isatty() else None
    try:
        await node.run_for(seconds, bar.update if bar else None)
    finally:
        if bar:
            bar.finish()
        await node.shutdown()


def summary_table(report: dict[str, Any], top: int = 10) -> str:
    """The end-of-run table: totals, then the best-earning channels."""
    def msat(v: int) -> str:
        return f"{v:,} msat"

    ok_fail = f"{report.get('rebalances_succeeded', 0)} / {report.get('rebalances_failed', 0)}"
    lines = [(f"revops-sim: {report['scenario']} (seed {report['seed']}), "
              f"{report['days']:.2f} days in {report.get('wall_seconds', 0):.1f} s wall"),
             f"  {'revenue':<20}{msat(report['revenue_msat']):>24}",
             f"  {'rebalance cost':<20}{msat(report['rebalance_cost_msat']):>24}",
             f"  {'net':<20}{msat(report['net_msat']):>24}",
             f"  {'rebalanced':<20}{msat(report.get('rebalanced_msat', 0)):>24}",
             f"  {'rebalances ok/fail':<20}{ok_fail:>24}",
             f"  {'forwards settled':<20}{report['forwards_settled']:>24,}",
             f"  {'forwards failed':<20}{report['forwards_failed']:>24,}",
             f"  {'fee updates':<20}{report['fee_updates']:>24,}"]
    channels = sorted(report.get("channels", []), key=lambda c: -c["revenue_msat"])[:top]
    if channels:
        lines.append(f"  {'scid':<16}{'channel':<22}{'revenue_msat':>16}{'fee_ppm':>9}"
                     f"{'updates':>9}{'rebal_in_msat':>16}{'rebal_cost_msat':>16}")
        for c in channels:
            lines.append(f"  {c['scid']!s:<16}{str(c.get('name', ''))[:21]:<22}"
                         f"{c['revenue_msat']:>16,}{c['final_fee_ppm']:>9}"
                         f"{c['fee_updates']:>9}{c.get('rebalanced_in_msat', 0):>16,}"
                         f"{c.get('rebalance_cost_msat', 0):>16,}")
    return "\n".join(lines)


# -- serve ---------------------------------------------------------------------------

def _serve(args: argparse.Namespace) -> int:
    from revops.sim.market import Market

    scenario, label = _scenario(args)
    market = Market(scenario, args.seed)
    lightning_dir = Path(args.dir) if args.dir else default_dir()
    config = _config(args, lightning_dir, scenario, label, None)
    asyncio.run(_serve_async(market, config, args.speed))
    return 0


async def _serve_async(market: Any, config: NodeConfig, speed: float) -> None:
    node = await _started(market, config)
    print(f"revops-sim: serving {node.rpc_path} (speed {speed:g})", flush=True)
    await node.serve(speed)


# -- cli -----------------------------------------------------------------------------

def cli_value(text: str) -> Any:
    """lightning-cli's ``add_input``: JSON literals as themselves, else a string."""
    if (re.fullmatch(r"[0-9]*", text) or text in ("true", "false", "null")
            or (text[:1], text[-1:]) in (("[", "]"), ("{", "}"), ('"', '"'))):
        try:
            return json.loads(text)
        except ValueError:
            raise UsageError("revops-sim cli: Some parameters are malformed, cannot create "
                             f"a valid JSON-RPC request: {text}", CLI_USAGE) from None
    return text


def cli_params(params: Sequence[str], keywords: bool | None) -> Any:
    """Named params (``-k``, or autodetected from the first one) or positional."""
    if keywords is None:
        keywords = bool(params) and "=" in params[0]
    if not keywords:
        return [cli_value(p) for p in params]
    named: dict[str, Any] = {}
    for p in params:
        key, eq, value = p.partition("=")
        if not eq:
            raise UsageError(f"revops-sim cli: Expected key=value in '{p}'", CLI_USAGE)
        named[key] = cli_value(value)
    return named


def _connect(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    target = str(path)
    dirfd = None
    try:
        if len(os.fsencode(target)) > 107:
            dirfd = os.open(path.parent, os.O_DIRECTORY | os.O_RDONLY)
            target = f"/proc/self/fd/{dirfd}/{path.name}"
        sock.connect(target)
    except BaseException:
        sock.close()
        raise
    finally:
        if dirfd is not None:
            os.close(dirfd)
    return sock


def call(path: Path, request: dict[str, Any]) -> dict[str, Any]:
    """One request on its own connection; the answer (notifications skipped)."""
    sock = _connect(path)
    try:
        sock.sendall(json.dumps(request).encode("utf-8"))
        stream = JsonStream()
        while True:
            data = sock.recv(1 << 20)
            if not data:
                raise ConnectionError("reading response: socket closed")
            for message in stream.feed(data):
                if isinstance(message, dict) and "id" in message:
                    return message
    finally:
        sock.close()


def _cli(args: argparse.Namespace) -> int:
    lightning_dir = Path(args.dir) if args.dir else default_dir()
    keywords = True if args.keywords else (False if args.ordered else None)
    params = cli_params(args.params, keywords)
    request: dict[str, Any] = {"jsonrpc": "2.0", "method": args.method,
                               "id": f"cli:{args.method}#{os.getpid()}", "params": params}
    if args.filter:
        try:
            request["filter"] = json.loads(args.filter)
        except ValueError:
            raise UsageError(f"revops-sim cli: --filter is not JSON: {args.filter}",
                             CLI_USAGE) from None
    rpc_path = lightning_dir / "lightning-rpc"
    try:
        response = call(rpc_path, request)
    except (OSError, JsonStreamError) as e:
        print(f"revops-sim cli: Connecting to '{rpc_path}': {getattr(e, 'strerror', None) or e}",
              file=sys.stderr)
        return CLI_TALKING_TO_LIGHTNINGD
    if "error" in response and response["error"] is not None:
        print(json.dumps(response["error"], indent=3, ensure_ascii=False))
        return CLI_FROM_LIGHTNINGD
    result = response.get("result")
    if isinstance(result, dict):
        result.pop("format-hint", None)
    print(json.dumps(result, indent=3, ensure_ascii=False))
    return 0


# -- bench (filled in by a later issue) ---------------------------------------------

def _add_bench(sub: Any) -> None:
    """``revops.sim.bench`` may provide ``add_arguments(parser)`` and
    ``main(args) -> int``; until it exists the subcommand says so."""
    p = sub.add_parser("bench", help="run the benchmarks")
    try:
        bench = importlib.import_module("revops.sim.bench")
    except ModuleNotFoundError as e:
        if e.name != "revops.sim.bench":
            raise
        bench = None
    if bench is not None:
        bench.add_arguments(p)
        p.set_defaults(func=bench.main)
    else:
        p.set_defaults(func=_no_bench)


def _no_bench(args: argparse.Namespace) -> int:
    raise UsageError("revops-sim bench: no benchmarks in this version")


# -- entry point -----------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="revops-sim",
                     description="A simulated Core Lightning node and market that runs "
                                 "plugins for real.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run a plugin for N simulated days, as fast as possible")
    _node_arguments(run)
    run.add_argument("--days", type=_non_negative, default=1.0, help="simulated days (default 1)")
    run.add_argument("--report", metavar="FILE.json", help="write the run's report as JSON")
    run.add_argument("--dir", metavar="DIR", help="lightning dir (default: a temporary one)")
    run.add_argument("--quiet", action="store_true", help="no summary table")
    run.set_defaults(func=_run)

    serve = sub.add_parser("serve", help="keep a simulated node running")
    _node_arguments(serve)
    serve.add_argument("--dir", metavar="DIR",
                       help="lightning dir (default: $REVOPS_SIM_DIR or ~/.revops-sim)")
    serve.add_argument("--speed", type=_non_negative, default=1.0, metavar="X",
                       help="simulated seconds per real second (0: only dev-advance)")
    serve.set_defaults(func=_serve)

    cli = sub.add_parser("cli", help="talk to a served node like lightning-cli")
    cli.add_argument("--dir", metavar="DIR",
                     help="lightning dir (default: $REVOPS_SIM_DIR or ~/.revops-sim)")
    mode = cli.add_mutually_exclusive_group()
    mode.add_argument("-k", "--keywords", action="store_true", help="params are key=value")
    mode.add_argument("-o", "--order", dest="ordered", action="store_true",
                      help="params are positional")
    cli.add_argument("-l", "--filter", metavar="JSON", help="response filter")
    cli.add_argument("method", metavar="METHOD")
    cli.add_argument("params", nargs=argparse.REMAINDER, metavar="PARAMS")
    cli.set_defaults(func=_cli)

    _add_bench(sub)

    from revops.sim.fidelity import command as fidelity

    check = sub.add_parser("fidelity", help="compare the simulated node with a real lightningd")
    fidelity.add_arguments(check)
    check.set_defaults(func=fidelity.main)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from revops.sim.scenario import ScenarioError

    try:
        args = build_parser().parse_args(argv)
        return int(args.func(args))
    except UsageError as e:
        print(str(e), file=sys.stderr)
        return e.code
    except ScenarioError as e:
        print(f"revops-sim: {e}", file=sys.stderr)
        return EXIT_USAGE
    except StartupError as e:
        print(f"revops-sim: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
