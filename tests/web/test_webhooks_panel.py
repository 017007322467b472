"""Issue 15, webhooks in the panel: the primary holder adds a webhook (its secret shown once),
disables, deletes, sends a test event and sees the deliveries' log; bad URLs (not http(s),
private or loopback addresses: SSRF) and no event are refused with a clear message and change
nothing; another account's webhook is out of reach; the low balance threshold is validated.
The operator's page manages the operator's webhooks (private addresses allowed) and shows every
delivery."""

from __future__ import annotations

import dataclasses
import re
import time
from decimal import Decimal
from html import unescape

import pytest
from sqlalchemy import func, select

from db import accounts
from db.models import Account, AuditLog, Webhook, WebhookDelivery
from db.session import transaction
from tests.support.panel import sign_in_user
from webpanel import create_app

from .conftest import errors_in, flashes, page, post_form, sign_in

URL = "/webhooks/"
ADMIN_URL = "/admin/webhooks"


def hooks_of(factory, account_id) -> list[Webhook]:
    with factory() as s:
        cond = Webhook.account_id.is_(None) if account_id is None else Webhook.account_id == account_id
        return list(s.scalars(select(Webhook).where(cond).order_by(Webhook.id)).all())


def add(client, url: str, events=("call.ended",), at: str = URL):
    return post_form(client, at, {"url": url, "events": list(events)}, token_from=at)


@pytest.fixture()
def member(make_member):
    return make_member()


@pytest.fixture()
def signed_in(client, member):
    sign_in(client, member)
    return client


def test_add_shows_the_secret_once_then_test_disable_delete_all_audited(signed_in, member, factory):
    response = add(signed_in, "https://hooks.example.com/voip", ["call.ended", "balance.low"])
    assert response.status_code == 200
    [hook] = hooks_of(factory, member.account_id)
    html = response.get_data(as_text=True)
    assert hook.secret in html and hook.events == ["call.ended", "balance.low"] and hook.active
    listing = page(signed_in, URL)
    assert hook.secret not in listing and "https://hooks.example.com/voip" in listing
    assert 'href="/webhooks/"' in listing  # in the nav

    response = post_form(signed_in, f"{URL}{hook.id}/test", {}, token_from=URL)
    assert response.status_code == 302
    with factory() as s:
        [d] = s.scalars(select(WebhookDelivery).where(WebhookDelivery.webhook_id == hook.id)).all()
    assert d.event == "webhook.test"
    listing = page(signed_in, URL)
    assert f'data-delivery="{d.id}"' in listing and "Test event" in listing

    post_form(signed_in, f"{URL}{hook.id}/active", {"active": "0"}, token_from=URL)
    assert not hooks_of(factory, member.account_id)[0].active
    post_form(signed_in, f"{URL}{hook.id}/active", {"active": "1"}, token_from=URL)
    assert hooks_of(factory, member.account_id)[0].active
    response = post_form(signed_in, f"{URL}{hook.id}/delete", {}, token_from=URL)
    assert response.status_code == 302 and hooks_of(factory, member.account_id) == []
    with factory() as s:
        actions = s.scalars(
            select(AuditLog.action)
            .where(AuditLog.account_id == member.account_id, AuditLog.action.like("webhook.%"))
            .order_by(AuditLog.id)
        ).all()
    assert actions == [
        "webhook.create",
        "webhook.test",
        "webhook.disable",
        "webhook.enable",
        "webhook.delete",
    ]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://hooks.example.com/x", "Only http:// and https:// addresses can receive webhooks."),
        ("javascript:alert(1)", "Only http:// and https:// addresses can receive webhooks."),
        ("http://127.0.0.1:8080/x", "A private, local or loopback address cannot receive webhooks."),
        ("http://localhost/x", "A private, local or loopback address cannot receive webhooks."),
        ("http://10.1.2.3/x", "A private, local or loopback address cannot receive webhooks."),
        (
            "http://169.254.169.254/latest/meta-data",
            "A private, local or loopback address cannot receive webhooks.",
        ),
        ("http://[::1]/x", "A private, local or loopback address cannot receive webhooks."),
        ("http://[::ffff:192.168.1.1]/x", "A private, local or loopback address cannot receive webhooks."),
        ("https://user:pw@hooks.example.com/x", "Leave the user name and password out of the URL."),
        ("https:///nohost", "Enter a valid URL, such as https://example.com/hooks."),
        ("https://hooks.example.com:99999/x", "Enter a valid URL, such as https://example.com/hooks."),
        ("", "Enter the URL."),
    ],
)
def test_bad_urls_are_refused_and_change_nothing(signed_in, member, factory, url, message):
    response = add(signed_in, url)
    assert response.status_code == 400
    assert message in errors_in(response)
    assert hooks_of(factory, member.account_id) == []


