"""The help page's "Plan Information": calling plans with usage bars, enabled phone, credit lots."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from decimal import Decimal

import pytest

from db.models import CallingPlan, CreditLot, PlanSubscription
from db.session import transaction
from webpanel.filters import localtime

from .conftest import errors_in, page, post_form, sign_in


@pytest.fixture()
def make_plan(factory):
    def make(
        member,
        *,
        vn_id=None,
        regional=500,
        us_canada=1000,
        regional_left=400 * 60,
        us_canada_left=250 * 60 + 30,
    ) -> int:
        with transaction(factory) as s:
            plan = CallingPlan(
                name=f"North America {uuid.uuid4().hex[:6]}",
                regional_minutes=regional,
                us_canada_minutes=us_canada,
                monthly_price=Decimal("9.99"),
            )
            s.add(plan)
            s.flush()
            sub = PlanSubscription(
                account_id=member.account_id,
                plan_id=plan.id,
                enabled_virtual_number_id=vn_id or member.virtual_number_id,
                renew_date=dt.date(2031, 7, 1),
                regional_seconds_left=regional_left,
                us_canada_seconds_left=us_canada_left,
            )
            s.add(sub)
            s.flush()
            return sub.id

    return make


def _sub(factory, sub_id) -> PlanSubscription:
    with factory() as s:
        return s.get(PlanSubscription, sub_id)


def test_plan_information_shows_plans_usage_bars_and_credit_lots(client, make_member, make_plan, factory):
    member = make_member(time_zone="Europe/Paris")
    sub_id = make_plan(member)
    bought = dt.datetime(2030, 1, 15, 12, 30, 5, tzinfo=dt.UTC)
    used = dt.datetime(2030, 2, 1, 8, 0, 0, tzinfo=dt.UTC)
    with transaction(factory) as s:
        s.add(
            CreditLot(
                account_id=member.account_id,
                original=Decimal("20.00"),
                remaining=Decimal("12.3450"),
                source="payment",
                purchased_at=bought,
                last_used_at=used,
            )
        )
        s.add(
            CreditLot(
                account_id=member.account_id,
                original=Decimal("5.00"),
                remaining=Decimal("5.00"),
                source="voucher",
            )
        )
    sign_in(client, member)
    html = page(client, "/plans/")
    for label in (
        "Calling Plans",
        "ID",
        "Plan",
        "Renew Date",
        "Regional Minutes",
        "Monthly US &amp; Canada Minutes",
        "Minutes Remaining",
        "Enabled Phone",
        "Pay-as-you-go Calling Credit",
        "Date Purchased",
        "Last Use",
        "Original",
        "Remaining",
    ):
        assert label in html, label
    assert f'<td data-label="ID" class="number">{sub_id}</td>' in html
    assert "2031-07-01" in html
    assert "Regional: 400 of 500 min" in html and "US &amp; Canada: 250 of 1,000 min" in html
    assert re.search(r'<meter id="reg-\d+" min="0" max="30000"[^>]* value="24000"', html)
    assert "650 minutes remaining" in html
    assert localtime(bought, "Europe/Paris") == "2030-01-15 13:30:05"
    assert "2030-01-15 13:30:05" in html and "2030-02-01 09:00:00" in html  # the account's zone
    assert "$12.345" in html and "$20.00" in html and "Never used" in html
    assert "Remaining: <strong>$17.345</strong>" in html
    assert not re.search(r"\sstyle=", html)  # bars without inline styles (CSP)


def test_primary_holder_chooses_the_enabled_phone(client, make_member, make_secondary, make_plan, factory):
    member = make_member()
    second = make_secondary(member)
    sub_id = make_plan(member)
    sign_in(client, member)
    response = post_form(client, f"/plans/{sub_id}/enabled-phone", {"enabled_phone": second.number})
    assert response.status_code == 302
    assert _sub(factory, sub_id).enabled_virtual_number_id == second.virtual_number_id
    assert f"Plan {sub_id} now applies to calls from {second.number}." in page(client, "/plans/")


def test_enabled_phone_must_be_a_number_of_the_account(client, make_member, make_plan, factory):
    member, other = make_member(), make_member()
    sub_id = make_plan(member)
    sign_in(client, member)
    response = post_form(client, f"/plans/{sub_id}/enabled-phone", {"enabled_phone": other.number})
    assert response.status_code == 400
    assert "Choose one of your virtual numbers." in errors_in(response)
    assert _sub(factory, sub_id).enabled_virtual_number_id == member.virtual_number_id


def test_secondary_user_sees_only_plans_on_their_number_and_cannot_move_them(
    client, make_member, make_secondary, make_plan, factory
):
    member = make_member()
    second = make_secondary(member)
    theirs = make_plan(member, vn_id=second.virtual_number_id)
    primarys = make_plan(member)
    sign_in(client, second)
    html = page(client, "/plans/")
    assert f'class="number">{theirs}</td>' in html and f'class="number">{primarys}</td>' not in html
    assert 'name="enabled_phone"' not in html
    response = post_form(client, f"/plans/{theirs}/enabled-phone", {"enabled_phone": member.number})
    assert response.status_code == 403
    assert _sub(factory, theirs).enabled_virtual_number_id == second.virtual_number_id


def test_another_accounts_plan_is_not_found(client, make_member, make_plan, factory):
    member, other = make_member(), make_member()
    sub_id = make_plan(other)
    sign_in(client, member)
    response = post_form(client, f"/plans/{sub_id}/enabled-phone", {"enabled_phone": member.number})
    assert response.status_code == 404
    assert _sub(factory, sub_id).enabled_virtual_number_id == other.virtual_number_id
