"""A member changes the Advanced Forwarding Option in the browser and the next call to their
DID, a PSTN call over SIP from the test carrier (SIPp from CARRIER_IP), follows the new choice:
the controller's FastAGI decision reads what the panel saved, with no reload in between."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from functools import partial

import pytest

from db.models import CreditLot
from db.session import transaction
from tests.browser.conftest import login, shot
from tests.support import members as callers
from tests.support.events import StasisRecorder
from tests.support.sipp import SippResult, carrier_call, final_response

pytestmark = pytest.mark.asyncio(loop_scope="session")

PSTN_A = "13125550111"  # the simulated PSTN answers anything but ...0486 and ...0408
PSTN_B = "13125550122"


@pytest.fixture()
def stasis(controller):
    rec = StasisRecorder(controller.ari, leave=controller.stasis.apps)  # voicemail runs for real
    yield rec
    rec.close()


@pytest.fixture(autouse=True)
def _need_sipp(need_sipp):
    pass


async def call_did(controller, tmp_path, did: str, hold: int = 2) -> SippResult:
    """A PSTN caller: the test carrier's SIPp calls the DID over SIP and, once answered, stays
    `hold` seconds (unless Asterisk hangs up first); returns when the call is over."""
    s = controller.settings
    call = partial(
        carrier_call, host=s.asterisk_host, port=s.sip_port, cwd=tmp_path, scenario="carrier_call_hold.xml",
        caller_name="PSTN Caller", stay_ms=hold * 1000, timeout=90,
    )  # fmt: skip
    result = await asyncio.to_thread(call, did, "13125550000")
    assert result.returncode == 0, f"SIPp exit {result.returncode}:\n{result.log()[-3000:]}"
    assert final_response(result) == 200, "the carrier's call was not answered"
    return result


async def save_step1(page, number: str, choice: str, **ring) -> None:
    await page.goto(f"/forwarding/?number={number}")
    form = page.locator("#fwd-form")  # issue 16: one form, one Save
    await form.locator(f'input[name="step1"][value="{choice}"]').check()
    if "numbers" in ring:
        await form.locator("#step1_mode").select_option(ring.get("mode", "simultaneous"))
        await form.locator("#step1_seconds").fill(str(ring.get("seconds", 10)))
        await form.locator("#step1_numbers").fill("\n".join(ring["numbers"]))
    await form.locator("#fwd-save").click()
    await page.wait_for_load_state()
    flash = page.locator(".flash-success")
    assert await flash.count() == 1, await page.locator(".field-message, .form-errors").all_inner_texts()
    assert await flash.inner_text() == f"Forwarding of {number} was saved."


async def test_changing_forwarding_in_the_panel_changes_where_the_next_call_goes(
    page, make_member, rate_deck, factory, controller, ami_events, stasis, tmp_path
):
    member = make_member()
    callers.set_options(factory, member, allow_us_canada_ld=True)  # forwarding to the PSTN is LD
    with transaction(factory) as s:
        s.add(
            CreditLot(
                account_id=member.account_id,
                original=Decimal("5.00"),
                remaining=Decimal("5.00"),
                source="admin",
            )
        )
    did = callers.add_did(factory, member)
    await login(page, member)

    # 1. straight to voicemail: the call goes to the voicemail Stasis app, nobody is rung
    await save_step1(page, member.number, "voicemail")
    await shot(page, "journey-forwarding-1-voicemail")
    await call_did(controller, tmp_path, did)
    await stasis.wait_for_args(["voicemail", member.number], timeout=25)
    assert not ami_events.matching(UserEvent="SimPstn"), "a number was rung although step 1 is voicemail"

    # 2. ring my list: the next call rings the listed PSTN number, which answers
    stasis.events.clear()
    ami_events.events.clear()
    await save_step1(page, member.number, "ring_list", numbers=[PSTN_A], seconds=10)
    await shot(page, "journey-forwarding-2-ring-list")
    assert await page.locator("#step1_numbers").input_value() == PSTN_A
    await call_did(controller, tmp_path, did)
    answered = await ami_events.wait_for(
        25, Event="UserEvent", UserEvent="SimPstn", Number=PSTN_A, State="answered"
    )
    assert answered
    assert not stasis.events, "the call went to voicemail although the listed number answered"

    # 3. another list: the change is live for the very next call again
    ami_events.events.clear()
    await save_step1(page, member.number, "ring_list", numbers=[PSTN_B], seconds=10, mode="sequential")
    await call_did(controller, tmp_path, did)
    await ami_events.wait_for(25, Event="UserEvent", UserEvent="SimPstn", Number=PSTN_B, State="answered")
    assert not ami_events.matching(UserEvent="SimPstn", Number=PSTN_A)
