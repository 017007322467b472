"""The operator admin (webpanel/admin): accounts and users, DIDs, rate decks, plans and
subscriptions, vouchers and the audit log, as an admin on the real database. Bad input gets a
clear message and changes nothing; every change is in the audit log with the admin as actor."""

from __future__ import annotations

import datetime as dt
import io
import re
import time
from decimal import Decimal
from html import unescape
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from controller.rules import secrets as sec
from db import accounts
from db.errors import ServiceError
from db.models import (
    Account,
    AuditLog,
    CallingPlan,
    CreditLot,
    Did,
    PlanSubscription,
    Rate,
    RateDeck,
    User,
    Voucher,
)
from db.session import transaction
from tests.support.realparts import unique_number
from webpanel.admin import services as admin_services
from webpanel.recharge import services as recharge

from .conftest import csrf_token, errors_in, log_in, page, sign_in, sign_in_user

ADMIN_PASSWORD = "Admin-pass-2026"
KEY = "test-pin-key"  # VOIP_PIN_KEY of the test run (tests/conftest.py)


@pytest.fixture()
def admin(factory):
    with transaction(factory) as s:
        user = accounts.create_admin(s, f"admin-{time.time_ns()}", ADMIN_PASSWORD)
        return user.id


@pytest.fixture()
def as_admin(client, admin):
    sign_in_user(client, admin)  # issue 13: a server-side session row
    return client


def post(client, url: str, data: dict | None = None, token_from: str = "/admin/", **kw):
    return client.post(url, data={"csrf_token": csrf_token(client, token_from), **(data or {})}, **kw)


def audit_rows(factory, admin_id: int, action: str) -> list[AuditLog]:
    with factory() as s:
        return list(
            s.scalars(
                select(AuditLog)
                .where(AuditLog.actor_user_id == admin_id, AuditLog.action == action)
                .order_by(AuditLog.id)
            )
        )


def test_every_admin_page_renders(as_admin, make_member):
    member = make_member()
    for url in (
        "/admin/",
        "/admin/accounts/",
        f"/admin/accounts/{member.account_id}",
        "/admin/accounts/new",
        "/admin/dids/",
        "/admin/rates/",
        "/admin/plans/",
        "/admin/vouchers/",
        "/admin/dialplan/",
        "/admin/audit/",
    ):
        page(as_admin, url)


# --- accounts and users --------------------------------------------------------------------


def test_search_finds_an_account_by_number_name_or_id(as_admin, make_member):
    member = make_member(email="findme@example.com")
    for q in (member.number, member.number[:8], "findme@example", str(member.account_id)):
        html = page(as_admin, f"/admin/accounts/?q={q}")
        assert f'/admin/accounts/{member.account_id}"' in html, q
    assert f'/admin/accounts/{member.account_id}"' not in page(
        as_admin, "/admin/accounts/?q=nobody-matches-this"
    )
    assert f'/admin/accounts/{member.account_id}"' not in page(
        as_admin, "/admin/accounts/?status=suspended&q=" + member.number
    )


def test_create_an_account_and_its_primary_holder_logs_in(as_admin, admin, factory, app):
    number = unique_number()
    r = post(
        as_admin,
        "/admin/accounts/new",
        {
            "number": number,
            "password": "New-member-2026",
            "first_name": "Nia",
            "last_name": "Adeyemi",
            "email": "nia@example.com",
        },
        token_from="/admin/accounts/new",
    )
    assert r.status_code == 302
    with factory() as s:
        user = s.scalar(select(User).where(User.login == number))
        assert user.role == "primary" and user.password_hash.startswith("$argon2")
        assert s.get(Account, user.account_id).first_name == "Nia"
    (row,) = audit_rows(factory, admin, "admin.account_create")
    assert row.account_id == user.account_id and row.details["number"] == number
    other = app.test_client()
    assert log_in(other, number, "New-member-2026").status_code == 302


