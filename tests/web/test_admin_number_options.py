"""The operator edits any member's virtual-number options (issue 15,
webpanel/admin/number_options_views.py): the member's own form and rule (db.accounts.update_options)
with the primary holder's powers, audited with the operator as actor and the account id; a
number of another account, or no such number, is 404; no member reaches it."""

from __future__ import annotations

import re
import time

import pytest
from sqlalchemy import select

from db import accounts
from db.accounts import VN_OPTIONS
from db.models import AuditLog, VirtualNumber
from db.session import transaction
from tests.support.realparts import unique_number

from .conftest import csrf_token, page, sign_in, sign_in_user


@pytest.fixture()
def admin(factory):
    with transaction(factory) as s:
        return accounts.create_admin(s, f"admin-{time.time_ns()}", "Admin-pass-2026").id


@pytest.fixture()
def as_admin(client, admin):
    sign_in_user(client, admin)
    return client


def options_of(factory, vn_id: int) -> dict[str, bool]:
    with factory() as s:
        vn = s.get(VirtualNumber, vn_id)
        return {name: getattr(vn, name) for name in VN_OPTIONS}


def test_the_operator_sets_every_option_of_a_member_s_number(as_admin, admin, make_member, factory):
    member = make_member()
    url = f"/admin/accounts/{member.account_id}/numbers/{member.number}/options"
    html = page(as_admin, f"/admin/accounts/{member.account_id}")
    assert url in html  # the account page links to it
    html = page(as_admin, url)
    assert "Allow International LD" in html and "Primary Account Holders only" in html
    before = options_of(factory, member.virtual_number_id)
    wanted = {name: not before[name] for name in VN_OPTIONS}  # every box flipped
    data = {"csrf_token": csrf_token(as_admin, url)}
    data.update({name: "y" for name, on in wanted.items() if on})
    r = as_admin.post(url, data=data)
    assert r.status_code == 302 and r.headers["Location"].endswith(url)
    assert options_of(factory, member.virtual_number_id) == wanted  # primary-only ones too
    with factory() as s:
        entry = s.scalar(
            select(AuditLog).where(AuditLog.action == "admin.number_options", AuditLog.actor_user_id == admin)
        )
        assert entry.account_id == member.account_id
        assert entry.object_type == "virtual_numbers" and entry.object_id == str(member.virtual_number_id)
        assert sorted(entry.details["changed"]) == sorted(VN_OPTIONS)
        assert entry.details["options"] == wanted
    # the member sees them on their own page
    sign_in(as_admin, member)
    html = page(as_admin, "/virtual-number/")
    for name, on in wanted.items():
        box = re.search(rf'<input[^>]*id="{name}"[^>]*>', html)
        assert box and ("checked" in box.group(0)) == on, (name, box)


def test_a_number_of_another_account_or_none_is_404_and_changes_nothing(as_admin, make_member, factory):
    member, other = make_member(), make_member()
    before = options_of(factory, other.virtual_number_id)
    token = csrf_token(as_admin, "/admin/")
    wrong = f"/admin/accounts/{member.account_id}/numbers/{other.number}/options"
    assert as_admin.get(wrong).status_code == 404
    assert as_admin.post(wrong, data={"csrf_token": token, "mpo": "y"}).status_code == 404
    missing = f"/admin/accounts/{member.account_id}/numbers/{unique_number()}/options"
    assert as_admin.get(missing).status_code == 404
    assert as_admin.get(f"/admin/accounts/999999999/numbers/{member.number}/options").status_code == 404
    # without the CSRF token: refused, nothing changes
    url = f"/admin/accounts/{other.account_id}/numbers/{other.number}/options"
    assert as_admin.post(url, data={"mpo": "y", "white_pages": "y"}).status_code == 400
    assert options_of(factory, other.virtual_number_id) == before


def test_no_member_reaches_the_operator_s_number_options(client, make_member, factory):
    member = make_member()
    sign_in(client, member)
    url = f"/admin/accounts/{member.account_id}/numbers/{member.number}/options"
    before = options_of(factory, member.virtual_number_id)
    assert client.get(url).status_code == 403
    r = client.post(url, data={"csrf_token": csrf_token(client, "/"), "allow_international_ld": "y"})
    assert r.status_code == 403
    assert options_of(factory, member.virtual_number_id) == before
