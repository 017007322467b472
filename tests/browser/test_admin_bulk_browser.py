"""The operator's bulk import in Chromium (issue 15): open Bulk Import from the navigation, upload
a CSV with a mistake and see the problem with its line and column and no Apply button, upload the
corrected file and see every row's result, apply it, see the accounts created (and the generated
password once), then find the account in Accounts; on it, open a number's options and change one
as the operator, and connect one of its DIDs by choosing a number from the list."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from db.models import Did, VirtualNumber
from tests.browser.conftest import login, shot
from tests.support.realparts import unique_number

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_upload_a_csv_see_the_dry_run_apply_and_see_the_accounts(page, operator, factory, tmp_path):
    a, a2, b = unique_number("1700"), unique_number("1700"), unique_number("1700")
    d1, d2 = unique_number("1555"), unique_number("1555")
    header = "account_ref,first_name,last_name,company,email,login,password,numbers,dids\n"
    good = (
        header
        + f"B-1,Grace,Hopper,Navy,grace@example.com,{a},Bulk-pass-2026,{a2},{d1};{d2}=fax_to_email:fax@example.com\n"
        + f"B-2,Edsger,Dijkstra,,,{b},generate,,\n"
    )
    bad = good.replace("fax_to_email:fax@example.com", "17009999999")  # not a number of the row

    await login(page, operator)
    await page.click('#sidenav a:text-is("Bulk Import")')
    await page.wait_for_load_state()
    assert page.url.endswith("/admin/bulk-import/")

    path = tmp_path / "accounts.csv"
    path.write_text(bad)
    await page.set_input_files("#file", str(path))
    await page.click("#bulk-upload button[type=submit]")
    await page.wait_for_load_state()
    await shot(page, "journey-admin-bulk-problem")
    problems = page.locator("#bulk-problems tbody tr")
    assert await problems.count() == 1
    cells = await problems.first.locator("td").all_inner_texts()
    assert cells[0] == "2" and cells[1] == "dids" and "17009999999" in cells[2]
    assert await page.locator("#bulk-apply").count() == 0
    page.console_errors.clear()  # the refused dry run's 400, which Chromium reports

    path.write_text(good)
    await page.set_input_files("#file", str(path))
    await page.click("#bulk-upload button[type=submit]")
    await page.wait_for_load_state()
    await shot(page, "journey-admin-bulk-dry-run")
    summary = await page.inner_text("#bulk-summary")
    assert "Apply would create 2 accounts, 3 virtual numbers and 2 DIDs." in summary
    rows = page.locator("tr.bulk-row")
    assert await rows.count() == 2
    first = await rows.nth(0).inner_text()
    assert "Grace Hopper" in first and a2 in first and d1 in first and "Fax to Email" in first
    assert "would be created" in first
    assert "generated at apply" in await rows.nth(1).inner_text()
    with factory() as s:  # nothing stored by the dry run
        assert s.scalar(select(VirtualNumber.id).where(VirtualNumber.number == a)) is None

    await page.click("#bulk-apply button[type=submit]")
    await page.wait_for_load_state()
    await shot(page, "journey-admin-bulk-applied")
    assert "2 accounts were created." in await page.inner_text("#bulk-summary")
    generated = page.locator(f'code.generated-password[data-login="{b}"]')
    assert len((await generated.inner_text()).strip()) >= 12
    assert await page.locator("#bulk-apply").count() == 0

    # the accounts are there
    await page.click('#bulk-summary a:text-is("Accounts")')
    await page.wait_for_load_state()
    await page.fill("#q", a)
    await page.press("#q", "Enter")
    await page.wait_for_load_state()
    assert "Grace" in await page.inner_text("main")
    with factory() as s:
        vn = s.scalar(select(VirtualNumber).where(VirtualNumber.number == a))
        account_id = vn.account_id
        did_id = s.scalar(select(Did.id).where(Did.number == d1))
    await page.goto(f"/admin/accounts/{account_id}")
    body = await page.inner_text("main")
    assert a in body and a2 in body and d1 in body and d2 in body

    # a number's options, as the operator (a primary-only option included)
    await page.click(f'#number-options-links a:text-is("{a2}")')
    await page.wait_for_load_state()
    assert not await page.is_checked("#allow_international_ld")
    await page.check("#allow_international_ld")
    await page.click("#number-options-form button[type=submit]")
    await page.wait_for_load_state()
    assert f"The options of {a2} were saved." in await page.inner_text(".flash")
    assert await page.is_checked("#allow_international_ld")

    # the DID connected by choosing the number from the list
    await page.goto(f"/admin/dids/?q={d1}")
    options = await page.locator(f"#t-{did_id} option").all_inner_texts()
    assert options[:2] == ["Not connected", "Fax to Email"] and sorted(options[2:]) == sorted([a, a2])
    await page.select_option(f"#t-{did_id}", a2)
    await page.click(f'button[form="did-{did_id}"]')
    await page.wait_for_load_state()
    await shot(page, "journey-admin-did-select")
    assert f"DID {d1} was updated." in await page.inner_text(".flash")
    assert await page.input_value(f"#t-{did_id}") == a2
    with factory() as s:
        did = s.get(Did, did_id)
        assert (did.connection, did.account_id) == ("virtual_number", account_id)
    assert not page.console_errors, page.console_errors