@pytest.mark.parametrize(
    "data, message",
    [
        ({"number": "12ab", "password": "New-member-2026"}, "A virtual number is 4 to 15 digits."),
        ({"number": "NEW", "password": "short1"}, "A password has at least 10 characters."),
        (
            {"number": "NEW", "password": "New-member-2026", "email": "not-an-email"},
            "Enter a valid email address, such as name@example.com.",
        ),
        ({"number": "", "password": "New-member-2026"}, "Enter the virtual number."),
        ({"number": "TAKEN", "password": "New-member-2026"}, "is already a login."),
    ],
)
def test_a_bad_new_account_gets_a_clear_message_and_creates_nothing(
    as_admin, make_member, factory, data, message
):
    taken = make_member()
    data = dict(
        data, number={"NEW": unique_number(), "TAKEN": taken.number}.get(data["number"], data["number"])
    )
    with factory() as s:
        before = s.scalar(select(func.count()).select_from(Account))
    r = post(as_admin, "/admin/accounts/new", data, token_from="/admin/accounts/new")
    assert r.status_code == 400
    assert any(message in e for e in errors_in(r)), errors_in(r)
    with factory() as s:
        assert s.scalar(select(func.count()).select_from(Account)) == before


def test_suspending_an_account_ends_its_sessions_and_refuses_its_login(
    as_admin, admin, make_member, factory, app
):
    member = make_member()
    own = app.test_client()
    sign_in(own, member)
    assert own.get("/account/").status_code == 200
    url = f"/admin/accounts/{member.account_id}"
    r = post(as_admin, f"{url}/status", {"status": "suspended"}, token_from=url)
    assert r.status_code == 302
    assert own.get("/account/").status_code == 302  # back to the login page
    assert log_in(app.test_client(), member.login, member.password).status_code != 302
    r = post(as_admin, f"{url}/status", {"status": "suspended"}, token_from=url)
    assert r.status_code == 400 and "The account is already suspended." in errors_in(r)
    r = post(as_admin, f"{url}/status", {"status": "deleted"}, token_from=url)
    assert r.status_code == 400
    assert post(as_admin, f"{url}/status", {"status": "active"}, token_from=url).status_code == 302
    assert log_in(app.test_client(), member.login, member.password).status_code == 302
    rows = audit_rows(factory, admin, "admin.account_status")
    assert [(r.details["from"], r.details["to"]) for r in rows] == [
        ("active", "suspended"),
        ("suspended", "active"),
    ]


def test_reset_a_members_password_ends_their_sessions(as_admin, admin, make_member, factory, app):
    member = make_member()
    own = app.test_client()
    sign_in(own, member)
    with transaction(factory) as s:
        user = s.get(User, member.user_id)
        user.failed_logins, user.locked_until = 7, dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    url = f"/admin/accounts/{member.account_id}"
    r = post(
        as_admin,
        f"/admin/users/{member.user_id}/password",
        {"password": "weak", "retype": "weak"},
        token_from=url,
    )
    assert r.status_code == 400 and any("A password has at least 10 characters." in e for e in errors_in(r))
    r = post(
        as_admin,
        f"/admin/users/{member.user_id}/password",
        {"password": "Reset-by-admin-1", "retype": "Reset-by-admin-2"},
        token_from=url,
    )
    assert r.status_code == 400 and "The password and its retype do not match." in errors_in(r)
    with factory() as s:
        assert sec.verify_password(s.get(User, member.user_id).password_hash, member.password)
    r = post(
        as_admin,
        f"/admin/users/{member.user_id}/password",
        {"password": "Reset-by-admin-1", "retype": "Reset-by-admin-1"},
        token_from=url,
    )
    assert r.status_code == 302
    with factory() as s:
        user = s.get(User, member.user_id)
        assert (
            user.password_hash.startswith("$argon2") and user.locked_until is None and user.failed_logins == 0
        )
        assert sec.verify_password(user.password_hash, "Reset-by-admin-1")
    assert own.get("/account/").status_code == 302  # the old session ended
    assert log_in(app.test_client(), member.login, "Reset-by-admin-1").status_code == 302
    (row,) = audit_rows(factory, admin, "admin.user_password_reset")
    assert row.object_id == str(member.user_id) and "Reset-by-admin-1" not in str(row.details)


def test_add_a_number_and_a_secondary_user(as_admin, admin, make_member, factory, app):
    member = make_member()
    url = f"/admin/accounts/{member.account_id}"
    second = unique_number()
    assert post(as_admin, f"{url}/numbers", {"number": second}, token_from=url).status_code == 302
    r = post(as_admin, f"{url}/numbers", {"number": second}, token_from=url)
    assert r.status_code == 400 and f"Virtual number {second} already exists." in errors_in(r)
    r = post(
        as_admin, f"{url}/users", {"number": member.number, "password": "Second-user-2026"}, token_from=url
    )
    assert r.status_code == 400  # the primary's number already has its login
    assert (
        post(
            as_admin, f"{url}/users", {"number": second, "password": "Second-user-2026"}, token_from=url
        ).status_code
        == 302
    )
    with factory() as s:
        user = s.scalar(select(User).where(User.login == second))
        assert user.role == "secondary" and user.account_id == member.account_id
    assert log_in(app.test_client(), second, "Second-user-2026").status_code == 302
    assert audit_rows(factory, admin, "admin.number_add") and audit_rows(factory, admin, "admin.user_create")


