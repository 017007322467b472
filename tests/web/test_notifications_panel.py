"""Issue 16, the Notifications page: the switches and the low balance amount, saved by the
primary holder and audited with the actor and address; bad input is refused next to its field
and changes nothing; a secondary user sees the page read-only; another account's settings are
never shown or changed. The emails themselves: tests/notifications/."""

from __future__ import annotations

import re
from decimal import Decimal
from html import unescape

from sqlalchemy import select

from db.models import Account, AuditLog, NotificationSettings

from .conftest import page, post_form, sign_in

URL = "/notifications/"
ALL_OFF: dict[str, str] = {"threshold": ""}


def field_errors(response, name: str) -> list[str]:
    html = response.get_data(as_text=True)
    block = re.search(
        rf'<input[^>]*\bid="{name}"[^>]*>(.*?)</div>\s*</div>|<input[^>]*\bid="{name}"[^>]*>(.*?)</div>',
        html,
        re.S,
    )
    assert block, name
    text = block.group(1) or block.group(2) or ""
    return [unescape(m) for m in re.findall(r'<p class="field-message"[^>]*>([^<]*)</p>', text)]


def checked(html: str) -> set[str]:
    """The ids of the checked checkboxes."""
    return {
        re.search(r'\bid="(\w+)"', tag).group(1)
        for tag in re.findall(r"<input[^>]*>", html)
        if 'type="checkbox"' in tag and re.search(r"\schecked\b", tag)
    }


def stored(factory, account_id: int) -> NotificationSettings | None:
    with factory() as s:
        return s.get(NotificationSettings, account_id)


def threshold_of(factory, account_id: int) -> Decimal | None:
    with factory() as s:
        return s.get(Account, account_id).low_balance_threshold


def test_defaults_shown_then_every_switch_saved_and_audited_with_actor_and_address(
    client, make_member, factory
):
    member = make_member(email="notify.me@example.test")
    sign_in(client, member)
    html = page(client, URL)
    assert 'href="/notifications/"' in html  # in the nav
    assert "notify.me@example.test" in html and 'href="/account/"' in html
    # no row: voicemail by email with the recording, nothing else
    assert checked(html) == {"voicemail_email", "voicemail_attach"}

    form = {
        "missed_call": "y",
        "voicemail_email": "y",
        "voicemail_attach": "y",
        "voicemail_delete_after": "y",
        "low_balance": "y",
        "threshold": "7.25",
        "weekly_summary": "y",
    }
    response = post_form(client, URL, form, token_from=URL)
    assert response.status_code == 302
    row = stored(factory, member.account_id)
    assert (
        row.missed_call,
        row.voicemail_email,
        row.voicemail_attach,
        row.voicemail_delete_after,
        row.low_balance,
        row.weekly_summary,
    ) == (True, True, True, True, True, True)
    assert threshold_of(factory, member.account_id) == Decimal("7.25")
    with factory() as s:
        [entry] = s.scalars(
            select(AuditLog)
            .where(AuditLog.account_id == member.account_id, AuditLog.action == "notifications.update")
            .order_by(AuditLog.id)
        ).all()
    assert entry.actor_user_id == member.user_id
    assert entry.remote_addr == client.environ_base["REMOTE_ADDR"]
    assert entry.details["changed"]["threshold"] == [None, "7.2500"]
    assert entry.details["changed"]["missed_call"] == [False, True]
    assert 'value="7.25' in page(client, URL)

    # everything off again; the voicemail email off too
    response = post_form(client, URL, ALL_OFF, token_from=URL)
    assert response.status_code == 302
    row = stored(factory, member.account_id)
    assert not any(
        (
            row.missed_call,
            row.voicemail_email,
            row.voicemail_attach,
            row.voicemail_delete_after,
            row.low_balance,
            row.weekly_summary,
        )
    )
    assert threshold_of(factory, member.account_id) is None


def test_bad_threshold_and_impossible_combinations_are_refused_next_to_their_fields(
    client, make_member, factory
):
    member = make_member()
    sign_in(client, member)
    for bad in ("-1", "abc", "1e3", "12.345678", "NaN", "Infinity", "1" * 20, "\uff11\uff12", "1_000"):
        response = post_form(client, URL, {"low_balance": "y", "threshold": bad}, token_from=URL)
        assert response.status_code == 400, bad
        assert field_errors(response, "threshold"), bad
    # switched on without an amount
    response = post_form(client, URL, {"low_balance": "y", "threshold": ""}, token_from=URL)
    assert response.status_code == 400
    assert field_errors(response, "threshold") == ["Enter the amount to be told about."]
    # deleting messages that were not emailed with their recording would lose them
    response = post_form(
        client,
        URL,
        {"voicemail_email": "y", "voicemail_delete_after": "y", "threshold": "-5"},
        token_from=URL,
    )
    assert response.status_code == 400
    assert field_errors(response, "voicemail_delete_after") == [
        "Messages are deleted only when they are emailed with the recording attached."
    ]
    assert field_errors(response, "threshold")  # both at once
    assert stored(factory, member.account_id) is None
    assert threshold_of(factory, member.account_id) is None
    # zero is a valid amount
    assert post_form(client, URL, {"low_balance": "y", "threshold": "0"}, token_from=URL).status_code == 302
    assert threshold_of(factory, member.account_id) == Decimal("0")


def test_secondary_user_sees_the_page_read_only_and_cannot_update(
    client, make_member, make_secondary, factory
):
    member = make_member()
    second = make_secondary(member)
    sign_in(client, second)
    html = page(client, URL)
    assert "Only the primary account holder can change the notifications." in html
    assert '<fieldset class="plain" disabled>' in html
    assert post_form(client, URL, {"missed_call": "y", "threshold": ""}, token_from=URL).status_code == 403
    assert stored(factory, member.account_id) is None


def test_each_account_sees_and_changes_only_its_own_settings(client, make_member, factory):
    alice = make_member(email="alice.notify@example.test")
    bob = make_member(email="bob.notify@example.test")
    sign_in(client, alice)
    assert post_form(client, URL, {"weekly_summary": "y", "threshold": ""}, token_from=URL).status_code == 302
    client.environ_base["REMOTE_ADDR"] = "10.250.1.2"
    sign_in(client, bob)
    html = page(client, URL)
    assert "bob.notify@example.test" in html and "alice.notify@example.test" not in html
    assert checked(html) == {"voicemail_email", "voicemail_attach"}  # bob's defaults, not alice's
    assert post_form(client, URL, {"missed_call": "y", "threshold": ""}, token_from=URL).status_code == 302
    assert (
        stored(factory, alice.account_id).weekly_summary and not stored(factory, alice.account_id).missed_call
    )
    assert stored(factory, bob.account_id).missed_call and not stored(factory, bob.account_id).weekly_summary


def test_signed_out_visitors_are_sent_to_the_login(client):
    response = client.get(URL)
    assert response.status_code == 302 and "/login" in response.headers["Location"]
