"""Driving a simulated node from tests and benchmarks.

:class:`Sim` runs ``revops-sim serve`` as a child process in a lightning
directory of your choosing (a ``tmp_path``), waits until the node is up
(the ``Server started`` log line, so every plugin has answered ``init``),
and hands out pyln's :class:`~pyln.client.LightningRpc` on its socket::

    with Sim(tmp_path / "node", plugins=[plugin_command("my_plugin.py")],
             options={"my-opt": "1"}) as sim:
        sim.rpc.getinfo()
        sim.advance(hours=2)                 # dev-advance: returns when done
        sim.wait_for_log(r"my-plugin: did the thing")
    # leaving the block stops the node with `stop` and checks it exited
    # cleanly (exit code 0, no **BROKEN** line in its log)

By default the node runs with ``--speed 0`` (only ``advance`` moves the
clock, so tests are deterministic) and ``--validate`` (every answer and
notification is checked against CLN's schemas; a violation is a BROKEN log
line, which makes :meth:`Sim.stop` fail). :func:`run_sim` runs any
``revops-sim`` command to completion, for the command line's own tests.

Waiting here polls with short sleeps up to generous deadlines: a deadline
is a hang detector, never an assertion about speed.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from pyln.client import LightningRpc

READY_LINE = "Server started with public key"
OptionsArg = Mapping[str, "str | int | bool | None"] | Sequence[str] | Sequence[tuple[str, Any]]


class SimError(AssertionError):
    """The simulated node did not behave: failed to start, crashed, or
    stopped uncleanly. The message carries its stderr and log tail."""


def plugin_command(script: str | os.PathLike[str], python: str | None = None) -> str:
    """A ``--plugin`` value running a Python plugin script with this Python."""
    return f"{shlex.quote(python or sys.executable)} {shlex.quote(str(Path(script).resolve()))}"


def option_args(options: OptionsArg) -> list[str]:
    """``--option`` flags from a mapping, ``KEY=VALUE`` strings or pairs;
    a value of None or True is a bare flag."""
    if isinstance(options, Mapping):
        items: list[tuple[str, Any]] = list(options.items())
    else:
        items = [tuple(o.split("=", 1)) if isinstance(o, str) and "=" in o  # type: ignore
                 else (o, None) if isinstance(o, str) else o for o in options]
    out = []
    for key, value in items:
        if value is None or value is True:
            out += ["--option", key]
        else:
            out += ["--option", f"{key}={'false' if value is False else value}"]
    return out


def sim_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "revops.sim.cli", *args]


def run_sim(*args: str, timeout: float = 300.0, env: Mapping[str, str] | None = None,
            cwd: str | os.PathLike[str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``revops-sim ARGS`` to completion; stdout/stderr captured as text."""
    full_env = None if env is None else {**os.environ, **env}
    return subprocess.run(sim_command(*args), capture_output=True, text=True,
                          timeout=timeout, env=full_env, cwd=cwd, check=False)


