"""FlowCoordinator: keeps track of forwards as lightningd reports them."""

from __future__ import annotations

import logging
from typing import Any, Mapping

from actors.coordinator import Coordinator
from revops.config import ConfigSnapshot

log = logging.getLogger("revops.flow")

PAGE = 1000


class FlowCoordinator(Coordinator):
    name = "flow"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.next_created = 1
        self.seen = 0

    def cycle(self, now: float, config: ConfigSnapshot, forced: bool) -> Mapping[str, Any]:
        res = self.rpc("listforwards", {"index": "created", "start": self.next_created,
                                        "limit": PAGE})
        if not res.ok:
            return {"skipped": f"listforwards {res.kind}"}
        forwards = res.result.get("forwards", [])
        if forwards:
            self.next_created = forwards[-1]["created_index"] + 1
        self.seen += len(forwards)
        return {"forwards_seen": self.seen, "next_created_index": self.next_created}