def test_no_event_or_an_unknown_one_is_refused(signed_in, member, factory):
    response = add(signed_in, "https://hooks.example.com/x", [])
    assert response.status_code == 400 and "Choose at least one event." in errors_in(response)
    response = add(signed_in, "https://hooks.example.com/x", ["call.ended", "cdr.deleted"])
    assert response.status_code == 400 and hooks_of(factory, member.account_id) == []


def test_private_addresses_are_allowed_only_with_the_setting(database, engine, member, factory):
    app = create_app(
        {
            "TESTING": True,
            "VOIP_SETTINGS": dataclasses.replace(database, webhook_allow_private=True),
            "VOIP_ENGINE": engine,
        }
    )
    client = app.test_client()
    sign_in(client, member)
    assert add(client, "http://127.0.0.1:8080/x").status_code == 200
    assert [h.url for h in hooks_of(factory, member.account_id)] == ["http://127.0.0.1:8080/x"]


def test_another_accounts_webhook_is_out_of_reach(signed_in, member, make_member, factory, client):
    other = make_member()
    with transaction(factory) as s:
        from db import webhooks

        theirs = webhooks.create(s, other.account_id, "https://theirs.example.com/", ["fax.new"], None)
        webhooks.enqueue_test(s, theirs)
    for action in ("test", "active", "delete"):
        response = post_form(signed_in, f"{URL}{theirs.id}/{action}", {"active": "0"}, token_from=URL)
        assert response.status_code == 404, action
    [h] = hooks_of(factory, other.account_id)
    assert h.active and "theirs.example.com" not in page(signed_in, URL)
    with factory() as s:
        assert s.scalar(select(func.count()).where(WebhookDelivery.webhook_id == theirs.id)) == 1


def test_secondary_users_and_anonymous_visitors_have_no_webhooks_page(client, member, make_secondary, app):
    assert client.get(URL).status_code in (302, 401)
    second = make_secondary(member)
    sign_in(client, second)
    html = page(client, URL)
    assert "managed by the primary account holder" in html and "webhook-new" not in html
    assert post_form(client, URL, {"url": "https://x.example.com/", "events": ["fax.new"]}).status_code == 403
    assert post_form(client, f"{URL}threshold", {"threshold": "1"}).status_code == 403


def test_the_low_balance_threshold_is_validated(signed_in, member, factory):
    for bad in ("-1", "abc", "1e3", "12.345678"):
        response = post_form(signed_in, f"{URL}threshold", {"threshold": bad}, token_from=URL)
        assert response.status_code == 400, bad
        assert errors_in(response), bad
    with factory() as s:
        assert s.get(Account, member.account_id).low_balance_threshold is None
    response = post_form(signed_in, f"{URL}threshold", {"threshold": "5.50"}, token_from=URL)
    assert response.status_code == 302
    with factory() as s:
        assert s.get(Account, member.account_id).low_balance_threshold == Decimal("5.50")
    assert 'value="5.50"' in page(signed_in, URL)
    post_form(signed_in, f"{URL}threshold", {"threshold": ""}, token_from=URL)
    with factory() as s:
        assert s.get(Account, member.account_id).low_balance_threshold is None


def test_the_delivery_log_is_paged_newest_first(signed_in, member, factory):
    with transaction(factory) as s:
        from db import webhooks

        hook = webhooks.create(s, member.account_id, "https://hooks.example.com/p", ["fax.new"], None)
        for _ in range(webhooks.PAGE + 5):
            webhooks.enqueue_test(s, hook)
    first = page(signed_in, URL)
    ids = [int(x) for x in re.findall(r'data-delivery="(\d+)"', first)]
    assert len(ids) == 50 and ids == sorted(ids, reverse=True)
    older = unescape(re.search(r'href="([^"]+)" rel="next"|rel="next" href="([^"]+)"', first).group(0))
    link = re.search(r'href="([^"]+)"', older).group(1)
    second = page(signed_in, link)
    rest = [int(x) for x in re.findall(r'data-delivery="(\d+)"', second)]
    assert len(rest) == 5 and max(rest) < min(ids)


