"""Issue 16, forwarding as one form, in Chromium: a part that does not apply greys out (and is
disabled) with its reason shown, the plain-language summary follows the form as it changes
(asked from the server, the rules code a call runs), a preset fills the form and one Save keeps
it, and the simulator answers in words."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from db.models import CallBlock, ForwardingRule
from db.session import transaction
from tests.browser.conftest import login, shot

pytestmark = pytest.mark.asyncio(loop_scope="session")


def _rule(factory, member) -> ForwardingRule:
    with factory() as s:
        return s.get_one(ForwardingRule, member.vn_id)


async def _disabled(page, selector: str) -> bool:
    return await page.locator(selector).evaluate("el => el.disabled")


async def _summary_says(page, text: str) -> None:
    """Wait until the live summary contains `text` (it is refreshed from the server)."""
    await page.wait_for_function(
        "t => document.getElementById('fwd-summary').innerText.replace(/\\s+/g, ' ').includes(t)", arg=text
    )


async def test_greying_the_live_summary_a_preset_and_one_save(page, make_member, factory):
    member = make_member(time_zone="America/Chicago")
    await login(page, member)
    await page.goto(f"/forwarding/?number={member.number}")
    assert page.console_errors == []
    form = page.locator("#fwd-form")
    # "no special forwarding": step 2 applies; the step 1 list does not
    assert not await _disabled(page, "#step2")
    assert await _disabled(page, "#step1-list")
    assert await page.locator("#step1-list-why").is_visible()
    await _summary_says(page, "Ring your phone 20 s, then voicemail.")

    # straight to voicemail: step 2 greys out, its reason is shown, the summary follows
    await form.locator('input[name="step1"][value="voicemail"]').check()
    assert await _disabled(page, "#step2")
    assert await page.locator("#step2").get_attribute("aria-disabled") == "true"
    assert await page.locator("#step2-why").is_visible()
    assert "applies only with" in await page.locator("#step2-why").inner_text()
    await _summary_says(page, "press Save to keep it")
    await _summary_says(page, "Voicemail.")

    # back to "no special forwarding", a longer ring and a step 2 list: the summary says so
    await form.locator('input[name="step1"][value="none"]').check()
    assert not await _disabled(page, "#step2")
    await page.fill("#device_seconds", "33")
    await page.uncheck("#no_special")
    await page.check("#no_answer_enabled")
    await page.fill("#no_answer_numbers", "18005551212")
    await _summary_says(
        page, "If nobody answers: Ring your phone 33 s, then ring 18005551212 for 20 s, then voicemail."
    )
    await shot(page, "forwarding-one-form-summary")

    # office hours: the greyed part wakes up; after hours a list
    assert await _disabled(page, "#hours")
    await page.check("#hours_enabled")
    assert not await _disabled(page, "#hours")
    await _summary_says(
        page, "During office hours (Mon, Tue, Wed, Thu, Fri, 09:00 to 17:00, America/Chicago):"
    )
    await _summary_says(page, "After hours: Voicemail.")

    # one Save keeps step 1, step 2 and the office hours together
    await page.click("#fwd-save")
    await page.wait_for_load_state()
    assert await page.locator(".flash-success").inner_text() == f"Forwarding of {member.number} was saved."
    rule = _rule(factory, member)
    assert (
        rule.step1,
        rule.device_seconds,
        rule.no_answer_enabled,
        rule.no_answer_numbers,
        rule.hours_enabled,
    ) == (
        "none",
        33,
        True,
        ["18005551212"],
        True,
    )

    # a preset fills the form (nothing saved yet), Save keeps it
    assert not await page.locator("#dnd-why").is_visible()
    await page.click("button[data-preset][value='vacation']")
    assert await page.is_checked("#dnd")
    assert await page.locator("#dnd-why").is_visible()
    assert await page.locator("#preset-note").is_visible()
    await _summary_says(page, "Do not disturb is on: nothing rings. Voicemail.")
    assert not _rule(factory, member).dnd
    await page.click("button[data-preset][value='office']")
    assert not await page.is_checked("#dnd")
    assert await page.input_value("#device_seconds") == "20"
    assert await page.is_checked("#no_special")
    assert await _disabled(page, "#hours")  # the office preset uses no office hours
    await _summary_says(page, "Ring your phone 20 s, then voicemail.")
    await shot(page, "forwarding-one-form-preset")
    await page.click("#fwd-save")
    await page.wait_for_load_state()
    rule = _rule(factory, member)
    assert (rule.dnd, rule.step1, rule.device_seconds, rule.no_answer_enabled, rule.hours_enabled) == (
        False,
        "none",
        20,
        False,
        False,
    )
    # the stored step 2 list was kept for later
    assert rule.no_answer_numbers == ["18005551212"]
    # Enter in a field saves the form (it does not press a preset)
    await page.fill("#device_seconds", "17")
    await page.press("#device_seconds", "Enter")
    await page.wait_for_load_state()
    assert await page.locator(".flash-success").inner_text() == f"Forwarding of {member.number} was saved."
    assert _rule(factory, member).device_seconds == 17
    assert page.console_errors == []


async def test_the_forwarding_pages_fit_a_phone_screen(page, make_member, factory):
    member = make_member()
    with transaction(factory) as s:
        s.add(
            CallBlock(virtual_number_id=member.vn_id, number="31255501660000000000", note="a long note " * 6)
        )
    await login(page, member)
    await page.set_viewport_size({"width": 375, "height": 800})
    for path, name in (
        (f"/forwarding/?number={member.number}&simulate=1&caller=2125550100", "forwarding-one-form-375"),
        (f"/forwarding/blocked?number={member.number}", "forwarding-call-blocking-375"),
    ):
        await page.goto(path)
        wide = await page.evaluate(
            """() => [...document.querySelectorAll('main *')]
                 .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
                 .map(e => e.tagName + '#' + e.id + '.' + e.className)"""
        )
        await shot(page, name)
        assert wide == [], (path, wide)


async def test_the_simulator_answers_what_happens_if_i_am_called_now(page, make_member, factory):
    member = make_member(time_zone="Europe/Paris")
    with transaction(factory) as s:
        s.add(CallBlock(virtual_number_id=member.vn_id, number="3125550166", note="spam"))
    await login(page, member)
    await page.goto(f"/forwarding/?number={member.number}")
    await page.fill("#caller", "(312) 555-0166")
    await page.click("#sim-try")
    await page.wait_for_load_state()
    answer = await page.locator("#sim-answer").inner_text()
    assert "Refused: (312) 555-0166 is on your blocklist. Nothing rings." in answer
    assert re.search(r"(Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day \d\d:\d\d in Europe/Paris", answer), answer
    await page.fill("#caller", "")
    await page.select_option("#day", "6")
    await page.fill("#time", "08:15")
    await page.click("#sim-try")
    await page.wait_for_load_state()
    answer = " ".join((await page.locator("#sim-answer").inner_text()).split())
    assert "Sunday 08:15 in Europe/Paris" in answer
    assert "No office hours are set" in answer and "Ring your phone 20 s, then voicemail." in answer
    await shot(page, "forwarding-one-form-simulator")
    # the Call Blocking page from the navigation
    await page.click("nav >> text=Call Blocking")
    await page.wait_for_load_state()
    assert "3125550166" in await page.locator("#blocked-numbers").inner_text()
    with factory() as s:
        assert s.scalar(select(CallBlock.note).where(CallBlock.virtual_number_id == member.vn_id)) == "spam"
