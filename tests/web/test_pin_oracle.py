"""Issue 13 item 2 and 3: the panel is no oracle for other members' PINs. A calling-card PIN is
checked against the one card named (the caller keys the card number first), so two members
may set the same PIN and the answer never depends on whether a PIN is used elsewhere; a
conference's Admin PIN is drawn by the service, so nothing a member types is compared with
other conferences' PINs."""

from __future__ import annotations

import re

from sqlalchemy import select

from controller.rules import secrets as sec
from db.models import Conference, VirtualNumber
from tests.support.realparts import unique_number

from .conftest import errors_in, post_form, sign_in


def _answer(response) -> tuple[int, str, str]:
    """What the member sees: status, where it leads, and the page's messages (the number
    removed: it is the only thing that should differ between two members)."""
    body = response.get_data(as_text=True)
    messages = re.findall(r'class="(?:flash|field-message)[^"]*"[^>]*>([^<]*)<', body)
    return response.status_code, response.headers.get("Location", ""), "|".join(messages)


def test_two_members_set_the_same_calling_card_pin_and_get_the_same_answer(
    client, make_member, factory, database
):
    a, b, c = make_member(), make_member(), make_member()
    pin = unique_number()[-6:]
    answers = {}
    for member, chosen in ((a, pin), (b, pin), (c, unique_number()[-6:])):  # c: a PIN nobody uses
        sign_in(client, member)
        response = post_form(
            client, f"/virtual-number/{member.number}/pin", {"pin": chosen, "pin_confirm": chosen}
        )
        status, location, _ = _answer(response)
        flashed = client.get(location).get_data(as_text=True) if location else ""
        answers[member.number] = (
            status,
            location.replace(member.number, "N"),
            flashed.count(member.number) > 0,
        )
    assert len(set(answers.values())) == 1, answers
    assert answers[a.number][0] == 302
    with factory() as s:
        va = s.scalar(select(VirtualNumber).where(VirtualNumber.number == a.number))
        vb = s.scalar(select(VirtualNumber).where(VirtualNumber.number == b.number))
        # both set, each keyed by its own card: equal PINs do not show as equal hashes
        assert va.pin_hmac == sec.card_pin_hmac(database.pin_hmac_key, va.id, pin)
        assert vb.pin_hmac == sec.card_pin_hmac(database.pin_hmac_key, vb.id, pin)
        assert va.pin_hmac != vb.pin_hmac


def test_setting_pins_used_by_others_many_times_is_never_refused(client, make_member, factory, database):
    """The old panel refused a used PIN ("not available") and, after a few, refused every PIN:
    now the tenth PIN that is someone else's is accepted like the first."""
    from db import accounts

    owner, prober = make_member(), make_member()
    pins = [unique_number()[-7:] for _ in range(10)]
    with factory() as s, s.begin():
        vn = s.scalar(select(VirtualNumber).where(VirtualNumber.number == owner.number))
        for pin in pins:  # every PIN the prober tries was (at some moment) the owner's
            accounts.set_pin(s, vn, pin, key=database.pin_hmac_key)
    sign_in(client, prober)
    for pin in pins:
        response = post_form(client, f"/virtual-number/{prober.number}/pin", {"pin": pin, "pin_confirm": pin})
        assert response.status_code == 302, _answer(response)


def test_a_conference_admin_pin_is_drawn_whatever_the_member_posts(client, make_member, factory):
    """A posted admin_pin (here another conference's) is not looked at: the answer is the same
    as with none, and the PIN drawn is a fresh one."""
    a, b = make_member(), make_member()

    def schedule(member, **extra):
        sign_in(client, member)
        form = {
            "admin_name": "Ann Organiser",
            "admin_phone": member.number,
            "date": "2027-01-15",
            "time": "09:00",
            "duration": "60",
            "schedule": "1",
            **extra,
        }
        return post_form(client, "/conference/schedule", form, token_from="/conference/schedule")

    first = schedule(a)
    assert first.status_code == 302
    with factory() as s:
        taken = s.scalar(select(Conference.admin_pin).where(Conference.account_id == a.account_id))
    second = schedule(b, admin_pin=taken)
    third = schedule(b, admin_pin="")
    assert second.status_code == third.status_code == 302
    with factory() as s:
        pins = s.scalars(select(Conference.admin_pin).where(Conference.account_id == b.account_id)).all()
    assert len(pins) == 2 and taken not in pins and all(re.fullmatch(r"\d{6,10}", p) for p in pins)


def test_pins_a_guesser_tries_first_are_refused_alike_for_everyone(client, make_member, factory):
    """The shapes and the most used PINs are refused by a public rule, the same answer whether
    or not anyone uses the PIN (so it is no oracle), and the card keeps its PIN."""
    member = make_member()
    sign_in(client, member)
    for pin in ("1234", "0000", "4321", "1212", "123456", "987654", "777777", "2001"):
        response = post_form(client, f"/virtual-number/{member.number}/pin", {"pin": pin, "pin_confirm": pin})
        assert response.status_code == 400, pin
        assert any("among the first ones a guesser tries" in e for e in errors_in(response)), pin
    with factory() as s:
        assert s.scalar(select(VirtualNumber.pin_hmac).where(VirtualNumber.number == member.number)) is None
