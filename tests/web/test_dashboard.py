"""Issue 16: Home as a dashboard, Phone setup and "Check my registration" (panel side).

The figures are compared with the database they come from (real PostgreSQL, seeded as the
rater, Asterisk's registrar and the controller write it); the QR codes are decoded with
zxing-cpp, from the PNG route and from the page's inline SVG. The registration reasons as they
come from a real Asterisk are in tests/asterisk/test_registration_reason.py.
"""

from __future__ import annotations

import datetime as dt
import html
import re
import time
from decimal import Decimal

from sqlalchemy import insert, select, text

from db.models import PsContact, RegistrationEvent, User, VoicemailMessage
from db.session import transaction
from tests.support.qr import decode_png, decode_svg, svgs
from tests.support.realparts import unique_number

from .cdrs import add_cdrs, cdr_values
from .conftest import page, post_form, sign_in

NOW = dt.datetime.now(dt.UTC)


def figure(body: str, name: str) -> str:
    match = re.search(rf'id="fig-{name}">.*?<span class="dash-value">(.*?)</span></a>', body, re.S)
    assert match, f"no figure {name}"
    return html.unescape(re.sub(r"<[^>]+>", "", match[1])).strip()


def _voicemail(factory, vn_id: int, folders: list[str]) -> None:
    with transaction(factory) as s:
        for folder in folders:
            s.add(
                VoicemailMessage(virtual_number_id=vn_id, folder=folder, audio=b"RIFF", caller_number="1312")
            )


def _missed(number: str, start: dt.datetime, **kw) -> dict:
    return cdr_values(vnum=number, start=start, src="13125550100", dst=number, disposition="NO ANSWER", **kw)


def test_the_dashboards_figures_equal_the_database(client, make_member, factory):
    member = make_member(credit=("10.00", "2.50"), plan=(600, 300), time_zone="America/Chicago")
    _voicemail(factory, member.vn_id, ["new", "new", "saved"])
    calls = [
        _missed(member.number, NOW - dt.timedelta(hours=2)),
        _missed(member.number, NOW - dt.timedelta(hours=1)),
        cdr_values(
            vnum=member.number,
            start=NOW - dt.timedelta(minutes=30),
            src="13125550100",
            dst=member.number,
            billsec=20,
            dstchannel="PJSIP/x",
        ),
        cdr_values(
            vnum=member.number,
            start=NOW - dt.timedelta(minutes=20),
            src=member.number,
            dst="13125550199",
            billsec=60,
            call_class="D",
            dstchannel="PJSIP/carrier-1",
        ),
        cdr_values(
            vnum=member.number,
            start=NOW - dt.timedelta(days=3),
            src=member.number,
            dst="13125550199",
            billsec=60,
            call_class="D",
            dstchannel="PJSIP/carrier-1",
        ),
    ]
    add_cdrs(
        factory,
        calls,
        {
            3: {
                "account_id": member.account_id,
                "virtual_number_id": member.vn_id,
                "cost": Decimal("0.1234"),
            },
            4: {
                "account_id": member.account_id,
                "virtual_number_id": member.vn_id,
                "cost": Decimal("5.00"),
                "rated_at": NOW - dt.timedelta(days=3),
            },
        },
    )
    sign_in(client, member)
    body = page(client, "/")

    with factory() as s:
        balance = s.scalar(
            text("SELECT sum(remaining) FROM credit_lots WHERE account_id = :a"), {"a": member.account_id}
        )
        today = s.scalar(
            text(
                "SELECT coalesce(sum(ch.cost), 0) FROM cdr_charges ch JOIN accounts a ON a.id = ch.account_id"
                " WHERE a.id = :a AND (ch.rated_at AT TIME ZONE a.time_zone)::date"
                " = (now() AT TIME ZONE a.time_zone)::date"
            ),
            {"a": member.account_id},
        )
        new_vm = s.scalar(
            text("SELECT count(*) FROM voicemail_messages WHERE virtual_number_id = :v AND folder = 'new'"),
            {"v": member.vn_id},
        )
        plan = s.scalar(
            text(
                "SELECT sum(regional_seconds_left + us_canada_seconds_left) FROM plan_subscriptions"
                " WHERE account_id = :a AND active"
            ),
            {"a": member.account_id},
        )
        missed = s.scalar(
            text(
                "SELECT count(*) FROM member_calls WHERE vnum = :n AND inbound AND NOT answered"
                " AND start >= now() - interval '7 days'"
            ),
            {"n": member.number},
        )
    assert (balance, today, new_vm, plan, missed) == (Decimal("12.5000"), Decimal("0.1234"), 2, 900, 2)
    assert figure(body, "balance") == "$12.50"
    assert figure(body, "today") == "$0.1234"
    assert figure(body, "voicemail") == "2"
    assert figure(body, "plan") == "15"
    assert figure(body, "missed") == "2"  # a week back on the first visit; the answered call is not missed
    # each figure links to its page
    for name, href in (("voicemail", "/voicemail/"), ("missed", "/missed-calls/"), ("plan", "/plans/")):
        assert re.search(rf'id="fig-{name}">\s*<a href="{href}"', body), name
    # the old home's table is still there, after the dashboard
    assert body.index('id="dash-title"') < body.index('id="numbers-title"')


