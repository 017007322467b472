"""A call the number's screening refused (issue 16) is a call it received: Call History says who
called, which number they dialled and why it was refused; an outbound call refused (no credit)
stays one the number placed (webpanel/call_history/calls.py, migration 0029 for member_calls)."""

from __future__ import annotations

import dataclasses
import datetime as dt

from controller.rules import channel_vars as cv
from webpanel.call_history.calls import REFUSED, Leg, compose

T0 = dt.datetime(2026, 12, 5, 12, 0, tzinfo=dt.UTC)
NUMBER, DID, CALLER = "17005550100", "13125550100", "13125550199"


def refused_leg(reason: str, *, src: str, dialed: str) -> Leg:
    """The CDR of a call route inbound (or outbound) refused: context `refused`, the reason as
    its extension, tagged with the member's number."""
    return Leg(
        id=1,
        start=T0,
        src=src,
        dst=reason,
        dcontext=cv.CTX_REFUSED,
        clid=f'"PSTN Caller" <{src}>',
        channel="PJSIP/voip-test-carrier-00000001",
        dstchannel="",
        lastapp="Hangup",
        disposition="ANSWERED",  # the announcement answered it
        billsec=4,
        vnum=NUMBER,
        call_class="",
        dialed=dialed,
        call_type=None,
        country="",
        cost=None,
    )


def test_a_blocked_callers_call_is_received_and_refused_with_its_reason():
    row = compose(NUMBER, 1, T0, [refused_leg(cv.REFUSE_CALLER_BLOCKED, src=CALLER, dialed=DID)])
    assert not row.outbound
    assert (row.calling, row.called) == (CALLER, DID)
    assert (row.outcome, row.reason) == (REFUSED, cv.REFUSE_CALLER_BLOCKED)
    assert str(row.disposition) == "Refused: the caller is blocked"
    assert row.billsec == 0  # the announcement is no conversation


def test_an_anonymous_callers_refusal_says_so():
    row = compose(NUMBER, 1, T0, [refused_leg(cv.REFUSE_ANONYMOUS, src="anonymous", dialed=DID)])
    assert not row.outbound and row.outcome == REFUSED
    assert str(row.disposition) == "Refused: the caller withheld their number"


def test_an_outbound_refusal_stays_a_placed_call():
    row = compose(NUMBER, 1, T0, [refused_leg("no_credit", src=NUMBER, dialed="12125550142")])
    assert row.outbound and row.reason == "no_credit"


def test_a_blocked_member_calling_on_net_is_not_told_it_is_blocked():
    """An on-net call keeps the caller's CDR (class N, dialed = the callee): the callee's side
    says the caller is blocked, the caller's side says what the caller heard (not in service)."""
    caller = "17005550177"
    leg = dataclasses.replace(
        refused_leg(cv.REFUSE_CALLER_BLOCKED, src=caller, dialed=NUMBER), vnum=caller, call_class="N"
    )
    theirs = compose(caller, 1, T0, [leg])
    assert theirs.outbound and theirs.outcome == REFUSED
    assert theirs.reason == "not_in_service"
    assert "blocked" not in str(theirs.disposition)
    assert str(theirs.disposition) == "Refused: the number is not in service"
    mine = compose(NUMBER, 1, T0, [leg])
    assert not mine.outbound
    assert str(mine.disposition) == "Refused: the caller is blocked"
