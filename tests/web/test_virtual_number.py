"""The help page's "Virtual Number": search, options with role rules, VM/SIP password, PIN, Add."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from sqlalchemy import select, update

from controller.rules import secrets as sec
from db.models import ForwardingRule, VirtualNumber
from db.session import transaction
from tests.support.realparts import unique_number

from .conftest import errors_in, page, post_form, sign_in

ALL_OPTIONS = (
    "allow_us_canada_ld",
    "allow_international_ld",
    "allow_incoming_800",
    "voicemail_enabled",
    "white_pages",
    "no_email_updates",
    "mpo",
)


def _vn(factory, number: str) -> VirtualNumber | None:
    with factory() as s:
        return s.scalar(select(VirtualNumber).where(VirtualNumber.number == number))


def test_virtual_number_page_shows_number_name_credit_limit_and_every_option(client, make_member, factory):
    member = make_member()
    with transaction(factory) as s:
        s.execute(
            update(VirtualNumber)
            .where(VirtualNumber.id == member.virtual_number_id)
            .values(credit_limit=Decimal("25.5000"))
        )
    sign_in(client, member)
    html = page(client, "/virtual-number/")
    assert member.number in html and "Test Member" in html and "$25.50" in html
    for label in (
        "Search by Virtual Number",
        "VM Password",
        "SIP Password",
        "PIN Number",
        "Allow Continental US and Canada LD",
        "Allow International LD",
        "Allow Incoming 800 Calls",
        "Enable VM",
        "Include in White Pages",
        "Do not send email updates",
        "MPO - Media Path Optimization",
        "Update",
        "Add",
    ):
        assert label in html, label


def test_primary_holder_searches_any_number_of_the_account(client, make_member, make_secondary):
    member = make_member()
    second = make_secondary(member)
    sign_in(client, member)
    html = page(client, f"/virtual-number/?number={second.number}")
    assert f'action="/virtual-number/{second.number}/options"' in html


def test_searching_another_accounts_number_finds_nothing(client, make_member):
    member, other = make_member(), make_member()
    sign_in(client, member)
    response = client.get(f"/virtual-number/?number={other.number}")
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    assert f"{other.number} is not a virtual number of your account." in html
    assert f"/virtual-number/{other.number}/" not in html


def test_secondary_user_has_no_search_and_only_their_own_number(client, make_member, make_secondary):
    member = make_member()
    second = make_secondary(member)
    sign_in(client, second)
    html = page(client, "/virtual-number/")
    assert second.number in html and "Search by Virtual Number" not in html
    assert "SIP Password</h2>" not in html and "Add a virtual number" not in html
    assert client.get(f"/virtual-number/?number={member.number}").status_code == 404


def test_primary_holder_updates_every_option(client, make_member, factory):
    member = make_member()
    sign_in(client, member)
    response = post_form(
        client, f"/virtual-number/{member.number}/options", {name: "y" for name in ALL_OPTIONS}
    )
    assert response.status_code == 302
    vn = _vn(factory, member.number)
    assert all(getattr(vn, name) for name in ALL_OPTIONS)
    post_form(client, f"/virtual-number/{member.number}/options", {})  # every box unchecked
    vn = _vn(factory, member.number)
    assert not any(getattr(vn, name) for name in ALL_OPTIONS)


def test_secondary_user_sets_white_pages_email_and_mpo_but_not_primary_only_options(
    client, make_member, make_secondary, factory
):
    member = make_member()
    second = make_secondary(member)
    sign_in(client, second)
    html = page(client, "/virtual-number/")
    for name in ("allow_us_canada_ld", "allow_international_ld", "allow_incoming_800", "voicemail_enabled"):
        assert re.search(rf'<input[^>]*disabled[^>]*id="{name}"|<input[^>]*id="{name}"[^>]*disabled', html), (
            name
        )
    for name in ("white_pages", "no_email_updates", "mpo"):
        assert not re.search(rf'<input[^>]*id="{name}"[^>]*disabled', html), name
    # the browser does not send disabled boxes: voicemail stays enabled
    response = post_form(client, f"/virtual-number/{second.number}/options", {"white_pages": "y", "mpo": "y"})
    assert response.status_code == 302
    vn = _vn(factory, second.number)
    assert vn.white_pages and vn.mpo and not vn.no_email_updates and vn.voicemail_enabled


@pytest.mark.parametrize("option", ["allow_us_canada_ld", "allow_international_ld", "allow_incoming_800"])
def test_secondary_user_forging_a_primary_only_option_is_refused_and_changes_nothing(
    client, make_member, make_secondary, factory, option
):
    member = make_member()
    second = make_secondary(member)
    sign_in(client, second)
    response = post_form(
        client, f"/virtual-number/{second.number}/options", {option: "y", "white_pages": "y"}
    )
    assert response.status_code == 400
    assert "Only the primary account holder can change that option." in errors_in(response)
    vn = _vn(factory, second.number)
    assert not getattr(vn, option) and not vn.white_pages


def test_any_user_sets_the_vm_password_of_their_own_number(client, make_member, make_secondary, factory):
    member = make_member()
    second = make_secondary(member)
    sign_in(client, second)
    response = post_form(
        client,
        f"/virtual-number/{second.number}/vm-password",
        {"vm_password": "246810", "vm_password_confirm": "246810"},
    )
    assert response.status_code == 302
    assert sec.verify_password(_vn(factory, second.number).vm_password_hash, "246810")
    # but not the primary holder's number
    response = post_form(
        client,
        f"/virtual-number/{member.number}/vm-password",
        {"vm_password": "135790", "vm_password_confirm": "135790"},
    )
    assert response.status_code == 404
    assert _vn(factory, member.number).vm_password_hash is None


@pytest.mark.parametrize(
    "password, confirm, message",
    [
        ("12ab", "12ab", "A voicemail password is 4 to 10 digits"),
        ("123", "123", "A voicemail password is 4 to 10 digits"),
        ("123456", "654321", "The two voicemail passwords do not match."),
    ],
)
def test_bad_vm_password_is_refused_and_changes_nothing(
    client, make_member, factory, password, confirm, message
):
    member = make_member()
    sign_in(client, member)
    response = post_form(
        client,
        f"/virtual-number/{member.number}/vm-password",
        {"vm_password": password, "vm_password_confirm": confirm},
    )
    assert response.status_code == 400
    assert any(message in e for e in errors_in(response))
    assert _vn(factory, member.number).vm_password_hash is None


def test_sip_password_is_stored_as_ha1_shown_once_and_never_read_back(client, make_member, factory, database):
    member = make_member()
    sign_in(client, member)
    response = post_form(
        client,
        f"/virtual-number/{member.number}/sip-password",
        {
            "sip_password": "Chosen-Sip-2026",
            "sip_password_confirm": "Chosen-Sip-2026",
            "set_password": "Set SIP Password",
        },
    )
    assert response.status_code == 200
    assert "Chosen-Sip-2026" in response.get_data(as_text=True)
    assert "shown only this once" in response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
    assert "Chosen-Sip-2026" not in str(response.headers.getlist("Set-Cookie"))
    vn = _vn(factory, member.number)
    assert vn.sip_md5_cred == sec.sip_md5_cred(member.number, database.sip_realm, "Chosen-Sip-2026")
    assert "Chosen-Sip-2026" not in page(client, "/virtual-number/")


def test_generate_strong_sip_password_shows_the_generated_one_once(client, make_member, factory, database):
    member = make_member()
    sign_in(client, member)
    response = post_form(
        client, f"/virtual-number/{member.number}/sip-password", {"generate": "Generate strong password"}
    )
    assert response.status_code == 200
    shown = re.search(r'<p class="secret"><code>([^<]+)</code></p>', response.get_data(as_text=True)).group(1)
    assert len(shown) >= 16 and not shown.isalpha() and not shown.isdigit()
    assert _vn(factory, member.number).sip_md5_cred == sec.sip_md5_cred(
        member.number, database.sip_realm, shown
    )


@pytest.mark.parametrize(
    "password, confirm, message",
    [
        ("short1", "short1", "A SIP password has at least 10 characters."),
        ("onlyletterslong", "onlyletterslong", "A SIP password mixes letters and digits."),
        ("Has space 12345", "Has space 12345", "may not contain spaces"),
        ("Mismatch-12345", "Mismatch-54321", "The two SIP passwords do not match."),
        ("", "", "Enter a SIP password, or click Generate strong password."),
    ],
)
def test_weak_sip_password_is_refused_and_changes_nothing(
    client, make_member, factory, password, confirm, message
):
    member = make_member()
    sign_in(client, member)
    response = post_form(
        client,
        f"/virtual-number/{member.number}/sip-password",
        {"sip_password": password, "sip_password_confirm": confirm, "set_password": "Set SIP Password"},
    )
    assert response.status_code == 400
    assert any(message in e for e in errors_in(response)), errors_in(response)
    assert _vn(factory, member.number).sip_md5_cred is None


def test_pin_is_stored_as_a_card_keyed_hash_and_need_not_be_unique(
    client, make_member, make_secondary, factory, database
):
    """Issue 13: the calling card asks for the card number, so PINs are not unique across the
    service; each card's hash is keyed by the card (equal PINs do not show as equal hashes)."""
    member = make_member()
    second = make_secondary(member)
    sign_in(client, member)
    pin = unique_number()[-8:]
    response = post_form(client, f"/virtual-number/{member.number}/pin", {"pin": pin, "pin_confirm": pin})
    assert response.status_code == 302
    first = _vn(factory, member.number)
    assert first.pin_hmac == sec.card_pin_hmac(database.pin_hmac_key, first.id, pin)
    same = post_form(client, f"/virtual-number/{second.number}/pin", {"pin": pin, "pin_confirm": pin})
    assert same.status_code == 302
    other = _vn(factory, second.number)
    assert other.pin_hmac == sec.card_pin_hmac(database.pin_hmac_key, other.id, pin) != first.pin_hmac
    bad = post_form(client, f"/virtual-number/{second.number}/pin", {"pin": "12a4", "pin_confirm": "12a4"})
    assert "A PIN is 4 to 10 digits." in errors_in(bad)


