"""The help page's "Conference": list with status; Schedule, Edit, Delete; guests added and
removed with their role and an email invite (real SMTP on loopback, aiosmtpd); the date and
time entered and shown in the member's time zone, stored in UTC, the .ics in UTC."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import select

from controller.services.conference.invites import unfold
from db.models import AuditLog, Conference, ConferenceGuest
from db.session import transaction
from tests.support.smtp import smtp_server  # noqa: F401  (function-scoped aiosmtpd on loopback)

from .conftest import errors_in, flashes, page, post_form, sign_in

UTC = dt.UTC


def _form(member, **overrides) -> dict:
    """The schedule form as a browser posts it: one guest row."""
    data = {
        "admin_name": "Ann Organiser",
        "admin_phone": member.number,
        "date": "2027-01-15",
        "time": "09:00",
        "duration": "60",
        "schedule": "1",
        "guests-0-guest_id": "",
        "guests-0-virtual_number": "",
        "guests-0-name": "Gina Guest",
        "guests-0-email": "gina@example.com",
        "guests-0-role": "listen_only",
        "guests-0-send_invite": "y",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def _conferences(factory, account_id) -> list[Conference]:
    with factory() as s:
        rows = s.scalars(
            select(Conference).where(Conference.account_id == account_id).order_by(Conference.id)
        )
        out = []
        for c in rows:
            _ = c.guests  # load them before the session closes
            out.append(c)
        s.expunge_all()
        return out


def _ics(mail) -> dict[str, str]:
    ((name, content, mimetype),) = mail.attachments()
    assert name.endswith(".ics") and mimetype == "text/calendar"
    text = content if isinstance(content, str) else content.decode()
    fields: dict[str, str] = {}
    for line in unfold(text):
        key, _, value = line.partition(":")
        fields.setdefault(key.split(";")[0], value)
    return fields


def _member_in(make_member, zone: str):
    return make_member(time_zone=zone)


def test_schedule_in_new_york_stores_utc_and_the_invite_ics_is_at_14_00_utc(
    client, make_member, factory, smtp_server
):  # noqa: F811
    member = _member_in(make_member, "America/New_York")
    sign_in(client, member)
    response = post_form(client, "/conference/schedule", _form(member), token_from="/conference/schedule")
    assert response.status_code == 302, errors_in(response)

    (conf,) = _conferences(factory, member.account_id)
    assert conf.starts_at == dt.datetime(2027, 1, 15, 14, 0, tzinfo=UTC)  # 09:00 EST = 14:00 UTC
    assert conf.duration_minutes == 60 and conf.status == "created"
    assert re.fullmatch(r"\d{6}", conf.admin_pin)
    (guest,) = conf.guests
    assert (guest.name, guest.email, guest.role, guest.send_invite) == (
        "Gina Guest",
        "gina@example.com",
        "listen_only",
        True,
    )
    assert re.fullmatch(r"\d{6}", guest.pin) and guest.pin != conf.admin_pin
    assert guest.invited_at is not None

    (mail,) = smtp_server.messages
    assert mail.rcpt_tos == ["gina@example.com"]
    body = mail.message.get_body(("plain",)).get_content()
    assert "2027-01-15" in body and "09:00 EST" in body and "14:00 UTC" in body
    assert guest.pin in body and conf.admin_pin not in body and "Listen only" in body
    ics = _ics(mail)
    assert ics["DTSTART"] == "20270115T140000Z" and ics["DTEND"] == "20270115T150000Z"
    assert ics["UID"].startswith(f"conference-{conf.id}-guest-{guest.id}@")

    html = page(client, "/conference/")
    assert "Your conference on 2027-01-15 09:00 EST was scheduled." in html
    assert "Invite sent to gina@example.com." in html
    row = re.search(rf'<tr id="conference-{conf.id}".*?</tr>', html, re.S).group(0)
    assert "2027-01-15 09:00:00" in row and "EST" in row and "Created" in row and conf.admin_pin in row
    assert f'href="/conference/{conf.id}/edit"' in row and f'action="/conference/{conf.id}/delete"' in row


def test_summer_time_and_another_zone_convert_to_utc(client, make_member, factory):
    paris = _member_in(make_member, "Europe/Paris")
    sign_in(client, paris)
    form = _form(paris, date="2027-07-01", time="09:00", **{"guests-0-send_invite": None})
    assert post_form(client, "/conference/schedule", form).status_code == 302
    (conf,) = _conferences(factory, paris.account_id)
    assert conf.starts_at == dt.datetime(2027, 7, 1, 7, 0, tzinfo=UTC)  # CEST = UTC+2
    html = page(client, f"/conference/{conf.id}/edit")
    assert 'value="2027-07-01"' in html and '<option selected value="09:00">' in html


def test_a_time_skipped_by_the_clocks_going_forward_is_refused(client, make_member, factory):
    member = _member_in(make_member, "America/New_York")
    sign_in(client, member)
    response = post_form(client, "/conference/schedule", _form(member, date="2027-03-14", time="02:30"))
    assert response.status_code == 400
    assert any("02:30 does not exist on 2027-03-14" in e for e in errors_in(response))
    assert _conferences(factory, member.account_id) == []


@pytest.mark.parametrize(
    "zone, local, utc",
    [
        ("America/New_York", "2027-01-15 09:00", "2027-01-15 14:00"),  # EST, UTC-5
        ("America/New_York", "2027-07-15 09:00", "2027-07-15 13:00"),  # EDT, UTC-4
        ("America/New_York", "2027-11-07 01:30", "2027-11-07 05:30"),  # happens twice: the first (EDT)
        ("America/Los_Angeles", "2027-01-15 23:30", "2027-01-16 07:30"),  # the next day in UTC
        ("Asia/Kolkata", "2027-01-15 00:15", "2027-01-14 18:45"),  # the day before in UTC
        ("UTC", "2027-01-15 09:00", "2027-01-15 09:00"),
    ],
)
def test_a_local_date_and_time_converts_to_one_utc_instant_and_back(zone, local, utc):
    from webpanel.conference.services import local_parts, to_utc
    from webpanel.conference.services import zone as tz_of

    tz = tz_of(zone)
    day, at = local.split()
    instant = to_utc(dt.date.fromisoformat(day), dt.time.fromisoformat(at), tz)
    assert instant == dt.datetime.fromisoformat(utc).replace(tzinfo=UTC)
    assert local_parts(instant, tz) == (day, at)


def test_the_schedule_form_has_every_option_of_the_help_page(client, make_member):
    member = make_member()
    sign_in(client, member)
    html = page(client, "/conference/")
    assert "Conference" in html and "Schedule" in html and "You have no conference yet." in html
    html = page(client, "/conference/schedule")
    for label in (
        "Create a Conference Schedule",
        "Conference Information",
        "Admin PIN",
        "Admin Name",
        "Admin Phone",
        "Video Conference",
        "Quiet Mode",
        "Allow 800 dial-in",
        "Date",
        "Time",
        "Duration",
        "Guest",
        "Virtual Number",
        "Name",
        "PIN",
        "E-mail",
        "Talk Only",
        "Listen Only",
        "Normal",
        "Send email invite",
        "Remove",
        "Add",
        "Schedule",
    ):
        assert label in html, label
    assert 'name="admin_pin"' not in html  # drawn by the service (issue 13: no PIN oracle)
    for name in (
        "admin_name",
        "admin_phone",
        "video",
        "quiet_mode",
        "allow_800",
        "date",
        "time",
        "duration",
        "guests-0-virtual_number",
        "guests-0-name",
        "guests-0-email",
        "guests-0-role",
        "guests-0-send_invite",
        "guests-0-guest_id",
    ):
        assert f'name="{name}"' in html, name
    # every input is labelled
    for input_id in re.findall(r'<(?:input|select)[^>]*\bid="([^"]+)"', html):
        if input_id in ("csrf_token", "nav-toggle") or input_id.endswith("guest_id"):
            continue
        assert f'for="{input_id}"' in html, input_id
    assert "Test Member" in html and f'<option selected value="{member.number}">' in html
    assert "+1 866-448-7747" in html  # the toll-free number of "Allow 800 dial-in"


@pytest.mark.parametrize(
    "overrides, field_message",
    [
        ({"date": "2020-01-15"}, "That date and time has already passed. Choose a time in the future."),
        ({"date": "2035-01-15"}, "A conference can be scheduled at most two years ahead."),
        ({"date": "15/01/2027"}, "Enter the date as year-month-day, such as 2027-01-15."),
        ({"date": ""}, "Select a date for your conference."),
        ({"time": "25:00"}, "Select a time for your conference."),
        ({"duration": "7"}, "Choose how long you would like the conference room for."),
        ({"duration": "forever"}, "Choose how long you would like the conference room for."),
        ({"admin_phone": "19999999999"}, "Choose one of your virtual numbers as Admin Phone."),
        ({"guests-0-email": "not-an-address"}, "Enter a valid email address, such as name@example.com."),
        ({"guests-0-email": ""}, "Enter the guest's email address to send an invite."),
        ({"guests-0-name": ""}, "Enter the guest's name."),
        ({"guests-0-virtual_number": "12ab"}, "A virtual number is 4 to 15 digits."),
        ({"guests-0-role": "boss"}, "Choose Talk Only, Listen Only or Normal."),
        (
            {"guests-1-name": "Gina Again", "guests-1-email": "GINA@example.com", "guests-1-role": "normal"},
            "Guest 1 has this email address already.",
        ),
        (
            {
                "guests-0-virtual_number": "17005550999",
                "guests-1-name": "Other",
                "guests-1-virtual_number": "17005550999",
                "guests-1-role": "normal",
            },
            "Guest 1 has this virtual number already.",
        ),
        (
            {"guests-0-guest_id": "999999999"},
            "A guest on the form is not on this conference any more. Reload the page.",
        ),
    ],
)
def test_bad_input_is_refused_with_a_clear_message_and_changes_nothing(
    client, make_member, factory, smtp_server, overrides, field_message
):  # noqa: F811
    member = _member_in(make_member, "America/New_York")
    sign_in(client, member)
    response = post_form(client, "/conference/schedule", _form(member, **overrides))
    assert response.status_code == 400
    assert field_message in errors_in(response), errors_in(response)
    assert _conferences(factory, member.account_id) == []
    assert smtp_server.messages == []
    html = response.get_data(as_text=True)
    assert 'aria-invalid="true"' in html or '<div class="form-errors" role="alert">' in html
    assert "Ann Organiser" in html  # what was typed is kept


def test_a_blank_guest_row_is_ignored_and_no_invite_goes_without_the_box(
    client, make_member, factory, smtp_server
):  # noqa: F811
    member = make_member()
    sign_in(client, member)
    form = _form(
        member,
        **{
            "guests-0-name": "",
            "guests-0-email": "",
            "guests-0-send_invite": None,
            "guests-1-name": "Nico",
            "guests-1-email": "nico@example.com",
            "guests-1-role": "talk_only",
        },
    )
    assert post_form(client, "/conference/schedule", form).status_code == 302
    (conf,) = _conferences(factory, member.account_id)
    (guest,) = conf.guests
    assert (guest.name, guest.role, guest.send_invite, guest.invited_at) == ("Nico", "talk_only", False, None)
    assert smtp_server.messages == []


def test_add_and_remove_change_the_guest_rows_without_saving(client, make_member, factory):
    member = make_member()
    sign_in(client, member)
    form = _form(member, schedule=None, add_guest="1")
    added = post_form(client, "/conference/schedule", form)
    assert added.status_code == 200
    html = added.get_data(as_text=True)
    assert 'name="guests-1-name"' in html and 'value="Gina Guest"' in html and "Guest 2" in html
    assert _conferences(factory, member.account_id) == []

    form = _form(
        member, schedule=None, remove="0", **{"guests-1-name": "Second", "guests-1-role": "talk_only"}
    )
    removed = post_form(client, "/conference/schedule", form)
    assert removed.status_code == 200
    html = removed.get_data(as_text=True)
    assert 'value="Second"' in html and "Gina Guest" not in html and 'name="guests-1-name"' not in html
    assert _conferences(factory, member.account_id) == []


def test_edit_moves_the_conference_removes_and_adds_guests_and_resends_changed_invites(
    client, make_member, factory, smtp_server
):  # noqa: F811
    member = _member_in(make_member, "America/New_York")
    sign_in(client, member)
    form = _form(
        member,
        **{
            "guests-1-name": "Stay",
            "guests-1-email": "stay@example.com",
            "guests-1-role": "normal",
            "guests-1-send_invite": "y",
        },
    )
    assert post_form(client, "/conference/schedule", form).status_code == 302
    (conf,) = _conferences(factory, member.account_id)
    first = {g.name: g for g in conf.guests}
    gina, stay = first["Gina Guest"], first["Stay"]
    assert len(smtp_server.messages) == 2

    html = page(client, f"/conference/{conf.id}/edit")
    assert 'value="2027-01-15"' in html and '<option selected value="09:00">' in html
    assert gina.pin in html and stay.pin in html and conf.admin_pin in html
    assert "Resend invite" in html

    edit = {
        "admin_pin": conf.admin_pin,
        "admin_name": "Ann Organiser",
        "admin_phone": member.number,
        "date": "2027-01-15",
        "time": "10:30",
        "duration": "90",
        "quiet_mode": "y",
        "schedule": "1",
        # Gina removed; Stay kept; Nora added
        "guests-0-guest_id": str(stay.id),
        "guests-0-name": "Stay",
        "guests-0-email": "stay@example.com",
        "guests-0-role": "talk_only",
        "guests-0-send_invite": "y",
        "guests-1-guest_id": "",
        "guests-1-name": "Nora",
        "guests-1-email": "nora@example.com",
        "guests-1-role": "normal",
        "guests-1-send_invite": "y",
    }
    response = post_form(client, f"/conference/{conf.id}/edit", edit)
    assert response.status_code == 302, errors_in(response)
    (conf2,) = _conferences(factory, member.account_id)
    assert conf2.starts_at == dt.datetime(2027, 1, 15, 15, 30, tzinfo=UTC) and conf2.duration_minutes == 90
    assert conf2.quiet_mode and conf2.admin_pin == conf.admin_pin
    by_name = {g.name: g for g in conf2.guests}
    assert set(by_name) == {"Stay", "Nora"} and by_name["Stay"].id == stay.id
    assert by_name["Stay"].pin == stay.pin and by_name["Stay"].role == "talk_only"
    with factory() as s:
        assert s.get(ConferenceGuest, gina.id) is None

    mails = smtp_server.messages[2:]
    assert sorted(m.rcpt_tos[0] for m in mails) == ["nora@example.com", "stay@example.com"]
    update = next(m for m in mails if m.rcpt_tos == ["stay@example.com"])
    ics = _ics(update)
    assert ics["DTSTART"] == "20270115T153000Z" and ics["DTEND"] == "20270115T170000Z"
    assert ics["UID"] == f"conference-{conf.id}-guest-{stay.id}@voip.local"  # the same calendar entry
    assert "10:30 EST" in update.message.get_body(("plain",)).get_content()

    # an edit that changes nothing in the invites sends nothing
    edit.update({"guests-1-guest_id": str(by_name["Nora"].id), "quiet_mode": None})
    assert (
        post_form(
            client, f"/conference/{conf.id}/edit", {k: v for k, v in edit.items() if v is not None}
        ).status_code
        == 302
    )
    assert len(smtp_server.messages) == 4


def test_resend_invite_mails_one_guest_again(client, make_member, factory, smtp_server):  # noqa: F811
    member = make_member()
    sign_in(client, member)
    assert post_form(client, "/conference/schedule", _form(member)).status_code == 302
    (conf,) = _conferences(factory, member.account_id)
    (guest,) = conf.guests
    token_page = f"/conference/{conf.id}/edit"
    response = post_form(client, f"/conference/{conf.id}/guests/{guest.id}/invite", {}, token_from=token_page)
    assert response.status_code == 302 and response.headers["Location"].endswith(token_page)
    assert [m.rcpt_tos for m in smtp_server.messages] == [["gina@example.com"], ["gina@example.com"]]
    assert "Invite sent to gina@example.com." in page(client, token_page)


def test_smtp_down_keeps_the_conference_and_says_the_invite_was_not_sent(client, make_member, factory):
    member = make_member()  # no smtp_server fixture: nothing listens on the SMTP port
    sign_in(client, member)
    assert post_form(client, "/conference/schedule", _form(member)).status_code == 302
    (conf,) = _conferences(factory, member.account_id)
    assert conf.guests[0].invited_at is None and conf.guests[0].send_invite
    html = page(client, "/conference/")
    assert "The invite to gina@example.com could not be sent" in html and "Use Resend invite" in html


def test_delete_removes_the_conference_and_its_guests(client, make_member, factory):
    member = make_member()
    sign_in(client, member)
    form = _form(member, **{"guests-0-send_invite": None})
    assert post_form(client, "/conference/schedule", form).status_code == 302
    (conf,) = _conferences(factory, member.account_id)
    guest_id = conf.guests[0].id
    response = post_form(client, f"/conference/{conf.id}/delete", {}, token_from="/conference/")
    assert response.status_code == 302
    assert _conferences(factory, member.account_id) == []
    with factory() as s:
        assert s.get(ConferenceGuest, guest_id) is None
    assert any("was deleted, with its guest list." in f for f in flashes(client.get("/conference/")))


def _insert(factory, member, *, starts_at, status="created", duration=60, admin_phone=None) -> int:
    import secrets

    with transaction(factory) as s:
        c = Conference(
            account_id=member.account_id,
            admin_pin=f"{secrets.randbelow(10**9):09d}",
            admin_phone=admin_phone or member.number,
            starts_at=starts_at,
            duration_minutes=duration,
            status=status,
        )
        c.guests.append(
            ConferenceGuest(name="G", pin=f"{secrets.randbelow(10**9):09d}", email="g@example.com")
        )
        s.add(c)
        s.flush()
        return c.id


def test_status_created_started_expired_and_what_each_allows(client, make_member, factory):
    member = make_member()
    sign_in(client, member)
    now = dt.datetime.now(UTC)
    created = _insert(factory, member, starts_at=now + dt.timedelta(days=3))
    started = _insert(factory, member, starts_at=now - dt.timedelta(minutes=10), status="started")
    over = _insert(factory, member, starts_at=now - dt.timedelta(hours=5))  # not swept yet
    expired = _insert(factory, member, starts_at=now - dt.timedelta(days=2), status="expired")
    html = page(client, "/conference/")
    status = dict(re.findall(r'<tr id="conference-(\d+)" data-status="(\w+)">', html))
    assert status == {
        str(created): "created",
        str(started): "started",
        str(over): "expired",
        str(expired): "expired",
    }
    assert f"/conference/{created}/edit" in html
    for cid in (started, over, expired):
        assert f"/conference/{cid}/edit" not in html
        response = client.get(f"/conference/{cid}/edit")
        assert response.status_code == 302
    assert f"/conference/{started}/delete" not in html
    refused = post_form(client, f"/conference/{started}/delete", {}, token_from="/conference/")
    assert refused.status_code == 302
    assert "This conference is in progress; it can be deleted once it has ended." in flashes(
        client.get("/conference/")
    )
    assert {c.id for c in _conferences(factory, member.account_id)} == {created, started, over, expired}
    # the upcoming ones are listed first
    order = [int(i) for i in re.findall(r'<tr id="conference-(\d+)"', html)]
    assert order[:2] == [started, created]


def test_another_accounts_conference_and_guests_answer_404(client, make_member, factory):
    a = make_member()
    b = make_member()
    cid = _insert(factory, a, starts_at=dt.datetime.now(UTC) + dt.timedelta(days=1))
    guest_id = _conferences(factory, a.account_id)[0].guests[0].id
    own = _insert(factory, b, starts_at=dt.datetime.now(UTC) + dt.timedelta(days=1))
    sign_in(client, b)
    assert client.get(f"/conference/{cid}/edit").status_code == 404
    for url in (
        f"/conference/{cid}/edit",
        f"/conference/{cid}/delete",
        f"/conference/{cid}/guests/{guest_id}/invite",
        f"/conference/{own}/guests/{guest_id}/invite",
    ):  # a guest of another conference
        assert post_form(client, url, {}, token_from="/conference/").status_code == 404, url
    # a guest id of another conference slipped into the own edit form is refused
    form = _form(b, **{"guests-0-guest_id": str(guest_id), "guests-0-send_invite": None})
    response = post_form(client, f"/conference/{own}/edit", form)
    assert response.status_code == 400
    assert _conferences(factory, a.account_id)[0].guests[0].name == "G"
    assert f"conference-{cid}" not in page(client, "/conference/")


def test_a_secondary_user_manages_only_the_conferences_of_their_own_number(
    client, make_member, make_secondary, factory
):
    primary = make_member()
    second = make_secondary(primary)
    later = dt.datetime.now(UTC) + dt.timedelta(days=1)
    of_primary = _insert(factory, primary, starts_at=later)
    of_second = _insert(factory, primary, starts_at=later, admin_phone=second.number)
    sign_in(client, second)
    html = page(client, "/conference/")
    assert f"conference-{of_second}" in html and f"conference-{of_primary}" not in html
    assert client.get(f"/conference/{of_primary}/edit").status_code == 404
    assert client.get(f"/conference/{of_second}/edit").status_code == 200
    form = page(client, "/conference/schedule")
    assert f'value="{second.number}"' in form and f'value="{primary.number}"' not in form
    refused = post_form(
        client,
        "/conference/schedule",
        _form(second, admin_phone=primary.number, **{"guests-0-send_invite": None}),
    )
    assert "Choose one of your virtual numbers as Admin Phone." in errors_in(refused)
    sign_in(client, primary)
    html = page(client, "/conference/")
    assert f"conference-{of_second}" in html and f"conference-{of_primary}" in html


# --- cancellations and the owner's language ------------------------------------------------


def _ahead(days: int = 40) -> str:
    return (dt.date.today() + dt.timedelta(days=days)).isoformat()


def _calendar_part(mail):
    (part,) = mail.message.iter_attachments()
    return part


def test_deleting_a_conference_sends_the_invited_guests_a_cancellation_for_their_calendar_entry(
    client, make_member, factory, smtp_server
):  # noqa: F811
    member = make_member()
    sign_in(client, member)
    form = _form(
        member,
        date=_ahead(),
        **{"guests-1-name": "Quiet", "guests-1-email": "quiet@example.com", "guests-1-role": "normal"},
    )  # no invite for this one
    assert post_form(client, "/conference/schedule", form).status_code == 302
    (conf,) = _conferences(factory, member.account_id)
    gina = next(g for g in conf.guests if g.name == "Gina Guest")
    (invite,) = smtp_server.messages
    first = _ics(invite)
    assert (first["METHOD"], first["SEQUENCE"], first["STATUS"]) == ("PUBLISH", "0", "CONFIRMED")
    assert _calendar_part(invite).get_param("method") == "PUBLISH"
    assert _calendar_part(invite).get_param("charset") == "utf-8"  # names in any language
    # an edit moves it: the re-sent invite is the next revision of the same entry
    edit = dict(
        form,
        time="11:00",
        admin_pin=conf.admin_pin,
        **{
            "guests-0-guest_id": str(gina.id),
            "guests-1-guest_id": str(next(g.id for g in conf.guests if g.name == "Quiet")),
        },
    )
    assert post_form(client, f"/conference/{conf.id}/edit", edit).status_code == 302
    update = _ics(smtp_server.messages[1])
    assert update["UID"] == first["UID"] and update["SEQUENCE"] == "1"

    response = post_form(client, f"/conference/{conf.id}/delete", {}, token_from="/conference/")
    assert response.status_code == 302 and _conferences(factory, member.account_id) == []
    cancel = smtp_server.messages[2]
    assert len(smtp_server.messages) == 3 and cancel.rcpt_tos == ["gina@example.com"]  # not "Quiet"
    assert cancel.message["Subject"] == f"Conference cancelled: {form['date']} 11:00 (EST)"
    body = cancel.message.get_body(("plain",)).get_content()
    assert "Ann Organiser cancelled the conference call of " + form["date"] in body and "11:00 EST" in body
    assert gina.pin not in body
    ics = _ics(cancel)
    assert ics["METHOD"] == "CANCEL" and ics["STATUS"] == "CANCELLED"
    assert ics["UID"] == first["UID"] and int(ics["SEQUENCE"]) > int(update["SEQUENCE"])
    assert ics["DTSTART"] == update["DTSTART"]
    assert ics["ATTENDEE"] == "mailto:gina@example.com" and ics["ORGANIZER"].startswith("mailto:")
    assert _calendar_part(cancel).get_param("method") == "CANCEL"
    shown = flashes(client.get("/conference/"))
    assert "A cancellation was sent to gina@example.com." in shown
    with factory() as s:
        sent = s.scalars(
            select(AuditLog).where(
                AuditLog.account_id == member.account_id, AuditLog.action == "conference.cancellation"
            )
        ).all()
        assert [a.details["guest"] for a in sent] == [gina.id]
        deleted = s.scalars(
            select(AuditLog).where(
                AuditLog.account_id == member.account_id, AuditLog.action == "conference.delete"
            )
        ).one()
        assert deleted.details == {"guests": 2, "cancellations": 1}


def _insert_invited(factory, member, *, starts_at, status="created") -> int:
    cid = _insert(factory, member, starts_at=starts_at, status=status)
    with transaction(factory) as s:
        s.get(Conference, cid).guests[0].invited_at = dt.datetime.now(UTC)
    return cid


def test_an_ended_conference_is_deleted_without_a_cancellation(client, make_member, factory, smtp_server):  # noqa: F811
    member = make_member()
    sign_in(client, member)
    over = _insert_invited(
        factory, member, starts_at=dt.datetime.now(UTC) - dt.timedelta(days=2), status="expired"
    )
    assert post_form(client, f"/conference/{over}/delete", {}, token_from="/conference/").status_code == 302
    assert _conferences(factory, member.account_id) == [] and smtp_server.messages == []


def test_smtp_down_still_deletes_and_says_the_cancellation_was_not_sent(client, make_member, factory):
    member = make_member()  # no smtp_server fixture: nothing listens on the SMTP port
    sign_in(client, member)
    cid = _insert_invited(factory, member, starts_at=dt.datetime.now(UTC) + dt.timedelta(days=2))
    assert post_form(client, f"/conference/{cid}/delete", {}, token_from="/conference/").status_code == 302
    assert _conferences(factory, member.account_id) == []
    shown = flashes(client.get("/conference/"))
    assert any("was deleted, with its guest list." in f for f in shown)
    assert "The cancellation to g@example.com could not be sent (the mail server did not accept it)." in shown


@pytest.mark.parametrize(
    "lang, invitation, role, weekday, cancelled, summary",
    [
        (
            "es",
            "Invitación a una conferencia: ",
            "Solo escuchar: usted oye la conferencia",
            "viernes",
            "Conferencia cancelada: ",
            "Conferencia telefónica con Ann Organiser",
        ),
        (
            "fr",
            "Invitation à une conférence\u00a0: ",
            "Écouter seulement\u00a0: vous entendez la conférence",
            "vendredi",
            "Conférence annulée\u00a0: ",
            "Conférence téléphonique avec Ann Organiser",
        ),
    ],
)
def test_invites_and_cancellations_are_in_the_owners_language(
    client,
    make_member,
    factory,
    smtp_server,
    lang,
    invitation,
    role,
    weekday,
    cancelled,  # noqa: F811
    summary,
):
    member = make_member(language=lang, time_zone="America/New_York")
    sign_in(client, member)
    day = dt.date.today() + dt.timedelta(days=40)
    day += dt.timedelta(days=(4 - day.weekday()) % 7)  # a Friday
    assert post_form(client, "/conference/schedule", _form(member, date=day.isoformat())).status_code == 302
    (conf,) = _conferences(factory, member.account_id)
    (invite,) = smtp_server.messages
    assert invite.message["Subject"].startswith(invitation + day.isoformat() + " 09:00 (")
    body = invite.message.get_body(("plain",)).get_content()
    assert role in body and f"{day.isoformat()} ({weekday})" in body and conf.guests[0].pin in body
    assert "Listen only" not in body and "Your PIN" not in body and "Hello" not in body
    labels = [line for line in body.splitlines() if conf.guests[0].pin in line]
    assert labels and labels[0].split()[0] in ("Su", "Votre")
    assert _ics(invite)["SUMMARY"] == summary

    response = post_form(client, f"/conference/{conf.id}/delete", {}, token_from="/conference/")
    assert response.status_code == 302
    cancel = smtp_server.messages[1]
    assert cancel.message["Subject"].startswith(cancelled + day.isoformat())
    text = cancel.message.get_body(("plain",)).get_content()
    assert "Ann Organiser" in text and f"({weekday})" in text and "cancelled" not in text
    ics = _ics(cancel)
    assert ics["METHOD"] == "CANCEL" and ics["SUMMARY"] == summary


def test_the_kept_blank_guest_row_follows_the_language_and_a_filled_row_is_its_own(app, make_member):
    """A blank guest row's HTML is kept per language and row (issue 16): an English page, then
    a Spanish one, each in its language; after Add the new row has the focus, the first its values."""
    english, spanish = make_member(), make_member(language="es")
    en, es = app.test_client(), app.test_client()
    sign_in(en, english)
    sign_in(es, spanish)
    english_page, spanish_page = page(en, "/conference/schedule"), page(es, "/conference/schedule")
    assert "Type in the name of your guest." in english_page
    assert "Escriba el nombre de su invitado." in spanish_page
    assert "Type in the name of your guest." not in spanish_page
    assert 'id="guest-0"' in english_page and 'id="guest-1"' not in english_page
    form = {**_form(english), "guests-0-name": "Bea Guest", "add_guest": "1"}
    html = post_form(en, "/conference/schedule", form, token_from="/conference/schedule").get_data(
        as_text=True
    )
    assert 'value="Bea Guest"' in html
    assert re.search(r'<input[^>]*autofocus[^>]*id="guests-1-virtual_number"', html) or re.search(
        r'<input[^>]*id="guests-1-virtual_number"[^>]*autofocus', html
    )
    assert not re.search(r'<input[^>]*id="guests-0-virtual_number"[^>]*autofocus', html)
