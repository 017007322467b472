"""The help page's "DID Numbers" and "911 Information"."""

from __future__ import annotations

import pytest

from db.models import Did, E911Address
from db.session import transaction
from tests.support.realparts import unique_number
from webpanel.filters import localtime

from .conftest import errors_in, page, post_form, sign_in

US_ADDRESS = {
    "in_us_ca": "yes",
    "name": "Ada Lovelace",
    "comment": "Home office",
    "country": "US",
    "state": "NY",
    "city": "New York",
    "house_number": "350",
    "number_suffix": "",
    "street_dir_prefix": "W",
    "street_name": "34th",
    "street_dir_suffix": "",
    "street_type": "ST",
    "location": "Floor 3",
    "postal_code": "10001",
}


@pytest.fixture()
def make_did(factory):
    def make(member, *, vn_id=None, connection="virtual_number") -> int:
        with transaction(factory) as s:
            did = Did(
                account_id=member.account_id,
                number=unique_number("1555"),
                connection=connection,
                virtual_number_id=(vn_id or member.virtual_number_id)
                if connection == "virtual_number"
                else None,
                fax_email="fax@example.com" if connection == "fax_to_email" else None,
            )
            s.add(did)
            s.flush()
            return did.id

    return make


def _did(factory, did_id) -> Did:
    with factory() as s:
        return s.get(Did, did_id)


def _e911(factory, did_id) -> E911Address | None:
    with factory() as s:
        return s.get(E911Address, did_id)


def test_did_list_shows_number_last_modified_in_the_account_zone_and_connection(
    client, make_member, make_did, factory
):
    member = make_member(time_zone="Asia/Tokyo")
    did_id = make_did(member)
    did = _did(factory, did_id)
    sign_in(client, member)
    html = page(client, "/dids/")
    for label in ("DID Number", "Last Modified", "Connected to", "Update", "Update 911", "Fax to Email"):
        assert label in html
    assert did.number in html
    assert localtime(did.updated_at, "Asia/Tokyo") in html
    assert f'<option value="{member.number}" selected>' in html


def test_primary_holder_connects_a_did_to_fax_to_email_and_back(
    client, make_member, make_secondary, make_did, factory
):
    member = make_member()
    second = make_secondary(member)
    did_id = make_did(member)
    sign_in(client, member)
    response = post_form(
        client, f"/dids/{did_id}", {"connected_to": "fax_to_email", "fax_email": "faxes@example.com"}
    )
    assert response.status_code == 302
    did = _did(factory, did_id)
    assert (did.connection, did.fax_email, did.virtual_number_id) == (
        "fax_to_email",
        "faxes@example.com",
        None,
    )
    response = post_form(client, f"/dids/{did_id}", {"connected_to": second.number})
    assert response.status_code == 302
    did = _did(factory, did_id)
    assert (did.connection, did.virtual_number_id, did.fax_email) == (
        "virtual_number",
        second.virtual_number_id,
        None,
    )


@pytest.mark.parametrize(
    "data, message",
    [
        ({"connected_to": "fax_to_email", "fax_email": "not an email"}, "Enter a valid email address"),
        ({"connected_to": "fax_to_email", "fax_email": ""}, "Enter a valid email address to receive faxes"),
        ({"connected_to": "17000000000"}, "Choose one of your virtual numbers, or Fax to Email."),
        ({"connected_to": ""}, "Choose a virtual number or Fax to Email."),
    ],
)
def test_bad_connection_is_refused_and_changes_nothing(client, make_member, make_did, factory, data, message):
    member = make_member()
    did_id = make_did(member)
    sign_in(client, member)
    response = post_form(client, f"/dids/{did_id}", data)
    assert response.status_code == 400
    assert any(message in e for e in errors_in(response)), errors_in(response)
    did = _did(factory, did_id)
    assert (did.connection, did.virtual_number_id) == ("virtual_number", member.virtual_number_id)


