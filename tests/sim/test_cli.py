"""``revops-sim`` on the command line: run's reports and their determinism,
one-line errors with exit code 2, and ``cli`` talking to a served node the
way lightning-cli talks to lightningd."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from revops.sim.cli import UsageError, cli_params, summary_table
from revops.sim.harness import run_sim


def _report(tmp_path: Path, name: str, *args: str) -> dict:
    out = tmp_path / f"{name}.json"
    done = run_sim("run", "--plugin", "none", "--quiet", "--report", str(out), *args)
    assert done.returncode == 0, done.stderr
    return json.loads(out.read_text())


def test_same_seed_same_report_different_seed_differs(tmp_path) -> None:
    a = _report(tmp_path, "a", "--days", "0.5", "--seed", "7")
    b = _report(tmp_path, "b", "--days", "0.5", "--seed", "7")
    c = _report(tmp_path, "c", "--days", "0.5", "--seed", "8")
    for r in (a, b, c):
        assert isinstance(r.pop("wall_seconds"), float)
    assert a == b
    assert a != c
    assert a["days"] == 0.5 and a["seed"] == 7 and a["fee_updates"] == 0
    assert a["forwards_settled"] > 0
    # --plugin none leaves every fee at CLN's default.
    assert {ch["final_fee_ppm"] for ch in a["channels"]} == {10}


def test_run_prints_a_summary_and_drives_a_plugin(tmp_path, hello_plugin) -> None:
    d = tmp_path / "node"
    done = run_sim("run", "--plugin", hello_plugin, "--days", "0.1", "--dir", str(d),
                   "--option", "greeting=Hi")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].startswith("revops-sim: default (seed 1), 0.10 days")
    assert "forwards settled" in done.stdout
    log = (d / "log").read_text()
    assert "hello plugin initialised" in log and "Shutdown complete" in log
    shutdown = json.loads((d / "hello-shutdown.json").read_text())
    assert shutdown["now"] == 1767225600.0 + 0.1 * 86400  # the plugin's clock kept up


def test_generated_large_node_runs(tmp_path) -> None:
    report = _report(tmp_path, "g", "--channels", "60", "--forwards", "500", "--days", "0.05")
    assert len(report["channels"]) == 60


def test_summary_table_lists_totals_and_top_channels() -> None:
    report = {"scenario": "s", "seed": 1, "days": 1.0, "wall_seconds": 2.0,
              "revenue_msat": 5000, "rebalance_cost_msat": 0, "net_msat": 5000,
              "forwards_settled": 3, "forwards_failed": 1, "fee_updates": 2,
              "channels": [{"scid": "1x1x1", "name": "a", "revenue_msat": 1000,
                            "final_fee_ppm": 10, "fee_updates": 0},
                           {"scid": "2x2x2", "name": "b", "revenue_msat": 4000,
                            "final_fee_ppm": 500, "fee_updates": 2}]}
    text = summary_table(report)
    assert "5,000 msat" in text
    assert text.index("2x2x2") < text.index("1x1x1")  # best earner first


@pytest.mark.parametrize("args, expected", [
    (["run", "--days", "-1"], "argument --days: must be a number >= 0, got '-1'"),
    (["run", "--tick", "0"], "argument --tick: must be a positive number, got '0'"),
    (["run", "--bogus"], "unrecognized arguments: --bogus"),
    (["run", "--forwards", "5"], "--forwards needs --channels"),
    (["run", "--plugin", "none", "--plugin", "x"], "--plugin none cannot be combined"),
    (["serve", "--speed", "fast"], "argument --speed: not a number: 'fast'"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
    (["bench"], "the following arguments are required: NAME"),
])
def test_bad_flags_get_one_line_and_exit_2(args: list[str], expected: str) -> None:
    done = run_sim(*args)
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and expected in lines[0], done.stderr
    assert "Traceback" not in done.stderr


def test_bad_scenario_files_get_one_line_with_the_file(tmp_path) -> None:
    missing = tmp_path / "missing.toml"
    done = run_sim("run", "--plugin", "none", "--scenario", str(missing))
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1
    assert str(missing) in done.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text('[[channels]]\nname = "a"\ncapacity_sat = -5\nlocal_sat = 0\n')
    done = run_sim("run", "--plugin", "none", "--scenario", str(bad))
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1
    assert done.stderr.startswith(f"revops-sim: {bad}: ") and "capacity_sat" in done.stderr
    assert "Traceback" not in done.stderr


def test_cli_params_follow_lightning_cli() -> None:
    assert cli_params(["a=1", "b=x y", "c=[1,2]", "d=true", 'e="7"', "f=-3", "g=1.5"],
                      None) == {"a": 1, "b": "x y", "c": [1, 2], "d": True, "e": "7",
                                "f": "-3", "g": "1.5"}
    assert cli_params(["Bob", "2", "null", "{}"], None) == ["Bob", 2, None, {}]
    assert cli_params(["x=1"], False) == ["x=1"]  # -o: positional even with '='
    with pytest.raises(UsageError) as err:
        cli_params(["name=Ann", "oops"], True)
    assert err.value.code == 3 and "Expected key=value in 'oops'" in str(err.value)
    with pytest.raises(UsageError) as err:
        cli_params(["[1,]"], None)  # looks like JSON, is not
    assert err.value.code == 3


def test_cli_talks_to_a_served_node(sim_factory, hello_plugin, tmp_path) -> None:
    with sim_factory(plugins=[hello_plugin], options={"greeting": "Hi"}) as sim:
        d = str(sim.lightning_dir)

        def cli(*args: str) -> tuple[int, object]:
            done = run_sim("cli", "--dir", d, *args)
            return done.returncode, json.loads(done.stdout)

        assert cli("hello", "Bob", "2") == (0, {"greeting": "Hi Bob Hi Bob", "name": "Bob",
                                                "count": 2})
        assert cli("hello", "name=Ann")[1]["greeting"] == "Hi Ann"
        assert cli("-k", "hello", "name=Ann", "count=2")[1]["count"] == 2
        rc, out = cli("dev-advance", "0.5")
        assert rc == 0 and out["advanced_seconds"] == 1800
        assert cli("nosuch") == (1, {"code": -32601, "message": "Unknown command 'nosuch'"})
        rc, out = cli("-l", '{"alias": true}', "getinfo")
        assert rc == 0 and out == {"alias": "revops-sim"}
        rc, out = cli("help")
        assert rc == 0 and "format-hint" not in out
    done = run_sim("cli", "--dir", str(tmp_path / "nothing-here"), "getinfo")
    assert done.returncode == 2 and "Connecting to" in done.stderr