def test_missed_calls_count_since_the_last_visit(client, make_member, factory):
    member = make_member()
    add_cdrs(factory, [_missed(member.number, NOW - dt.timedelta(hours=3))])
    sign_in(client, member)
    assert figure(page(client, "/"), "missed") == "1"
    with factory() as s:
        seen = s.scalar(select(User.home_seen_at).where(User.id == member.user_id))
    assert seen is not None and abs((seen - dt.datetime.now(dt.UTC)).total_seconds()) < 120
    assert figure(page(client, "/"), "missed") == "0"  # seen on the last visit
    # written when it hangs up, now (cdr_values: it rang 5 s), as Asterisk writes it
    add_cdrs(factory, [_missed(member.number, dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5))])
    body = page(client, "/")
    assert figure(body, "missed") == "1"
    assert "Missed calls since your last visit" in body


def _seen(factory, member) -> dt.datetime:
    with factory() as s:
        seen = s.scalar(select(User.home_seen_at).where(User.id == member.user_id))
    assert seen is not None
    return seen


def _hang_up_after(mark: dt.datetime) -> dt.datetime:
    """A leg's end as Asterisk writes it (to the second), once the clock is a second past
    `mark`: the leg ended after the visit marked then."""
    deadline = time.monotonic() + 5
    while dt.datetime.now(dt.UTC) < mark.replace(microsecond=0) + dt.timedelta(seconds=1):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def test_a_call_ringing_during_a_visit_counts_on_the_next_visit_once(client, make_member, factory):
    """A CDR is written when its leg hangs up, with the call's start: a call that rang while
    the member looked at Home started before that visit and appears after it. It counts on the
    next visit (it ended after the visit before), and never again, even when one of its legs
    (a forwarded leg, then the member's own) was already there on that visit."""
    member = make_member()
    sign_in(client, member)
    assert figure(page(client, "/"), "missed") == "0"
    first = _seen(factory, member)
    ringing = first.replace(microsecond=0) - dt.timedelta(seconds=30)
    ended = _hang_up_after(first)
    forwarded = {
        **_missed(member.number, ringing + dt.timedelta(seconds=5), linkedid=f"web-fwd-{member.number}"),
        "channel": "Local/13125550142@fwd-out-1;2",
        "end": ended,
    }
    add_cdrs(factory, [{**_missed(member.number, ringing), "end": ended}, forwarded])
    body = page(client, "/")
    assert figure(body, "missed") == "2"  # both rang while the member looked at Home
    assert "Missed calls since your last visit" in body
    second = _seen(factory, member)
    # the forwarded call's own leg (rung after the cell gave up) is written after this visit
    own = {
        **_missed(member.number, ringing + dt.timedelta(seconds=5), linkedid=f"web-fwd-{member.number}"),
        "end": _hang_up_after(second),
    }
    add_cdrs(factory, [own])
    with factory() as s:  # still one call, missed
        calls = s.scalar(
            text("SELECT count(*) FROM member_calls WHERE vnum = :n AND inbound AND NOT answered"),
            {"n": member.number},
        )
    assert calls == 2
    assert figure(page(client, "/"), "missed") == "0"  # counted on the visit before
    third = _seen(factory, member)
    late = third.replace(microsecond=0) - dt.timedelta(seconds=20)
    add_cdrs(factory, [{**_missed(member.number, late), "end": _hang_up_after(third)}])
    assert figure(page(client, "/"), "missed") == "1"
    assert figure(page(client, "/"), "missed") == "0"


def _contact(factory, number: str, ua: str, addr: str, port: int, expires_in: int) -> None:
    with transaction(factory) as s:
        s.execute(
            insert(PsContact).values(
                id=f"{number};@{unique_number('1999')}",
                uri=f"sip:{number}@{addr}:{port}",
                expiration_time=int(time.time()) + expires_in,
                user_agent=ua,
                via_addr=addr,
                via_port=port,
                endpoint=number,
            )
        )