def test_an_admin_route_on_an_object_that_does_not_exist_is_404(as_admin):
    assert as_admin.get("/admin/accounts/999999999").status_code == 404
    assert (
        post(as_admin, "/admin/users/999999999/password", {"password": "x", "retype": "x"}).status_code == 404
    )
    assert post(as_admin, "/admin/dids/999999999", {"target": "none"}).status_code == 404


def test_an_admin_post_without_the_csrf_token_changes_nothing(as_admin, make_member, factory):
    member = make_member()
    r = as_admin.post(f"/admin/accounts/{member.account_id}/status", data={"status": "suspended"})
    assert r.status_code == 400
    with factory() as s:
        assert s.get(Account, member.account_id).status == "active"


# --- DIDs ----------------------------------------------------------------------------------


def test_add_a_did_and_connect_it_to_a_number_or_fax_to_email(as_admin, admin, make_member, factory):
    member, other = make_member(), make_member()
    did_number = unique_number("1555")
    r = post(as_admin, "/admin/dids/new", {"number": did_number, "account_id": member.account_id})
    assert r.status_code == 302
    r = post(as_admin, "/admin/dids/new", {"number": did_number})
    assert r.status_code == 400 and f"DID {did_number} already exists." in errors_in(r)
    with factory() as s:
        did = s.scalar(select(Did).where(Did.number == did_number))
        assert (did.account_id, did.connection) == (member.account_id, "none")
    url = f"/admin/dids/{did.id}"
    # another account's number: refused, nothing changes
    r = post(as_admin, url, {"account_id": member.account_id, "target": other.number})
    assert r.status_code == 400 and any("is not on account" in e for e in errors_in(r))
    r = post(as_admin, url, {"account_id": member.account_id, "target": "fax_to_email", "fax_email": "nope"})
    assert (
        r.status_code == 400
        and "Enter a valid email address to receive faxes, such as name@example.com." in errors_in(r)
    )
    with factory() as s:
        assert s.get(Did, did.id).connection == "none"
    assert post(as_admin, url, {"account_id": member.account_id, "target": member.number}).status_code == 302
    with factory() as s:
        assert s.get(Did, did.id).virtual_number_id == member.virtual_number_id
    assert (
        post(
            as_admin,
            url,
            {"account_id": member.account_id, "target": "fax_to_email", "fax_email": "fax@example.com"},
        ).status_code
        == 302
    )
    with factory() as s:
        d = s.get(Did, did.id)
        assert (d.connection, d.fax_email, d.virtual_number_id) == ("fax_to_email", "fax@example.com", None)
    # moved to the other account, connected to its number
    assert post(as_admin, url, {"account_id": other.account_id, "target": other.number}).status_code == 302
    with factory() as s:
        d = s.get(Did, did.id)
        assert (d.account_id, d.virtual_number_id) == (other.account_id, other.virtual_number_id)
    assert len(audit_rows(factory, admin, "admin.did_connect")) == 3
    assert did_number in page(as_admin, f"/admin/dids/?q={did_number}")


def _did_row(html: str, did_id: int) -> str:
    start = html.index(f'id="did-{did_id}"')
    return html[start : html.index("</tr>", start)]


def test_a_refused_did_change_shows_its_row_and_message_whatever_page_it_was_on(
    as_admin, make_member, factory
):
    """The list is ordered by number and paged by 50: a refused change re-renders the list
    narrowed to that DID, so its row and the message are on the page (the first page of a
    long list did not hold it, and the operator saw a 400 with no message)."""
    member, other = make_member(), make_member()
    with transaction(factory) as s:
        s.add_all(Did(number=f"1000{n:07d}", connection="none") for n in range(55))
        did = Did(number=unique_number("1999"), account_id=member.account_id, connection="none")
        s.add(did)
        s.flush()
        did_id = did.id
    r = post(as_admin, f"/admin/dids/{did_id}", {"account_id": member.account_id, "target": other.number})
    assert r.status_code == 400
    assert any("is not on account" in e for e in errors_in(r)), errors_in(r)
    assert f'<option value="{other.number}" selected>' in _did_row(r.get_data(as_text=True), did_id)


