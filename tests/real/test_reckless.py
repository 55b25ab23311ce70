"""Installed the way operators install CLN plugins: CLN's own ``reckless``
installs this repository into a real node's reckless directory (its
virtualenv, ``pip install -r requirements.txt``, its wrapper), starts it on
the running node, and the node loads it again after a restart from the
config reckless wrote.

The source is a copy of this checkout in a directory named ``revops`` (as
a clone of the repository is): reckless finds a plugin by its directory's
name, ``revops.py`` and ``requirements.txt`` in it. No network is needed
beyond pip's usual index (for revops' dependencies).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from revops import __version__

ROOT = Path(__file__).resolve().parents[2]


def checkout_copy(dest: Path) -> Path:
    """The files of this checkout (tracked, and new ones not ignored) in ``dest/revops``."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                             "--exclude-standard"], cwd=ROOT, capture_output=True,
                            check=True).stdout.decode().split("\0")
    target = dest / "revops"
    for name in filter(None, listed):
        src = ROOT / name
        if src.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target / name)
    return target


def test_reckless_installs_the_repository_and_the_node_runs_it(node_factory, tmp_path):
    reckless = shutil.which("reckless")
    if reckless is None:
        pytest.skip("reckless is not on PATH (it comes with Core Lightning)")
    if shutil.which("git") is None:
        pytest.skip("git is not installed: the checkout cannot be listed")
    source = checkout_copy(tmp_path / "src")
    node = node_factory.get_node()
    lightning_dir = Path(node.daemon.lightning_dir)
    # reckless runs pip and python3 from PATH: this Python's, so that pip's
    # configuration and cache are the ones revops was installed with.
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    env.pop("PYTHONPATH", None)
    started = time.monotonic()
    r = subprocess.run([reckless, "--regtest", "--lightning", str(lightning_dir), "install",
                        str(source)], input="Y\n", env=env, capture_output=True, text=True,
                       timeout=900, check=False)
    took = time.monotonic() - started
    assert r.returncode == 0 and "plugin installed" in r.stdout, r.stdout + r.stderr
    print(f"reckless install took {took:.1f} s")

    installed = lightning_dir / "reckless" / "revops"
    entry = installed / "revops.py"
    # reckless' layout: its wrapper runs `python -m revops` in its own virtualenv.
    assert entry.is_file() and (installed / ".venv" / "bin" / "python").exists()
    assert "runpy.run_module(\"revops\"" in entry.read_text()
    assert (installed / ".venv" / "bin" / "revops-report").exists()

    # Started on the running node, and it answers.
    listed = {p["name"]: p for p in node.rpc.plugin("list")["plugins"]}
    assert str(entry) in listed and listed[str(entry)]["active"]
    status = node.rpc.call("revenue-status")
    assert status["version"] == __version__

    # Persistent: reckless put it in its config, which the node's config includes.
    conf = (lightning_dir / "reckless" / "regtest-reckless.conf").read_text()
    assert f"plugin={entry}" in conf.splitlines()
    assert f"include {lightning_dir / 'reckless' / 'regtest-reckless.conf'}" in \
        (lightning_dir / "regtest" / "config").read_text()
    node.restart()
    assert str(entry) in {p["name"] for p in node.rpc.plugin("list")["plugins"]}
    assert node.rpc.call("revenue-status")["version"] == __version__
