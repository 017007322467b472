"""controller/rules/screening.py: what a call gets before the plan (issue 16)."""

import datetime as dt

from controller.rules.forwarding import (
    ForwardingSettings,
    Hangup,
    HangupCause,
    Outcome,
    Ring,
    RingList,
    RingMode,
    Step1,
    Voicemail,
)
from controller.rules.screening import (
    EVERY_DAY,
    WEEKDAYS,
    OfficeHours,
    Refusal,
    Screening,
    Why,
    decide,
    is_anonymous,
    normalize_caller,
    paths,
)

MONDAY_NOON = dt.datetime(2026, 11, 30, 12, 0)
SATURDAY_NOON = dt.datetime(2026, 12, 5, 12, 0)
CELL = RingList(("3125550100",), RingMode.SIMULTANEOUS, 30)


def test_caller_ids_normalize_to_one_number():
    assert normalize_caller("+1 (312) 555-0100") == normalize_caller("3125550100") == "3125550100"
    assert normalize_caller("442071234567") == "442071234567"
    for anonymous in ("", "anonymous", "Restricted", "unknown", "abc"):
        assert is_anonymous(anonymous)
    assert not is_anonymous("3125550100")


def test_blocked_and_anonymous_callers_are_refused_before_anything_rings():
    screening = Screening(blocked=frozenset({"3125550100"}), reject_anonymous=True)
    assert decide(screening, ForwardingSettings(), "+13125550100", MONDAY_NOON).refusal is Refusal.BLOCKED
    assert decide(screening, ForwardingSettings(), "anonymous", MONDAY_NOON).refusal is Refusal.ANONYMOUS
    ok = decide(screening, ForwardingSettings(), "3125550199", MONDAY_NOON)
    assert ok.refusal is None and ok.why is Why.ALWAYS
    # anonymous callers ring when the switch is off
    assert decide(Screening(), ForwardingSettings(), "", MONDAY_NOON).refusal is None


def test_dnd_goes_straight_to_step_3():
    d = decide(Screening(dnd=True), ForwardingSettings(), "3125550199", MONDAY_NOON)
    assert d.why is Why.DND and paths(d.settings)[Outcome.NOANSWER] == [Voicemail()]
    off = ForwardingSettings(voicemail_enabled=False)
    d = decide(Screening(dnd=True), off, "3125550199", MONDAY_NOON)
    assert paths(d.settings)[Outcome.NOANSWER] == [Hangup(HangupCause.NO_ANSWER)]


def test_office_hours_pick_the_plan_and_overnight_hours_span_midnight():
    hours = OfficeHours(WEEKDAYS, dt.time(9), dt.time(17))
    screening = Screening(hours=hours, after_hours=Step1.RING_LIST, after_hours_list=CELL)
    inside = decide(screening, ForwardingSettings(), "3125550199", MONDAY_NOON)
    assert inside.why is Why.OFFICE_HOURS
    assert paths(inside.settings)[Outcome.NOANSWER][0] == Ring((), RingMode.SIMULTANEOUS, 20, device=True)
    outside = decide(screening, ForwardingSettings(), "3125550199", SATURDAY_NOON)
    assert outside.why is Why.AFTER_HOURS
    assert paths(outside.settings)[Outcome.NOANSWER] == [
        Ring(("3125550100",), RingMode.SIMULTANEOUS, 30),
        Voicemail(),
    ]
    night = OfficeHours(EVERY_DAY & ~(1 << 6), dt.time(22), dt.time(6))  # not opening Sundays
    assert night.is_open(dt.datetime(2026, 12, 5, 23, 0))  # Saturday 23:00
    assert night.is_open(dt.datetime(2026, 12, 6, 5, 59))  # Sunday morning, opened Saturday
    assert not night.is_open(dt.datetime(2026, 12, 6, 23, 0))  # Sunday night: closed
    assert not night.is_open(dt.datetime(2026, 12, 7, 5, 0))  # Monday morning: opened Sunday


def test_paths_walk_the_plan_for_no_answer_and_busy_with_confirmation_on_list_legs():
    settings = ForwardingSettings(
        no_answer_list=CELL,
        busy_list=RingList(("3125550111",), RingMode.SEQUENTIAL, 15),
        confirm_forwarded=True,
    )
    walks = paths(settings)
    assert walks[Outcome.NOANSWER] == [
        Ring((), RingMode.SIMULTANEOUS, 20, device=True),
        Ring(("3125550100",), RingMode.SIMULTANEOUS, 30, confirm=True),
        Voicemail(),
    ]
    assert walks[Outcome.BUSY][1] == Ring(("3125550111",), RingMode.SEQUENTIAL, 15, confirm=True)


def test_a_blocked_caller_hears_and_gets_exactly_what_a_number_not_in_service_gives():
    """Announcement AND hangup cause (the SIP status a caller's phone sees: 21 is 403, 1 is 404):
    a different cause would tell a blocked caller it is blocked."""
    from controller.rules import channel_vars as cv

    assert cv.REFUSALS[cv.REFUSE_CALLER_BLOCKED] == cv.REFUSALS[cv.REFUSE_NO_ROUTE]


def test_a_blocklist_entry_typed_with_the_011_international_prefix_matches_the_caller_id():
    """Members type international numbers as they dial them (011 44 ...); carriers present them
    as E.164 (+44 ..., 44...). Both must be one number, or the block never matches."""
    from controller.rules.screening import normalize_caller

    assert normalize_caller("011 44 20 7946 0958") == normalize_caller("+442079460958")
    assert normalize_caller("011442079460958") == normalize_caller("442079460958")
    assert normalize_caller("+1 (312) 555-0100") == normalize_caller("3125550100") == "3125550100"
    assert normalize_caller("0113") == "0113"  # too short to be an international number


def test_a_blocked_caller_who_withholds_their_number_is_still_blocked():
    """*67 hides the number from the member, not from us: Asterisk has CALLERID(num) with a
    restricted presentation. The blocklist is checked on the number; "anonymous" is the
    presentation (agi/inbound.py passes withheld=True)."""
    import datetime as dt

    from controller.rules.forwarding import ForwardingSettings
    from controller.rules.screening import Refusal, Screening, decide

    now = dt.datetime(2026, 12, 7, 12, 0)
    blocked = Screening(blocked=frozenset({"3125550199"}))
    assert decide(blocked, ForwardingSettings(), "13125550199", now, withheld=True).refusal is Refusal.BLOCKED
    assert decide(blocked, ForwardingSettings(), "13125550100", now, withheld=True).refusal is None
    rejecting = Screening(reject_anonymous=True)
    assert (
        decide(rejecting, ForwardingSettings(), "13125550100", now, withheld=True).refusal
        is Refusal.ANONYMOUS
    )
    assert decide(rejecting, ForwardingSettings(), "13125550100", now).refusal is None
