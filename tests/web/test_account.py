"""The help page's "Account Information": every field, proper lists, validation, role rules."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from db.models import Account, AuditLog
from db.session import transaction

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
    assert re.search(r'<option value="Europe/Paris">Paris \(UTC\+0[12]:00\)</option>', html)  # zone1970.tab
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
    bad = post_form(client, "/account/", {**GOOD, "country": "US", "state": "CA", "postal_code": "9021"})
    assert "A US ZIP code is 5 digits" in " ".join(errors_in(bad))
    good = post_form(
        client,
        "/account/",
        {
            **GOOD,
            "country": "US",
            "state": "CA",
            "postal_code": "90210-1234",
            "pstn_phone": "212 555 0100",
            "pstn_fax": "",
        },
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


# --- issue 16: every field's error at once, next to its field; the time-zone picker ----------


def test_three_bad_fields_show_three_field_errors_after_one_submit(client, make_member, factory):
    member = make_member()
    sign_in(client, member)
    before = _account(factory, member.account_id)
    bad = {
        **GOOD,
        "country": "US",
        "state": "IL",
        "first_name": "",
        "postal_code": "ABCDE",
        "pstn_phone": "12",
    }
    response = post_form(client, "/account/", bad)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    wrong = {
        field: re.findall(rf'<p class="field-message" id="{field}-error-\d+">([^<]*)</p>', html)
        for field in ("first_name", "postal_code", "pstn_phone")
    }
    assert wrong["first_name"] == ["Enter your first name."], wrong
    assert len(wrong["postal_code"]) == 1 and "A US ZIP code is 5 digits" in wrong["postal_code"][0]
    assert len(wrong["pstn_phone"]) == 1 and "PSTN Phone" in wrong["pstn_phone"][0]
    # each input names its error (and its help) and is marked invalid
    for field in ("first_name", "postal_code", "pstn_phone"):
        tag = re.search(rf"<input[^>]*\bid=\"{field}\"[^>]*>", html).group(0)
        assert 'aria-invalid="true"' in tag, tag
        described = re.search(r'aria-describedby="([^"]*)"', tag).group(1).split()
        assert f"{field}-error-1" in described, tag
    phone = re.search(r'<input[^>]*\bid="pstn_phone"[^>]*>', html).group(0)
    assert re.search(r'aria-describedby="pstn_phone-help pstn_phone-error-1"', phone), phone
    # the summary at the top links each field
    summary = re.search(r'<div class="form-error-summary" role="alert"[^>]*>(.*?)</div>', html, re.S).group(1)
    assert [a for a in re.findall(r'href="#(\w+)"', summary)] == ["first_name", "postal_code", "pstn_phone"]
    after = _account(factory, member.account_id)
    assert (after.first_name, after.postal_code, after.pstn_phone) == (
        before.first_name,
        before.postal_code,
        before.pstn_phone,
    )


def test_service_errors_alone_are_all_shown_next_to_their_fields(client, make_member):
    """The form's checks pass; the service's (postal code, both phone numbers) fail together."""
    member = make_member()
    sign_in(client, member)
    bad = {
        **GOOD,
        "country": "US",
        "state": "IL",
        "postal_code": "1234",
        "pstn_phone": "555",
        "pstn_fax": "abc",
    }
    response = post_form(client, "/account/", bad)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    for field in ("postal_code", "pstn_phone", "pstn_fax"):
        assert f'id="{field}-error-1"' in html, field


def test_time_zone_picker_offers_canonical_names_the_countrys_first(client, make_member, factory):
    member = make_member()
    with transaction(factory) as s:
        account = s.get(Account, member.account_id)
        account.country, account.time_zone = "US", "US/Central"  # an alias stored before issue 16
    sign_in(client, member)
    html = page(client, "/account/")
    select_html = re.search(r'<select[^>]*id="time_zone"[^>]*>(.*?)</select>', html, re.S).group(1)
    groups = re.findall(r'<optgroup label="([^"]*)">', select_html)
    assert groups[0] == "Likely for United States", groups
    first = re.search(
        r'<optgroup label="Likely for United States">(.*?)</optgroup>', select_html, re.S
    ).group(1)
    first_values = re.findall(r'value="([^"]+)"', first)
    assert first_values[0] == "America/New_York" and "America/Chicago" in first_values
    assert "Europe/Paris" not in first_values
    values = re.findall(r'value="([^"]+)"', select_html)
    assert "US/Central" not in values and "Etc/GMT+5" not in values and "posixrules" not in values
    assert len(set(values)) < 330  # zone1970.tab's ~312 canonical zones and UTC, not ~600 names
    # the stored alias shows as its canonical zone, labelled with its offset
    assert re.search(r'<option selected value="America/Chicago">Chicago \(UTC\u2212\d\d:00\)</option>', first)
    # an alias submitted (an old form, the API) is stored as its canonical zone
    response = post_form(client, "/account/", {**GOOD, "country": "CA", "time_zone": "Canada/Eastern"})
    assert response.status_code == 302, errors_in(response)
    assert _account(factory, member.account_id).time_zone == "America/Toronto"


def test_a_us_or_canadian_state_must_be_one_and_is_stored_as_its_code(client, make_member, factory):
    member = make_member()
    sign_in(client, member)
    bad = post_form(client, "/account/", {**GOOD, "state": "ZZ"})
    assert bad.status_code == 400
    assert "Enter a Canadian province or territory, such as ON or Ontario." in errors_in(bad)
    assert (
        post_form(client, "/account/", {**GOOD, "state": "Québec", "postal_code": "H2X 1Y4"}).status_code
        == 302
    )
    assert _account(factory, member.account_id).state == "QC"
    us = {**GOOD, "country": "US", "state": "Texas", "postal_code": "73301", "pstn_phone": "", "pstn_fax": ""}
    assert post_form(client, "/account/", us).status_code == 302
    assert _account(factory, member.account_id).state == "TX"
    other = {
        **GOOD,
        "country": "FR",
        "state": "Bretagne",
        "postal_code": "35000",
        "pstn_phone": "",
        "pstn_fax": "",
    }
    assert post_form(client, "/account/", other).status_code == 302
    assert _account(factory, member.account_id).state == "Bretagne"


@pytest.mark.parametrize(
    ("stored", "shown"),
    [("EST5EDT", "America/New_York"), ("CET", "Europe/Brussels"), ("HST", "Pacific/Honolulu")],
)
def test_a_legacy_zone_the_old_picker_offered_shows_as_its_zone_not_the_lists_first(
    client, make_member, factory, stored, shown
):
    """Reviewer R-FORMS: the old picker listed every zoneinfo name (EST5EDT, CET, HST...); on an
    older tzdata they are not links, so the new picker selected nothing and the browser showed
    (and the next save stored) the list's first zone, New York, for a Hawaiian member."""
    member = make_member()
    with transaction(factory) as s:
        account = s.get(Account, member.account_id)
        account.country, account.time_zone = "US", stored
    sign_in(client, member)
    html = page(client, "/account/")
    assert re.search(rf'<option selected value="{shown}">', html), re.findall(r"<option selected[^>]*>", html)


def test_a_fixed_offset_zone_stays_selected_and_a_save_asks_for_a_real_one(client, make_member, factory):
    """Etc/GMT+5 has no canonical zone: it stays shown (not silently New York) and a save
    says to choose a zone, next to the field, changing nothing."""
    member = make_member()
    with transaction(factory) as s:
        account = s.get(Account, member.account_id)
        account.country, account.time_zone = "US", "Etc/GMT+5"
    sign_in(client, member)
    html = page(client, "/account/")
    selected = re.findall(r"<option selected[^>]*>", html)
    assert '<option selected value="Etc/GMT+5">' in selected, selected
    response = post_form(client, "/account/", {**GOOD, "country": "US", "time_zone": "Etc/GMT+5"})
    assert response.status_code == 400
    assert "Choose your time zone from the list." in errors_in(response)
    assert _account(factory, member.account_id).time_zone == "Etc/GMT+5"