@pytest.mark.parametrize(
    "path, data",
    [
        ("sip-password", {"generate": "Generate strong password"}),
        ("pin", {"pin": "97531", "pin_confirm": "97531"}),
    ],
)
def test_secondary_user_cannot_set_sip_password_or_pin(
    client, make_member, make_secondary, factory, path, data
):
    member = make_member()
    second = make_secondary(member)
    sign_in(client, second)
    assert post_form(client, f"/virtual-number/{second.number}/{path}", data).status_code == 403
    vn = _vn(factory, second.number)
    assert vn.sip_md5_cred is None and vn.pin_hmac is None


def test_primary_holder_adds_a_virtual_number(client, make_member, factory):
    member = make_member()
    sign_in(client, member)
    new = unique_number()
    response = post_form(client, "/virtual-number/add", {"new_number": new, "new_name": "Kitchen"})
    assert response.status_code == 302
    assert response.headers["Location"] == f"/virtual-number/?number={new}"
    vn = _vn(factory, new)
    assert vn.account_id == member.account_id and vn.display_name == "Kitchen"
    with factory() as s:
        assert s.get(ForwardingRule, vn.id) is not None  # its forwarding plan comes with it
    assert f"Virtual number {new} was added" in page(client, response.headers["Location"])


@pytest.mark.parametrize(
    "number, message",
    [
        ("12ab5", "A virtual number is 4 to 15 digits, nothing else."),
        ("123", "A virtual number is 4 to 15 digits, nothing else."),
        ("12125550123", "is a public telephone number"),  # would capture calls to New York
        ("442079460000", "is a public telephone number"),  # would capture calls dialed 011 44 ...
        ("5550123", "cannot be 7 digits"),
    ],
)
def test_adding_a_bad_virtual_number_is_refused_and_adds_nothing(
    client, make_member, factory, number, message
):
    member = make_member()
    sign_in(client, member)
    response = post_form(client, "/virtual-number/add", {"new_number": number})
    assert response.status_code == 400
    assert any(message in e for e in errors_in(response)), errors_in(response)
    assert _vn(factory, number) is None