def test_registration_state_devices_and_the_last_refusal_with_its_reason(client, make_member, factory):
    member = make_member()
    other = make_member()
    _contact(factory, member.number, "Linphone/5.2", "198.51.100.7", 5062, 600)
    _contact(factory, member.number, "Old phone", "198.51.100.8", 5060, -60)  # expired, not yet pruned
    _contact(factory, other.number, "Not mine", "203.0.113.9", 5060, 600)
    with transaction(factory) as s:
        s.add(
            RegistrationEvent(
                number=member.number,
                virtual_number_id=member.vn_id,
                event="bad_password",
                remote_addr="198.51.100.9:5060 (UDP)",
                at=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5),
            )
        )
    with factory() as s:  # the trigger on ps_contacts wrote the registrations
        written = s.execute(
            select(RegistrationEvent.event, RegistrationEvent.user_agent, RegistrationEvent.remote_addr)
            .where(
                RegistrationEvent.virtual_number_id == member.vn_id, RegistrationEvent.event == "registered"
            )
            .order_by(RegistrationEvent.id)
        ).all()
    assert [tuple(r) for r in written] == [
        ("registered", "Linphone/5.2", "198.51.100.7:5062"),
        ("registered", "Old phone", "198.51.100.8:5060"),
    ]
    sign_in(client, member)
    body = page(client, "/")
    line = re.search(rf'id="line-{member.number}">(.*?)</li>\s*</ul>\s*</section>', body, re.S)
    assert line
    assert "1 device registered" in line[1]
    assert "Linphone/5.2" in line[1] and "198.51.100.7:5062" in line[1]
    assert "Old phone" not in line[1] and "Not mine" not in body
    assert "Last attempt refused: wrong password" in line[1]

    check = html.unescape(page(client, f"/phone-setup/{member.number}/check"))
    assert "Registered now from 198.51.100.7:5062 (Linphone/5.2)." in check
    assert "wrong password" in check and "198.51.100.9:5060 (UDP)" in check
    # another member's number does not exist for this member
    assert client.get(f"/phone-setup/{other.number}/check").status_code == 404
    assert client.get(f"/phone-setup/{other.number}/qr.png").status_code == 404


def test_check_says_not_seen_at_all_and_names_a_misspelt_user_name(client, make_member, factory):
    member = make_member()
    sign_in(client, member)
    check = html.unescape(page(client, f"/phone-setup/{member.number}/check"))
    assert f"Nothing from a phone using {member.number} has reached the server." in check
    # the phone typed the number without its leading 1: Asterisk knew no such account
    with transaction(factory) as s:
        s.add(
            RegistrationEvent(
                number=member.number[1:], event="unknown_user", remote_addr="192.0.2.5:5060 (UDP)"
            )
        )
    check = html.unescape(page(client, f"/phone-setup/{member.number}/check"))
    assert (
        f"A phone at 192.0.2.5:5060 (UDP) tried the user name {member.number[1:]}" in check
        and f"the user name is {member.number}" in check
    )


def test_phone_setup_shows_each_setting_with_a_copy_button_and_a_qr_code_of_the_account(
    client, make_member, database
):
    member = make_member()
    sign_in(client, member)
    body = page(client, "/phone-setup/")
    expected = f"sip:{member.number}@{database.sip_realm}:{database.sip_port};transport=udp"
    for ident, value in (
        ("server", database.sip_realm),
        ("port", str(database.sip_port)),
        ("transport", "UDP"),
        ("realm", database.sip_realm),
        ("user", member.number),
    ):
        assert re.search(rf'id="setup-{ident}">{re.escape(value)}</span>', body), ident
        assert f'data-copy="setup-{ident}"' in body
    assert 'aria-live="polite"' in body
    [svg] = svgs(body)
    assert decode_svg(svg) == [expected]
    response = client.get(f"/phone-setup/{member.number}/qr.png")
    assert response.status_code == 200 and response.mimetype == "image/png"
    assert decode_png(response.data) == [expected]
    assert "password" not in expected


