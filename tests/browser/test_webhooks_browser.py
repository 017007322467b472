"""Webhooks in Chromium (issue 15): the account holder opens Webhooks from the navigation, adds
a webhook with two events, sees its signing secret once (gone on the next visit), sends a test
event and sees it pending in the deliveries' log, and deliveries made and given up with their
HTTP status. (The real sender delivering to a real receiver: tests/asterisk/test_webhooks_calls.py.)"""

from __future__ import annotations

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from db import webhooks
from db.models import Webhook
from db.session import make_async_engine, transaction
from tests.browser.conftest import login, shot

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_add_a_webhook_see_its_secret_once_and_its_deliveries(page, make_member, factory, database):
    member = make_member()
    await login(page, member)
    await page.click('#sidenav a:text-is("Webhooks")')
    await page.wait_for_load_state()
    assert page.url.endswith("/webhooks/")
    assert "No webhook yet." in await page.inner_text("main")

    # a loopback address is refused (SSRF), with a message, and nothing is stored
    await page.fill("#url", "http://127.0.0.1:9/hook")
    await page.check('#webhook-new input[value="call.ended"]')
    await page.click("#webhook-new button[type=submit]")
    await page.wait_for_load_state()
    assert "A private, local or loopback address cannot receive webhooks." in await page.inner_text(
        "#webhook-new"
    )
    page.console_errors.clear()  # the refused form's 400, which Chromium reports

    await page.fill("#url", "https://hooks.example.invalid/voip")
    await page.check('#webhook-new input[value="call.ended"]')
    await page.check('#webhook-new input[value="fax.new"]')
    await page.click("#webhook-new button[type=submit]")
    await page.wait_for_load_state()
    await shot(page, "journey-webhook-added")
    secret = (await page.inner_text("#webhook-secret")).strip()
    with factory() as s:
        [hook] = s.scalars(select(Webhook).where(Webhook.account_id == member.account_id)).all()
    assert secret == hook.secret and hook.events == ["call.ended", "fax.new"]

    # shown once: the next visit does not show it
    await page.goto("/webhooks/")
    assert secret not in await page.content()
    assert "https://hooks.example.invalid/voip" in await page.inner_text(f'tr[data-webhook="{hook.id}"]')

    await page.click(f'tr[data-webhook="{hook.id}"] button:text-is("Send a test event")')
    await page.wait_for_load_state()
    row = page.locator("tr.delivery-row").first
    assert "Test event" in await row.inner_text() and "pending" in await row.inner_text()

    # how it went is in the log: made by the controller's sender (tests/asterisk/test_webhooks_calls.py
    # delivers to a real receiver); here a delivered and a given-up one, as the sender records them
    with transaction(factory) as s:
        ids = [
            s.scalar(
                text(
                    "INSERT INTO webhook_deliveries (webhook_id, event, payload, next_attempt_at)"
                    " VALUES (:w, 'fax.new', '{}', now() + interval '1 day') RETURNING id"
                ),
                {"w": hook.id},
            )
            for _ in range(2)
        ]
    engine = make_async_engine(database)
    try:
        async with AsyncSession(engine) as a, a.begin():
            await webhooks.record_result(a, ids[0], status=200, error="", delivered=True, retry_in=None)
            await webhooks.record_result(
                a, ids[1], status=503, error="HTTP 503: down", delivered=False, retry_in=None
            )
    finally:
        await engine.dispose()
    await page.reload()
    ok = await page.locator(f'tr[data-delivery="{ids[0]}"]').inner_text()
    assert "delivered" in ok and "HTTP 200" in ok and "New fax" in ok
    failed = await page.locator(f'tr[data-delivery="{ids[1]}"]').inner_text()
    assert "failed" in failed and "HTTP 503" in failed
    await shot(page, "journey-webhook-log")

    await page.click(f'tr[data-webhook="{hook.id}"] button:text-is("Delete")')
    await page.wait_for_load_state()
    assert "The webhook was deleted." in await page.inner_text(".flash")
