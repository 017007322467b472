"""Schedule a conference with guests in the browser; the guest who asked for an invite gets it
by email (a real SMTP server): their PIN, their role, the dial-in numbers and an .ics."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.browser.conftest import login, shot

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_scheduling_a_conference_emails_the_invite_to_the_guest(page, make_member, smtp_server):
    member = make_member()
    day = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    await login(page, member)
    await page.click('#sidenav a:text-is("Conference")')
    await shot(page, "journey-conference-1-empty-list")
    await page.click("#schedule-link")

    await page.fill("#date", day)
    await page.select_option("#time", "15:30")
    await page.select_option("#duration", "90")
    await page.fill("#guests-0-virtual_number", "17005550188")
    await page.fill("#guests-0-name", "Nora Guest")
    await page.fill("#guests-0-email", "nora@example.test")
    await page.check('input[name="guests-0-role"][value="listen_only"]')
    await page.check("#guests-0-send_invite")
    # Add keeps what was typed and brings a second row: a talk-only guest without email
    await page.click("#add-guest")
    await page.wait_for_load_state()
    assert await page.input_value("#guests-0-email") == "nora@example.test"
    await page.fill("#guests-1-name", "Tom Talker")
    await page.check('input[name="guests-1-role"][value="talk_only"]')
    await shot(page, "journey-conference-2-schedule-form")
    await page.click("#schedule-submit")
    await page.wait_for_load_state()
    await shot(page, "journey-conference-3-scheduled")

    flashes = await page.locator(".flash-success").all_inner_texts()
    assert any(
        f.startswith(f"Your conference on {day} 15:30") and f.endswith("was scheduled.") for f in flashes
    ), flashes
    assert "Invite sent to nora@example.test." in flashes
    row = page.locator("#conference-list tbody tr")
    assert await row.count() == 1
    assert await row.first.get_attribute("data-status") == "created"

    (mail,) = await smtp_server.wait_for(1)
    assert mail.rcpt_tos == ["nora@example.test"]  # the talk-only guest has no address
    body = mail.message.get_body(("plain",)).get_content()

    # the PIN in the mail is the one the panel shows for this guest
    await row.first.locator('a:text-is("Edit")').click()
    await shot(page, "journey-conference-4-edit")
    pin = (await page.inner_text("#guests-0-pin")).strip()
    assert pin.isdigit() and pin in body
    assert (await page.inner_text("#guests-1-pin")).strip() not in body
    assert "Listen only" in body and day in body
    ((name, _content, mimetype),) = mail.attachments()
    assert name.endswith(".ics") and mimetype == "text/calendar"
