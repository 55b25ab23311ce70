"""The fee engine's Prometheus series (``metrics.fees``)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class FeeMetrics:
    def __init__(self, r: CollectorRegistry) -> None:
        self.channel_fee_ppm = Gauge("revops_channel_fee_ppm",
                                     "Fee rate the channel has (last broadcast)", ["scid"],
                                     registry=r)
        self.channel_target_fee_ppm = Gauge("revops_channel_target_fee_ppm",
                                            "Fee rate the engine wants for the channel",
                                            ["scid"], registry=r)
        self.decisions = Counter("revops_fee_decisions_total",
                                 "Fee decisions by what decided them", ["reason"], registry=r)
        self.updates = Counter("revops_fee_updates_total",
                               "setchannel calls that changed a fee", registry=r)
        self.update_failures = Counter("revops_fee_update_failures_total",
                                       "setchannel calls that failed", registry=r)
        self.suppressed = Counter("revops_fee_updates_suppressed_total",
                                  "Wanted fee changes not sent, by why", ["why"], registry=r)
        self.mempool_intensity = Gauge("revops_mempool_intensity",
                                       "Mempool reflex intensity (0..1)", registry=r)
        self.mempool_floor_multiplier = Gauge("revops_mempool_floor_multiplier",
                                              "Fee floor multiplier from the mempool reflex",
                                              registry=r)
        self.mempool_feerate = Gauge("revops_mempool_feerate_perkb",
                                     "Last on-chain opening fee rate read (sat/kvB)", registry=r)

        # labels() costs a lookup and a lock each call; a fee cycle makes a
        # few per channel, so the children are kept.
        self._fee: dict[str, Gauge] = {}
        self._target: dict[str, Gauge] = {}
        self._decision: dict[str, Counter] = {}

    def set_channel(self, scid: str, fee_ppm: int, target_ppm: int | None) -> None:
        g = self._fee.get(scid)
        if g is None:
            g = self._fee[scid] = self.channel_fee_ppm.labels(scid)
        g.set(fee_ppm)
        if target_ppm is not None:
            t = self._target.get(scid)
            if t is None:
                t = self._target[scid] = self.channel_target_fee_ppm.labels(scid)
            t.set(target_ppm)

    def decided(self, mode: str) -> None:
        c = self._decision.get(mode)
        if c is None:
            c = self._decision[mode] = self.decisions.labels(mode)
        c.inc()

    def remove_channel(self, scid: str) -> None:
        self._fee.pop(scid, None)
        self._target.pop(scid, None)
        for gauge in (self.channel_fee_ppm, self.channel_target_fee_ppm):
            try:
                gauge.remove(scid)
            except KeyError:
                pass
