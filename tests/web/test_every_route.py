"""Every route of the panel, walked: another account's objects answer 404, a secondary user
gets 403 on every primary-only action, and every page renders clean for the CSP.

Routes are discovered from the app's URL map, so a new route is covered the day it lands; a
route whose URL names an object kind this file does not know fails until it is added below.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from html.parser import HTMLParser

import pytest
from flask import Flask

from db.models import (
    Buddy,
    CallBlock,
    CallingPlan,
    Conference,
    ConferenceGuest,
    Did,
    Fax,
    Invoice,
    PlanSubscription,
    UserDevice,
    VoicemailMessage,
    Webhook,
)
from db.session import transaction
from tests.support.realparts import unique_number

from .conftest import csrf_token, sign_in, sign_in_user

# public pages: login, and account recovery (its link's <token> is not an object of an account;
# tests/web/test_password_recovery.py covers it)
NOT_MEMBER_PAGES = {
    "static",
    "auth.login",
    "auth.logout",
    "health.healthz",
    "auth.forgot_password",
    "auth.forgot_sent",
    "auth.reset_password",
    "twofactor_login.code",  # issue 16: the login's code step (tests/web/test_two_factor.py)
}

ADMIN_PREFIX = "admin."  # the operator admin (webpanel/admin): no member reaches any of it
# the REST API (issue 15): bearer tokens only, a session cookie opens none of it (401); every
# endpoint for each scope, other accounts' ids included, is walked by tests/web/test_restapi.py
API_PREFIX = "/api/v1/"


@dataclass(frozen=True)
class Objects:
    """URL arguments naming one account's objects."""

    number: str
    did_id: int
    subscription_id: int
    buddy_id: int
    fax_id: int
    conference_id: int = 0
    guest_id: int = 0  # a conference guest
    message_id: int = 0  # a voicemail message
    invoice_id: int = 0  # issue 15: a monthly invoice
    hook_id: int = 0  # issue 15: a webhook
    block_id: int = 0  # issue 16: a call-blocking entry
    device_id: int = 0  # issue 16: a browser the user logged in from (two-factor login)

    def url_args(self, rule) -> dict:
        args = {}
        for name in rule.arguments:
            assert hasattr(self, name), (
                f"{rule.rule}: add an object for <{name}> to "
                "tests/web/test_every_route.py so cross-account access is tested"
            )
            args[name] = getattr(self, name)
        return args


@pytest.fixture()
def account_a(make_member, make_secondary, factory):
    """Account A: its primary holder, a secondary user, and one object of every kind."""
    member = make_member()
    second = make_secondary(member)
    with transaction(factory) as s:
        did = Did(
            account_id=member.account_id,
            number=unique_number("1555"),
            connection="virtual_number",
            virtual_number_id=second.virtual_number_id,
        )
        plan = CallingPlan(name=f"Plan {uuid.uuid4().hex[:8]}", regional_minutes=100, us_canada_minutes=100)
        s.add_all([did, plan])
        s.flush()
        sub = PlanSubscription(
            account_id=member.account_id,
            plan_id=plan.id,
            renew_date=dt.date(2031, 1, 1),
            enabled_virtual_number_id=second.virtual_number_id,
        )
        buddy = Buddy(user_id=second.user_id, name="Buddy of A", virtual_number="17005550123")
        fax = Fax(
            account_id=member.account_id,
            did_id=did.id,
            status="received",
            pages=1,
            bytes=9,
            pdf=b"%PDF-1.4\n",
        )
        conference = Conference(
            account_id=member.account_id,
            admin_pin=str(uuid.uuid4().int)[:10],
            admin_phone=second.number,
            starts_at=dt.datetime(2031, 1, 1, tzinfo=dt.UTC),
        )
        conference.guests.append(
            ConferenceGuest(name="Guest of A", pin=str(uuid.uuid4().int)[:10], email="guest@example.com")
        )
        s.add_all([sub, buddy, fax, conference])
        s.flush()
        message = VoicemailMessage(virtual_number_id=second.virtual_number_id, audio=b"RIFF")
        s.add(message)
        s.flush()
        invoice = Invoice(  # issue 15
            number=f"INV-TEST-{uuid.uuid4().hex[:12]}",
            account_id=member.account_id,
            period_start=dt.date(2026, 1, 1),
            period_end=dt.date(2026, 2, 1),
            time_zone="UTC",
            opening_balance=0,
            closing_balance=0,
            pdf=b"%PDF-1.4\n",
        )
        s.add(invoice)
        s.flush()
        hook = Webhook(  # issue 15
            account_id=member.account_id, url="https://hooks.example.com/a", secret="s", events=["fax.new"]
        )
        s.add(hook)
        block = CallBlock(virtual_number_id=second.virtual_number_id, number="3125550142")  # issue 16
        s.add(block)
        device = UserDevice(user_id=second.user_id, token_hash=uuid.uuid4().hex * 2)  # issue 16
        s.add(device)
        s.flush()
        objects = Objects(
            second.number,
            did.id,
            sub.id,
            buddy.id,
            fax.id,
            conference_id=conference.id,
            guest_id=conference.guests[0].id,
            message_id=message.id,
            invoice_id=invoice.id,
            hook_id=hook.id,
            block_id=block.id,
            device_id=device.id,
        )
    return member, second, objects


