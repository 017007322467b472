"""Two-factor login in Chromium (issue 16): a member opens "Two-factor login" from the
navigation, scans the QR code on the screen (the element's screenshot, decoded with zxing-cpp),
turns 2FA on with a code from that secret, keeps the recovery codes, then logs in through the
code step with "remember this device"; the next login from that browser skips the code, another
browser is asked for it (and the member gets a new-sign-in email over real SMTP). An operator
admin on a panel that requires 2FA lands on the enrolment page and reaches nothing else."""

from __future__ import annotations

import dataclasses
import io
import threading
import time

import pyotp
import pytest
import pytest_asyncio
import zxingcpp
from PIL import Image

from db import accounts
from db.session import transaction
from tests.browser.conftest import TIMEOUT_MS, login, shot
from tests.support.wait import until_sync
from webpanel.auth import mailbox

pytestmark = pytest.mark.asyncio(loop_scope="session")


def _code(secret: str, offset: int = 0) -> str:
    totp = pyotp.TOTP(secret)
    return totp.generate_otp(totp.timecode(time.time()) + offset)


async def _scan(page) -> str:
    png = await page.locator("#totp-qr svg").screenshot()
    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    assert found, "the QR code on the page did not decode"
    return found[0].text


async def _fits_a_phone(page, name: str) -> None:
    """At 375 px wide no element is wider than the viewport (then back to 1280)."""
    await page.set_viewport_size({"width": 375, "height": 800})
    wide = await page.evaluate(
        "() => [...document.querySelectorAll('body *')]"
        ".filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)"
        ".map(e => e.tagName + '#' + e.id + '.' + e.className)"
    )
    await shot(page, f"{name}-375")
    assert not wide, wide
    await page.set_viewport_size({"width": 1280, "height": 900})


async def _enrol(page) -> tuple[str, list[str]]:
    await page.click('#sidenav a:text-is("Two-factor login")')
    await page.wait_for_load_state()
    assert page.url.endswith("/two-factor/")
    await page.click('button:text-is("Set up two-factor login")')
    await page.wait_for_load_state()
    uri = await _scan(page)
    totp = pyotp.parse_uri(uri)
    shown = (await page.locator("#totp-secret").inner_text()).replace(" ", "")
    assert totp.secret == shown
    await shot(page, "two-factor-enrol")
    await _fits_a_phone(page, "two-factor-enrol")
    await page.fill("#code", _code(totp.secret, -1))  # the logins below use this step's and the next
    await page.click('button:text-is("Turn on")')
    await page.wait_for_load_state()
    codes = [c.strip() for c in await page.locator("#recovery-codes code").all_inner_texts()]
    assert len(codes) == 10
    await shot(page, "two-factor-recovery-codes")
    return totp.secret, codes


async def _password_step(page, member) -> None:
    await page.goto("/login")
    await page.fill("#login", member.login)
    await page.fill("#password", member.password)
    await page.click("form button[type=submit]")
    await page.wait_for_load_state()


async def test_enrol_by_scanning_then_log_in_with_a_code_and_remember_the_browser(
    page, browser, live_panel, make_member, smtp_server
):
    member = make_member(email="twofa-browser@example.test")
    await login(page, member)
    secret, _codes = await _enrol(page)
    until_sync(lambda: len(smtp_server.messages) >= 1, timeout=30, what="the 'on' email")

    await page.click('button:text-is("Log Out")')
    await page.wait_for_load_state()
    await _password_step(page, member)
    assert page.url.endswith("/login/code")
    await shot(page, "two-factor-code-step")
    await page.fill("#code", "12")  # a wrong code is said so next to the field
    await page.click('button:text-is("Verify")')
    await page.wait_for_load_state()
    assert "That code is not right." in await page.locator(".field-message").inner_text()
    assert await page.get_attribute("#code", "aria-invalid") == "true"
    await page.fill("#code", _code(secret))
    await page.check("#remember")
    await page.click('button:text-is("Verify")')
    await page.wait_for_load_state()
    assert page.url.rstrip("/") == live_panel.url

    # the device cookie: HttpOnly, SameSite=Lax, not readable by the page's scripts
    cookies = {c["name"]: c for c in await page.context.cookies()}
    device = cookies["voip_device"]
    assert device["httpOnly"] and device["sameSite"] == "Lax"
    assert "voip_device" not in await page.evaluate("document.cookie")

    # the same browser: the password alone now
    await page.click('button:text-is("Log Out")')
    await page.wait_for_load_state()
    await _password_step(page, member)
    assert page.url.rstrip("/") == live_panel.url
    await page.goto("/two-factor/")
    assert await page.locator("#devices tr", has_text="this browser").count() == 1
    await shot(page, "two-factor-on")
    await _fits_a_phone(page, "two-factor-on")

    # another browser: asked for the code; the member is told of the new sign-in
    other = await browser.new_context(base_url=live_panel.url, locale="en-US", timezone_id="UTC")
    other.set_default_timeout(TIMEOUT_MS)
    try:
        second = await other.new_page()
        await _password_step(second, member)
        assert second.url.endswith("/login/code")
        await second.fill("#code", _code(secret, 1))
        await second.click('button:text-is("Verify")')
        await second.wait_for_load_state()
        assert second.url.rstrip("/") == live_panel.url
    finally:
        await other.close()
    until_sync(lambda: len(smtp_server.messages) >= 2, timeout=30, what="the new sign-in email")
    assert mailbox.drain(30)
    subjects = [m.message["Subject"] for m in smtp_server.messages]
    assert subjects == ["Two-factor login is on", "New sign-in to your account"]
    assert not [e for e in page.console_errors if "Content Security Policy" in e], page.console_errors


@pytest.fixture(scope="module")
def strict_panel(database, engine):
    """A second panel whose operator requires 2FA for admins (VOIP_ADMIN_2FA_REQUIRED)."""
    from werkzeug.serving import make_server

    from webpanel import create_app

    settings = dataclasses.replace(database, admin_2fa_required=True)
    app = create_app({"TESTING": True, "VOIP_SETTINGS": settings, "VOIP_ENGINE": engine})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="strict-panel", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)


@pytest_asyncio.fixture(loop_scope="session")
async def strict_page(browser, strict_panel):
    context = await browser.new_context(
        base_url=strict_panel, viewport={"width": 1280, "height": 900}, locale="en-US", timezone_id="UTC"
    )
    context.set_default_timeout(TIMEOUT_MS)
    yield await context.new_page()
    await context.close()


async def test_an_admin_who_must_use_two_factor_is_sent_to_enrol_first(strict_page, factory):
    page = strict_page
    login_name, password = f"ops-2fa-b-{time.time_ns()}", "Admin-pass-2026"
    with transaction(factory) as s:
        accounts.create_admin(s, login_name, password)
    await page.goto("/login")
    await page.fill("#login", login_name)
    await page.fill("#password", password)
    await page.click("form button[type=submit]")
    await page.wait_for_load_state()
    assert page.url.endswith("/two-factor/")
    assert "requires two-factor login for admins" in await page.locator(".flash").first.inner_text()
    await page.goto("/admin/accounts/")
    assert page.url.endswith("/two-factor/")
    await page.click('button:text-is("Set up two-factor login")')
    await page.wait_for_load_state()
    secret = pyotp.parse_uri(await _scan(page)).secret
    await page.fill("#code", _code(secret))
    await page.click('button:text-is("Turn on")')
    await page.wait_for_load_state()
    await page.goto("/admin/accounts/")
    assert page.url.endswith("/admin/accounts/")
