"""The help page's "Account Information": every field, proper lists, validation, role rules."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from db.models import Account, AuditLog

from .conftest import errors_in, page, post_form, sign_in

GOOD = {
    "first_name": "Ada",
    "last_name": "Lovelace",
    "company": "Analytical Engines Ltd",
    "address1": "12 St James's Square",
    "address2": "Suite 4",
    "city": "Toronto",
    "state": "ON",
    "postal_code": "m5v3l9",
    "country": "CA",
    "time_zone": "America/Toronto",
    "language": "fr",
    "email": "ada@example.com",
    "pstn_phone": "(416) 555-0199",
    "pstn_fax": "+1 416 555 0142",
}


def _account(factory, account_id: int) -> Account:
    with factory() as s:
        return s.get(Account, account_id)


def test_account_information_shows_every_field_with_proper_lists(client, make_member):
    member = make_member(city="Springfield", email="member@example.com")
    sign_in(client, member)
    html = page(client, "/account/")
    for label in (
        "Phone Number",
        "First Name",
        "Last Name",
        "Company",
        "Address",
        "City",
        "State",
        "Postal Code",
        "Country",
        "Time Zone",
        "Language",
        "Email address",
        "PSTN Phone",
        "PSTN Fax",
        "Update",
    ):
        assert label in html, label
    assert member.number in html and "Springfield" in html and "member@example.com" in html
    assert '<option selected value="US">United States (US)</option>' in html
    assert '<option value="GB">United Kingdom (GB)</option>' in html  # names from phonenumbers
    assert '<option value="Europe/Paris">Europe/Paris</option>' in html  # zoneinfo
    assert 'value="es">Español</option>' in html


def test_account_update_saves_every_field_normalized_and_audits_field_names(client, make_member, factory):
    member = make_member()
    sign_in(client, member)
    response = post_form(client, "/account/", GOOD)
    assert response.status_code == 302
    account = _account(factory, member.account_id)
    assert (account.first_name, account.last_name, account.company) == (
        "Ada",
        "Lovelace",
        "Analytical Engines Ltd",
    )
    assert (account.address1, account.address2, account.city, account.state) == (
        "12 St James's Square",
        "Suite 4",
        "Toronto",
        "ON",
    )
    assert account.postal_code == "M5V 3L9"  # Canadian format
    assert (account.country, account.time_zone, account.language) == ("CA", "America/Toronto", "fr")
    assert account.email == "ada@example.com"
    assert (account.pstn_phone, account.pstn_fax) == ("+14165550199", "+14165550142")  # E.164
    # the member chose French: the confirmation and the page that follows are in French
    assert "Les informations de votre compte ont été mises à jour." in page(client, "/account/")
    with factory() as s:
        entry = s.scalars(
            select(AuditLog).where(
                AuditLog.account_id == member.account_id, AuditLog.action == "account.update"
            )
        ).one()
    assert "email" in entry.details["fields"] and "ada@example.com" not in str(entry.details)


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("email", "not-an-email", "Enter a valid email address"),
        ("email", "", "Enter your email address."),
        ("country", "ZZ", "Not a valid choice"),
        ("time_zone", "Mars/Olympus_Mons", "Not a valid choice"),
        ("language", "de", "Not a valid choice"),
        ("first_name", "", "Enter your first name."),
        ("postal_code", "123", "A Canadian postal code looks like A1A 1A1."),
        ("pstn_phone", "12", "The PSTN Phone is not a valid phone number"),
        ("city", "x" * 81, "Field cannot be longer than 80 characters."),
    ],
)
def test_account_update_refuses_bad_input_with_a_message_and_changes_nothing(
    client, make_member, factory, field, value, message
):
    member = make_member(city="Springfield")
    sign_in(client, member)
    response = post_form(client, "/account/", {**GOOD, field: value})
    assert response.status_code == 400
    assert any(message in e for e in errors_in(response)), errors_in(response)
    account = _account(factory, member.account_id)
    assert account.city == "Springfield" and account.first_name == "Test"


def test_us_zip_code_is_checked_when_the_country_is_us(client, make_member, factory):
    member = make_member()
    sign_in(client, member)
    bad = post_form(client, "/account/", {**GOOD, "country": "US", "postal_code": "9021"})
    assert "A US ZIP code is 5 digits" in " ".join(errors_in(bad))
    good = post_form(
        client,
        "/account/",
        {**GOOD, "country": "US", "postal_code": "90210-1234", "pstn_phone": "212 555 0100", "pstn_fax": ""},
    )
    assert good.status_code == 302
    account = _account(factory, member.account_id)
    assert (account.postal_code, account.pstn_phone, account.pstn_fax) == ("90210-1234", "+12125550100", "")


def test_secondary_user_sees_account_information_read_only_and_cannot_update(
    client, make_member, make_secondary, factory
):
    member = make_member(city="Springfield")
    second = make_secondary(member)
    sign_in(client, second)
    html = page(client, "/account/")
    assert "Only the primary account holder can change the account information." in html
    assert '<fieldset class="plain" disabled>' in html
    assert post_form(client, "/account/", GOOD).status_code == 403
    assert _account(factory, member.account_id).city == "Springfield"
