"""Baseline fee policies for ``revops-sim bench economics``: what operators
use today, each a small real pyln plugin run under the same simulated
lightningd, protocol and market as revops.

- ``static``: CLN's defaults, 1000 msat + 10 ppm, never changed;
- ``proportional``: charge-lnd's proportional strategy (fee from balance);
- ``median-balance``: CLBOSS-like, competitors' median fee x balance modifier;
- ``oracle-static``: the best fixed fee per channel, searched with full
  knowledge of the demand (:mod:`revops.sim.baselines.oracle`).

None of them rebalances. Formulas and their sources are in
:mod:`revops.sim.baselines.formulas`; the plugin shell in
:mod:`revops.sim.baselines.shell`.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

# policy name -> plugin script (beside this file)
BASELINES: dict[str, str] = {
    "static": "static.py",
    "proportional": "proportional.py",
    "median-balance": "median_balance.py",
    "oracle-static": "oracle_static.py",
}


def plugin_command(name: str) -> str:
    """The ``--plugin`` command line of baseline ``name``, with this Python."""
    script = Path(__file__).with_name(BASELINES[name])
    return f"{shlex.quote(sys.executable)} {shlex.quote(str(script))}"