def _rules(app: Flask, *, with_args: bool):
    for rule in app.url_map.iter_rules():
        if (
            rule.endpoint in NOT_MEMBER_PAGES
            or bool(rule.arguments) != with_args
            or rule.endpoint.startswith(ADMIN_PREFIX)
            or rule.rule.startswith(API_PREFIX)
        ):  # walked by the admin tests below (the API: by test_restapi.py)
            continue
        for method in sorted(rule.methods & {"GET", "POST"}):
            yield rule, method


def _request(client, method: str, url: str, token: str):
    if method == "GET":
        return client.get(url)
    return client.post(url, data={"csrf_token": token})


def test_every_route_answers_404_for_another_accounts_objects(app, client, make_member, account_a):
    _, _, a = account_a
    b = make_member()
    sign_in(client, b)
    token = csrf_token(client, "/")
    walked = []
    routes = list(_rules(app, with_args=True))
    assert routes, "no object routes found"
    for rule, method in routes:
        url = rule.build(a.url_args(rule))[1]
        response = _request(client, method, url, token)
        assert response.status_code == 404, (method, url, response.status_code)
        walked.append(f"{method} {rule.rule}")
    # the sections of the help page that address objects are all in the walk
    for expected in (
        "POST /virtual-number/<number>/options",
        "POST /virtual-number/<number>/sip-password",
        "POST /forwarding/<number>",
        "POST /forwarding/<number>/blocked/<int:block_id>/remove",
        "GET /dids/<int:did_id>/911",
        "POST /dids/<int:did_id>",
        "POST /plans/<int:subscription_id>/enabled-phone",
        "GET /buddies/<int:buddy_id>/edit",
        "POST /buddies/<int:buddy_id>/delete",
        "GET /faxes/<int:fax_id>/pdf",
        "POST /faxes/<int:fax_id>/delete",
        "GET /conference/<int:conference_id>/edit",
        "POST /conference/<int:conference_id>/edit",
        "POST /conference/<int:conference_id>/delete",
        "POST /conference/<int:conference_id>/guests/<int:guest_id>/invite",
        "GET /voicemail/messages/<int:message_id>/audio",
        "POST /voicemail/messages/<int:message_id>/save",
        "POST /voicemail/messages/<int:message_id>/delete",
        "GET /voicemail/<number>/",
        "GET /voicemail/<number>/download",
        "POST /voicemail/<number>/greeting",
        "POST /voicemail/<number>/greeting/default",
        "GET /invoices/<int:invoice_id>/pdf",
        "POST /webhooks/<int:hook_id>/delete",
        "POST /two-factor/devices/<int:device_id>/forget",
    ):
        assert expected in walked, expected


