"""Invoices in the browser (issue 15): the operator issues last month's invoice for an account
from the admin's Invoices page; the account holder then finds it under Invoices in the
navigation and downloads its PDF, which is a real PDF showing the number and the closing
balance."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pytest
from pypdf import PdfReader

from db import invoices
from tests.browser.conftest import login, shot

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_the_operator_issues_and_the_holder_downloads_an_invoice(
    page, browser, live_panel, make_member, operator, factory
):
    member = make_member(credit=["9.40"], credit_since=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    year, month = invoices.previous_month(dt.datetime.now(dt.UTC).date())

    # the operator issues last month's invoice for the account
    await login(page, operator)
    await page.click('#sidenav a:text-is("Invoices")')
    assert page.url.endswith("/admin/invoices/")
    await page.fill("#month", f"{year:04d}-{month:02d}")
    await page.fill("#account_id", str(member.account_id))
    await page.click("#issue-form button[type=submit]")
    await page.wait_for_load_state()
    await shot(page, "journey-admin-invoice-issued")
    with factory() as s:
        invoice = invoices.find(s, member.account_id, year, month)
        assert invoice is not None
        number = invoice.number
    assert number in await page.locator(".flash").first.inner_text()
    row = page.locator(f'tr.invoice-row[data-number="{number}"]')
    assert "$9.40" in await row.inner_text()

    # the account holder sees it under Invoices and downloads the PDF
    context = await browser.new_context(base_url=live_panel.url, locale="en-US", timezone_id="UTC")
    member_page = await context.new_page()
    try:
        await login(member_page, member)
        await member_page.click('#sidenav a:text-is("Invoices")')
        assert member_page.url.endswith("/invoices/")
        row = member_page.locator(f'tr.invoice-row[data-number="{number}"]')
        assert "$9.40" in await row.inner_text()
        await shot(member_page, "journey-member-invoices")
        async with member_page.expect_download() as info:
            await row.locator("a:has-text('PDF')").click()
        download = await info.value
        assert download.suggested_filename == f"{number}.pdf"
        content = Path(await download.path()).read_bytes()
    finally:
        await context.close()
    assert content.startswith(b"%PDF-")
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(content)).pages)
    assert number in text and "$9.40" in text
