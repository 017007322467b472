"""Call History's row of one call, composed from its CDR legs (webpanel/call_history/calls.py)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from webpanel.call_history.calls import Leg, compose

T0 = dt.datetime(2026, 12, 5, 12, 0, tzinfo=dt.UTC)
NUMBER, DIALED = "13125550100", "12125550142"


def attempt(id_: int, disposition: str, billsec: int, call_type: str, cost: str) -> Leg:
    """One carrier attempt of the member's outbound call (the same channel, one CDR each)."""
    return Leg(
        id=id_,
        start=T0 + dt.timedelta(seconds=id_),
        src=NUMBER,
        dst=DIALED,
        dcontext="carrier-out",
        clid=f'"" <{NUMBER}>',
        channel=f"PJSIP/{NUMBER}-0000000{id_}",
        dstchannel=f"PJSIP/carrier-c{id_}-0000001{id_}",
        lastapp="Dial",
        disposition=disposition,
        billsec=billsec,
        vnum=NUMBER,
        call_class="D",
        dialed=DIALED,
        call_type=call_type,
        country="US",
        cost=Decimal(cost),
    )


def test_a_failed_over_call_a_plan_paid_shows_the_plan_type_of_its_answered_attempt():
    row = compose(
        NUMBER,
        1,
        T0,
        [attempt(1, "FAILED", 0, "D", "0"), attempt(2, "ANSWERED", 42, "PD", "0")],
    )
    assert row.type == "PD"
    assert row.billsec == 42
    assert row.cost == Decimal("0")


def test_an_unanswered_call_shows_the_type_it_was_rated_as():
    row = compose(NUMBER, 1, T0, [attempt(1, "NO ANSWER", 0, "D", "0")])
    assert row.type == "D"
