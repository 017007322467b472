"""Issue 13 item 8: every money and rate value an operator types goes through one strict parser
(controller.rules.amounts). `1e30`, `NaN`, `Infinity`, `-0`, superscript or full-width digits
get a message naming the line or field and change nothing (they were 500s), and a rate with more
decimals than the column keeps is refused instead of being stored rounded to 0 (a free
destination)."""

from __future__ import annotations

import io
import time
from decimal import Decimal
from html import unescape

import pytest
from sqlalchemy import func, select

from controller.rules import amounts
from db import accounts
from db.models import CallingPlan, Rate, RateDeck, Voucher
from db.session import transaction
from tests.support.panel import sign_in_user

from .conftest import csrf_token, errors_in

HEADER = "prefix,destination,country,rate_per_minute,connect_fee,min_seconds,increment_seconds\n"
GOOD = "1,US,US,0.01,0,6,6\n"


@pytest.fixture()
def as_admin(client, factory):
    with transaction(factory) as s:
        admin_id = accounts.create_admin(s, f"admin-{time.time_ns()}", "Admin-pass-2026").id
    sign_in_user(client, admin_id)
    return client


def _post(client, url, data, token_from, **kw):
    return client.post(url, data={"csrf_token": csrf_token(client, token_from), **data}, **kw)


def _upload(client, text: str):
    data = {
        "name": f"deck-{time.time_ns()}",
        "deck": (io.BytesIO(text.encode()), "deck.csv"),
        "activate": "y",
    }
    return _post(client, "/admin/rates/import", data, "/admin/rates/", content_type="multipart/form-data")


def _decks(factory) -> tuple[int, int, int | None]:
    with factory() as s:
        return (
            s.scalar(select(func.count()).select_from(RateDeck)),
            s.scalar(select(func.count()).select_from(Rate)),
            s.scalar(select(RateDeck.id).where(RateDeck.active.is_(True))),
        )


@pytest.mark.parametrize(
    "row, message",
    [
        ("44,UK,GB,1e30,0,60,60", "Line 3: rate_per_minute '1e30' is not an amount"),
        ("44,UK,GB,NaN,0,60,60", "Line 3: rate_per_minute 'NaN' is not an amount"),
        ("44,UK,GB,Infinity,0,60,60", "Line 3: rate_per_minute 'Infinity' is not an amount"),
        ("44,UK,GB,-0,0,60,60", "Line 3: rate_per_minute '-0' is not an amount"),
        ("44,UK,GB,-1,0,60,60", "Line 3: rate_per_minute '-1' is not an amount"),
        ("44,UK,GB,2²,0,60,60", "Line 3: rate_per_minute '2²' is not an amount"),
        ("44,UK,GB,０.５,0,60,60", "Line 3: rate_per_minute '０.５' is not an amount"),
        ("44,UK,GB,1.000.0,0,60,60", "is not an amount"),
        ("44,UK,GB,100000,0,60,60", "Line 3: rate_per_minute '100000' is more than 99999.99999"),
        ("44,UK,GB,0.01,NaN,60,60", "Line 3: connect_fee 'NaN' is not an amount"),
        ("44,UK,GB,0.01,1e30,60,60", "Line 3: connect_fee '1e30' is not an amount"),
        ("44,UK,GB,0.01,Infinity,60,60", "Line 3: connect_fee 'Infinity' is not an amount"),
        ("44,UK,GB,0.01,0,99999999999,60", "Line 3: min_seconds '99999999999' is not a whole number"),
        ("44,UK,GB,0.01,0,60,1e3", "Line 3: increment_seconds '1e3' is not a whole number"),
        ("44,UK,GB,0.01,0,６0,60", "Line 3: min_seconds '６0' is not a whole number"),
        ("4²,UK,GB,0.01,0,60,60", "Line 3: prefix '4²' is not 1 to 15 digits."),
        ("44,UK,G\u00e9,0.01,0,60,60", "Line 3: country 'GÉ' is not a two-letter code."),
        ("44,U\x00K,GB,0.01,0,60,60", "Line 3: the destination contains control characters."),
        # review: a three-letter code was cut to two letters, silently another country
        ("43,Austria,AUT,0.01,0,60,60", "Line 3: country 'AUT' is not a two-letter code."),
        # a tiny rate: the column keeps 5 decimals; stored, it was rounded to 0 (a free destination)
        ("44,UK,GB,0.000001,0,60,60", "Line 3: rate_per_minute '0.000001' has more than 5 decimals"),
        ("44,UK,GB,0.01,0.0000049,60,60", "Line 3: connect_fee '0.0000049' has more than 5 decimals"),
    ],
)
def test_a_bad_value_in_a_rate_deck_gets_its_message_and_imports_nothing(as_admin, factory, row, message):
    before = _decks(factory)
    r = _upload(as_admin, HEADER + GOOD + row + "\n")
    assert r.status_code == 400
    html = unescape(r.get_data(as_text=True))
    assert "Nothing was imported." in html
    assert message in html, errors_in(r)
    assert _decks(factory) == before


