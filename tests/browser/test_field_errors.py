"""Issue 16 in Chromium: one submit of Account Information with three bad fields marks all
three, each input's aria-describedby resolves to its help and its error message (what a screen
reader reads on reaching the field), and the summary at the top links to each field. The
time-zone picker offers the member's country's zones first."""

from __future__ import annotations

import pytest

from tests.browser.conftest import login, shot

pytestmark = pytest.mark.asyncio(loop_scope="session")

DESCRIBED = """el => (el.getAttribute("aria-describedby") || "").split(/\\s+/).filter(Boolean)
    .map(id => { const d = document.getElementById(id); return d ? d.textContent.trim() : "MISSING " + id; })"""


async def test_three_bad_fields_are_all_marked_and_described_after_one_submit(page, make_member):
    member = make_member()
    await login(page, member)
    await page.goto("/account/")
    await page.select_option("#country", "US")
    await page.fill("#first_name", "")
    await page.fill("#postal_code", "ABCDE")
    await page.fill("#pstn_phone", "12")
    await page.fill("#email", "member@example.com")  # good: only the three above are wrong
    await page.click("form.form button[type=submit]")
    await page.wait_for_load_state()
    await shot(page, "account-three-field-errors")

    assert await page.locator(".field-message").count() == 3
    for field in ("first_name", "postal_code", "pstn_phone"):
        box = page.locator(f"#{field}")
        assert await box.get_attribute("aria-invalid") == "true", field
    assert await page.locator("#first_name").evaluate(DESCRIBED) == ["Enter your first name."]
    assert "A US ZIP code is 5 digits" in (await page.locator("#postal_code").evaluate(DESCRIBED))[0]
    phone = await page.locator("#pstn_phone").evaluate(DESCRIBED)
    assert phone[0] == "Your Public Service Telephone Network (PSTN) phone number."  # its help first
    assert "PSTN Phone" in phone[1] and len(phone) == 2
    # an untouched field is neither invalid nor described by an error
    assert await page.locator("#city").get_attribute("aria-invalid") is None

    summary = page.locator(".form-error-summary[role=alert]")
    links = summary.locator("a")
    assert await links.count() == 3
    targets = [await links.nth(i).get_attribute("href") for i in range(3)]
    assert targets == ["#first_name", "#postal_code", "#pstn_phone"]
    await links.nth(1).click()
    assert page.url.endswith("#postal_code")
    assert await page.locator("#postal_code").is_visible()


async def test_time_zone_picker_lists_the_countrys_zones_first(page, make_member):
    member = make_member()
    await login(page, member)
    await page.goto("/account/")
    groups = await page.locator("#time_zone optgroup").evaluate_all("gs => gs.map(g => g.label)")
    country = await page.locator("#country").input_value()
    assert groups[0].startswith("Likely for"), groups
    first = (
        await page.locator("#time_zone optgroup")
        .first.locator("option")
        .evaluate_all("os => os.map(o => o.value)")
    )
    if country == "US":
        assert first[0] == "America/New_York" and "America/Los_Angeles" in first
    values = await page.locator("#time_zone option").evaluate_all("os => os.map(o => o.value)")
    assert len(set(values)) < 330 and "US/Central" not in values  # canonical names only, not ~600


async def test_a_radio_groups_summary_link_takes_the_focus_to_its_first_option(page, make_member, factory):
    """Reviewer R-FORMS: the 911 form's "located within US/CA" is a radio group; its summary
    link used to point at #in_us_ca, an id no element has (Enter on it did nothing)."""
    from db.models import Did
    from db.session import transaction
    from tests.support.realparts import unique_number

    member = make_member()
    with transaction(factory) as s:
        did = Did(
            account_id=member.account_id,
            number=unique_number("1555"),
            connection="virtual_number",
            virtual_number_id=member.virtual_number_id,
        )
        s.add(did)
        s.flush()
        did_id = did.id
    await login(page, member)
    await page.goto(f"/dids/{did_id}/911")
    await page.evaluate(
        "document.querySelectorAll('input[name=in_us_ca]').forEach(r => { r.checked = false; })"
    )
    async with page.expect_navigation():
        await page.locator('input[name="in_us_ca"]').first.evaluate("r => r.form.requestSubmit()")
    link = page.locator('.form-error-summary a[href="#in_us_ca-0"]')
    hrefs = await page.locator(".form-error-summary a").evaluate_all(
        "as => as.map(a => a.getAttribute('href'))"
    )
    assert await link.count() == 1, hrefs
    await link.focus()
    await page.keyboard.press("Enter")
    focused = await page.evaluate("document.activeElement.id")
    assert focused == "in_us_ca-0", focused
