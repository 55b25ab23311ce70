"""Headless Chromium for tests: open a page, collect what its console
says, take a full-page screenshot.

Debian's ``chromium`` is driven over the DevTools protocol through
``--remote-debugging-pipe`` (JSON messages separated by NUL bytes on file
descriptors 3 and 4), so no websocket client and no new dependency is
needed. Console messages come from ``Runtime.consoleAPICalled`` and
``Runtime.exceptionThrown`` (the page's own script) and ``Log.entryAdded``
(the browser's: resources that failed to load, CSP violations, ...).

Run directly to screenshot a page: ``python -m tests.report.chromium PAGE.html
OUT.png [WIDTH [HEIGHT [TOP]]]``.
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--disable-dev-shm-usage", "--hide-scrollbars", "--remote-debugging-pipe")


_LAUNCH = ("import os, sys; os.dup2(int(sys.argv[1]), 3); os.dup2(int(sys.argv[2]), 4); "
           "os.execv(sys.argv[3], sys.argv[3:])")


def find_chromium() -> str | None:
    return shutil.which("chromium") or (
        "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)


@dataclass
class PageVisit:
    console: list[dict[str, Any]] = field(default_factory=list)  # every message
    png: bytes = b""
    title: str = ""

    @property
    def errors(self) -> list[str]:
        return [f"{m['source']}/{m['level']}: {m['text']}" for m in self.console
                if m["level"] in ("error", "assert")]


class ChromiumError(AssertionError):
    pass


class Chromium:
    """One headless browser; ``with Chromium(binary) as c: c.visit(path)``."""

    def __init__(self, binary: str, timeout: float = 60.0) -> None:
        self.binary = binary
        self.timeout = timeout
        self._ids = 0
        self._buf = b""
        self._events: list[dict[str, Any]] = []
        self.proc: subprocess.Popen[bytes] | None = None
        self._tmp = tempfile.TemporaryDirectory(prefix="revops-chromium-")

    def __enter__(self) -> Chromium:
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()
        # Chromium reads the protocol on fd 3 and writes it on fd 4: a small
        # Python puts our pipe ends there and execs it (no preexec_fn, which
        # is not safe in a process with threads; dash cannot redirect fds > 9).
        launch = [sys.executable, "-c", _LAUNCH, str(to_child_r), str(from_child_w),
                  self.binary, *FLAGS, f"--user-data-dir={self._tmp.name}/profile",
                  "about:blank"]
        with open(Path(self._tmp.name) / "stderr", "wb") as err:
            self.proc = subprocess.Popen(launch, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=err,
                                         pass_fds=(to_child_r, from_child_w))
        os.close(to_child_r)
        os.close(from_child_w)
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self.proc is not None and self.proc.poll() is None:
                try:
                    self.send("Browser.close")
                except ChromiumError:
                    pass
                try:
                    self.proc.wait(15)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
        finally:
            os.close(self._to_child)
            os.close(self._from_child)
            self._tmp.cleanup()

    def stderr_text(self) -> str:
        try:
            return (Path(self._tmp.name) / "stderr").read_text(errors="replace")[-3000:]
        except FileNotFoundError:
            return ""

    # -- the protocol -----------------------------------------------------------------------

    def send(self, method: str, params: dict[str, Any] | None = None,
             session: str | None = None) -> dict[str, Any]:
        self._ids += 1
        msg: dict[str, Any] = {"id": self._ids, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._to_child, json.dumps(msg).encode() + b"\0")
        want = self._ids
        deadline = time.monotonic() + self.timeout
        while True:
            for m in self._read(deadline):
                if m.get("id") == want:
                    if "error" in m:
                        raise ChromiumError(f"{method}: {m['error']}")
                    return dict(m.get("result", {}))
                self._events.append(m)

    def wait_event(self, method: str, session: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        while True:
            for i, m in enumerate(self._events):
                if m.get("method") == method and m.get("sessionId") == session:
                    return dict(self._events.pop(i).get("params", {}))
            self._events.extend(self._read(deadline))

    def _read(self, deadline: float) -> list[dict[str, Any]]:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ChromiumError(f"no answer from chromium in {self.timeout}s\n"
                                    f"{self.stderr_text()}")
            ready, _, _ = select.select([self._from_child], [], [], min(left, 1.0))
            if ready:
                chunk = os.read(self._from_child, 1 << 20)
                if not chunk:
                    raise ChromiumError(f"chromium closed the pipe\n{self.stderr_text()}")
                self._buf += chunk
        *whole, self._buf = self._buf.split(b"\0")
        return [json.loads(m) for m in whole if m]

    # -- what a test wants --------------------------------------------------------------

    def visit(self, path: Path, width: int = 1200, settle: float = 0.5,
              max_height: int | None = None, top: int = 0) -> PageVisit:
        """Load ``path``, gather console messages, and screenshot the whole
        page (or ``max_height`` pixels of it from ``top``)."""
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget",
                            {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.send(f"{domain}.enable", session=session)
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": False},
                  session=session)
        self.send("Page.navigate", {"url": Path(path).resolve().as_uri()}, session=session)
        self.wait_event("Page.loadEventFired", session)
        time.sleep(settle)  # late console messages (none expected from a static page)
        metrics = self.send("Page.getLayoutMetrics", session=session)
        size = metrics.get("cssContentSize") or metrics["contentSize"]
        shot = self.send("Page.captureScreenshot",
                         {"format": "png", "captureBeyondViewport": True,
                          "clip": {"x": 0, "y": top, "width": width,
                                   "height": min(int(size["height"]) - top,
                                                 max_height or 1 << 30), "scale": 1}},
                         session=session)
        title = self.send("Runtime.evaluate", {"expression": "document.title",
                                               "returnByValue": True},
                          session=session)["result"].get("value", "")
        visit = PageVisit(png=base64.b64decode(shot["data"]), title=str(title))
        self._events.extend(self._drain())
        for m in self._events:
            if m.get("sessionId") != session:
                continue
            p = m.get("params", {})
            if m.get("method") == "Runtime.consoleAPICalled":
                text = " ".join(str(a.get("value", a.get("description", "")))
                                for a in p.get("args", []))
                visit.console.append({"source": "console", "level": p.get("type"),
                                      "text": text})
            elif m.get("method") == "Runtime.exceptionThrown":
                d = p.get("exceptionDetails", {})
                visit.console.append({"source": "exception", "level": "error",
                                      "text": d.get("text", "") + " " + str(
                                          d.get("exception", {}).get("description", ""))})
            elif m.get("method") == "Log.entryAdded":
                e = p.get("entry", {})
                visit.console.append({"source": e.get("source", "log"),
                                      "level": e.get("level"), "text": e.get("text", "")})
        self._events.clear()
        self.send("Target.closeTarget", {"targetId": target})
        return visit

    def _drain(self) -> list[dict[str, Any]]:
        # Whatever arrived already (the answers above flushed anything before them).
        ready, _, _ = select.select([self._from_child], [], [], 0)
        if not ready:
            return []
        return self._read(time.monotonic() + 1.0)


def main(argv: list[str]) -> int:
    page, out = Path(argv[0]), Path(argv[1])
    binary = find_chromium()
    if binary is None:
        print("chromium is not installed (apt-get install chromium)", file=sys.stderr)
        return 2
    with Chromium(binary) as c:
        visit = c.visit(page, width=int(argv[2]) if len(argv) > 2 else 1200,
                        max_height=int(argv[3]) if len(argv) > 3 else None,
                        top=int(argv[4]) if len(argv) > 4 else 0)
    out.write_bytes(visit.png)
    for line in visit.errors:
        print(line, file=sys.stderr)
    return 1 if visit.errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