def test_a_did_s_connection_is_chosen_from_a_list_of_the_account_s_targets(as_admin, make_member, factory):
    """issue 15: "Connected to" is a select of the account's virtual numbers, Fax to Email and
    Not connected (no typing fax_to_email); the server's checks are unchanged."""
    member, other = make_member(), make_member()
    second = unique_number()
    with transaction(factory) as s:
        accounts.add_virtual_number(s, s.get(Account, member.account_id), second, realm="test")
        did = Did(number=unique_number("1555"), account_id=member.account_id, connection="none")
        loose = Did(number=unique_number("1555"), account_id=None, connection="none")
        s.add_all([did, loose])
        s.flush()
        did_id, loose_id = did.id, loose.id
    html = page(as_admin, f"/admin/dids/?q={did.number}")
    row = _did_row(html, did_id)
    assert f'<select form="did-{did_id}" id="t-{did_id}" name="target"' in row
    assert f'<input type="text" form="did-{did_id}" id="t-{did_id}"' not in row
    offered = re.findall(r'<option value="([^"]*)"( selected)?>', row)
    assert [v for v, _sel in offered] == ["none", "fax_to_email", *sorted([member.number, second])]
    assert [v for v, sel in offered if sel] == ["none"]
    assert other.number not in row  # another account's numbers are not offered
    # an unassigned DID offers only the two that need no number
    loose_row = _did_row(page(as_admin, f"/admin/dids/?q={loose.number}"), loose_id)
    assert [v for v, _sel in re.findall(r'<option value="([^"]*)"( selected)?>', loose_row)] == [
        "none",
        "fax_to_email",
    ]
    # choosing the second number connects it, and the list shows it chosen
    url = f"/admin/dids/{did_id}"
    assert post(as_admin, url, {"account_id": member.account_id, "target": second}).status_code == 302
    row = _did_row(page(as_admin, f"/admin/dids/?q={did.number}"), did_id)
    assert f'<option value="{second}" selected>' in row
    # Fax to Email chosen, then Not connected
    r = post(
        as_admin,
        url,
        {"account_id": member.account_id, "target": "fax_to_email", "fax_email": "f@example.com"},
    )
    assert r.status_code == 302
    row = _did_row(page(as_admin, f"/admin/dids/?q={did.number}"), did_id)
    assert '<option value="fax_to_email" selected>' in row
    assert post(as_admin, url, {"account_id": member.account_id, "target": "none"}).status_code == 302
    with factory() as s:
        d = s.get(Did, did_id)
        assert (d.connection, d.virtual_number_id, d.fax_email) == ("none", None, None)
    # a forged value outside the list is still refused by the server, and shown back with the message
    r = post(as_admin, url, {"account_id": member.account_id, "target": other.number})
    assert r.status_code == 400 and any("is not on account" in e for e in errors_in(r)), (
        r.status_code,
        errors_in(r),
        r.headers.get("Content-Language"),
    )
    assert f'<option value="{other.number}" selected>' in _did_row(r.get_data(as_text=True), did_id)
    with factory() as s:
        assert s.get(Did, did_id).connection == "none"


# --- rate decks ----------------------------------------------------------------------------


def _upload(client, name: str, text: str, activate: bool = True):
    data = {"name": name, "deck": (io.BytesIO(text.encode()), "deck.csv")}
    if activate:
        data["activate"] = "y"
    return post(
        client, "/admin/rates/import", data, token_from="/admin/rates/", content_type="multipart/form-data"
    )


def test_import_a_rate_deck_from_an_upload(as_admin, admin, factory):
    text = (
        "prefix,destination,country,rate_per_minute,connect_fee,min_seconds,increment_seconds\n"
        "1,US,US,0.01,0,6,6\n44,UK,GB,0.02,0,60,60\n4420,London,GB,0.015,0,1,1\n"
    )
    with factory() as s:
        previous = s.scalar(select(RateDeck.id).where(RateDeck.active.is_(True)))
    r = _upload(as_admin, "admin-upload", text, activate=False)
    assert r.status_code == 302
    with factory() as s:
        deck = s.scalar(select(RateDeck).where(RateDeck.name == "admin-upload"))
        assert not deck.active and s.scalar(select(RateDeck.id).where(RateDeck.active.is_(True))) == previous
        assert s.scalar(select(func.count()).select_from(Rate).where(Rate.deck_id == deck.id)) == 3
    r = post(as_admin, f"/admin/rates/{deck.id}/activate", token_from="/admin/rates/")
    assert r.status_code == 302
    with factory() as s:
        assert s.scalar(select(RateDeck.id).where(RateDeck.active.is_(True))) == deck.id
    assert audit_rows(factory, admin, "admin.rates_import")[0].details["prefixes"] == 3
    assert audit_rows(factory, admin, "admin.rates_activate")
    if previous:  # give the call tests their deck back
        post(as_admin, f"/admin/rates/{previous}/activate", token_from="/admin/rates/")


