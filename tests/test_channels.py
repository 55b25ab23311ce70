"""Which ``channel_state_changed`` notifications change the set of priced channels."""

from __future__ import annotations

import pytest

from revops.channels import changes_priced_set

PRICED = {"103x1x0"}


@pytest.mark.parametrize("payload, expected", [
    # A channel we do not price yet reaches CHANNELD_NORMAL: opened (or spliced to a new scid).
    ({"short_channel_id": "110x1x0", "old_state": "CHANNELD_AWAITING_LOCKIN",
      "new_state": "CHANNELD_NORMAL"}, True),
    ({"short_channel_id": "110x1x0", "old_state": "CHANNELD_AWAITING_SPLICE",
      "new_state": "CHANNELD_NORMAL"}, True),
    # One we already price coming back to normal (reconnect, splice done): nothing new.
    ({"short_channel_id": "103x1x0", "old_state": "CHANNELD_AWAITING_SPLICE",
      "new_state": "CHANNELD_NORMAL"}, False),
    # One we price starts closing.
    ({"short_channel_id": "103x1x0", "old_state": "CHANNELD_NORMAL",
      "new_state": "CHANNELD_SHUTTING_DOWN"}, True),
    ({"short_channel_id": "103x1x0", "old_state": "CHANNELD_NORMAL",
      "new_state": "AWAITING_UNILATERAL"}, True),
    # Later steps of a close of a channel we no longer price, or never did.
    ({"short_channel_id": "110x1x0", "old_state": "CLOSINGD_COMPLETE",
      "new_state": "FUNDING_SPEND_SEEN"}, False),
    # Before lock-in there is no scid yet.
    ({"old_state": "DUALOPEND_OPEN_INIT", "new_state": "DUALOPEND_AWAITING_LOCKIN"}, False),
    ({"short_channel_id": None, "new_state": "CHANNELD_NORMAL"}, False),
])
def test_a_state_change_reprices_only_when_the_priced_set_changes(payload, expected):
    assert changes_priced_set(payload, PRICED) is expected
