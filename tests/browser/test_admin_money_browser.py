"""Money by hand in Chromium (issue 15): the operator opens a member's account page, credits it
with a reason, sees the balance and the ledger update, tries a debit over the available balance
(refused next to the amount, nothing changed), debits within it, and the member then sees both
adjustments with their reasons on Plans & Credit."""

from __future__ import annotations

import pytest

from tests.browser.conftest import login, shot

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_credit_then_debit_an_account_and_the_balance_follows(
    page, browser, live_panel, operator, make_member
):
    member = make_member(credit=["3.00"])
    await login(page, operator)
    await page.goto(f"/admin/accounts/{member.account_id}")
    assert (await page.inner_text("#money-balance")).strip() == "$3.00"

    await page.select_option("#kind", "credit")
    await page.fill("#amount", "10.50")
    await page.fill("#reason", "Goodwill for the outage")
    await page.click("#money-form button[type=submit]")
    await page.wait_for_load_state()
    assert "balance is now $13.50" in await page.inner_text(".flash")
    assert (await page.inner_text("#money-balance")).strip() == "$13.50"
    assert "Goodwill for the outage" in await page.inner_text("#ledger-table")

    await page.select_option("#kind", "debit")
    await page.fill("#amount", "20")
    await page.fill("#reason", "Too much")
    await page.click("#money-form button[type=submit]")
    await page.wait_for_load_state()
    assert "more than the available balance of 13.5000" in await page.inner_text("#money-form")
    assert (await page.inner_text("#money-balance")).strip() == "$13.50"
    page.console_errors.clear()  # the refused form's 400, which Chromium reports; nothing else may

    await page.select_option("#kind", "debit")
    await page.fill("#amount", "4.25")
    await page.fill("#reason", "Number porting fee")
    await page.click("#money-form button[type=submit]")
    await page.wait_for_load_state()
    assert (await page.inner_text("#money-balance")).strip() == "$9.25"
    await shot(page, "admin-money-after-debit")
    assert page.console_errors == []

    context = await browser.new_context(base_url=live_panel.url, locale="en-US", timezone_id="UTC")
    try:
        mine = await context.new_page()
        await login(mine, member)
        await mine.goto("/plans/")
        table = await mine.inner_text("#adjustments")
        assert "Goodwill for the outage" in table and "Number porting fee" in table
        assert "+$10.50" in table and "−$4.25" in table
    finally:
        await context.close()
