"""MempoolCoordinator: reads on-chain fee rates and runs the mempool
("Vegas") reflex (``revops/fees/mempool.py``).

Each cycle reads ``feerates`` (sat/kvB, the opening estimate), keeps the
reading in the database (the 24 h moving average survives restarts), steps
the reflex with a draw from a seeded RNG (reproducible), and tells the fee
coordinator the floor multiplier; a trigger asks for an immediate re-price.
"""

from __future__ import annotations

import logging
import random
from typing import Any, Mapping

import pykka

from actors.coordinator import ASK_TIMEOUT, Coordinator
from actors.messages import MempoolState, RunSoon
from revops.config import ConfigSnapshot
from revops.fees import mempool
from revops.fees.mempool import Reflex

log = logging.getLogger("revops.mempool")

RNG_SEED = 0x56E6A5  # fixed: a run's draws depend only on its readings


class MempoolCoordinator(Coordinator):
    name = "mempool"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reflex = Reflex()
        self.rng = random.Random(RNG_SEED)
        self.history: list[tuple[float, int]] | None = None
        self.commands["revenue-mempool"] = self.cmd_mempool

    def cycle(self, now: float, config: ConfigSnapshot, forced: bool) -> Mapping[str, Any]:
        res = self.rpc("feerates", {"style": "perkb"})
        if not res.ok:
            return {"skipped": f"feerates {res.kind}"}
        perkb = res.result.get("perkb", {})
        rate = perkb.get("opening") or perkb.get("floor")
        if not isinstance(rate, int) or rate <= 0:
            return {"skipped": "feerates gave no opening estimate"}
        if self.history is None:
            self.history = list(self.store.mempool_samples(now - mempool.DAY).get(
                timeout=ASK_TIMEOUT))
        self.history = [(t, r) for t, r in self.history if now - t < mempool.DAY]
        self.reflex, triggered = mempool.step(self.reflex, rate, self.history, now,
                                              self.rng.random(), bool(config["vegas-reflex"]))
        self.history.append((now, rate))
        self.store.add_mempool_sample.defer(now, rate, 2 * mempool.DAY)
        fm = self.metrics.fees  # type: ignore[attr-defined]
        fm.mempool_intensity.set(self.reflex.intensity)
        fm.mempool_floor_multiplier.set(self.reflex.multiplier)
        fm.mempool_feerate.set(rate)
        state = MempoolState(now, self.reflex.multiplier, self.reflex.intensity, rate,
                             self.reflex.ratio, triggered)
        fee = self.peer("fee")
        if fee is not None:
            try:
                fee.tell(state)
            except pykka.ActorDeadError:
                pass
        if triggered:
            log.info("mempool spike: %d sat/kvB is %.1fx the 24 h average; fee floors x%.2f, "
                     "re-pricing now", rate, self.reflex.ratio or 0, self.reflex.multiplier)
            self.tell_parent(RunSoon("fee", "mempool spike"))
        return self.view()

    def view(self) -> dict[str, Any]:
        r = self.reflex
        return {"feerate_perkb": r.rate,
                "average_24h_perkb": None if r.average is None else round(r.average, 1),
                "ratio": None if r.ratio is None else round(r.ratio, 3),
                "intensity": round(r.intensity, 4), "floor_multiplier": round(r.multiplier, 4),
                "last_trigger": r.triggered_at}

    def cmd_mempool(self, params: Mapping[str, Any], now: float) -> dict[str, Any]:
        return {**self.view(), "enabled": bool(self.config["vegas-reflex"])}
