"""Channel facts: what revops knows of one channel at one instant, parsed
from ``listpeerchannels`` (pure: JSON in, frozen dataclasses out).

Only the fields revops uses are requested (``LISTPEERCHANNELS_FILTER``): a
full entry is 3-4 KB, and thousands of channels would make every fee cycle
move megabytes for nothing. Missing or ``null`` fields are tolerated; all
amounts are integer msat.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Container, Iterable, Mapping

# States in which a channel forwards and we price it.
ACTIVE_STATES = frozenset({"CHANNELD_NORMAL"})
# States after which a channel is gone for good (its actor is stopped, its state pruned).
CLOSED_STATES = frozenset({
    "CHANNELD_SHUTTING_DOWN", "CLOSINGD_SIGEXCHANGE", "CLOSINGD_COMPLETE",
    "AWAITING_UNILATERAL", "FUNDING_SPEND_SEEN", "ONCHAIN", "CLOSED",
})

def changes_priced_set(payload: Mapping[str, Any], priced: Container[str]) -> bool:
    """Does this ``channel_state_changed`` change which channels we price?

    True when a channel we do not price yet became active (a channel opened
    to or by us reached CHANNELD_NORMAL, or a splice gave one a new scid),
    or one we price left the active state (a close began). Such a change is
    worth a fee cycle now rather than at the next interval: a new channel
    sits at lightningd's defaults until it is priced.
    """
    scid = payload.get("short_channel_id")
    if not isinstance(scid, str) or not scid:
        return False
    new, old = payload.get("new_state"), payload.get("old_state")
    known = scid in priced
    if new in ACTIVE_STATES:
        return not known
    return known and (old in ACTIVE_STATES or new in CLOSED_STATES)


_FIELDS = (
    "peer_id", "peer_connected", "short_channel_id", "channel_id", "state", "opener",
    "private", "total_msat", "to_us_msat", "spendable_msat", "receivable_msat",
    "our_reserve_msat", "max_accepted_htlcs", "fee_base_msat",
    "fee_proportional_millionths", "out_payments_fulfilled", "out_fulfilled_msat",
    "in_payments_fulfilled", "in_fulfilled_msat", "minimum_htlc_out_msat",
    "maximum_htlc_out_msat",
)
LISTPEERCHANNELS_FILTER: dict[str, Any] = {
    "channels": [{**{f: True for f in _FIELDS},
                  "htlcs": [{"direction": True}],
                  "funding": {"local_funds_msat": True, "remote_funds_msat": True},
                  "alias": {"local": True}}]
}


@dataclass(frozen=True)
class ChannelFacts:
    scid: str
    peer_id: str
    state: str
    opener: str  # "local" | "remote"
    capacity_msat: int
    local_msat: int
    spendable_msat: int
    receivable_msat: int
    htlcs_in_flight: int
    max_accepted_htlcs: int
    fee_base_msat: int
    fee_ppm: int
    private: bool = False
    peer_connected: bool = True
    out_payments_fulfilled: int = 0
    out_fulfilled_msat: int = 0
    in_payments_fulfilled: int = 0
    channel_id: str = ""
    reserve_msat: int = 0
    htlc_max_msat: int = 0
    funded_local_msat: int = 0

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES

    @property
    def outbound_ratio(self) -> float:
        return self.local_msat / self.capacity_msat if self.capacity_msat else 0.0

    @property
    def block(self) -> int:
        """Funding block height, from the short channel id."""
        return int(self.scid.split("x", 1)[0])

    @property
    def virgin(self) -> bool:
        """Opened by the peer and never used outbound: no scarcity premium."""
        return self.opener == "remote" and self.out_payments_fulfilled == 0

    @property
    def slot_usage(self) -> float:
        return self.htlcs_in_flight / self.max_accepted_htlcs if self.max_accepted_htlcs else 0.0


def _int(entry: Mapping[str, Any], key: str, default: int = 0) -> int:
    value = entry.get(key)
    if value is None:
        return default
    if isinstance(value, str):  # pre-v23.05 "123msat" strings
        value = value.removesuffix("msat")
    return int(value)


def parse_channel(entry: Mapping[str, Any]) -> ChannelFacts | None:
    """One ``listpeerchannels`` entry; None for one without a short channel
    id yet (still opening) or without a peer."""
    scid = entry.get("short_channel_id")
    peer_id = entry.get("peer_id")
    if not scid or not peer_id:
        return None
    htlcs = entry.get("htlcs") or []
    funding = entry.get("funding") or {}
    return ChannelFacts(
        scid=scid,
        peer_id=peer_id,
        state=str(entry.get("state", "")),
        opener=str(entry.get("opener", "local")),
        capacity_msat=_int(entry, "total_msat"),
        local_msat=_int(entry, "to_us_msat"),
        spendable_msat=_int(entry, "spendable_msat"),
        receivable_msat=_int(entry, "receivable_msat"),
        htlcs_in_flight=len(htlcs),
        max_accepted_htlcs=_int(entry, "max_accepted_htlcs", 483),
        fee_base_msat=_int(entry, "fee_base_msat"),
        fee_ppm=_int(entry, "fee_proportional_millionths"),
        private=bool(entry.get("private", False)),
        peer_connected=bool(entry.get("peer_connected", True)),
        out_payments_fulfilled=_int(entry, "out_payments_fulfilled"),
        out_fulfilled_msat=_int(entry, "out_fulfilled_msat"),
        in_payments_fulfilled=_int(entry, "in_payments_fulfilled"),
        channel_id=str(entry.get("channel_id") or ""),
        reserve_msat=_int(entry, "our_reserve_msat"),
        htlc_max_msat=_int(entry, "maximum_htlc_out_msat"),
        funded_local_msat=_int(funding, "local_funds_msat"),
    )


def parse_channels(result: Mapping[str, Any]) -> list[ChannelFacts]:
    """Every channel of a ``listpeerchannels`` answer, in scid order."""
    out = [c for c in (parse_channel(e) for e in result.get("channels") or []) if c is not None]
    return sorted(out, key=lambda c: tuple(int(x) for x in c.scid.split("x")))


def active(channels: Iterable[ChannelFacts]) -> dict[str, ChannelFacts]:
    return {c.scid: c for c in channels if c.active}