class Sim:
    """One ``revops-sim serve`` child process and its lightning directory."""

    def __init__(self, lightning_dir: str | os.PathLike[str], *,
                 plugins: Sequence[str] = (), options: OptionsArg = (),
                 scenario: str | os.PathLike[str] | None = None, seed: int = 1,
                 channels: int | None = None, forwards: int | None = None,
                 speed: float = 0.0, tick: float | None = None, validate: bool = True,
                 manifest_timeout: float | None = None, init_timeout: float | None = None,
                 shutdown_timeout: float | None = None, allow_deprecated_apis: bool = False,
                 extra_args: Sequence[str] = (), env: Mapping[str, str] | None = None) -> None:
        self.lightning_dir = Path(lightning_dir).resolve()
        self.rpc_path = self.lightning_dir / "lightning-rpc"
        self.log_path = self.lightning_dir / "log"
        args = ["serve", "--dir", str(self.lightning_dir), "--speed", repr(float(speed)),
                "--seed", str(seed)]
        args += [a for p in plugins for a in ("--plugin", p)] if plugins else ["--plugin", "none"]
        args += option_args(options)
        if scenario is not None:
            args += ["--scenario", str(scenario)]
        if channels is not None:
            args += ["--channels", str(channels)]
        if forwards is not None:
            args += ["--forwards", str(forwards)]
        for flag, value in (("--tick", tick), ("--manifest-timeout", manifest_timeout),
                            ("--init-timeout", init_timeout),
                            ("--shutdown-timeout", shutdown_timeout)):
            if value is not None:
                args += [flag, repr(float(value))]
        if validate:
            args.append("--validate")
        if allow_deprecated_apis:
            args.append("--allow-deprecated-apis")
        self.args = args + list(extra_args)
        self.env = dict(env or {})
        self.proc: subprocess.Popen[bytes] | None = None
        # Where this run's part of the log starts (a restart appends to it).
        self._log_offset = 0
        self._stdout_path = self.lightning_dir / "sim.stdout"
        self._stderr_path = self.lightning_dir / "sim.stderr"

    # -- lifecycle -------------------------------------------------------

    def start(self, timeout: float = 120.0) -> Sim:
        """Start the node; returns once it serves RPC with plugins initialised."""
        self.lightning_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._log_offset = self.log_path.stat().st_size
        except FileNotFoundError:
            self._log_offset = 0
        with open(self._stdout_path, "wb") as out, open(self._stderr_path, "wb") as err:
            self.proc = subprocess.Popen(sim_command(*self.args), stdout=out, stderr=err,
                                         env={**os.environ, **self.env})
        deadline = time.monotonic() + timeout
        while READY_LINE not in self.log_text():
            if self.proc.poll() is not None:
                raise SimError(f"revops-sim exited with {self.proc.returncode} while "
                               f"starting\n{self.diagnostics()}")
            if time.monotonic() > deadline:
                self.kill()
                raise SimError(f"revops-sim not up after {timeout}s\n{self.diagnostics()}")
            time.sleep(0.02)
        return self

    def __enter__(self) -> Self:
        return self.start() if self.proc is None else self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            self.stop()
        else:
            self.kill()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def stop(self, timeout: float = 120.0, clean: bool = True) -> int:
        """``stop`` the node and wait for it to exit. With ``clean``, fail
        unless it exited 0 with no BROKEN line in its log."""
        assert self.proc is not None, "not started"
        if self.proc.poll() is None:
            try:
                answer = self.rpc.stop()
            except (OSError, ValueError) as e:
                # A node already going down (SIGTERM, a plugin's stop) refuses.
                answer = f"stop failed: {e}"
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise SimError(f"revops-sim did not exit after stop ({answer})\n"
                               f"{self.diagnostics()}") from None
        rc = self.proc.returncode
        if clean:
            broken = self.broken_lines()
            if rc != 0 or broken:
                raise SimError(f"revops-sim did not stop cleanly (exit {rc}; "
                               f"{len(broken)} BROKEN lines)\n{self.diagnostics()}")
        return rc

    def terminate(self, timeout: float = 120.0) -> int:
        """SIGTERM, as an operator's ``kill``; returns the exit code."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        """Best-effort teardown: SIGTERM, then SIGKILL (never raises)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(45.0)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    # -- talking to it ---------------------------------------------------

    @property
    def rpc(self) -> LightningRpc:
        """A pyln client on the node's socket (a new connection per call)."""
        return LightningRpc(str(self.rpc_path))

    def call(self, method: str, params: Any = None, **kwargs: Any) -> Any:
        return self.rpc.call(method, params if params is not None else kwargs or None)

    def advance(self, hours: float = 0.0, *, seconds: float = 0.0) -> dict[str, Any]:
        """Move the simulated clock; returns dev-advance's summary when done."""
        return self.rpc.call("dev-advance", {"hours": hours + seconds / 3600.0})

    # -- its log ---------------------------------------------------------

    def restarted(self) -> Sim:
        """A new, not yet started Sim on the same directory with the same
        arguments (the datastore and the log carry over, as on a real node)."""
        twin = object.__new__(Sim)
        twin.__dict__.update(self.__dict__)
        twin.args, twin.env = list(self.args), dict(self.env)
        twin.proc, twin._log_offset = None, 0
        return twin

    def log_text(self, all_runs: bool = False) -> str:
        """This run's log (or the whole file, with earlier runs in the same dir)."""
        try:
            with open(self.log_path, "rb") as f:
                if not all_runs:
                    f.seek(self._log_offset)
                return f.read().decode("utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def log_lines(self, pattern: str | None = None) -> list[str]:
        lines = self.log_text().splitlines()
        if pattern is None:
            return lines
        rx = re.compile(pattern)
        return [line for line in lines if rx.search(line)]

    def broken_lines(self) -> list[str]:
        return [line for line in self.log_text().splitlines() if " **BROKEN** " in line]

    def wait_for_log(self, pattern: str, timeout: float = 60.0) -> str:
        """The first log line matching ``pattern``, waiting for it if needed."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            for line in self.log_text().splitlines():
                if rx.search(line):
                    return line
            if self.proc is not None and self.proc.poll() is not None:
                raise SimError(f"revops-sim exited before logging /{pattern}/\n"
                               f"{self.diagnostics()}")
            if time.monotonic() > deadline:
                raise SimError(f"no log line /{pattern}/ after {timeout}s\n{self.diagnostics()}")
            time.sleep(0.02)

    def stderr_text(self) -> str:
        try:
            return self._stderr_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def stdout_text(self) -> str:
        try:
            return self._stdout_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def diagnostics(self, tail: int = 40) -> str:
        log_tail = "\n".join(self.log_text().splitlines()[-tail:])
        return (f"--- stderr ---\n{self.stderr_text()[-4000:]}\n"
                f"--- log (last {tail} lines) ---\n{log_tail}")