def test_a_bad_rate_deck_lists_every_bad_line_and_imports_nothing(as_admin, factory):
    text = (
        "prefix,destination,country,rate_per_minute\n"
        "1,US,US,0.01\n"
        "1x,Bad,US,0.01\n"
        "44,UK,GB,abc\n"
        "33,France,FR,-1\n"
        "1,US again,US,0.02\n"
    )
    with factory() as s:
        decks = s.scalar(select(func.count()).select_from(RateDeck))
        active = s.scalar(select(RateDeck.id).where(RateDeck.active.is_(True)))
    r = _upload(as_admin, "bad-deck", text)
    assert r.status_code == 400
    html = unescape(r.get_data(as_text=True))
    assert "Nothing was imported." in html
    for expected in (
        "Line 3: prefix '1x' is not 1 to 15 digits.",
        "Line 4: rate_per_minute 'abc' is not an amount",  # issue 13 item 8: the field named
        "Line 5: rate_per_minute '-1' is not an amount",
        "Line 6: prefix 1 appears twice (first on line 2).",
    ):
        assert expected in html, expected
    assert "Line 2:" not in html
    with factory() as s:
        assert s.scalar(select(func.count()).select_from(RateDeck)) == decks
        assert s.scalar(select(RateDeck.id).where(RateDeck.active.is_(True))) == active
    r = _upload(as_admin, "no-header", "1,0.01\n")
    assert (
        r.status_code == 400
        and "The rate deck needs a header with at least prefix and rate_per_minute."
        in unescape(r.get_data(as_text=True))
    )
    r = post(
        as_admin,
        "/admin/rates/import",
        {"name": "x"},
        token_from="/admin/rates/",
        content_type="multipart/form-data",
    )
    assert r.status_code == 400 and "Choose the CSV file of the rate deck." in errors_in(r)


# --- plans and subscriptions ---------------------------------------------------------------


def test_plans_crud_and_subscriptions(as_admin, admin, make_member, factory):
    name = f"Admin plan {time.time_ns()}"
    plan_data = {
        "name": name,
        "regional_minutes": "500",
        "us_canada_minutes": "100",
        "monthly_price": "9.99",
        "active": "y",
    }
    assert post(as_admin, "/admin/plans/new", plan_data, token_from="/admin/plans/").status_code == 302
    r = post(as_admin, "/admin/plans/new", dict(plan_data, name=name.upper()), token_from="/admin/plans/")
    assert r.status_code == 400 and f"There is already a plan named {name.upper()}." in errors_in(r)
    r = post(
        as_admin,
        "/admin/plans/new",
        dict(plan_data, name="Neg", regional_minutes="-5"),
        token_from="/admin/plans/",
    )
    assert r.status_code == 400
    with factory() as s:
        plan = s.scalar(select(CallingPlan).where(CallingPlan.name == name))
        assert (plan.regional_minutes, plan.us_canada_minutes, plan.monthly_price) == (
            500,
            100,
            Decimal("9.99"),
        )
        assert not s.scalar(select(CallingPlan.id).where(CallingPlan.name == "Neg"))
    edit = f"/admin/plans/{plan.id}/edit"
    assert name in page(as_admin, edit)
    assert post(as_admin, edit, dict(plan_data, regional_minutes="600"), token_from=edit).status_code == 302

    member = make_member()
    url = f"/admin/accounts/{member.account_id}"
    renew = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    r = post(
        as_admin, f"{url}/subscriptions", {"plan_id": plan.id, "renew_date": "2001-01-01"}, token_from=url
    )
    assert r.status_code == 400 and "The renew date is a date after today." in errors_in(r)
    r = post(
        as_admin,
        f"{url}/subscriptions",
        {"plan_id": plan.id, "renew_date": renew, "enabled_number": member.number},
        token_from=url,
    )
    assert r.status_code == 302
    with factory() as s:
        sub = s.scalar(select(PlanSubscription).where(PlanSubscription.account_id == member.account_id))
        assert (sub.regional_seconds_left, sub.us_canada_seconds_left) == (600 * 60, 100 * 60)
        assert sub.enabled_virtual_number_id == member.virtual_number_id and sub.active
    r = post(as_admin, f"/admin/plans/{plan.id}/delete", token_from="/admin/plans/")
    assert r.status_code == 400 and any("has subscriptions" in e for e in errors_in(r))
    assert post(as_admin, f"/admin/subscriptions/{sub.id}/cancel", token_from=url).status_code == 302
    with factory() as s:
        assert not s.get(PlanSubscription, sub.id).active
    r = post(as_admin, f"/admin/subscriptions/{sub.id}/cancel", token_from=url)
    assert r.status_code == 400 and "That subscription is already cancelled." in errors_in(r)

    spare = f"Spare {time.time_ns()}"
    post(as_admin, "/admin/plans/new", dict(plan_data, name=spare), token_from="/admin/plans/")
    with factory() as s:
        spare_id = s.scalar(select(CallingPlan.id).where(CallingPlan.name == spare))
    assert post(as_admin, f"/admin/plans/{spare_id}/delete", token_from="/admin/plans/").status_code == 302
    for action in (
        "admin.plan_create",
        "admin.plan_update",
        "admin.plan_delete",
        "admin.subscription_create",
        "admin.subscription_cancel",
    ):
        assert audit_rows(factory, admin, action), action


