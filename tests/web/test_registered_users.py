"""The dashboard and the help page's "Registered Users" page: what each login may see."""

from __future__ import annotations

import time
import uuid

from db.models import PsContact
from db.session import transaction
from webpanel.filters import unix_datetime

from .conftest import log_in


def add_contact(factory, number: str, user_agent: str, expires_in: int = 3600) -> int:
    """A row as res_pjsip's registrar writes it on REGISTER (the endpoint id is the number)."""
    expires = int(time.time()) + expires_in
    with transaction(factory) as s:
        s.add(
            PsContact(
                id=f"{number};@{uuid.uuid4().hex}",
                endpoint=number,
                uri=f"sip:{number}@192.0.2.10:5060",
                expiration_time=expires,
                user_agent=user_agent,
                qualify_frequency=0,
                reg_server="",
            )
        )
    return expires


def test_registered_users_shows_the_accounts_contact_with_expiry_and_ua_type(client, make_member, factory):
    member = make_member(time_zone="America/Chicago")
    expires = add_contact(factory, member.number, "Yealink SIP-T46S 66.86.0.15")
    log_in(client, member.login, member.password)
    page = client.get("/registered-users/")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    for label in ("Virtual Number", "Registration Expires", "UA Type"):
        assert label in html
    assert member.number in html
    assert "Yealink SIP-T46S 66.86.0.15" in html
    assert unix_datetime(expires, "America/Chicago") in html  # shown in the account's zone


def test_registered_users_does_not_show_another_accounts_contact(client, make_member, factory):
    member, other = make_member(), make_member()
    add_contact(factory, member.number, "Grandstream GXP2170")
    add_contact(factory, other.number, "Other-Account-Phone 1.0")
    log_in(client, member.login, member.password)
    html = client.get("/registered-users/").get_data(as_text=True)
    assert "Grandstream GXP2170" in html
    assert "Other-Account-Phone" not in html
    assert other.number not in html


def test_registered_users_leaves_out_expired_registrations(client, make_member, factory):
    member = make_member()
    add_contact(factory, member.number, "Expired-Phone 0.9", expires_in=-60)
    log_in(client, member.login, member.password)
    html = client.get("/registered-users/").get_data(as_text=True)
    assert "Expired-Phone" not in html
    assert "No device is registered" in html


def test_primary_holder_sees_every_number_of_the_account(client, make_member, make_secondary, factory):
    member = make_member()
    second = make_secondary(member)
    add_contact(factory, member.number, "Phone-Of-Primary")
    add_contact(factory, second.number, "Phone-Of-Secondary")
    log_in(client, member.login, member.password)
    dashboard = client.get("/").get_data(as_text=True)
    assert member.number in dashboard and second.number in dashboard
    registered = client.get("/registered-users/").get_data(as_text=True)
    assert "Phone-Of-Primary" in registered and "Phone-Of-Secondary" in registered


def test_secondary_user_sees_only_their_own_number(client, make_member, make_secondary, factory):
    member = make_member()
    second = make_secondary(member)
    add_contact(factory, member.number, "Phone-Of-Primary")
    add_contact(factory, second.number, "Phone-Of-Secondary")
    log_in(client, second.login, second.password)
    dashboard = client.get("/").get_data(as_text=True)
    assert second.number in dashboard and member.number not in dashboard
    registered = client.get("/registered-users/").get_data(as_text=True)
    assert "Phone-Of-Secondary" in registered
    assert "Phone-Of-Primary" not in registered and member.number not in registered


def test_dashboard_counts_registered_devices_per_number(client, make_member, factory):
    member = make_member()
    add_contact(factory, member.number, "Desk phone")
    add_contact(factory, member.number, "Softphone")
    log_in(client, member.login, member.password)
    html = client.get("/").get_data(as_text=True)
    assert '<a href="/registered-users/">2</a>' in html