def test_a_new_sip_password_is_offered_as_a_qr_code_on_that_response_only(client, make_member, database):
    member = make_member()
    sign_in(client, member)
    response = post_form(
        client,
        f"/virtual-number/{member.number}/sip-password",
        {"sip_password": "Scan-Me-2026-ok", "sip_password_confirm": "Scan-Me-2026-ok"},
        token_from=f"/virtual-number/?number={member.number}",
    )
    assert response.status_code == 200, response.get_data(as_text=True)[-1500:]
    assert "no-store" in response.headers["Cache-Control"]  # the page with the password is never kept
    qr_svgs = svgs(response.get_data(as_text=True))
    assert [decode_svg(s) for s in qr_svgs] == [
        [f"sip:{member.number}:Scan-Me-2026-ok@{database.sip_realm}:{database.sip_port};transport=udp"]
    ]
    # nothing else shows it again
    again = page(client, "/phone-setup/")
    assert "Scan-Me-2026-ok" not in again
    assert all("Scan-Me" not in t for s in svgs(again) for t in decode_svg(s))
    # the PNG route has no way to take a password
    png = client.get(f"/phone-setup/{member.number}/qr.png?password=Scan-Me-2026-ok")
    assert decode_png(png.data) == [
        f"sip:{member.number}@{database.sip_realm}:{database.sip_port};transport=udp"
    ]
    assert "no-store" in png.headers["Cache-Control"]


def test_a_secondary_user_sees_only_their_own_number(client, make_member, make_secondary):
    member = make_member()
    second = make_secondary(member)
    sign_in(client, second)
    body = page(client, "/")
    assert f'id="line-{second.number}"' in body and f'id="line-{member.number}"' not in body
    assert client.get(f"/phone-setup/?number={member.number}").status_code == 404
    # nor the check or the QR code of the account's other number (access.number_scope)
    assert client.get(f"/phone-setup/{member.number}/check").status_code == 404
    assert client.get(f"/phone-setup/{member.number}/qr.png").status_code == 404
    assert f'id="setup-user">{second.number}<' in page(client, "/phone-setup/")


def test_the_dashboard_and_phone_setup_speak_the_members_language(client, make_member):
    for lang, words in (
        ("es", ("De un vistazo", "Comprobar mi registro", "Configurar el teléfono", "Código QR")),
        ("fr", ("En un coup d'œil", "Vérifier mon enregistrement", "Configuration du téléphone", "Code QR")),
    ):
        member = make_member(language=lang)
        sign_in(client, member)
        body = html.unescape(page(client, "/") + page(client, "/phone-setup/"))
        assert all(w in body for w in words), lang
        check = html.unescape(page(client, f"/phone-setup/{member.number}/check"))
        assert {"es": "ha llegado al servidor", "fr": "n'a atteint le serveur"}[lang] in check


def test_the_times_of_a_registration_name_their_zone(client, make_member, factory):
    """A time standing alone in a sentence says which zone it is in (CST, not a bare 10:00)."""
    member = make_member(time_zone="America/Chicago")
    at = dt.datetime(2026, 1, 15, 16, 0, 5, tzinfo=dt.UTC)  # 10:00:05 CST
    with transaction(factory) as s:
        s.add_all(
            [
                RegistrationEvent(
                    number=member.number,
                    virtual_number_id=member.vn_id,
                    event="expired",
                    remote_addr="198.51.100.7:5062 (UDP)",
                    at=at - dt.timedelta(hours=1),
                ),
                RegistrationEvent(
                    number=member.number,
                    virtual_number_id=member.vn_id,
                    event="bad_password",
                    remote_addr="198.51.100.9:5060 (UDP)",
                    at=at,
                ),
            ]
        )
    sign_in(client, member)
    home = html.unescape(page(client, "/"))
    assert "Last seen: 2026-01-15 09:00:05 CST" in home
    assert "Last refusal: wrong password at 2026-01-15 10:00:05 CST" in home
    check = html.unescape(page(client, f"/phone-setup/{member.number}/check"))
    assert "The last attempt (2026-01-15 10:00:05 CST, from 198.51.100.9:5060 (UDP))" in check


def test_a_contact_is_stored_even_when_its_registration_event_cannot_be(make_member, factory):
    """The registrar's INSERT into ps_contacts must not fail because of the dashboard's history
    (migration 0030's trigger): the event is left out, the contact (the phone's reachability) kept."""
    member = make_member()
    with factory() as s:
        # registration_events refuses every new row for this transaction only (rolled back below)
        s.execute(text("ALTER TABLE registration_events ADD CONSTRAINT refuse_all CHECK (false) NOT VALID"))
        s.execute(
            insert(PsContact).values(
                id=f"{member.number};@refused-event",
                uri=f"sip:{member.number}@198.51.100.7:5062",
                expiration_time=int(time.time()) + 600,
                user_agent="Linphone/5.2",
                via_addr="198.51.100.7",
                via_port=5062,
                endpoint=member.number,
            )
        )
        stored = s.scalar(text("SELECT count(*) FROM ps_contacts WHERE endpoint = :n"), {"n": member.number})
        events = s.scalar(
            text("SELECT count(*) FROM registration_events WHERE number = :n"), {"n": member.number}
        )
        s.rollback()
    assert (stored, events) == (1, 0)