def test_adding_a_taken_virtual_number_is_refused(client, make_member, factory):
    member, other = make_member(), make_member()
    sign_in(client, member)
    response = post_form(client, "/virtual-number/add", {"new_number": other.number})
    assert f"Virtual number {other.number} is already taken; choose another." in errors_in(response)
    assert _vn(factory, other.number).account_id == other.account_id


def test_secondary_user_cannot_add_a_number(client, make_member, make_secondary, factory):
    member = make_member()
    second = make_secondary(member)
    sign_in(client, second)
    new = unique_number()
    assert post_form(client, "/virtual-number/add", {"new_number": new}).status_code == 403
    assert _vn(factory, new) is None


def _checked(html: str, name: str) -> bool:
    tag = re.search(rf'<input[^>]*\bid="{name}"[^>]*>', html).group(0)
    return " checked" in tag


def test_the_kept_form_html_follows_each_members_language_and_options(app, make_member, factory):
    """The blank forms' fields and each option's checkbox are kept per language (issue 16):
    pages in English, Spanish, then English again each get their own words and their own ticks."""
    english, spanish = make_member(), make_member(language="es")
    with transaction(factory) as s:
        s.execute(
            update(VirtualNumber)
            .where(VirtualNumber.id == english.virtual_number_id)
            .values(voicemail_enabled=True, mpo=False)
        )
        s.execute(
            update(VirtualNumber)
            .where(VirtualNumber.id == spanish.virtual_number_id)
            .values(voicemail_enabled=False, mpo=True)
        )
    pages = []
    for member in (english, spanish, english):
        client = app.test_client()
        sign_in(client, member)
        pages.append(re.sub(r'(name="csrf_token"[^>]*value=")[^"]+', r"\1", page(client, "/virtual-number/")))
    first, spanish_page, again = pages
    assert first == again  # the same member, the same page (but for the sessions' CSRF tokens)
    assert "New VM Password" in first and "Nueva contraseña del buzón" not in first
    assert "Nueva contraseña del buzón" in spanish_page and "New VM Password" not in spanish_page
    assert "Marque esta casilla si desea activar su buzón de voz." in spanish_page
    assert _checked(first, "voicemail_enabled") and not _checked(first, "mpo")
    assert not _checked(spanish_page, "voicemail_enabled") and _checked(spanish_page, "mpo")
