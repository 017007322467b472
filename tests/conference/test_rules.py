"""Pure conference rules and the hand-written iCalendar: no I/O."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from controller.rules import conference as rules
from controller.rules.conference import AdminAction, Entry, Role
from controller.services.conference import invites

T0 = dt.datetime(2030, 6, 1, 14, 0, tzinfo=dt.UTC)


def verdict(now, *, status="created", duration=60, early=10, allow_800=False, tollfree=False):
    return rules.entry_verdict(
        now,
        starts_at=T0,
        duration_minutes=duration,
        status=status,
        early_minutes=early,
        allow_800=allow_800,
        tollfree=tollfree,
    )


@pytest.mark.parametrize(
    "offset_min, status, allow_800, tollfree, expected",
    [
        (-30, "created", False, False, Entry.TOO_EARLY),
        (-10, "created", False, False, Entry.OK),  # exactly the early minutes before
        (-10.01, "created", False, False, Entry.TOO_EARLY),
        (0, "created", False, False, Entry.OK),
        (30, "started", False, False, Entry.OK),
        (59.99, "started", False, False, Entry.OK),
        (60, "started", False, False, Entry.EXPIRED),  # the end is exclusive
        (30, "expired", False, False, Entry.EXPIRED),  # ended early by the admin
        (30, "started", False, True, Entry.TOLLFREE_BLOCKED),
        (30, "started", True, True, Entry.OK),
        (-30, "created", True, True, Entry.TOO_EARLY),
        (90, "created", False, True, Entry.EXPIRED),  # over is over, whatever the number
    ],
)
def test_entry_verdict_table(offset_min, status, allow_800, tollfree, expected):
    now = T0 + dt.timedelta(minutes=offset_min)
    assert verdict(now, status=status, allow_800=allow_800, tollfree=tollfree) is expected


@given(
    offset=st.integers(min_value=-3 * 24 * 3600, max_value=3 * 24 * 3600),
    duration=st.integers(min_value=5, max_value=1440),
    early=st.integers(min_value=0, max_value=120),
)
def test_entry_is_ok_exactly_inside_the_window(offset, duration, early):
    now = T0 + dt.timedelta(seconds=offset)
    inside = -early * 60 <= offset < duration * 60
    assert (verdict(now, duration=duration, early=early) is Entry.OK) == inside
    assert rules.is_over(now, T0, duration) == (offset >= duration * 60)


def test_window_needs_an_aware_start():
    with pytest.raises(ValueError):
        rules.window(dt.datetime(2030, 1, 1), 60, 5)


@pytest.mark.parametrize(
    "status, event, expected",
    [
        ("created", "join", "started"),
        ("started", "join", "started"),
        ("expired", "join", None),
        ("created", "end", "expired"),
        ("started", "end", "expired"),
        ("expired", "end", "expired"),
    ],
)
def test_status_transitions(status, event, expected):
    result = rules.next_status(status, event)
    assert (result.value if result else None) == expected


@pytest.mark.parametrize(
    "role, muted, expected",
    [
        (Role.NORMAL, False, set()),
        (Role.NORMAL, True, {"in"}),
        (Role.LISTEN_ONLY, False, {"in"}),
        (Role.LISTEN_ONLY, True, {"in"}),
        (Role.TALK_ONLY, False, {"out"}),
        (Role.TALK_ONLY, True, {"out"}),
        (Role.ADMIN, False, set()),
        (Role.ADMIN, True, set()),
    ],
)
def test_mute_directions_by_role(role, muted, expected):
    assert rules.mute_directions(role, listeners_muted=muted) == expected


@pytest.mark.parametrize(
    "pin, ok",
    [
        ("1234", True),
        ("1234567890", True),
        ("123", False),
        ("12345678901", False),
        ("12a4", False),
        ("", False),
    ],
)
def test_pin_shape(pin, ok):
    assert rules.well_formed_pin(pin) is ok


def test_admin_keys():
    assert rules.admin_action("1", end_armed_at=None, now=10) is AdminAction.MUTE_ALL
    assert rules.admin_action("2", end_armed_at=None, now=10) is AdminAction.UNMUTE_ALL
    assert rules.admin_action("9", end_armed_at=None, now=10) is AdminAction.ARM_END
    assert rules.admin_action("9", end_armed_at=8, now=10) is AdminAction.END
    assert rules.admin_action("9", end_armed_at=6, now=10) is AdminAction.ARM_END  # too slow
    assert rules.admin_action("5", end_armed_at=9, now=10) is AdminAction.NONE


# --- iCalendar


@given(st.text(max_size=400))
def test_folded_lines_unfold_to_the_original_and_fit_75_octets(text):
    line = "DESCRIPTION:" + invites.ics_text(text)
    folded = invites.fold(line)
    assert all(len(part.encode("utf-8")) <= 75 for part in folded.split("\r\n"))
    assert invites.unfold(folded) == [line]


@pytest.mark.parametrize(
    "raw, escaped",
    [
        ("a,b;c\\d", "a\\,b\\;c\\\\d"),
        ("two\nlines", "two\\nlines"),
        ("crlf\r\nline", "crlf\\nline"),
    ],
)
def test_ics_text_escaping(raw, escaped):
    assert invites.ics_text(raw) == escaped


def _invitation(**kw):
    base = dict(
        conference_id=7,
        guest_id=3,
        guest_name="Zoë Guest",
        guest_email="z@example.com",
        pin="482913",
        role="talk_only",
        starts_at=dt.datetime(2030, 12, 31, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
        duration_minutes=45,
        organiser="Olive; Organiser, Inc.",
        time_zone="America/New_York",
        dial_in=("16465550150",),
        toll_free=(),
    )
    base.update(kw)
    return invites.Invitation(**base)


def test_ics_times_are_utc_with_z_and_the_event_is_well_formed():
    text = invites.ics(
        _invitation(), domain="voip.example", now=dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    )
    lines = invites.unfold(text.decode())
    assert text.endswith(b"\r\n") and lines[-1] == ""
    fields = dict(line.split(":", 1) for line in lines if line)
    assert fields["DTSTART"] == "20310101T043000Z" and fields["DTEND"] == "20310101T051500Z"
    assert fields["DTSTAMP"] == "20300102T030405Z"
    assert fields["UID"] == "conference-7-guest-3@voip.example"
    assert fields["SUMMARY"] == "Conference call with Olive\\; Organiser\\, Inc."
    assert lines.count("BEGIN:VEVENT") == 1 and lines.count("END:VEVENT") == 1


def test_invitation_body_names_role_pin_and_local_time():
    body = invites.body(_invitation())
    assert "482913" in body and "Talk only" in body
    assert "2030-12-31" in body and "23:30 EST" in body and "04:30 UTC" in body and "45 min" in body
    assert "+1 646-555-0150" in body and "Toll free" not in body


def test_a_cancellation_removes_the_same_calendar_entry_with_a_higher_sequence():
    now = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    invite = invites.unfold(
        invites.ics(
            _invitation(sequence=2),
            domain="voip.example",
            now=now,
            organiser_email="VoIP <noreply@voip.example>",
        ).decode()
    )
    cancel = invites.unfold(
        invites.ics(
            _invitation(sequence=3, guest_email="Zoë <z@example.com>"),
            domain="voip.example",
            now=now,
            cancel=True,
            organiser_email="VoIP <noreply@voip.example>",
        ).decode()
    )
    first = dict(line.split(":", 1) for line in invite if line)
    fields = dict(line.split(":", 1) for line in cancel if line)
    assert (first["METHOD"], first["STATUS"], first["SEQUENCE"]) == ("PUBLISH", "CONFIRMED", "2")
    assert (fields["METHOD"], fields["STATUS"], fields["SEQUENCE"]) == ("CANCEL", "CANCELLED", "3")
    assert fields["UID"] == first["UID"] == "conference-7-guest-3@voip.example"
    assert fields["DTSTART"] == first["DTSTART"]
    # RFC 5546: ORGANIZER in both, the cancelled ATTENDEE in the CANCEL; parameter values quoted
    assert first['ORGANIZER;CN="Olive; Organiser, Inc."'] == "mailto:noreply@voip.example"
    assert not any(line.startswith("ATTENDEE") for line in invite)
    assert fields['ATTENDEE;CN="Zoë Guest"'] == "mailto:z@example.com"
    assert (
        "cancelled the conference call of 2030-12-31 (Tuesday) at 23:30 EST (04:30 UTC)"
        in fields["DESCRIPTION"]
    )


def test_a_quote_in_a_name_cannot_break_out_of_the_parameter():
    text = invites.ics(
        _invitation(organiser='Eve" ;X-EVIL=1:', guest_name='A"B'),
        domain="d",
        cancel=True,
        organiser_email="noreply@d",
    ).decode()
    lines = invites.unfold(text)
    assert 'ORGANIZER;CN="Eve ;X-EVIL=1:":mailto:noreply@d' in lines
    assert 'ATTENDEE;CN="AB":mailto:z@example.com' in lines
