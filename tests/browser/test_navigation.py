"""Log in through the form, then follow every link of the left navigation as a member would:
each page loads, is the page its link names, marks itself current in the navigation, breaks no
Content-Security-Policy rule, and leaves a full-page screenshot in tests/artifacts/screenshots/."""

from __future__ import annotations

import re

import pytest

from db import accounts
from db.models import Account
from db.session import transaction
from tests.browser.conftest import Member, login, shot
from tests.support.realparts import unique_number

pytestmark = pytest.mark.asyncio(loop_scope="session")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


async def walk_the_navigation(page, who: str) -> list[str]:
    """Visit every link of the navigation; return the labels visited, in order."""
    nav = page.locator("#sidenav > ul > li > a")
    links = [(await a.inner_text(), await a.get_attribute("href")) for a in await nav.all()]
    assert links, "the navigation has no links"
    for i, (label, href) in enumerate(links, 1):
        label = label.strip()
        response = await page.goto(href)
        assert response is not None and response.status == 200, (label, href, response and response.status)
        current = page.locator('#sidenav a[aria-current="page"]')
        assert await current.count() == 1, f"{label}: no single current section in the navigation"
        assert (await current.inner_text()).strip() == label
        assert await page.locator("main h1").first.is_visible(), f"{label}: the page has no heading"
        await shot(page, f"{who}-{i:02d}-{_slug(label)}")
    assert not page.console_errors, page.console_errors
    return [label.strip() for label, _ in links]


async def test_the_login_page_and_a_refused_login(page, make_member):
    member = make_member()
    await page.goto("/login")
    await shot(page, "login")
    await page.fill("#login", member.login)
    await page.fill("#password", "not-the-password")
    await page.click("form button[type=submit]")
    assert "/login" in page.url
    assert await page.locator(".flash, .field-message").count() >= 1
    await shot(page, "login-refused")
    assert not page.console_errors, page.console_errors


async def test_a_primary_member_can_open_every_section_of_the_navigation(page, make_member):
    member = make_member(email="walk@example.test")
    await login(page, member)
    labels = await walk_the_navigation(page, "member")
    for expected in (
        "Home",
        "Account Information",
        "Virtual Number",
        "Advanced Forwarding Option",
        "Call History",
        "Rate Lookup",
        "Recharge Call Credit",
        "Change Password",
    ):
        assert expected in labels

    # Log Out (the button under the list) ends the session: the panel asks to log in again
    await page.click(".logout-form button")
    await page.goto("/account/")
    assert "/login" in page.url
    await shot(page, "member-logged-out")


async def test_a_secondary_user_sees_and_opens_the_sections_of_its_number(
    page, make_member, factory, database
):
    primary = make_member()
    with transaction(factory) as s:
        vn = accounts.add_virtual_number(
            s, s.get(Account, primary.account_id), unique_number(), realm=database.sip_realm
        )
        user = accounts.add_secondary_user(s, vn, primary.password)
    secondary = Member(primary.account_id, user.id, vn.id, vn.number, user.login, primary.password)
    await login(page, secondary)
    assert "secondary" in (await page.inner_text(".whoami")).lower()
    await walk_the_navigation(page, "secondary")


async def test_an_operator_admin_can_open_every_section_of_its_navigation(page, factory):
    login_name = f"admin{unique_number()}"
    with transaction(factory) as s:
        user = accounts.create_admin(s, login_name, "Admin-pass-2026")
    admin = Member(0, user.id, 0, "", login_name, "Admin-pass-2026")
    await login(page, admin)
    assert "admin" in (await page.inner_text(".whoami")).lower()
    await walk_the_navigation(page, "admin")
