"""MempoolCoordinator: reads on-chain fee rates each cycle (the "Vegas
reflex" builds on this reading)."""

from __future__ import annotations

import logging
from typing import Any, Mapping

from actors.coordinator import Coordinator
from revops.config import ConfigSnapshot

log = logging.getLogger("revops.mempool")


class MempoolCoordinator(Coordinator):
    name = "mempool"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.last: dict[str, Any] = {}

    def cycle(self, now: float, config: ConfigSnapshot, forced: bool) -> Mapping[str, Any]:
        res = self.rpc("feerates", {"style": "perkb"})
        if not res.ok:
            return {"skipped": f"feerates {res.kind}"}
        perkb = res.result.get("perkb", {})
        self.last = {"at": now, "opening_perkb": perkb.get("opening"),
                     "floor_perkb": perkb.get("floor")}
        return dict(self.last)