def _plan(factory) -> int:
    with transaction(factory) as s:
        plan = CallingPlan(
            name=f"Zone plan {time.time_ns()}",
            regional_minutes=1,
            us_canada_minutes=1,
            monthly_price=Decimal("1.00"),
            active=True,
        )
        s.add(plan)
        s.flush()
        return plan.id


@pytest.mark.parametrize(
    "zone_name, now, today",
    [
        # 20:00 UTC is already the next day on Kiritimati (UTC+14)...
        ("Pacific/Kiritimati", dt.datetime(2030, 6, 1, 20, 0, tzinfo=dt.UTC), dt.date(2030, 6, 2)),
        # ...and 05:00 UTC still the day before in Pago Pago (UTC-11)
        ("Pacific/Pago_Pago", dt.datetime(2030, 6, 1, 5, 0, tzinfo=dt.UTC), dt.date(2030, 5, 31)),
    ],
)
def test_the_renew_date_is_after_today_on_the_accounts_calendar(
    admin, make_member, factory, zone_name, now, today
):
    member = make_member(time_zone=zone_name)
    plan_id = _plan(factory)
    for day, accepted in ((today, False), (today + dt.timedelta(days=1), True)):
        with factory() as s:
            account, actor = s.get(Account, member.account_id), s.get(User, admin)
            assert admin_services.account_today(account, now) == today
            if accepted:
                assert admin_services.subscribe(s, actor, account, plan_id, day, now=now).renew_date == day
            else:
                with pytest.raises(ServiceError, match="The renew date is a date after today."):
                    admin_services.subscribe(s, actor, account, plan_id, day, now=now)
            s.rollback()


def test_the_subscribe_form_uses_the_accounts_today_not_the_servers(as_admin, make_member, factory):
    """Whatever the hour, one of these two zones is on another day than UTC."""
    utc_now = dt.datetime.now(dt.UTC)
    zone_name = "Pacific/Kiritimati" if utc_now.hour >= 10 else "Pacific/Pago_Pago"
    member = make_member(time_zone=zone_name)
    plan_id = _plan(factory)
    today = dt.datetime.now(ZoneInfo(zone_name)).date()
    assert today != utc_now.date()
    url = f"/admin/accounts/{member.account_id}"
    assert f'value="{(today + dt.timedelta(days=30)).isoformat()}"' in page(as_admin, url)  # the suggestion
    r = post(
        as_admin,
        f"{url}/subscriptions",
        {"plan_id": plan_id, "renew_date": today.isoformat()},
        token_from=url,
    )
    assert r.status_code == 400 and "The renew date is a date after today." in errors_in(r)
    tomorrow = (today + dt.timedelta(days=1)).isoformat()
    r = post(as_admin, f"{url}/subscriptions", {"plan_id": plan_id, "renew_date": tomorrow}, token_from=url)
    assert r.status_code == 302
    with factory() as s:
        sub = s.scalar(select(PlanSubscription).where(PlanSubscription.account_id == member.account_id))
        assert sub.renew_date.isoformat() == tomorrow


# --- vouchers ------------------------------------------------------------------------------


