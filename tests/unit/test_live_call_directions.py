"""The operator's Live Calls: which way a channel goes (webpanel/admin/live_views.classify),
from CoreShowChannel events as Asterisk gives them."""

from __future__ import annotations

import pytest

from controller.rules import channel_vars as cv
from webpanel.admin.live_views import CARRIER, INTERNAL, classify


@pytest.mark.parametrize(
    ("context", "direction"),
    [
        (cv.CTX_FWD_OUT, CARRIER),  # a forwarded leg out to the PSTN
        # issue 16: a simultaneous find-me list asks each PSTN leg on a Local channel of its own
        (cv.CTX_FWD_LEG, CARRIER),
        (cv.CTX_SIM_PSTN, CARRIER),
        ("fwd-confirm", INTERNAL),
    ],
)
def test_a_local_channel_toward_the_pstn_is_a_carrier_leg(context, direction):
    for half in (";1", ";2"):
        row = classify(
            {
                "Channel": f"Local/12125550177@{context}-00000004{half}",
                "Uniqueid": "1.2",
                "Linkedid": "1.1",
                "Context": context,
                "Exten": "12125550177",
                "CallerIDNum": "17005550100",
            },
            members=["17005550100"],
        )
        assert (row.direction, row.callee) == (direction, "12125550177")