def test_a_did_cannot_be_connected_to_another_accounts_number(client, make_member, make_did, factory):
    member, other = make_member(), make_member()
    did_id = make_did(member)
    sign_in(client, member)
    response = post_form(client, f"/dids/{did_id}", {"connected_to": other.number})
    assert "Choose one of your virtual numbers, or Fax to Email." in errors_in(response)
    assert _did(factory, did_id).virtual_number_id == member.virtual_number_id


def test_secondary_user_sees_only_dids_ringing_their_number_and_cannot_reconnect(
    client, make_member, make_secondary, make_did, factory
):
    member = make_member()
    second = make_secondary(member)
    theirs = make_did(member, vn_id=second.virtual_number_id)
    primarys = make_did(member)
    sign_in(client, second)
    html = page(client, "/dids/")
    assert _did(factory, theirs).number in html and _did(factory, primarys).number not in html
    assert "Only the primary account holder can change where a DID is connected." in html
    assert (
        post_form(
            client, f"/dids/{theirs}", {"connected_to": "fax_to_email", "fax_email": "x@example.com"}
        ).status_code
        == 403
    )
    assert _did(factory, theirs).connection == "virtual_number"
    assert client.get(f"/dids/{primarys}/911").status_code == 404
    assert client.get(f"/dids/{theirs}/911").status_code == 200  # their 911 address is theirs to keep


def test_911_form_has_every_field_of_the_help_page(client, make_member, make_did, factory):
    member = make_member()
    did_id = make_did(member)
    sign_in(client, member)
    html = page(client, f"/dids/{did_id}/911")
    for label in (
        "I am located within US/CA.",
        "I am not located within US/CA.",
        "Phone Number",
        "Name",
        "Comment",
        "State/Province",
        "City",
        "House Number",
        "Number Suffix",
        "Street Direction Prefix",
        "Street Name",
        "Street Direction Suffix",
        "Street Type",
        "Location Description",
        "Postal/Zip Code",
        "Save",
        "Close",
    ):
        assert label in html, label
    assert _did(factory, did_id).number in html
    assert '<option value="NW">NW (Northwest)</option>' in html
    assert '<option value="BLVD">Boulevard</option>' in html


def test_911_us_address_is_saved_and_listed(client, make_member, make_did, factory):
    member = make_member()
    did_id = make_did(member)
    sign_in(client, member)
    response = post_form(client, f"/dids/{did_id}/911", US_ADDRESS)
    assert response.status_code == 302, errors_in(response)
    address = _e911(factory, did_id)
    assert (
        address.in_us_ca,
        address.house_number,
        address.street_dir_prefix,
        address.street_name,
        address.street_type,
        address.city,
        address.state,
        address.postal_code,
        address.country,
    ) == (True, "350", "W", "34th", "ST", "New York", "NY", "10001", "US")
    html = page(client, "/dids/911")
    assert "350" in html and "34th" in html and "10001" in html
    # the form shows what is stored
    assert 'value="Ada Lovelace"' in page(client, f"/dids/{did_id}/911")


def test_911_canadian_postal_code_is_normalized(client, make_member, make_did, factory):
    member = make_member()
    did_id = make_did(member)
    sign_in(client, member)
    response = post_form(
        client,
        f"/dids/{did_id}/911",
        {**US_ADDRESS, "country": "CA", "state": "ON", "city": "Ottawa", "postal_code": "k1a0b1"},
    )
    assert response.status_code == 302
    assert _e911(factory, did_id).postal_code == "K1A 0B1"


def test_911_address_outside_us_ca_takes_its_own_postal_format(client, make_member, make_did, factory):
    member = make_member()
    did_id = make_did(member)
    sign_in(client, member)
    response = post_form(
        client,
        f"/dids/{did_id}/911",
        {
            **US_ADDRESS,
            "in_us_ca": "no",
            "country": "FR",
            "state": "Ile-de-France",
            "city": "Paris",
            "street_dir_prefix": "",
            "street_type": "",
            "postal_code": "75008",
        },
    )
    assert response.status_code == 302
    address = _e911(factory, did_id)
    assert (address.in_us_ca, address.country, address.postal_code) == (False, "FR", "75008")


