"""Hypothesis strategies for what an attacker or an unlucky operator sends:
any JSON value, weighted towards the inputs that broke parsers before
(issue 15): digit strings past Python's 4,300-digit limit, non-ASCII
digits, ``_`` separators, surrounding whitespace, huge and non-finite
numbers, long strings."""

from __future__ import annotations

from hypothesis import strategies as st

NASTY_TEXT = ["1" * 4301, "9" * 5000, "²", "١٢", "１２", "1_0", "12\n", " 12", "12 ", "+5",
              "-1", "0x10", "1e3", "1e400", "-1e400", "nan", "NaN", "inf", "-inf", "Infinity",
              "", " ", "\x00", "0" * 40 + "1", "3.5", "1.0", "true", "null", "[]", "{}",
              "x" * 5000, "812345x1234x0", "1x1x0", "99999999x1x0", "1x1x0\n",
              "02" + "a" * 64, "03" + "F" * 64, "02" + "a" * 64 + "\n", "get", "set", "list",
              "reset", "static", "dynamic", "passive", "hive", "fee-interval",
              "revenue-ops-min-fee-ppm", "--revenue-ops-fee-interval", "db-path"]
NASTY_NUMBERS = [0, 1, -1, 2**32, 2**64, -(2**64), 10**400, -(10**400), 10**4000, 1.5, -0.0,
                 1e308, float("inf"), float("-inf"), float("nan"), 5.0, 100_000, 100_001]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.text(alphabet=st.characters(categories=["Nd", "No", "Zs", "Pc"]), max_size=8),
    st.from_regex(r"\s*-?[0-9_]{1,12}(\.[0-9]*)?\s*", fullmatch=True),
    st.sampled_from(NASTY_TEXT),
    st.sampled_from(NASTY_NUMBERS),
)

json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                 max_size=3),
    max_leaves=4,
)


def params_for(names: list[str]) -> st.SearchStrategy:
    """Named (a dict over some of ``names``, sometimes an unknown one) or
    positional (a list up to one longer than ``names``) params, or junk."""
    named = st.dictionaries(st.sampled_from(names + ["bogus"]) if names else st.just("bogus"),
                            json_values, max_size=len(names) + 1)
    positional = st.lists(json_values, max_size=len(names) + 1)
    return st.one_of(named, positional, st.none(), scalars)
