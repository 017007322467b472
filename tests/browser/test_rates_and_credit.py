"""Two money journeys in the browser: look up what a number costs to call, and redeem a prepaid
voucher and see the call credit it added, on the Recharge page and under Plan Information."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from db.models import CreditLot
from db.session import transaction
from tests.browser.conftest import login, shot
from webpanel.recharge import services as recharge

pytestmark = pytest.mark.asyncio(loop_scope="session")


def fact(page, term: str):
    """The <dd> of a Prefix Info line."""
    return page.locator(f'.result-card dl.facts div:has(dt:text-is("{term}")) dd')


async def test_looking_up_a_rate_shows_prefix_country_and_price(page, make_member, rate_deck):
    member = make_member()
    await login(page, member)
    await page.click('#sidenav a:text-is("Rate Lookup")')
    await page.fill("#number", "011 44 20 7946 0000")
    await page.click("form[role=search] button[type=submit]")
    await page.wait_for_load_state()
    await shot(page, "journey-rate-lookup-london")
    assert await fact(page, "Prefix").inner_text() == "4420"  # the longest prefix
    assert await fact(page, "IDDD").inner_text() == "+44"
    assert "United Kingdom" in await fact(page, "Country").inner_text()
    assert await fact(page, "Per Minute Rate").inner_text() == "$0.0312"
    assert "United Kingdom London" in await fact(page, "Destination").inner_text()

    # a second lookup from the same form: a toll-free number is free
    await page.fill("#number", "1 800 555 0100")
    await page.click("form[role=search] button[type=submit]")
    await page.wait_for_load_state()
    assert await fact(page, "Per Minute Rate").inner_text() == "Free"

    # a number that is not one gets a clear message on the field, and no result
    await page.fill("#number", "call me maybe")
    await page.click("form[role=search] button[type=submit]")
    await page.wait_for_load_state()
    await shot(page, "journey-rate-lookup-refused")
    assert await page.locator(".result-card").count() == 0
    assert await page.locator(".field-message").count() >= 1


async def test_redeeming_a_voucher_adds_its_amount_to_the_call_credit(page, make_member, factory, settings):
    member = make_member()
    with transaction(factory) as s:
        _, code = recharge.create_voucher(s, settings.pin_hmac_key, Decimal("12.50"))
    await login(page, member)
    await page.click('#sidenav a:text-is("Recharge Call Credit")')
    assert await page.inner_text(".balance") == "$0.00"

    await page.fill("#code", code.lower().replace("-", " "))  # as a member may type it
    await shot(page, "journey-voucher-typed")
    await page.click('form[action$="/recharge/"] button[type=submit]')
    await page.wait_for_load_state()
    await shot(page, "journey-voucher-redeemed")
    assert await page.inner_text(".flash-success") == "Your voucher added $12.50 to your call credit."
    assert await page.inner_text(".balance") == "$12.50"
    assert "Voucher" in await page.locator("table.table tbody").inner_text()

    # the same code again is refused, with a clear message, and the credit does not change
    await page.fill("#code", code)
    await page.click('form[action$="/recharge/"] button[type=submit]')
    await page.wait_for_load_state()
    assert "That voucher has already been used." in await page.locator(".field-message").all_inner_texts()
    await page.goto("/recharge/")
    assert await page.inner_text(".balance") == "$12.50"

    # Plan Information lists the lot
    await page.click('#sidenav a:text-is("Plan Information")')
    assert "$12.50" in await page.locator('[aria-labelledby="credit-title"]').inner_text()
    with factory() as s:
        lots = list(s.scalars(select(CreditLot).where(CreditLot.account_id == member.account_id)))
    assert [(lot.original, lot.source) for lot in lots] == [(Decimal("12.50"), "voucher")]
