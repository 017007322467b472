"""Spending limits in the panel (issue 13): the member's Spending Limits page (caps, what is left
today, the country list; the primary holder lowers a cap but never above the operator's
ceiling; bad input gets a clear message and changes nothing), and the operator's Fraud page
(lift a tripped velocity rule, the account's limits; audited; admins only)."""

from __future__ import annotations

import time
from html import unescape

import pytest
from sqlalchemy import select, text

from db import accounts
from db.models import AuditLog
from db.session import transaction

from .conftest import csrf_token, errors_in, sign_in, sign_in_user

URL = "/limits/"


@pytest.fixture()
def admin(factory):
    with transaction(factory) as s:
        return accounts.create_admin(s, f"admin-{time.time_ns()}", "Admin-pass-2026").id


def limits_row(factory, account_id: int):
    with factory() as s:
        return s.execute(
            text(
                "SELECT daily_cap, intl_daily_cap, countries, tripped_at FROM account_limits WHERE account_id = :a"
            ),
            {"a": account_id},
        ).first()


def set_limits(factory, account_id: int, **values) -> None:
    with transaction(factory) as s:
        s.execute(
            text("INSERT INTO account_limits (account_id) VALUES (:a) ON CONFLICT DO NOTHING"),
            {"a": account_id},
        )
        sets = ", ".join(f"{k} = :{k}" for k in values)
        s.execute(
            text(f"UPDATE account_limits SET {sets} WHERE account_id = :a"), {"a": account_id, **values}
        )


def audits(factory, account_id: int, action: str) -> list[AuditLog]:
    with factory() as s:
        return list(
            s.scalars(select(AuditLog).where(AuditLog.account_id == account_id, AuditLog.action == action))
        )


def post(client, url, data, token_from=URL):
    return client.post(url, data={"csrf_token": csrf_token(client, token_from), **data})


def test_the_member_sees_caps_and_what_is_left_today(client, make_member, settings):
    m = make_member()
    sign_in(client, m)
    html = unescape(client.get(URL).get_data(as_text=True))
    assert "Spending Limits" in html
    assert f"{settings.daily_cap_default:.2f}" in html and f"{settings.intl_daily_cap_default:.2f}" in html


def test_the_member_lowers_the_daily_cap(client, make_member, factory):
    m = make_member()
    sign_in(client, m)
    response = post(client, URL, {"daily_cap": "12.50", "intl_daily_cap": "3", "countries": "gb fr"})
    assert response.status_code == 302
    row = limits_row(factory, m.account_id)
    assert (str(row.daily_cap), str(row.intl_daily_cap), row.countries) == ("12.5000", "3.0000", ["GB", "FR"])
    assert audits(factory, m.account_id, "limits.member_update")
    html = unescape(client.get(URL).get_data(as_text=True))
    assert "12.50" in html and "FR, GB" in html


@pytest.mark.parametrize(
    "data, message",
    [
        ({"daily_cap": "60.00", "intl_daily_cap": "1"}, "cannot be above 50.00"),
        ({"daily_cap": "abc", "intl_daily_cap": "1"}, "enter an amount"),
        ({"daily_cap": "NaN", "intl_daily_cap": "1"}, "enter an amount"),
        ({"daily_cap": "-1", "intl_daily_cap": "1"}, "enter an amount"),
        ({"daily_cap": "5", "intl_daily_cap": "1", "countries": "France"}, "two-letter"),
        ({"daily_cap": "5", "intl_daily_cap": "1", "countries": "DE"}, "Not allowed on this account: DE"),
    ],
)
def test_a_cap_above_the_ceiling_or_bad_input_is_refused_and_changes_nothing(
    client, make_member, factory, data, message
):
    m = make_member()
    set_limits(
        factory, m.account_id, daily_cap_ceiling="50.00", daily_cap="20.00", countries_allowed=["GB", "FR"]
    )
    sign_in(client, m)
    response = post(client, URL, data)
    assert response.status_code == 400
    assert any(message in e for e in errors_in(response)), errors_in(response)
    row = limits_row(factory, m.account_id)
    assert str(row.daily_cap) == "20.0000" and row.intl_daily_cap is None and row.countries is None
    assert not audits(factory, m.account_id, "limits.member_update")


def test_a_secondary_user_sees_but_cannot_change_the_limits(client, make_member, make_secondary, factory):
    m = make_member()
    sec = make_secondary(m)
    sign_in(client, sec)
    assert client.get(URL).status_code == 200
    response = post(client, URL, {"daily_cap": "1", "intl_daily_cap": "1"})
    assert response.status_code == 403
    assert limits_row(factory, m.account_id) is None