def test_exact_values_are_stored_as_written_and_an_explicit_zero_is_free(as_admin, factory):
    text = HEADER + "1,US,US,0.01,0,6,6\n44,UK,GB,0.00001,0.000010,60,60\n800,Free,US,0,0.00000,60,60\n"
    r = _upload(as_admin, text)
    assert r.status_code == 302, errors_in(r)
    with factory() as s:
        deck = s.scalar(select(RateDeck).order_by(RateDeck.id.desc()).limit(1))
        rates = {
            r.prefix: (r.rate_per_minute, r.connect_fee)
            for r in s.scalars(select(Rate).where(Rate.deck_id == deck.id))
        }
        previous = s.scalar(
            select(RateDeck.id).where(RateDeck.id != deck.id).order_by(RateDeck.id.desc()).limit(1)
        )
    assert rates["44"] == (Decimal("0.00001"), Decimal("0.00001"))
    assert rates["800"] == (Decimal("0"), Decimal("0"))
    if previous:  # give the other tests their deck back
        _post(as_admin, f"/admin/rates/{previous}/activate", {}, "/admin/rates/")


@pytest.mark.parametrize(
    "price, message",
    [
        ("1e30", "Enter the monthly price in dollars, such as 10 or 12.50."),
        ("NaN", "Enter the monthly price in dollars, such as 10 or 12.50."),
        ("Infinity", "Enter the monthly price in dollars, such as 10 or 12.50."),
        ("-0", "Enter the monthly price in dollars, such as 10 or 12.50."),
        ("²", "Enter the monthly price in dollars, such as 10 or 12.50."),
        ("１０", "Enter the monthly price in dollars, such as 10 or 12.50."),
        ("9.99999", "The monthly price has more than 4 decimals: it would be rounded."),
        ("100001", "The monthly price is at most 100000."),
    ],
)
def test_a_bad_plan_price_gets_its_message_and_saves_nothing(as_admin, factory, price, message):
    name = f"Plan {time.time_ns()}"
    data = {"name": name, "regional_minutes": "10", "us_canada_minutes": "10", "monthly_price": price}
    r = _post(as_admin, "/admin/plans/new", data, "/admin/plans/")
    assert r.status_code == 400
    assert message in errors_in(r), errors_in(r)
    with factory() as s:
        assert s.scalar(select(CallingPlan.id).where(CallingPlan.name == name)) is None


def test_a_plan_price_is_stored_as_written(as_admin, factory):
    name = f"Plan {time.time_ns()}"
    data = {"name": name, "regional_minutes": "10", "us_canada_minutes": "10", "monthly_price": "12.5"}
    r = _post(as_admin, "/admin/plans/new", data, "/admin/plans/")
    assert r.status_code == 302, errors_in(r)
    with factory() as s:
        assert s.scalar(select(CallingPlan.monthly_price).where(CallingPlan.name == name)) == Decimal("12.5")


@pytest.mark.parametrize("amount", ["1e2", "NaN", "Infinity", "-0", "１０", "5²", "$1e1"])
def test_a_bad_voucher_amount_gets_its_message_and_makes_no_voucher(as_admin, factory, amount):
    with factory() as s:
        before = s.scalar(select(func.count()).select_from(Voucher))
    r = _post(as_admin, "/admin/vouchers/new", {"count": "2", "amount": amount}, "/admin/vouchers/")
    assert r.status_code == 400
    assert "Enter the amount in dollars, such as 10 or 12.50." in errors_in(r)
    with factory() as s:
        assert s.scalar(select(func.count()).select_from(Voucher)) == before


def test_the_parser_knows_the_columns_it_guards():
    for column, rule in (
        (Rate.__table__.c.rate_per_minute, amounts.RATE),
        (Voucher.__table__.c.amount, amounts.MONEY),
    ):
        assert (column.type.precision, column.type.scale) == (rule.precision, rule.scale)
    assert amounts.RATE.largest == Decimal("99999.99999")


def test_an_account_id_out_of_range_in_a_form_gets_a_message(as_admin, factory):
    """A form's id field, like a URL's, is bounded to PostgreSQL's integer (it was a 500)."""
    from db.models import Did
    from tests.support.realparts import unique_number

    number = unique_number("1555")
    data = {"number": number, "account_id": "99999999999999999999"}
    r = _post(as_admin, "/admin/dids/new", data, "/admin/dids/")
    assert r.status_code == 400
    assert any("2147483647" in e for e in errors_in(r)), errors_in(r)
    with factory() as s:
        assert s.scalar(select(Did.id).where(Did.number == number)) is None
