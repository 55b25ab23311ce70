"""``revops-sim bench economics --policy NAME=COMMAND``: an operator's own,
unmodified plugin as one more policy on the same market (here the
feeadjuster stand-in of tests/sim/, which knows nothing of revops-sim)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from revops.sim.bench.economics import custom_policies
from revops.sim.harness import plugin_command, run_sim

TINY = Path(__file__).parent / "tiny.toml"
STANDIN = plugin_command(Path(__file__).parents[1] / "sim" / "feeadjuster_standin.py")


def test_policies_are_named_commands_with_their_options():
    got = custom_policies([f"standin={STANDIN}", "other=python3 -m x"],
                          ["standin:standin-sleep=2", "standin:--some-flag", "other:k="])
    assert list(got) == ["standin", "other"]
    assert got["standin"] == {"command": STANDIN,
                              "options": [("standin-sleep", "2"), ("some-flag", None)]}
    assert got["other"]["options"] == [("k", "")]


@pytest.mark.parametrize("policies, options, says", [
    (["static=python3 x.py"], [], "already taken"),
    (["a=python3 x.py", "a=python3 y.py"], [], "already taken"),
    (["bad name=python3 x.py"], [], "NAME must be"),
    (["a"], [], "expected NAME=COMMAND"),
    (["a="], [], "expected NAME=COMMAND"),
    (["a=/no/such/plugin"], [], "not an executable command"),
    (["a=python3 x.py"], ["b:k=v"], "NAME a --policy"),
    (["a=python3 x.py"], ["a:=v"], "no option KEY"),
])
def test_bad_policies_are_refused_with_the_reason(policies, options, says):
    with pytest.raises(SystemExit) as e:
        custom_policies(policies, options)
    assert says in str(e.value)


@pytest.mark.e2e
@pytest.mark.slow
def test_an_operators_plugin_runs_as_a_policy_row(tmp_path):
    report_path = tmp_path / "report.json"
    res = run_sim("bench", "economics", "--scenario", str(TINY), "--days", "0.25",
                  "--seeds", "1", "--jobs", "2", "--policies", "revops,static",
                  "--policy", f"standin={STANDIN}", "--policy-option", "standin:standin-sleep=2",
                  "--sample-hours", "1", "--report", str(report_path), timeout=600)
    assert res.returncode == 0, res.stderr
    report = json.loads(report_path.read_text())
    assert report["policies"] == ["revops", "static", "standin"]
    assert report["custom_policies"] == {"standin": {"command": STANDIN,
                                                     "options": [["standin-sleep", "2"]]}}
    runs = {r["policy"]: r for r in report["runs"]}
    standin = runs["standin"]
    assert standin["policy_command"] == STANDIN
    assert standin["plugins_alive_at_end"] == standin["plugins_expected"] == 1
    assert standin["broken_log_count"] == 0
    # The same market: the same demand reached it as every other policy.
    assert standin["payment_attempts"] == runs["static"]["payment_attempts"] > 0
    assert standin["days"] == pytest.approx(0.25)
    assert standin["fee_updates"] > 0  # it priced the channels
    rows = {r["policy"]: r for r in report["table"]}
    assert [r["policy"] for r in report["table"]] == ["revops", "static", "standin"]
    assert report["revops_vs_policies"]["standin"] == pytest.approx(
        rows["revops"]["net_msat"] / rows["standin"]["net_msat"])
    assert "revops_vs_standin:" in res.stdout