def test_every_primary_only_action_is_refused_to_a_secondary_user(app, client, account_a):
    member, second, a = account_a
    sign_in(client, second)
    token = csrf_token(client, "/")
    own = Objects(
        second.number, a.did_id, a.subscription_id, a.buddy_id, a.fax_id
    )  # objects the user can see
    refused = []
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        roles = getattr(view, "voip_roles", None)
        if roles is None or "secondary" in roles:
            continue
        for method in sorted(rule.methods & {"GET", "POST"}):
            url = rule.build(own.url_args(rule))[1] if rule.arguments else rule.rule
            response = _request(client, method, url, token)
            assert response.status_code == 403, (method, url, response.status_code)
            refused.append(rule.endpoint)
    assert {
        "account.update",
        "virtual_number.sip_password",
        "virtual_number.pin",
        "virtual_number.add",
        "dids.connect",
        "plans.enabled_phone",
        "faxes.pdf",
        "faxes.delete",
        "invoices.pdf",
    } <= set(refused)


class _InlineCode(HTMLParser):
    """What a strict CSP (no 'unsafe-inline') blocks, read from the markup: <style> elements,
    <script> elements without src, style="..." and on...="..." attributes. Text is not markup:
    a page may show escaped text such as "&lt;img src=x onerror=alert(1)&gt;" (a webhook
    receiver's answer in the delivery log), which a regex over the whole page took for a handler."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = [name for name, _ in attrs]
        if tag == "style" or (tag == "script" and "src" not in names):
            self.found.append(f"<{tag}> element")
        self.found += [f"{name}= on <{tag}>" for name in names if name == "style" or name.startswith("on")]

    handle_startendtag = handle_starttag


def inline_code(html: str) -> list[str]:
    parser = _InlineCode()
    parser.feed(html)
    parser.close()
    return parser.found


def _pages(app: Flask) -> list[str]:
    return sorted({rule.rule for rule, method in _rules(app, with_args=False) if method == "GET"})


@pytest.mark.parametrize("who", ["primary", "secondary"])
def test_every_page_renders_for_members_without_inline_script_or_style(app, client, account_a, who):
    member, second, _ = account_a
    sign_in(client, member if who == "primary" else second)
    pages = _pages(app)
    assert "/forwarding/" in pages and "/white-pages/" in pages
    assert {"/call-history/", "/missed-calls/", "/faxes/", "/rate-lookup/", "/recharge/"} <= set(pages)
    for path in pages:
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
        assert inline_code(response.get_data(as_text=True)) == [], path


def test_an_operator_admin_gets_no_member_page_but_may_change_their_password(app, client, factory):
    import time

    from db import accounts

    with transaction(factory) as s:
        admin = accounts.create_admin(s, f"admin-{time.time_ns()}", "Admin-pass-2026")
        admin_id = admin.id
    sign_in_user(client, admin_id)  # issue 13: a server-side session row
    for path in _pages(app):
        expected = 200 if path in ("/", "/password/", "/two-factor/") else 403
        assert client.get(path).status_code == expected, path
    html = client.get("/").get_data(as_text=True)
    assert "Change Password" in html and "Account Information" not in html


def _admin_rules(app: Flask):
    rules = [rule for rule in app.url_map.iter_rules() if rule.endpoint.startswith(ADMIN_PREFIX)]
    assert len(rules) >= 20, "the operator admin's routes are not registered"
    return rules


@pytest.mark.parametrize("who", ["primary", "secondary"])
def test_no_member_reaches_any_operator_admin_route(app, client, account_a, who):
    """Every admin route, GET and POST, with real object ids of the member's own account: 403."""
    member, second, a = account_a
    sign_in(client, member if who == "primary" else second)
    token = csrf_token(client, "/")
    ids = {
        "account_id": member.account_id,
        "user_id": member.user_id,
        "subscription_id": a.subscription_id,
        "did_id": a.did_id,
    }
    walked = 0
    for rule in _admin_rules(app):
        url = rule.build({name: ids.get(name, 1) for name in rule.arguments})[1]
        for method in sorted(rule.methods & {"GET", "POST"}):
            response = _request(client, method, url, token)
            assert response.status_code == 403, (who, method, url, response.status_code)
            walked += 1
    assert walked >= 25
    html = client.get("/").get_data(as_text=True)
    assert "/admin/" not in html


