"""Scenario files: the default, the generator, TOML/JSON loading and every
validation error as one clear line."""

from __future__ import annotations

import copy
import dataclasses
import json
from typing import Any

import pytest

from revops.sim.market import Market
from revops.sim.scenario import (
    CLN_DEFAULT_FEE_BASE_MSAT,
    CLN_DEFAULT_FEE_PPM,
    Scenario,
    ScenarioError,
    default_scenario,
    generate_scenario,
    load_scenario,
)

TOML = """
name = "small"
start_time = 1767225600
gossip_delay_s = 60
htlc_hold_s = [1.0, 2.0]

[node]
alias = "tiny"
color = "aabbcc"
blockheight = 800000
onchain_sat = 1500000

[feerates]
base_perkb = 4000
daily_swing = 0.1
[[feerates.spikes]]
start_day = 1.0
duration_hours = 6
multiplier = 5.0

[[channels]]
name = "a"
peer_alias = "alice"
capacity_sat = 2000000
local_sat = 500000
opener = "remote"
private = true

[[channels]]
name = "b"
capacity_sat = 3000000
local_sat = 3000000
fee_ppm = 250
max_accepted_htlcs = 30
background_htlcs = 5
close_at_day = 2.5

[[flows]]
in = "a"
out = "b"
rate_per_day = 100
amount_median_sat = 5000
[[flows.profile]]
from_day = 1
multiplier = 2.0
[[flows.profile]]
from_day = 3
multiplier = 0

[[faults]]
method = "listforwards"
error_rate = 0.5
latency_s = 0.1

[plugin.options]
revenue-ops-fee-interval = 600
revenue-ops-dry-run = true
"""

BASE: dict[str, Any] = {
    "name": "small", "start_time": 1767225600, "gossip_delay_s": 60, "htlc_hold_s": [1.0, 2.0],
    "node": {"alias": "tiny", "color": "aabbcc", "blockheight": 800000, "onchain_sat": 1500000},
    "feerates": {"base_perkb": 4000, "daily_swing": 0.1,
                 "spikes": [{"start_day": 1.0, "duration_hours": 6, "multiplier": 5.0}]},
    "channels": [
        {"name": "a", "peer_alias": "alice", "capacity_sat": 2000000, "local_sat": 500000,
         "opener": "remote", "private": True},
        {"name": "b", "capacity_sat": 3000000, "local_sat": 3000000, "fee_ppm": 250,
         "max_accepted_htlcs": 30, "background_htlcs": 5, "close_at_day": 2.5},
    ],
    "flows": [{"in": "a", "out": "b", "rate_per_day": 100, "amount_median_sat": 5000,
               "profile": [{"from_day": 1, "multiplier": 2.0}, {"from_day": 3, "multiplier": 0}]}],
    "faults": [{"method": "listforwards", "error_rate": 0.5, "latency_s": 0.1}],
    "plugin_options": {"revenue-ops-fee-interval": 600, "revenue-ops-dry-run": True},
}


