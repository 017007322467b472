"""A member changes the Advanced Forwarding Option in the browser and the next call to their
DID, placed into the real Asterisk, follows the new choice: the controller's FastAGI decision
reads what the panel saved, with no reload in between."""

from __future__ import annotations

from decimal import Decimal

import pytest

from db.models import CreditLot
from db.session import transaction
from tests.browser.conftest import login, shot
from tests.support import members as callers
from tests.support.events import StasisRecorder

pytestmark = pytest.mark.asyncio(loop_scope="session")

PSTN_A = "13125550111"  # the simulated PSTN answers anything but ...0486 and ...0408
PSTN_B = "13125550122"


@pytest.fixture()
def stasis(controller):
    rec = StasisRecorder(controller.ari, leave=controller.stasis.apps)  # voicemail runs for real
    yield rec
    rec.close()


async def call_did(controller, did: str, hold: int = 2) -> None:
    """A PSTN caller: a Local channel into from-pstn that stays `hold` seconds once answered."""
    await controller.ami.originate(
        f"Local/{did}@from-pstn",
        application="Wait",
        data=str(hold),
        caller_id="PSTN Caller <13125550000>",
        timeout_ms=60000,
    )


def caller_hangup(did: str) -> dict:
    return dict(Event="Hangup", Channel=lambda c: c.startswith(f"Local/{did}@from-pstn") and c.endswith(";2"))


async def save_step1(page, number: str, choice: str, **ring) -> None:
    await page.goto(f"/forwarding/?number={number}")
    form = page.locator('form[action$="/step1"]')
    await form.locator(f'input[name="step1"][value="{choice}"]').check()
    if "numbers" in ring:
        await form.locator("#step1_mode").select_option(ring.get("mode", "simultaneous"))
        await form.locator("#step1_seconds").fill(str(ring.get("seconds", 10)))
        await form.locator("#step1_numbers").fill("\n".join(ring["numbers"]))
    await form.locator("button[type=submit]").click()
    await page.wait_for_load_state()
    flash = page.locator(".flash-success")
    assert await flash.count() == 1, await page.locator(".field-message, .form-errors").all_inner_texts()
    assert await flash.inner_text() == f"Step 1 of {number} was updated."


async def test_changing_forwarding_in_the_panel_changes_where_the_next_call_goes(
    page, make_member, rate_deck, factory, controller, ami_events, stasis
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
    await call_did(controller, did)
    await stasis.wait_for_args(["voicemail", member.number], timeout=25)
    await ami_events.wait_for(30, **caller_hangup(did))
    assert not ami_events.matching(UserEvent="SimPstn"), "a number was rung although step 1 is voicemail"

    # 2. ring my list: the next call rings the listed PSTN number, which answers
    stasis.events.clear()
    ami_events.events.clear()
    await save_step1(page, member.number, "ring_list", numbers=[PSTN_A], seconds=10)
    await shot(page, "journey-forwarding-2-ring-list")
    assert await page.locator("#step1_numbers").input_value() == PSTN_A
    await call_did(controller, did)
    answered = await ami_events.wait_for(
        25, Event="UserEvent", UserEvent="SimPstn", Number=PSTN_A, State="answered"
    )
    assert answered
    await ami_events.wait_for(30, **caller_hangup(did))
    assert not stasis.events, "the call went to voicemail although the listed number answered"

    # 3. another list: the change is live for the very next call again
    ami_events.events.clear()
    await save_step1(page, member.number, "ring_list", numbers=[PSTN_B], seconds=10, mode="sequential")
    await call_did(controller, did)
    await ami_events.wait_for(25, Event="UserEvent", UserEvent="SimPstn", Number=PSTN_B, State="answered")
    assert not ami_events.matching(UserEvent="SimPstn", Number=PSTN_A)
    await ami_events.wait_for(30, **caller_hangup(did))
