"""Issue 13: the SIP credential's IP allow-list on the Virtual Number page: strict validation with
clear messages, canonical storage, audit, primary holder only. (That Asterisk then refuses other
addresses is tests/asterisk/test_sip_allowlist.py, through real SIP.)"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from db.models import AuditLog, VirtualNumber
from webpanel.virtual_number.allowlist import SIP_ALLOWLIST_MAX, parse_sip_allowlist

from .conftest import errors_in, page, post_form, sign_in


def _stored(factory, number: str) -> str | None:
    with factory() as s:
        return s.scalar(select(VirtualNumber.sip_allowlist).where(VirtualNumber.number == number))


def _audits(factory, account_id: int) -> list[AuditLog]:
    with factory() as s:
        return list(
            s.scalars(
                select(AuditLog)
                .where(AuditLog.account_id == account_id, AuditLog.action == "panel.sip_allowlist")
                .order_by(AuditLog.id)
            )
        )


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("", None),
        ("  \n ", None),
        ("203.0.113.7", "203.0.113.7/32"),
        ("203.0.113.0/24", "203.0.113.0/24"),
        ("203.0.113.0/255.255.255.0", "203.0.113.0/24"),
        ("2001:DB8::/32", "2001:db8::/32"),
        ("2001:db8::1", "2001:db8::1/128"),
        # review: an IPv4-mapped IPv6 address never matches an IPv4 phone's packets
        ("::ffff:203.0.113.7", "203.0.113.7/32"),
        ("::ffff:203.0.113.0/120", "203.0.113.0/24"),
        (
            "198.51.100.7, 203.0.113.0/24\n198.51.100.7;10.0.0.0/8",
            "198.51.100.7/32,203.0.113.0/24,10.0.0.0/8",
        ),
    ],
)
def test_what_a_member_types_is_stored_in_canonical_form(typed, stored):
    assert parse_sip_allowlist(typed) == stored


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("203.0.113.300", "203.0.113.300 is not an IP address or network."),
        ("my-office.example.com", "my-office.example.com is not an IP address or network."),
        ("203.0.113.0/33", "203.0.113.0/33 is not an IP address or network."),
        ("010.0.0.1", "010.0.0.1 is not an IP address or network."),
        ("fe80::1%eth0", "fe80::1%eth0 is not an IP address or network."),
        ("203.0.113.7/24", "203.0.113.7/24 is not the start of a network: did you mean 203.0.113.0/24?"),
        ("0.0.0.0/0", "0.0.0.0/0 is every address: leave the list empty to accept any address."),
        ("::/0", "::/0 is every address"),
        (
            " ".join(f"198.51.100.{i}" for i in range(SIP_ALLOWLIST_MAX + 1)),
            f"At most {SIP_ALLOWLIST_MAX} addresses or networks may be listed.",
        ),
    ],
)
def test_a_bad_entry_is_refused_with_a_message_naming_it(client, make_member, factory, typed, message):
    member = make_member()
    sign_in(client, member)
    url = f"/virtual-number/{member.number}/sip-allowlist"
    assert post_form(client, url, {"sip_allowlist": "192.0.2.1"}).status_code == 302
    response = post_form(client, url, {"sip_allowlist": f"198.51.100.1\n{typed}"})
    assert response.status_code == 400
    assert any(message in e for e in errors_in(response)), errors_in(response)
    assert _stored(factory, member.number) == "192.0.2.1/32"  # unchanged
    assert len(_audits(factory, member.account_id)) == 1


def test_the_primary_holder_sets_shows_and_clears_the_list_each_change_audited(client, make_member, factory):
    member = make_member()
    sign_in(client, member)
    url = f"/virtual-number/{member.number}/sip-allowlist"
    response = post_form(client, url, {"sip_allowlist": "203.0.113.7\n198.51.100.0/24"})
    assert response.status_code == 302
    assert _stored(factory, member.number) == "203.0.113.7/32,198.51.100.0/24"
    html = page(client, f"/virtual-number/?number={member.number}")
    assert "203.0.113.7/32\n198.51.100.0/24" in html and "Allowed addresses" in html

    assert post_form(client, url, {"sip_allowlist": "203.0.113.7/32 198.51.100.0/24"}).status_code == 302
    assert post_form(client, url, {"sip_allowlist": ""}).status_code == 302
    assert _stored(factory, member.number) is None
    audits = _audits(factory, member.account_id)
    # the same list again is no change: two entries, with what was before and after
    assert [a.details for a in audits] == [
        {"before": None, "after": "203.0.113.7/32,198.51.100.0/24"},
        {"before": "203.0.113.7/32,198.51.100.0/24", "after": None},
    ]
    assert all(a.actor_user_id == member.user_id for a in audits)


def test_a_secondary_user_and_another_account_cannot_set_it(client, make_member, make_secondary, factory):
    member = make_member()
    other = make_member()
    second = make_secondary(member)
    sign_in(client, second)
    response = post_form(
        client, f"/virtual-number/{second.number}/sip-allowlist", {"sip_allowlist": "192.0.2.1"}
    )
    assert response.status_code == 403
    assert _stored(factory, second.number) is None
    sign_in(client, member)
    response = post_form(
        client, f"/virtual-number/{other.number}/sip-allowlist", {"sip_allowlist": "192.0.2.1"}
    )
    assert response.status_code == 404
    assert _stored(factory, other.number) is None