def write(tmp_path: Any, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_toml_and_json_equivalents_give_the_same_scenario(tmp_path: Any) -> None:
    from_toml = load_scenario(write(tmp_path, "s.toml", TOML))
    from_json = load_scenario(write(tmp_path, "s.json", json.dumps(BASE)))
    assert from_toml == from_json
    assert from_toml.plugin_options == {"revenue-ops-fee-interval": "600",
                                        "revenue-ops-dry-run": "true"}
    b = from_toml.channel("b")
    assert (b.capacity_sat, b.local_sat, b.fee_ppm, b.fee_base_msat) == (3000000, 3000000, 250, 1000)
    assert b.close_at_day == 2.5 and b.peer_alias == "b"
    assert from_toml.channel("a").private and from_toml.channel("a").opener == "remote"
    assert from_toml.flows[0].multiplier_at(0.5) == 1.0
    assert from_toml.flows[0].multiplier_at(2) == 2.0
    assert from_toml.flows[0].multiplier_at(10) == 0
    # A flow's alternative defaults to its out channel's competitors.
    assert from_toml.flows[0].alt_fee_median_ppm == b.competitor_fee_ppm


def test_name_defaults_to_the_file_name(tmp_path: Any) -> None:
    raw = copy.deepcopy(BASE)
    del raw["name"]
    assert load_scenario(write(tmp_path, "weekend-node.json", json.dumps(raw))).name == "weekend-node"


def _mutate(path: str, value: Any) -> dict[str, Any]:
    raw = copy.deepcopy(BASE)
    *parents, last = path.split("/")
    obj: Any = raw
    for p in parents:
        obj = obj[int(p)] if p.isdigit() else obj[p]
    if value is _DELETE:
        del obj[last]
    elif last.isdigit():
        obj[int(last)] = value
    else:
        obj[last] = value
    return raw


_DELETE = object()

ERRORS = [
    ("channels/1/capacity_sat", -5, "channels[1].capacity_sat: must be a positive integer, got -5"),
    ("channels/0/local_sat", 2000001, "channels[0].local_sat: must not exceed capacity_sat (2000000), got 2000001"),
    ("channels/0/local_sat", "lots", 'channels[0].local_sat: must be an integer >= 0, got "lots"'),
    ("channels/0/capacity_sat", True, "channels[0].capacity_sat: must be a positive integer, got true"),
    ("channels/0/capacity_sat", _DELETE, "channels[0].capacity_sat: required"),
    ("channels/0/colour", "red", "channels[0].colour: unknown key"),
    ("channels/0/opener", "both", 'channels[0].opener: must be "local" or "remote", got "both"'),
    ("channels/1/name", "a", 'channels[1].name: duplicate channel name "a"'),
    ("channels/1/background_htlcs", 31, "channels[1].background_htlcs: must be an integer in 0..max_accepted_htlcs (30), got 31"),
    ("channels/1/max_accepted_htlcs", 500, "channels[1].max_accepted_htlcs: must be an integer in 1..483, got 500"),
    ("channels/0/peer_id", "02abc", "channels[0].peer_id: must be a node id (a compressed public key: 66 hex digits, 02 or 03 then a point's x), got \"02abc\""),
    ("channels/0/peer_id", "02" + "11" * 32, "channels[0].peer_id: must be a node id"),
    ("channels/0/competitor_fee_ppm", float("nan"), "channels[0].competitor_fee_ppm: must be a number of ppm in (0, 1e6], got nan"),
    ("channels/0/age_days", float("inf"), "channels[0].age_days: must be a number of days in [0, 36500], got inf"),
    ("flows/0/out", "zz", 'flows[0].out: unknown channel "zz"'),
    ("flows/0/out", "a", 'flows[0].out: must differ from in ("a")'),
    ("flows/0/rate_per_day", "fast", 'flows[0].rate_per_day: must be a number in [0, 1e7], got "fast"'),
    ("flows/0/rate_per_day", -1, "flows[0].rate_per_day: must be a number in [0, 1e7], got -1"),
    ("flows/0/fail_rate", 1.5, "flows[0].fail_rate: must be a probability in [0, 1], got 1.5"),
    ("flows/0/profile/1/from_day", 0.5, "flows[0].profile[1].from_day: must increase along the profile, got 0.5 after 1"),
    ("feerates/spikes/0/multiplier", 0, "feerates.spikes[0].multiplier: must be a number in (0, 1000], got 0"),
    ("feerates/base_perkb", 100, "feerates.base_perkb: must be an integer sat/kvB >= 1012 (the floor), got 100"),
    ("faults/0/end_day", 0, "faults[0].end_day: must be after start_day (0), got 0"),
    ("faults/0/error_rate", 2, "faults[0].error_rate: must be a probability in [0, 1], got 2"),
    ("node/color", "blue", 'node.color: must be 6 hex digits, got "blue"'),
    ("node/network", "mainnet", "node.network: must be one of bitcoin, regtest, signet, testnet, testnet4"),
    ("htlc_hold_s", [3, 1], "htlc_hold_s: must be [min, max] seconds with 0 <= min <= max, got [3, 1]"),
    ("historical_forwards", -1, "historical_forwards: must be an integer >= 0, got -1"),
    ("start_time", 0, "start_time: must be a positive UNIX time, got 0"),
    ("chanels", [], "chanels: unknown key"),
    ("plugin_options/--revenue-ops-x", "1", "plugin_options.--revenue-ops-x: option names go without the leading --"),
    ("plugin_options/revenue-ops-x", [1], "plugin_options.revenue-ops-x: must be a string, number or boolean, got [1]"),
]


@pytest.mark.parametrize("where,value,expected", ERRORS, ids=[e[0] for e in ERRORS])
def test_every_validation_error_is_one_line_with_file_and_place(tmp_path: Any, where: str,
                                                               value: Any, expected: str) -> None:
    path = write(tmp_path, "bad.json", json.dumps(_mutate(where, value)))
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith(f"{path}: "), msg
    assert expected in msg, msg


def test_toml_nan_and_syntax_errors(tmp_path: Any) -> None:
    path = write(tmp_path, "nan.toml", TOML.replace("rate_per_day = 100", "rate_per_day = nan"))
    with pytest.raises(ScenarioError, match=r"nan\.toml: flows\[0\]\.rate_per_day: must be a number"):
        load_scenario(path)
    path = write(tmp_path, "broken.toml", TOML.replace('name = "a"', 'name = "a'))
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert str(info.value).startswith(f"{path}: <syntax>: ") and "\n" not in str(info.value)


def test_json_nan_syntax_missing_file_and_extension(tmp_path: Any) -> None:
    path = write(tmp_path, "nan.json", json.dumps(BASE).replace('"rate_per_day": 100',
                                                                '"rate_per_day": NaN'))
    with pytest.raises(ScenarioError, match=r"nan\.json: flows\[0\]\.rate_per_day: must be a number in \[0, 1e7\], got nan"):
        load_scenario(path)
    path = write(tmp_path, "trunc.json", json.dumps(BASE)[:-3])
    with pytest.raises(ScenarioError, match=r"trunc\.json: <syntax>: .*line 1 column"):
        load_scenario(path)
    with pytest.raises(ScenarioError, match=r"nope\.toml: <file>: cannot read: No such file"):
        load_scenario(str(tmp_path / "nope.toml"))
    path = write(tmp_path, "s.yaml", "name: x")
    with pytest.raises(ScenarioError, match=r"s\.yaml: <file>: unsupported scenario format"):
        load_scenario(path)


def test_default_scenario_has_the_realistic_mix() -> None:
    s = default_scenario()
    assert 38 <= len(s.channels) <= 42
    names = {c.name for c in s.channels}
    outs = {f.out_channel for f in s.flows}
    ins = {f.in_channel for f in s.flows}
    rate_in = {n: sum(f.rate_per_day for f in s.flows if f.in_channel == n) for n in names}
    rate_out = {n: sum(f.rate_per_day for f in s.flows if f.out_channel == n) for n in names}
    sources = [n for n in names if rate_in[n] > 1.5 * rate_out[n]]
    sinks = [n for n in names if rate_out[n] > 1.5 * rate_in[n]]
    dead = [n for n in names if n not in ins | outs]
    assert len(sources) >= 5 and len(sinks) >= 5 and len(dead) >= 3
    congested = [c for c in s.channels
                 if c.background_htlcs >= c.max_accepted_htlcs * 0.8 and c.name in outs]
    assert len(congested) == 1
    virgin = [c for c in s.channels if c.opener == "remote" and c.local_sat == 0]
    assert virgin and all(c.name not in outs for c in virgin)
    peers = [c.peer_id for c in s.channels]
    assert len(peers) - len(set(peers)) == 1  # two channels to one peer
    # CLN's default fee everywhere; competitors ask far more on earning channels.
    assert all((c.fee_base_msat, c.fee_ppm) == (CLN_DEFAULT_FEE_BASE_MSAT, CLN_DEFAULT_FEE_PPM)
               for c in s.channels)
    earning = [c for c in s.channels if c.name in outs]
    assert sum(c.competitor_fee_ppm >= 100 for c in earning) >= 0.9 * len(earning)
    assert 500 <= sum(f.rate_per_day for f in s.flows) <= 3000
    assert default_scenario() == s


def test_generator_sizes_and_determinism() -> None:
    g = generate_scenario(channels=300, forwards=20_000, seed=5)
    assert len(g.channels) == 300 and g.historical_forwards == 20_000
    assert len({c.name for c in g.channels}) == 300
    names = {c.name for c in g.channels}
    assert all(f.in_channel in names and f.out_channel in names for f in g.flows)
    per_channel: dict[str, int] = {}
    for f in g.flows:
        for n in (f.in_channel, f.out_channel):
            per_channel[n] = per_channel.get(n, 0) + 1
    assert max(per_channel.values()) <= 15  # sparse: each channel in a few pairs
    assert generate_scenario(300, 20_000, 5) == g
    assert generate_scenario(300, 20_000, 6) != g
    m = Market(g, 5)
    assert len(m.forwards) == 20_000
    with pytest.raises(ScenarioError, match="channels: must be at least 4"):
        generate_scenario(2, 0, 1)


def test_scenario_is_a_frozen_value() -> None:
    s = default_scenario()
    assert isinstance(s, Scenario)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.name = "x"  # type: ignore[misc]


def test_the_documented_example_loads(tmp_path: Any) -> None:
    import revops.sim.scenario as module
    doc = module.__doc__ or ""
    example = doc.split("```toml\n", 1)[1].split("```", 1)[0]
    s = load_scenario(write(tmp_path, "example.toml", example))
    assert [c.name for c in s.channels] == ["src-alpha", "sink-beta"]
    assert s.channel("sink-beta").open_at_day == 2.5 and s.flows[0].profile
    assert s.plugin_options == {"revenue-ops-fee-interval": "600"}
    m = Market(s, 1)
    m.advance(m.now + 4 * 86400)
    assert m.channel_by_name("sink-beta").state == "CHANNELD_NORMAL"
    assert m.report()["forwards_settled"] > 0