def test_every_operator_admin_page_renders_for_an_admin_without_inline_script_or_style(
    app, client, factory, account_a
):
    import time

    from db import accounts

    member, _, _ = account_a
    with transaction(factory) as s:
        admin_id = accounts.create_admin(s, f"admin-{time.time_ns()}", "Admin-pass-2026").id
    sign_in_user(client, admin_id)  # issue 13: a server-side session row
    pages = sorted({rule.rule for rule in _admin_rules(app) if "GET" in rule.methods and not rule.arguments})
    pages.append(f"/admin/accounts/{member.account_id}")
    assert "/admin/dialplan/" in pages and "/admin/accounts/" in pages
    for path in pages:
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
        assert inline_code(response.get_data(as_text=True)) == [], path
    nav = client.get("/").get_data(as_text=True)
    assert "/admin/dialplan/" in nav and "Account Information" not in nav


# --- issue 13 item 8: ids out of range ------------------------------------------------------

OUT_OF_RANGE = ("99999999999999999999", str(2**31), str(2**63))  # numeric, bigint, past bigint


def _int_args(rule) -> list[str]:
    return [name for name, conv in rule._converters.items() if conv.regex in (r"[0-9]+", r"\d+")]


def _walk_out_of_range(client, token: str, rules, other_args) -> list[str]:
    walked = []
    for rule in rules:
        int_args = _int_args(rule)
        if not int_args:
            continue
        sentinels = {name: 7_770_001 + i for i, name in enumerate(int_args)}
        args = {name: other_args(name) for name in rule.arguments if name not in int_args}
        template = rule.build({**args, **sentinels})[1]
        for method in sorted(rule.methods & {"GET", "POST"}):
            for value in OUT_OF_RANGE:
                # the number goes into the URL as typed (building the URL would check the range)
                path = template
                for sentinel in sentinels.values():
                    path = path.replace(str(sentinel), value)
                response = _request(client, method, path, token)
                assert response.status_code == 404, (method, path, response.status_code)
                assert "Content-Security-Policy" in response.headers, (method, path)
            walked.append(f"{method} {rule.rule}")
    return walked


def test_every_member_route_answers_404_for_an_id_out_of_range(app, client, account_a):
    """/buddies/99999999999999999999/edit reached PostgreSQL (integer out of range): a 500."""
    member, _, a = account_a
    sign_in(client, member)
    token = csrf_token(client, "/")
    rules = list({id(rule): rule for rule, _method in _rules(app, with_args=True)}.values())
    walked = _walk_out_of_range(client, token, rules, lambda name: getattr(a, name))
    assert len(walked) >= 15, walked
    assert "GET /buddies/<int:buddy_id>/edit" in walked and "POST /faxes/<int:fax_id>/delete" in walked


def test_every_admin_route_answers_404_for_an_id_out_of_range(app, client, factory):
    import time

    from db import accounts

    with transaction(factory) as s:
        admin_id = accounts.create_admin(s, f"admin-{time.time_ns()}", "Admin-pass-2026").id
    sign_in_user(client, admin_id)  # issue 13: a server-side session row
    token = csrf_token(client, "/admin/dialplan/")
    walked = _walk_out_of_range(client, token, _admin_rules(app), lambda name: "x")
    assert len(walked) >= 10, walked
    assert "GET /admin/dialplan/versions/<int:version_id>" in walked
    assert "POST /admin/vouchers/<int:voucher_id>/void" in walked
