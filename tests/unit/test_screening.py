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
