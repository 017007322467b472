"""API tokens in Chromium (issue 15): a member opens API Tokens from the navigation, creates a
token, copies it (shown once: gone after a reload), calls the REST API with it from the browser's
request context, revokes it on the page, and the same call is refused (401). The interactive
docs (Swagger UI, served by the panel) render the API's operations under the panel's CSP."""

from __future__ import annotations

import pytest

from tests.browser.conftest import login, shot

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_create_copy_use_and_revoke_a_token(page, make_member):
    member = make_member()
    await login(page, member)
    await page.click('#sidenav a:text-is("API Tokens")')
    await page.wait_for_load_state()
    assert page.url.endswith("/api-tokens/")
    await page.fill("#name", "browser script")
    await page.select_option("#scope", "member")
    await page.click('form button:text-is("Create token")')
    await page.wait_for_load_state()
    secret = (await page.locator("#new-token").inner_text()).strip()
    assert secret.startswith("vt_") and len(secret) == 46
    await page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    await page.click('button[data-copy="new-token"]')
    await page.wait_for_selector('button[data-copy="new-token"][data-copied="1"]')
    assert await page.evaluate("navigator.clipboard.readText()") == secret
    await shot(page, "api-tokens-created")

    # the page's own cookie rides along, yet the API answers to the token alone
    headers = {"Authorization": f"Bearer {secret}"}
    r = await page.request.get("/api/v1/me", headers=headers)
    assert r.status == 200 and (await r.json())["numbers"] == [member.number]
    r = await page.request.get("/api/v1/me/balance")
    assert r.status == 401

    await page.goto("/api-tokens/")  # (a reload would send the form again)
    html = await page.content()
    assert secret not in html and secret[:10] in html  # shown once: only its prefix now
    row = page.locator("tr.api-token-row", has_text="browser script")
    await row.locator('button:text-is("Revoke")').click()
    await page.wait_for_load_state()
    assert (
        await page.locator("tr.api-token-row", has_text="browser script").get_attribute("data-state")
        == "revoked"
    )
    r = await page.request.get("/api/v1/me", headers=headers)
    assert r.status == 401 and (await r.json())["error"] == "invalid_token"
    assert not [e for e in page.console_errors if "Content Security Policy" in e], page.console_errors


async def test_the_interactive_docs_render_and_try_a_call_with_a_token(page, make_member, factory):
    from db import api_tokens
    from db.models import User
    from db.session import transaction

    member = make_member()
    with transaction(factory) as s:
        _row, secret = api_tokens.create(s, s.get_one(User, member.user_id), name="docs", scope="read")
    await page.goto("/api/v1/docs")
    await page.wait_for_selector(".swagger-ui .opblock-tag", timeout=20_000)
    tags = await page.locator(".swagger-ui .opblock-tag").all_inner_texts()
    assert any("Accounts" in t for t in tags) and any("Member" in t for t in tags)
    assert await page.locator(".swagger-ui .opblock").count() >= 20
    # Authorize with the token, then try GET /api/v1/me/balance from the page
    await page.click(".swagger-ui .btn.authorize")
    await page.fill(".swagger-ui .modal-ux input[type=text]", secret)
    await page.click(".swagger-ui .modal-ux button.authorize")
    await page.click(".swagger-ui .modal-ux button.btn-done")
    op = page.locator('.swagger-ui .opblock-get:has(.opblock-summary-path[data-path="/api/v1/me/balance"])')
    await op.locator(".opblock-summary").click()
    await op.locator("button.try-out__btn").click()
    await op.locator("button.execute").click()
    status = op.locator(".live-responses-table tr.response .response-col_status").first
    await status.wait_for()
    assert (await status.inner_text()).strip() == "200"
    assert (
        '"account_id"'
        in await op.locator(".live-responses-table .microlight, .live-responses-table pre").first.inner_text()
    )
    await shot(page, "api-docs")
    assert not page.console_errors, page.console_errors