def test_generate_list_redeem_and_void_vouchers(as_admin, admin, make_member, factory):
    r = post(as_admin, "/admin/vouchers/new", {"count": "3", "amount": "7.50"}, token_from="/admin/vouchers/")
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    codes = re.findall(r'class="number voucher-code">([A-Z0-9-]+)<', r.get_data(as_text=True))
    assert len(codes) == 3 and len(set(codes)) == 3
    with factory() as s:
        made = list(
            s.scalars(
                select(Voucher)
                .where(Voucher.code_hmac.in_([recharge.code_hmac(KEY, c) for c in codes]))
                .order_by(Voucher.id)
            )
        )
        assert [v.amount for v in made] == [Decimal("7.50")] * 3
        assert all(c.replace("-", "") not in v.code_hmac for v, c in zip(made, codes, strict=False))
    # the list shows them, never their codes
    html = page(as_admin, "/admin/vouchers/?state=unused")
    assert all(c not in html for c in codes) and f">{made[0].id}<" in html

    member = make_member()
    with transaction(factory) as s:
        recharge.redeem_voucher(s, KEY, s.get(User, member.user_id), codes[0])
    assert (
        post(as_admin, f"/admin/vouchers/{made[1].id}/void", token_from="/admin/vouchers/").status_code == 302
    )
    r = post(as_admin, f"/admin/vouchers/{made[0].id}/void", token_from="/admin/vouchers/")
    assert r.status_code == 400 and f"Voucher {made[0].id} is redeemed and cannot be voided." in errors_in(r)
    with transaction(factory) as s:  # a voided voucher is refused to a member
        with pytest.raises(recharge.VoucherRefused, match="^That voucher was voided.$"):
            recharge.redeem_voucher(s, KEY, s.get(User, member.user_id), codes[1])
    with factory() as s:
        assert s.scalar(
            select(func.sum(CreditLot.original)).where(CreditLot.account_id == member.account_id)
        ) == Decimal("7.50")
        assert s.get(Voucher, made[1].id).voided_at is not None
    assert f">{made[1].id}<" in page(as_admin, "/admin/vouchers/?state=voided")
    assert f">{made[0].id}<" in page(as_admin, "/admin/vouchers/?state=redeemed")
    refused = (
        ({"count": "0", "amount": "5"}, None),
        ({"count": "2", "amount": "abc"}, "Enter the amount in dollars, such as 10 or 12.50."),
        ({"count": "2", "amount": "5.001"}, "The amount is more than $0 and at most $1000, in cents."),
        ({"count": "1", "amount": "5", "expires_on": "2001-01-01"}, "The expiry date is a date after today."),
    )
    for data, message in refused:
        with factory() as s:
            before = s.scalar(select(func.count()).select_from(Voucher))
        r = post(as_admin, "/admin/vouchers/new", data, token_from="/admin/vouchers/")
        assert r.status_code == 400, data
        if message:
            assert message in errors_in(r), (message, errors_in(r))
        with factory() as s:
            assert s.scalar(select(func.count()).select_from(Voucher)) == before
    (gen,) = audit_rows(factory, admin, "admin.vouchers_generate")
    assert gen.details["count"] == 3 and audit_rows(factory, admin, "admin.voucher_void")


# --- audit log and the dialplan page without Asterisk --------------------------------------


def test_the_audit_log_lists_admin_changes(as_admin, admin, make_member):
    member = make_member()
    url = f"/admin/accounts/{member.account_id}"
    post(as_admin, f"{url}/status", {"status": "suspended"}, token_from=url)
    html = page(as_admin, f"/admin/audit/?action=admin.account&account={member.account_id}")
    assert "admin.account_status" in html
    assert "admin.account_status" not in page(as_admin, "/admin/audit/?action=admin.voucher")


def test_dialplan_validation_lists_every_problem_and_records_nothing(as_admin, factory):
    from db.models import DialplanVersion

    with factory() as s:
        before = s.scalar(select(func.count()).select_from(DialplanVersion))
    body = (
        "[incoming]\nexten => 1,1,NoOp()\n[members]\nexten => 5551234,1,NoOp()\n"
        "[admin-x]\nexten => s,1,System(id)\n"
    )
    for action in ("validate", "apply"):
        r = post(
            as_admin, "/admin/dialplan/", {"body": body, "action": action}, token_from="/admin/dialplan/"
        )
        assert r.status_code == 400
        html = unescape(r.get_data(as_text=True))
        assert "Line 1: [incoming] is generated" in html
        assert "Line 4: In [members] only feature codes are allowed" in html
        assert "Line 6: Application System is not allowed in admin overrides." in html
    r = post(
        as_admin,
        "/admin/dialplan/",
        {"body": "[members]\nexten => *43,1,Echo()\n", "action": "validate"},
        token_from="/admin/dialplan/",
    )
    assert r.status_code == 200 and "Valid. Review the changes below, then apply." in r.get_data(as_text=True)
    assert "+exten =&gt; *43,1,Echo()" in r.get_data(as_text=True)
    with factory() as s:
        assert s.scalar(select(func.count()).select_from(DialplanVersion)) == before


