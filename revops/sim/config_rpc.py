"""A minimal ``listconfigs`` for the simulated lightningd.

Enough for plugins that read lightningd's fee defaults at ``init``, as the
community ``feeadjuster`` does (``listconfigs fee-base`` and
``fee-per-satoshi``): the options a simulated node can speak for, each
shaped as CLN v26.06 answers it (``{"value_int": 1000, "source":
"default"}``), and CLN's error for a name it does not know (checked on a
real v26.06 node: code -32602, ``config: Unknown config option: invalid
token '"<name>"'``). Registered only when the method table has no
``listconfigs`` of its own.

The fee defaults are mainnet's (1000 msat + 10 ppm), the fees every
simulated channel starts at, even though the node calls its network
``regtest``: a real regtest or testnet lightningd defaults ``fee-base`` to
1 msat.
"""

from __future__ import annotations

import json
from typing import Any

from revops.sim.jsonrpc import JSONRPC2_INVALID_PARAMS, MethodTable, RpcError, opt, p_string
from revops.sim.scenario import CLN_DEFAULT_FEE_BASE_MSAT, CLN_DEFAULT_FEE_PPM


def configs(node: Any) -> dict[str, dict[str, Any]]:
    """Every option this node answers for, as ``listconfigs`` shows it."""
    return {
        "lightning-dir": {"value_str": node.lightning_dir, "source": "cmdline"},
        "network": {"value_str": node.market.network, "source": "default"},
        "rpc-file": {"value_str": "lightning-rpc", "source": "default"},
        "alias": {"value_str": node.market.alias, "source": "default"},
        "fee-base": {"value_int": CLN_DEFAULT_FEE_BASE_MSAT, "source": "default"},
        "fee-per-satoshi": {"value_int": CLN_DEFAULT_FEE_PPM, "source": "default"},
    }


def listconfigs(node: Any, config: str | None) -> dict[str, Any]:
    known = configs(node)
    if config is None:
        return {"configs": dict(sorted(known.items()))}
    if config not in known:
        raise RpcError(JSONRPC2_INVALID_PARAMS,
                       f"config: Unknown config option: invalid token {json.dumps(config)!r}")
    return {"configs": {config: known[config]}}


def register(table: MethodTable) -> None:
    if "listconfigs" in table:
        return
    table.method("listconfigs", opt("config", p_string), category="utility",
                 description="List all configuration options, or with [config], just "
                             "that one.")(listconfigs)