def test_members_never_reach_the_fraud_page_nor_its_actions(client, make_member, factory):
    m = make_member()
    set_limits(factory, m.account_id, tripped_at="2026-12-05T00:00:00Z", tripped_reason="test")
    sign_in(client, m)
    assert client.get("/admin/fraud/").status_code == 403
    response = post(client, f"/admin/fraud/lift/{m.account_id}", {})
    assert response.status_code == 403
    assert limits_row(factory, m.account_id).tripped_at is not None


def test_the_operator_lifts_a_tripped_account_audited(client, make_member, factory, admin):
    m = make_member()
    set_limits(
        factory,
        m.account_id,
        tripped_at="2026-12-05T00:00:00Z",
        tripped_reason="more than 3 international calls",
    )
    sign_in_user(client, admin)
    html = unescape(client.get("/admin/fraud/").get_data(as_text=True))
    assert "more than 3 international calls" in html
    response = post(client, f"/admin/fraud/lift/{m.account_id}", {}, token_from="/admin/fraud/")
    assert response.status_code == 302
    assert limits_row(factory, m.account_id).tripped_at is None
    [entry] = audits(factory, m.account_id, "limits.velocity_lift")
    assert entry.actor_user_id == admin and entry.details["reason"] == "more than 3 international calls"
    # lifting again changes nothing and writes nothing
    post(client, f"/admin/fraud/lift/{m.account_id}", {}, token_from="/admin/fraud/")
    assert len(audits(factory, m.account_id, "limits.velocity_lift")) == 1


def test_lifting_an_unknown_account_is_404(client, admin):
    sign_in_user(client, admin)
    assert post(client, "/admin/fraud/lift/999999999", {}, token_from="/admin/fraud/").status_code == 404


def test_the_operator_sets_an_accounts_ceilings_and_opt_in_audited(client, make_member, factory, admin):
    m = make_member()
    sign_in_user(client, admin)
    url = f"/admin/accounts/{m.account_id}/limits"
    assert client.get(url).status_code == 200
    data = {
        "daily_cap_ceiling": "40",
        "intl_daily_cap_ceiling": "",
        "countries_allowed": "gb",
        "max_rate": "0.50",
        "max_concurrent": "2",
        "velocity_intl_attempts": "5",
        "velocity_amount": "",
        "velocity_minutes": "15",
        "premium_opt_in": "y",
    }
    assert post(client, url, data, token_from=url).status_code == 302
    with factory() as s:
        row = s.execute(
            text(
                "SELECT daily_cap_ceiling, countries_allowed, max_rate, max_concurrent, premium_opt_in,"
                " velocity_minutes FROM account_limits WHERE account_id = :a"
            ),
            {"a": m.account_id},
        ).first()
    assert (str(row[0]), row[1], str(row[2]), row[3], row[4], row[5]) == (
        "40.0000",
        ["GB"],
        "0.50000",
        2,
        True,
        15,
    )
    assert audits(factory, m.account_id, "limits.operator_update")
    bad = post(client, url, {**data, "max_rate": "1e30"}, token_from=url)
    assert bad.status_code == 400 and any("between 0 and 100000" in e for e in errors_in(bad))


def test_the_fraud_page_lists_blocked_attempts_and_the_unban_action_is_audited(
    client, make_member, factory, admin
):
    m = make_member()
    with transaction(factory) as s:
        s.execute(
            text(
                "INSERT INTO fraud_events (account_id, virtual_number_id, kind, detail)"
                " VALUES (:a, :v, 'premium_blocked', '19002000000: a premium-rate number')"
            ),
            {"a": m.account_id, "v": m.vn_id},
        )
    sign_in_user(client, admin)
    html = unescape(client.get("/admin/fraud/").get_data(as_text=True))
    assert "premium_blocked" in html and "19002000000: a premium-rate number" in html
    assert 'id="bans"' in html
    # an address no jail holds: nothing lifted, the operator's action is still on record
    response = post(client, "/admin/fraud/unban", {"address": "192.0.2.77"}, token_from="/admin/fraud/")
    assert response.status_code == 302
    with factory() as s:
        entry = s.scalar(
            select(AuditLog).where(AuditLog.action == "fraud.unban", AuditLog.object_id == "192.0.2.77")
        )
    assert entry is not None and entry.actor_user_id == admin and entry.details == {"lifted": False}


def test_members_cannot_unban_nor_change_premium_ranges(client, make_member, factory):
    m = make_member()
    sign_in(client, m)
    assert post(client, "/admin/fraud/unban", {"address": "192.0.2.78"}).status_code == 403
    assert post(client, "/admin/fraud/premium", {"prefix": "1900"}).status_code == 403
    assert post(client, f"/admin/accounts/{m.account_id}/limits", {"premium_opt_in": "y"}).status_code == 403
    with factory() as s:
        assert s.scalar(text("SELECT count(*) FROM premium_prefixes WHERE prefix = '1900'")) == 1
        assert not s.scalar(
            select(AuditLog).where(AuditLog.action == "fraud.unban", AuditLog.object_id == "192.0.2.78")
        )