@pytest.mark.parametrize(
    "changes, field_message",
    [
        ({"postal_code": "1234"}, "A US ZIP code is 5 digits, or 5+4 digits (12345 or 12345-6789)."),
        ({"postal_code": ""}, "Enter the ZIP or postal code."),
        ({"country": "CA", "postal_code": "12345"}, "A Canadian postal code looks like A1A 1A1."),
        ({"name": ""}, "Enter the Name."),
        ({"street_name": ""}, "Enter the Street Name."),
        ({"house_number": "Main"}, "A US or Canadian house number has digits."),
        ({"street_type": "MOAT"}, "Choose the Street Type from the list."),
        ({"street_dir_prefix": "UP"}, "Choose the Street Direction Prefix from the list."),
        ({"country": "FR"}, "Within US/CA the country is United States or Canada."),
        ({"in_us_ca": "no"}, 'You checked "I am not located within US/CA": choose the country you are in.'),
        ({"in_us_ca": ""}, "Check whether you are located within US/CA."),
        ({"state": "ZZ"}, "Enter a US state or territory, such as IL or Illinois."),
        ({"state": "Ontario"}, "Enter a US state or territory, such as IL or Illinois."),
        (
            {"country": "CA", "state": "NY", "postal_code": "K1A 0B1"},
            "Enter a Canadian province or territory, such as ON or Ontario.",
        ),
    ],
)
def test_911_bad_input_is_refused_with_a_message_and_changes_nothing(
    client, make_member, make_did, factory, changes, field_message
):
    member = make_member()
    did_id = make_did(member)
    sign_in(client, member)
    response = post_form(client, f"/dids/{did_id}/911", {**US_ADDRESS, **changes})
    assert response.status_code == 400
    assert field_message in errors_in(response), errors_in(response)
    assert _e911(factory, did_id) is None


def test_911_lists_every_missing_required_field_at_once(client, make_member, make_did):
    member = make_member()
    did_id = make_did(member)
    sign_in(client, member)
    response = post_form(client, f"/dids/{did_id}/911", {"in_us_ca": "yes", "country": "US"})
    messages = errors_in(response)
    for required in ("Name", "State/Province", "City", "House Number", "Street Name"):
        assert f"Enter the {required}." in messages, required
    assert "Enter the ZIP or postal code." in messages


def test_another_accounts_did_is_not_found(client, make_member, make_did, factory):
    member, other = make_member(), make_member()
    did_id = make_did(other)
    sign_in(client, member)
    assert _did(factory, did_id).number not in page(client, "/dids/")
    assert client.get(f"/dids/{did_id}/911").status_code == 404
    assert post_form(client, f"/dids/{did_id}/911", US_ADDRESS).status_code == 404
    assert post_form(client, f"/dids/{did_id}", {"connected_to": member.number}).status_code == 404
    assert _e911(factory, did_id) is None and _did(factory, did_id).account_id == other.account_id


@pytest.mark.parametrize(
    "country, typed, stored, postal",
    [("US", "new york", "NY", "10001"), ("US", "pr", "PR", "00901"), ("CA", "Québec", "QC", "H2X 1Y4")],
)
def test_911_state_is_stored_as_its_postal_code(
    client, make_member, make_did, factory, country, typed, stored, postal
):
    member = make_member()
    did_id = make_did(member)
    sign_in(client, member)
    response = post_form(
        client,
        f"/dids/{did_id}/911",
        {**US_ADDRESS, "country": country, "state": typed, "postal_code": postal},
    )
    assert response.status_code == 302, errors_in(response)
    assert _e911(factory, did_id).state == stored
