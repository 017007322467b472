"""Email invitations over real SMTP (aiosmtpd): the text a guest needs and a valid .ics."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from controller.services.conference import service
from controller.services.conference.invites import Language, unfold
from db.models import ConferenceGuest
from tests.conference.phones import make_conference

pytestmark = pytest.mark.asyncio(loop_scope="session")


def _invite(factory, settings, conference_id):
    with factory() as s, s.begin():
        return service.send_invites(settings, s, conference_id)


def ics_fields(text: str) -> dict[str, str]:
    fields = {}
    for line in unfold(text):
        name, _, value = line.partition(":")
        fields.setdefault(name.split(";")[0], value)
    return fields


async def test_invites_reach_guests_with_send_invite_with_pin_role_numbers_and_an_ics(
    settings, factory, smtp_server
):
    starts = dt.datetime(2031, 3, 14, 15, 30, tzinfo=dt.UTC)
    conf = make_conference(
        factory,
        starts_at=starts,
        duration=90,
        allow_800=True,
        emails={"normal": "Nora Normal <nora@example.com>", "listen_only": "liam@example.com"},
    )
    report = await asyncio.to_thread(_invite, factory, settings, conf.id)
    assert sorted(report.sent) == sorted([conf.guest_ids["normal"], conf.guest_ids["listen_only"]])
    assert not report.failed
    mails = await smtp_server.wait_for(2)
    by_rcpt = {m.rcpt_tos[0]: m for m in mails}
    assert set(by_rcpt) == {"nora@example.com", "liam@example.com"}  # talk-only guest has no address

    mail = by_rcpt["liam@example.com"]
    body = mail.message.get_body(("plain",)).get_content()
    assert conf.pins["listen_only"] in body and conf.pins["normal"] not in body
    assert "Listen only" in body
    assert "2031-03-14" in body and "11:30 EDT" in body and "15:30 UTC" in body  # organiser in New York
    assert "1 h 30 min" in body
    assert "+1 646-555-0150" in body and "+1 866-448-7747" in body  # access + toll-free (800 allowed)

    ((name, content, mimetype),) = mail.attachments()
    assert name.endswith(".ics") and mimetype == "text/calendar"
    text = content if isinstance(content, str) else content.decode()
    assert "\r\n" in text and text.replace("\r\n", "").count("\n") == 0, "iCalendar lines end in CRLF"
    assert all(len(line.encode()) <= 75 for line in text.split("\r\n")), "lines folded at 75 octets"
    f = ics_fields(text)
    assert unfold(text)[0] == "BEGIN:VCALENDAR" and unfold(text)[-2] == "END:VCALENDAR"
    assert f["VERSION"] == "2.0" and f["PRODID"]
    assert f["DTSTART"] == "20310314T153000Z" and f["DTEND"] == "20310314T170000Z"
    assert f["UID"] == f"conference-{conf.id}-guest-{conf.guest_ids['listen_only']}@voip.local"
    assert dt.datetime.strptime(f["DTSTAMP"], "%Y%m%dT%H%M%SZ")
    assert "Conference call" in f["SUMMARY"]
    assert conf.pins["listen_only"] in f["DESCRIPTION"] and "\\n" in f["DESCRIPTION"]

    with factory() as s:
        assert s.get(ConferenceGuest, conf.guest_ids["listen_only"]).invited_at is not None
        assert s.get(ConferenceGuest, conf.guest_ids["talk_only"]).invited_at is None


async def test_invite_without_800_dial_in_names_no_toll_free_number(settings, factory, smtp_server):
    conf = make_conference(factory, allow_800=False, emails={"talk_only": "tom@example.com"})
    await asyncio.to_thread(_invite, factory, settings, conf.id)
    (mail,) = await smtp_server.wait_for(1)
    body = mail.message.get_body(("plain",)).get_content()
    assert "Talk only" in body and "866" not in body


async def test_smtp_down_reports_the_failure_and_marks_nobody_invited(settings, factory):
    import dataclasses

    quick = dataclasses.replace(settings, smtp_attempts=1)
    conf = make_conference(factory, emails={"normal": "nora@example.com"})  # no smtp_server: port closed
    report = await asyncio.to_thread(_invite, factory, quick, conf.id)
    assert report.sent == [] and conf.guest_ids["normal"] in report.failed
    with factory() as s:
        assert s.get(ConferenceGuest, conf.guest_ids["normal"]).invited_at is None


async def test_a_cancellation_reaches_the_guest_with_a_method_cancel_ics(settings, factory, smtp_server):
    starts = dt.datetime(2031, 3, 14, 15, 30, tzinfo=dt.UTC)
    conf = make_conference(factory, starts_at=starts, emails={"normal": "Nora Normal <nora@example.com>"})
    await asyncio.to_thread(_invite, factory, settings, conf.id)
    (invite,) = await smtp_server.wait_for(1)

    def cancel():
        from db.models import Account, Conference

        with factory() as s:
            c = s.get(Conference, conf.id)
            guests = [g for g in c.guests if g.invited_at is not None]
            due = service.build_invitations(settings, c, s.get(Account, c.account_id), guests, sequence=1)
        return service.send_cancellations(settings, due)

    report = await asyncio.to_thread(cancel)
    assert report.sent == [conf.guest_ids["normal"]] and not report.failed
    _, mail = await smtp_server.wait_for(2)
    assert mail.rcpt_tos == ["nora@example.com"]
    assert mail.message["Subject"] == "Conference cancelled: 2031-03-14 11:30 (EDT)"
    ((name, content, mimetype),) = mail.attachments()
    (part,) = mail.message.iter_attachments()
    assert name.endswith(".ics") and mimetype == "text/calendar" and part.get_param("method") == "CANCEL"
    text = content if isinstance(content, str) else content.decode()
    first = invite.attachments()[0][1]
    f, before = ics_fields(text), ics_fields(first if isinstance(first, str) else first.decode())
    assert f["METHOD"] == "CANCEL" and f["STATUS"] == "CANCELLED"
    assert f["UID"] == before["UID"] and int(f["SEQUENCE"]) > int(before["SEQUENCE"])
    assert f["ATTENDEE"] == "mailto:nora@example.com"


SPANISH = {
    "Hello %(name)s,": "Hola, %(name)s:",
    "Conference cancelled: %(when)s": "Conferencia cancelada: %(when)s",
}


def _spanish(message: str, /, **variables: object) -> str:
    text = SPANISH.get(message, message)
    return text % variables if variables else text


async def test_the_texts_are_in_the_language_the_caller_gives(settings, factory, smtp_server):
    """No Flask here: the caller (the panel: its gettext in the owner's language) hands the
    service a Language; its code names the weekday."""
    starts = dt.datetime(2031, 3, 14, 15, 30, tzinfo=dt.UTC)
    conf = make_conference(factory, starts_at=starts, emails={"normal": "Nora Normal <nora@example.com>"})

    def cancel():
        from db.models import Account, Conference

        with factory() as s:
            c = s.get(Conference, conf.id)
            guests = [g for g in c.guests if g.email]
            due = service.build_invitations(settings, c, s.get(Account, c.account_id), guests, sequence=1)
        return service.send_cancellations(settings, due, lang=Language("es", _spanish))

    report = await asyncio.to_thread(cancel)
    assert report.sent == [conf.guest_ids["normal"]] and not report.failed
    (mail,) = await smtp_server.wait_for(1)
    assert mail.message["Subject"] == "Conferencia cancelada: 2031-03-14 11:30 (EDT)"
    body = mail.message.get_body(("plain",)).get_content()
    assert body.startswith("Hola, Guest normal:\n") and "2031-03-14 (viernes)" in body
