"""The operator's Live calls page in Chromium (issue 15): a member's own phone (SIPp) has a call
up to the simulated PSTN; the operator opens Live calls from the navigation, sees the call's
channels with the member's account and direction, presses Hang up on the member's channel and
the call ends (the phone gets Asterisk's BYE); once it is over the page shows its empty state."""

from __future__ import annotations

import time

import pytest

from db import accounts
from db.session import transaction
from tests.asterisk.test_outbound_calls import DOMESTIC, STAYS, completed, phone_calls
from tests.browser.conftest import login, shot
from tests.support.events import AmiRecorder
from tests.support.members import make_member
from tests.support.wait import until

pytestmark = pytest.mark.asyncio(loop_scope="session")


class Operator:
    def __init__(self, login: str, password: str):
        self.login, self.password = login, password


async def test_the_operator_sees_a_live_call_and_hangs_it_up(
    page, controller, factory, settings, rate_deck, tmp_path, need_sipp
):
    operator = Operator(f"ops-live-{time.time_ns()}", "Admin-pass-2026")
    with transaction(factory) as s:
        accounts.create_admin(s, operator.login, operator.password)
    m = make_member(factory, settings, credit="5.00", allow_us_canada_ld=True)
    events = AmiRecorder(controller.ami, "UserEvent", "Hangup")
    call = phone_calls(settings, m, DOMESTIC, tmp_path, scenario=STAYS, timeout=90)
    try:
        await events.wait_for(15, UserEvent="SimPstn", Number=DOMESTIC, State="answered")
        await login(page, operator)
        await page.click('#sidenav a:text-is("Live Calls")')
        await page.wait_for_load_state()
        assert page.url.endswith("/admin/live-calls/")
        row = page.locator(f'tr.live-call[data-channel^="PJSIP/{m.number}-"]')
        await row.wait_for()
        assert await row.get_attribute("data-direction") == "outbound"
        assert await row.get_attribute("data-account") == str(m.account_id)
        text = await row.inner_text()
        assert "Outbound from a member" in text and DOMESTIC in text
        await shot(page, "admin-live-calls")
        channel = await row.get_attribute("data-channel")

        await row.locator('button:text-is("Hang up")').click()
        await page.wait_for_load_state()
        assert f"Channel {channel} was hung up." in await page.locator(".flash").all_inner_texts()
        await events.wait_for(10, Event="Hangup", Channel=channel)
        completed(await call)
    finally:
        events.close()
        if not call.done():
            await controller.ami.action({"Action": "Command", "Command": "channel request hangup all"})
            await call

    # every channel of the call gone: the empty state (no other test's call runs meanwhile)
    async def empty() -> bool:
        await page.goto("/admin/live-calls/")
        return await page.locator("p.empty").count() == 1

    await until(empty, timeout=10, interval=0.5, what="the Live calls page's empty state")
    assert "No call is up now." in await page.locator("p.empty").inner_text()
    assert not page.console_errors, page.console_errors
