"""The operator's Reports page in Chromium (issue 15): sign in as the operator, open Reports from
the navigation, pick a range that holds rated calls of a member, see the totals, the charts
drawn (inline SVG, visible, with their bars) under the panel's CSP (no console error), a bad
range refused with its reason, and the CSV link download the days."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

import pytest

from tests.browser.conftest import login, shot
from tests.web.cdrs import add_cdrs, cdr_values

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_the_operator_reads_a_report_with_its_charts(page, operator, factory, make_member):
    member = make_member()
    day = dt.date(2004, 1, 1) + dt.timedelta(days=random.randrange(3000))
    t0 = dt.datetime.combine(day, dt.time(9), tzinfo=dt.UTC)
    rows = [
        cdr_values(
            vnum=member.number,
            start=t0 + dt.timedelta(days=i),
            dialed="442071234567",
            call_class="I",
            billsec=60 * (i + 1),
        )
        for i in range(3)
    ]
    charges = {
        i: {
            "account_id": member.account_id,
            "call_type": "I",
            "country": "GB",
            "billable_seconds": 60 * (i + 1),
            "cost": Decimal("0.10") * (i + 1),
        }
        for i in range(3)
    }
    add_cdrs(factory, rows, charges)

    await login(page, operator)
    await page.click('#sidenav a:text-is("Reports")')
    await page.wait_for_load_state()
    assert "/admin/reports/" in page.url
    assert await page.locator("#chart-minutes").is_visible()

    # a bad range first: refused with its reason
    await page.fill("#start", (day + dt.timedelta(days=3)).isoformat())
    await page.fill("#end", day.isoformat())
    await page.click("#report-form button[type=submit]")
    await page.wait_for_load_state()
    assert "The End date is before the Start date." in await page.inner_text(".form-errors")
    page.console_errors.clear()  # the refused form's 400, which Chromium reports; nothing else may

    await page.fill("#start", day.isoformat())
    await page.fill("#end", (day + dt.timedelta(days=6)).isoformat())
    await page.fill("#account", str(member.account_id))
    await page.click("#report-form button[type=submit]")
    await page.wait_for_load_state()
    assert await page.inner_text("#total-calls") == "3"
    assert await page.inner_text("#total-minutes") == "6"
    assert await page.inner_text("#total-revenue") == "$0.60"
    chart = page.locator("#chart-minutes")
    assert await chart.is_visible()
    box = await chart.bounding_box()
    assert box and box["width"] > 300 and box["height"] > 80
    assert await page.locator("#chart-minutes rect.chart-bar").count() == 7
    tallest = await page.locator("#chart-minutes rect.chart-bar").nth(2).bounding_box()
    assert tallest and tallest["height"] > 20  # day 3, the most minutes, is drawn
    assert await page.locator("#chart-top").is_visible()
    assert "United Kingdom" in await page.inner_text("#by-country")
    assert await page.locator("#chart-minutes title").first.text_content() == "Minutes per day"
    await shot(page, "journey-admin-reports")

    async with page.expect_download() as info:
        await page.click('#by-day a:text-is("Export CSV")')
    download = await info.value
    text = open(await download.path(), encoding="utf-8").read()
    assert text.splitlines()[0].startswith("Day (UTC),Calls,Answered")
    assert len(text.splitlines()) == 8
    assert not page.console_errors, page.console_errors