# --- the operator's page


@pytest.fixture()
def admin(factory):
    with transaction(factory) as s:
        return accounts.create_admin(s, f"admin-{time.time_ns()}", "Admin-pass-2026").id


@pytest.fixture()
def as_admin(client, admin, factory):
    sign_in_user(client, admin)
    yield client
    with transaction(factory) as s:  # an operator's webhook would get every later test's events
        for h in s.scalars(select(Webhook).where(Webhook.account_id.is_(None))).all():
            s.delete(h)


def test_the_operator_adds_a_private_webhook_and_sees_every_delivery(as_admin, factory, member):
    response = add(as_admin, "http://10.0.0.5:8080/billing", ["call.ended", "fraud.tripped"], at=ADMIN_URL)
    assert response.status_code == 200
    [hook] = hooks_of(factory, None)
    assert hook.secret in response.get_data(as_text=True)
    with transaction(factory) as s:
        from db import webhooks

        theirs = webhooks.create(s, member.account_id, "https://member.example.com/", ["fax.new"], None)
        webhooks.enqueue_test(s, theirs)
    listing = page(as_admin, ADMIN_URL)
    assert "member.example.com" in listing and hook.secret not in listing
    assert "member.example.com" not in page(as_admin, ADMIN_URL + "?mine=1")
    post_form(as_admin, f"{ADMIN_URL}/{hook.id}/test", {}, token_from=ADMIN_URL)
    assert "10.0.0.5" in page(as_admin, ADMIN_URL + "?mine=1")
    # the operator's routes touch the operator's webhooks only
    assert post_form(as_admin, f"{ADMIN_URL}/{theirs.id}/delete", {}, token_from=ADMIN_URL).status_code == 404
    post_form(as_admin, f"{ADMIN_URL}/{hook.id}/active", {"active": "0"}, token_from=ADMIN_URL)
    assert not hooks_of(factory, None)[0].active
    assert any("disabled" in f for f in flashes(as_admin.get(ADMIN_URL)))
    post_form(as_admin, f"{ADMIN_URL}/{hook.id}/delete", {}, token_from=ADMIN_URL)
    assert hooks_of(factory, None) == []
    response = add(as_admin, "file:///etc/passwd", at=ADMIN_URL)
    assert response.status_code == 400 and hooks_of(factory, None) == []


def test_members_get_403_on_the_operators_page(signed_in):
    assert signed_in.get(ADMIN_URL).status_code == 403
    assert (
        post_form(signed_in, ADMIN_URL, {"url": "https://x.example.com/", "events": ["fax.new"]}).status_code
        == 403
    )


def test_a_receivers_answer_in_the_log_is_escaped_and_the_secret_is_never_audited(
    signed_in, member, factory, as_admin_client
):
    """The log shows what a receiver answered (its body's start): text, never markup, on the
    member's page and the operator's; the secret is in no audit entry."""
    response = add(signed_in, "https://hooks.example.com/x?a=1&b=<b>", ["fax.new"])
    [hook] = hooks_of(factory, member.account_id)
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    with transaction(factory) as s:
        from db import webhooks

        webhooks.enqueue_test(s, s.get(Webhook, hook.id))
        s.execute(
            WebhookDelivery.__table__.update()
            .where(WebhookDelivery.webhook_id == hook.id)
            .values(attempts=1, last_status=500, last_error=f"HTTP 500: {evil}")
        )
    for html in (page(signed_in, URL), page(as_admin_client, ADMIN_URL)):
        assert evil not in html and "<script>alert" not in html and "<img src=x" not in html
        assert "&lt;script&gt;alert(" in html
    assert response.status_code == 200
    with factory() as s:
        details = [str(d) for d in s.scalars(select(AuditLog.details)).all()]
    assert details and not any(hook.secret in d for d in details)


@pytest.fixture()
def as_admin_client(app, factory):
    with transaction(factory) as s:
        admin_id = accounts.create_admin(s, f"admin-{time.time_ns()}", "Admin-pass-2026").id
    other = app.test_client()
    sign_in_user(other, admin_id)
    return other
