"""Fee state survives the database: round trip, and tolerance of old or partial dicts."""

import json

from revops.fees.state import Climb, FeeState, Override, Probe, from_dict, to_dict


def test_round_trip_through_json_keeps_every_field_and_int_amounts():
    st = FeeState(climb=Climb(base_ppm=123, trend=-1, step=0.3, ref_rate=5.5, window_start=1.0,
                              window_revenue_msat=42),
                  probe=Probe(active=True, since=9.0, attempts=1),
                  override=Override(fee_ppm=7, base_msat=3, expires_at=99.0),
                  target_fee_ppm=120, last_broadcast_fee_ppm=110, recent_amounts=(1, 2, 3),
                  liquidity_failures=(5.0,), scarcity=1.5, mode="hill_climb")
    back = from_dict(json.loads(json.dumps(to_dict(st))))
    assert back == st
    assert type(back.climb.window_revenue_msat) is int


def test_old_or_partial_state_takes_defaults():
    assert from_dict(None) == FeeState()
    st = from_dict({"version": 1, "observations": 3, "climb": {"base_ppm": 50, "junk": 1}})
    assert st.climb.base_ppm == 50 and st.probe == Probe() and st.override is None
