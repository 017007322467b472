"""The help page's "Rate Lookup": the rating code of real calls (classify, may_call, the active
rate deck's longest prefix) shown as prefix, IDDD, country, per-minute rate and the plans."""

from __future__ import annotations

import re
import uuid
from decimal import Decimal
from html import unescape

import pytest
from sqlalchemy import select, update

from db.models import CallingPlan, PlanSubscription, RateDeck, RegionalAreaCode, VirtualNumber
from db.rates import import_deck
from db.session import transaction

from .conftest import errors_in, page, sign_in

DECK = [
    ("1", "US/Canada", "US", Decimal("0.02000"), Decimal("0"), 6, 6),
    ("1415", "US California", "US", Decimal("0.01500"), Decimal("0"), 6, 6),
    ("44", "United Kingdom", "GB", Decimal("0.04500"), Decimal("0"), 60, 60),
    ("4420", "United Kingdom London", "GB", Decimal("0.03125"), Decimal("0.01"), 60, 60),
]


@pytest.fixture()
def deck(factory):
    """This test's rate deck, active; the deck active before it is active again afterwards."""
    with transaction(factory) as s:
        before = s.scalar(select(RateDeck.id).where(RateDeck.active.is_(True)))
        import_deck(s, f"web rate lookup {uuid.uuid4().hex[:6]}", DECK)
        s.merge(RegionalAreaCode(area_code="700", regional_area_code="312"))
    yield
    with transaction(factory) as s:
        s.execute(update(RateDeck).where(RateDeck.active.is_(True)).values(active=False))
        if before is not None:
            s.execute(update(RateDeck).where(RateDeck.id == before).values(active=True))


@pytest.fixture()
def plans(factory):
    tag = uuid.uuid4().hex[:6]
    with transaction(factory) as s:
        regional = CallingPlan(
            name=f"Regional only {tag}",
            regional_minutes=300,
            us_canada_minutes=0,
            monthly_price=Decimal("4.99"),
        )
        continental = CallingPlan(
            name=f"US & Canada {tag}",
            regional_minutes=0,
            us_canada_minutes=1000,
            monthly_price=Decimal("9.99"),
        )
        retired = CallingPlan(
            name=f"Retired {tag}", regional_minutes=100, us_canada_minutes=100, active=False
        )
        s.add_all([regional, continental, retired])
    return regional.name, continental.name, retired.name


def test_an_international_number_shows_prefix_iddd_country_rate_and_no_plan(client, make_member, deck, plans):
    member = make_member()
    sign_in(client, member)
    html = page(client, "/rate-lookup/?number=011+44+20+7946+0000")
    assert '<dd class="number">4420</dd>' in html  # the longest prefix
    assert '<dd class="number">+44</dd>' in html  # IDDD
    assert '<abbr title="United Kingdom">GB</abbr> — United Kingdom' in html
    assert "$0.03125" in html and "$0.01 to connect" in html
    assert "No calling plan covers this destination" in html
    assert "International calls are not allowed on this number" in html  # LD permission off


def test_a_regional_number_lists_the_plans_with_regional_or_us_canada_minutes(
    client, make_member, deck, plans, factory
):
    regional, continental, retired = plans
    member = make_member()
    with transaction(factory) as s:
        plan_id = s.scalar(select(CallingPlan.id).where(CallingPlan.name == continental))
        s.add(
            PlanSubscription(
                account_id=member.account_id,
                plan_id=plan_id,
                renew_date="2031-01-01",
                enabled_virtual_number_id=member.virtual_number_id,
            )
        )
    sign_in(client, member)
    html = unescape(page(client, "/rate-lookup/?number=1-312-555-0100"))  # 312: regional for area 700
    assert "Regional" in html and "$0.02" in html
    assert regional in html and continental in html and retired not in html
    assert f'{continental} <span class="tag">your plan</span>' in html
    assert "not allowed" not in html  # regional calls need no LD permission


def test_a_domestic_number_lists_only_plans_with_us_canada_minutes(client, make_member, deck, plans, factory):
    regional, continental, _ = plans
    member = make_member()
    with transaction(factory) as s:
        s.get(VirtualNumber, member.virtual_number_id).allow_us_canada_ld = True
    sign_in(client, member)
    html = unescape(page(client, "/rate-lookup/?number=(415) 555-0100"))
    assert '<dd class="number">1415</dd>' in html and "$0.015" in html
    assert continental in html and regional not in html
    assert "not allowed" not in html


@pytest.mark.parametrize("number, label", [("911", "Emergency 911"), ("18005550100", "Toll-free")])
def test_free_destinations_say_so(client, make_member, deck, number, label):
    sign_in(client, make_member())
    html = page(client, f"/rate-lookup/?number={number}")
    assert label in html and re.search(r'<dd class="big">\s*Free</dd>', html)


def test_another_members_virtual_number_is_on_net_and_free(client, make_member, deck):
    member, other = make_member(), make_member()
    sign_in(client, member)
    html = page(client, f"/rate-lookup/?number={other.number}")
    assert "On-net" in html and "No plan is needed: this call is free." in html


@pytest.mark.parametrize(
    "number, message",
    [
        ("", "Enter the phone number you wish to look up."),
        (
            "call me",
            "That is not a number we can call (not a phone number). Type the number as you would dial "
            "it: 1 + area code + number, or 011 + country code + number.",
        ),
        (
            "4420794600",
            "That is not a number we can call (no such number). Type the number as you would dial "
            "it: 1 + area code + number, or 011 + country code + number.",
        ),
        (
            "442079460000",
            "That is not a number we can call: dial 1 + area code + number, or 011 + country code + number.",
        ),
    ],
)
def test_a_number_that_cannot_be_dialed_gets_a_clear_message(client, make_member, deck, number, message):
    sign_in(client, make_member())
    response = client.get("/rate-lookup/", query_string={"number": number})
    assert response.status_code == 400
    assert message in errors_in(response)


def test_calling_from_must_be_one_of_the_users_own_numbers(client, make_member, make_secondary, deck):
    member = make_member()
    second = make_secondary(member)
    stranger = make_member()
    sign_in(client, member)
    assert (
        client.get(
            "/rate-lookup/", query_string={"number": "14155550100", "caller": second.number}
        ).status_code
        == 200
    )
    response = client.get("/rate-lookup/", query_string={"number": "14155550100", "caller": stranger.number})
    assert response.status_code == 400
    assert "Choose one of your virtual numbers." in errors_in(response)
    sign_in(client, second)  # a secondary user calls from their own number only
    response = client.get("/rate-lookup/", query_string={"number": "14155550100", "caller": member.number})
    assert response.status_code == 400