def test_an_apply_asterisk_does_not_take_stays_saved_and_says_so(admin, factory, database, engine, tmp_path):
    """Without a reachable Asterisk (tests/asterisk/test_admin_dialplan_apply.py applies on the
    real one): a config dir without extensions.conf is refused before anything is recorded; with
    one whose AMI does not answer, the version is saved first (the database is the source of
    truth, issue 13 item 9), written to the file Asterisk loads next, and the admin is told."""
    import dataclasses
    import socket

    from asterisk_conf import overrides
    from asterisk_conf.render import write
    from db.models import DialplanVersion
    from webpanel import create_app

    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    settings = dataclasses.replace(database, asterisk_config_dir=str(tmp_path), ami_port=closed_port)
    client = create_app({"TESTING": True, "VOIP_SETTINGS": settings, "VOIP_ENGINE": engine}).test_client()
    sign_in_user(client, admin)  # issue 13: a server-side session row
    with factory() as s:
        before = s.scalar(select(func.count()).select_from(DialplanVersion))
    data = {"body": "[members]\nexten => *43,1,Echo()\n", "action": "apply"}

    r = post(client, "/admin/dialplan/", data, token_from="/admin/dialplan/")
    assert r.status_code == 502
    assert any("Asterisk's extensions.conf cannot be read" in e for e in errors_in(r)), errors_in(r)

    write(settings, tmp_path, admin_dialplan="[admin-old]\nexten => s,1,Hangup()\n")
    live = tmp_path / overrides.ADMIN_FILE
    previous = live.read_text()
    assert "*43" not in previous
    r = post(client, "/admin/dialplan/", data, token_from="/admin/dialplan/")
    assert r.status_code == 502
    with factory() as s:
        assert s.scalar(select(func.count()).select_from(DialplanVersion)) == before + 1
        saved = s.scalar(select(DialplanVersion).order_by(DialplanVersion.id.desc()).limit(1))
        assert saved.body == data["body"]
        assert [a.action for a in audit_rows(factory, admin, "admin.dialplan_apply")] == [
            "admin.dialplan_apply"
        ]
    assert any(f"Version {saved.id} is saved, but Asterisk did not load it" in e for e in errors_in(r)), (
        errors_in(r)
    )
    assert live.read_text() == overrides.file_text(data["body"])
    assert len(audit_rows(factory, admin, "admin.dialplan_apply_failed")) == 2


def test_a_new_account_with_three_bad_fields_shows_three_field_errors_at_once(as_admin, make_member, factory):
    """Issue 16: number, password and email each wrong: one submit marks all three fields."""
    taken = make_member()
    r = post(
        as_admin,
        "/admin/accounts/new",
        {"number": taken.number, "password": "short1", "email": "not-an-email"},
        token_from="/admin/accounts/new",
    )
    assert r.status_code == 400
    html = r.get_data(as_text=True)
    for field, message in (
        ("number", "is already a login."),
        ("password", "A password has at least 10 characters."),
        ("email", "Enter a valid email address"),
    ):
        found = re.findall(rf'<p class="field-message" id="{field}-error-1">([^<]*)</p>', html)
        assert found and message in found[0], (field, found)
        tag = re.search(rf'<input[^>]*\bid="{field}"[^>]*>', html).group(0)
        assert 'aria-invalid="true"' in tag and f"{field}-error-1" in tag, tag
    assert html.count('class="field-message" id="email-error-') == 1  # the form's and the service's: once


def test_admin_times_say_they_are_utc(as_admin, make_member):
    """Issue 16: admin pages show UTC and say so; a member's own pages name their zone."""
    member = make_member(time_zone="America/Chicago")
    html = page(as_admin, f"/admin/accounts/{member.account_id}")
    created = re.search(r"<dt>Created</dt><dd><time[^>]*>([^<]*)</time>", html)
    assert created and re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", created.group(1)), created
