"""Issue 16 in Chromium: the Home dashboard and the Phone setup page render (1280 px and 375 px,
nothing wider than the viewport), the copy buttons copy each setting, from the mouse and from
the keyboard, and say so in the live region; "Check my registration" is reached from Home."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.browser.conftest import login, shot

pytestmark = pytest.mark.asyncio(loop_scope="session")

WIDER = """() => [...document.querySelectorAll('body *')]
    .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
    .map(e => e.tagName + '#' + e.id + '.' + e.className).slice(0, 5)"""


async def test_dashboard_and_phone_setup_render_and_copy_buttons_copy(page, make_member, database):
    member = make_member(credit=("7.25",))
    await login(page, member)
    await page.goto("/")
    assert (await page.locator("#fig-balance .dash-value").inner_text()).strip() == "$7.25"
    assert "Not registered" in await page.locator(f"#line-{member.number}").inner_text()
    await shot(page, "home-dashboard")

    await page.click(f'#line-{member.number} a:text-is("Check my registration")')
    await page.wait_for_load_state()
    assert page.url.endswith(f"/phone-setup/{member.number}/check")
    assert "has reached the server" in await page.locator("#findings").inner_text()
    await shot(page, "check-registration")

    await page.click('#sidenav a:text-is("Phone setup")')
    await page.wait_for_load_state()
    assert page.url.endswith("/phone-setup/")
    assert await page.locator(".setup-qr svg").count() == 1
    await shot(page, "phone-setup")
    await page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    await page.click('button[data-copy="setup-server"]')
    await expect(page.locator("#copy-status")).to_have_text("Copied: Server")
    assert await page.evaluate("navigator.clipboard.readText()") == database.sip_realm
    assert (await page.locator("#copy-status").inner_text()).strip() == "Copied: Server"
    # the keyboard: focus the user name's button, press Enter
    await page.focus('button[data-copy="setup-user"]')
    await page.keyboard.press("Enter")
    await expect(page.locator("#copy-status")).to_have_text("Copied: User name (and authentication name)")
    assert await page.evaluate("navigator.clipboard.readText()") == member.number
    await page.focus('button[data-copy="setup-port"]')
    await page.keyboard.press("Space")
    await expect(page.locator("#copy-status")).to_have_text("Copied: Port")
    assert await page.evaluate("navigator.clipboard.readText()") == str(database.sip_port)
    assert not page.console_errors, page.console_errors

    await page.set_viewport_size({"width": 375, "height": 800})
    for url, name in (("/phone-setup/", "phone-setup-375"), ("/", "home-dashboard-375")):
        await page.goto(url)
        assert await page.evaluate(WIDER) == [], url
        await shot(page, name)
