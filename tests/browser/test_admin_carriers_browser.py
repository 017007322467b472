"""The operator's carrier journey in Chromium (issue 14): sign in as the operator, open Carriers
from the navigation, add a carrier through its form, upload its buy deck as a CSV file and see
its size and first rows, then ask "route this number" and see the carrier as the first
candidate with its buy rate and margin. The password typed never comes back in any page."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import delete

from db.models import Carrier
from db.session import transaction
from tests.browser.conftest import login, shot

pytestmark = pytest.mark.asyncio(loop_scope="session")

PASSWORD = "Browser-Trunk-Secret-77"


@pytest.fixture()
def carrier_name(factory):
    name = f"b{uuid.uuid4().hex[:10]}"
    yield name
    with transaction(factory) as s:
        s.execute(delete(Carrier).where(Carrier.name == name))


async def test_add_a_carrier_upload_its_deck_and_route_a_number(
    page, operator, carrier_name, rate_deck, tmp_path
):
    await login(page, operator)
    await page.click('#sidenav a:text-is("Carriers")')
    await page.wait_for_load_state()
    assert page.url.endswith("/admin/carriers/")
    await page.click('a:text-is("Add a carrier")')
    await page.wait_for_load_state()

    # a bad host first: refused with a message, nothing stored, the password not echoed back
    await page.fill("#name", carrier_name)
    await page.fill("#host", "not a host")
    await page.fill("#inbound_match", "192.0.2.50")
    await page.fill("#auth_username", "acme")
    await page.fill("#password", PASSWORD)
    await page.click("#carrier-form button[type=submit]")
    await page.wait_for_load_state()
    # every bad field at once: next to the field and in the summary at the top (issue 16)
    assert "is not a hostname or an IP address" in await page.inner_text(".field-error")
    assert "is not a hostname or an IP address" in await page.inner_text(".form-error-summary")
    assert await page.input_value("#password") == ""
    assert PASSWORD not in await page.content()
    page.console_errors.clear()  # the refused form's 400, which Chromium reports; nothing else may

    await page.fill("#host", "sip.carrier.example")
    await page.fill("#password", PASSWORD)
    await page.fill("#codecs", "alaw, ulaw")
    await page.fill("#max_channels", "30")
    await page.click("#carrier-form button[type=submit]")
    await page.wait_for_load_state()
    await shot(page, "journey-admin-carrier-added")
    assert f"Carrier {carrier_name} was added." in await page.inner_text(".flash")
    assert PASSWORD not in await page.content()
    assert await page.input_value("#host") == "sip.carrier.example"
    assert await page.input_value("#codecs") == "alaw,ulaw"

    deck = tmp_path / "buy.csv"
    deck.write_text(
        "prefix,destination,country,rate_per_minute\n44,United Kingdom,GB,0.0100\n4420,London,GB,0.0150\n"
    )
    await page.set_input_files("#deck", str(deck))
    await page.click("#deck-form button[type=submit]")
    await page.wait_for_load_state()
    await shot(page, "journey-admin-carrier-deck")
    assert "(2 prefixes)" in await page.inner_text(".flash")
    assert "2 prefixes." in await page.inner_text(".deck-size")
    assert await page.locator(".deck-sample-row").count() == 2
    assert "London" in await page.inner_text(".deck-sample")

    # the list: the carrier, its deck size
    await page.click('a:text-is("Carriers")')
    await page.wait_for_load_state()
    row = page.locator(f'tr.carrier-row[data-carrier="{carrier_name}"]')
    assert "sip.carrier.example:5060" in await row.inner_text()

    # route a London number: the member pays $0.0312 a minute and a $0.01 connect fee (the rate
    # deck's 4420), this carrier buys its 4420 at $0.015: a one-minute call leaves $0.0262
    await page.click('a:text-is("Route this number")')
    await page.wait_for_load_state()
    await page.fill("#number", "442079460000")
    await page.click("#route-form button[type=submit]")
    await page.wait_for_load_state()
    await shot(page, "journey-admin-carrier-route")
    assert "$0.0312" in await page.inner_text(".route-sell")
    mine = page.locator(f'tr.route-row[data-carrier="{carrier_name}"]')
    assert await mine.count() == 1
    text = await mine.inner_text()
    assert "4420" in text and "$0.015" in text and "$0.0262" in text
    assert PASSWORD not in await page.content()
    assert not page.console_errors, page.console_errors
