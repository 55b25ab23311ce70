"""RebalanceCoordinator: finds channels short of, or long on, outbound liquidity."""

from __future__ import annotations

import logging
from typing import Any, Mapping

from actors.coordinator import Coordinator
from revops.channels import LISTPEERCHANNELS_FILTER, active, parse_channels
from revops.config import ConfigSnapshot

log = logging.getLogger("revops.rebalance")


class RebalanceCoordinator(Coordinator):
    name = "rebalance"

    def cycle(self, now: float, config: ConfigSnapshot, forced: bool) -> Mapping[str, Any]:
        res = self.rpc("listpeerchannels", None, LISTPEERCHANNELS_FILTER)
        if not res.ok:
            return {"skipped": f"listpeerchannels {res.kind}"}
        chans = active(parse_channels(res.result)).values()
        return {"depleted": sum(1 for c in chans if c.outbound_ratio < 0.2),
                "surplus": sum(1 for c in chans if c.outbound_ratio > 0.8)}
