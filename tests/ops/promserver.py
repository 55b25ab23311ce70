"""A real Prometheus server for tests: started on loopback with a free
port and a data directory of its own, scraping what the test says, and
queried through its HTTP API (``/api/v1``).

Waiting polls with short sleeps up to generous deadlines: a deadline is a
hang detector, never an assertion about speed.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrometheusError(AssertionError):
    """Prometheus did not start, or answered a query with an error."""


class PrometheusServer:
    """``prometheus --config.file=CONFIG`` in ``workdir``, on 127.0.0.1."""

    def __init__(self, binary: str, workdir: Path, config_text: str) -> None:
        self.binary = binary
        self.workdir = Path(workdir)
        self.config_text = config_text
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> PrometheusServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "prometheus.yml"
        config.write_text(self.config_text)
        with open(self.workdir / "prometheus.log", "wb") as log:
            self.proc = subprocess.Popen(
                [self.binary, f"--config.file={config}",
                 f"--storage.tsdb.path={self.workdir / 'data'}",
                 f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
                stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise PrometheusError(f"prometheus exited with {self.proc.returncode}:\n"
                                      f"{self.log_text()}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as r:
                    if r.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise PrometheusError(f"prometheus not ready after {timeout}s:\n"
                                      f"{self.log_text()}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> PrometheusServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def log_text(self) -> str:
        try:
            return (self.workdir / "prometheus.log").read_text(errors="replace")[-4000:]
        except FileNotFoundError:
            return ""

    # -- the HTTP API --------------------------------------------------------------

    def api(self, path: str, **params: str) -> Any:
        """``GET /api/v1/<path>``: the ``data`` of a successful answer."""
        url = f"{self.url}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=30) as r:
                body = json.loads(r.read())
        except urllib.error.HTTPError as e:
            body = json.loads(e.read() or b"{}")
        if body.get("status") != "success":
            raise PrometheusError(f"{path} {params}: {body.get('errorType')}: "
                                  f"{body.get('error')}")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query; the result vector (each: ``metric`` labels, ``value``)."""
        data = self.api("query", query=expr)
        if data["resultType"] != "vector":
            raise PrometheusError(f"{expr}: a {data['resultType']}, not a vector")
        return list(data["result"])

    def wait_for(self, expr: str, timeout: float = 60.0) -> list[dict[str, Any]]:
        """Poll ``expr`` until it returns something."""
        deadline = time.monotonic() + timeout
        while True:
            result = self.query(expr)
            if result:
                return result
            if self.proc is not None and self.proc.poll() is not None:
                raise PrometheusError(f"prometheus exited:\n{self.log_text()}")
            if time.monotonic() > deadline:
                raise PrometheusError(f"no result for {expr} after {timeout}s\n"
                                      f"targets: {self.api('targets')}")
            time.sleep(0.2)

    def scrapes_after(self, job: str, t: float, n: int = 2, timeout: float = 60.0) -> None:
        """Wait until ``job`` has been scraped ``n`` times after UNIX time ``t``."""
        deadline = time.monotonic() + timeout
        while True:
            samples = self.api("query", query=f'up{{job="{job}"}}[5m]')["result"]
            after = sum(1 for s in samples for ts, v in s["values"] if float(ts) > t and v == "1")
            if after >= n:
                return
            if time.monotonic() > deadline:
                raise PrometheusError(f"{job} not scraped {n} times after {t}:\n"
                                      f"{self.api('targets')}")
            time.sleep(0.2)
