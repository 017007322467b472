"""Browser tests: the real panel, served over HTTP from a thread, driven by Debian's Chromium
through Playwright's async API.

Why async: pytest runs every test in one session event loop (pyproject.toml), and the
controller fixture (FastAGI, ARI, AMI) lives in that loop. A journey that changes something in
the browser and then places a call needs the loop running while the browser works, which
Playwright's sync API cannot do (it refuses to run inside a running loop). So every browser
test is `async def` and awaits the page.

Fixtures (the README says how to run these tests):

- `browser`: one headless Chromium for the whole run (`/usr/bin/chromium`, or $VOIP_CHROMIUM),
  launched with --no-sandbox (we run as root) and fake microphone/camera flags for WebRTC pages.
  Playwright never downloads a browser here. Missing Chromium: skip, or FAIL under CI=true.
- `live_panel`: the real Flask panel (same `create_app` config as tests/web, CSRF ON) on a free
  loopback port against this run's database. `.url` is its base URL; `.errors` collects any
  exception a request raised (a test fails if one happened during it).
- `page`: a fresh browser context (own cookies) and page per test, with `base_url` set, so
  `await page.goto("/forwarding")` works. Console errors (CSP violations included) are kept in
  `page.console_errors`.
- `make_member(**fields)`: a committed account, as in tests/web (tests/support/members.py's
  `Member` with `.login`, `.password`, `.number`, `.account_id`, `.user_id`, `.virtual_number_id`).
- `smtp_server`: tests/support/smtp.py's real SMTP server, for journeys that send mail.
- `rate_deck`: a small rate deck (`DECK`), active for one test, the previous one restored.
- helpers (import them: `from tests.browser.conftest import login, shot`)
  `await login(page, member)` (through the login form) and `await shot(page, name)`
  (full-page PNG in tests/artifacts/screenshots/<name>.png, kept by CI as a test artifact).
"""

from __future__ import annotations

import os
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pytest
import pytest_asyncio

from db.session import transaction
from tests.support.members import Member as Member  # tests import it from here
from tests.support.members import make_panel_member as make_panel_member  # the make_member fixture
from tests.support.realparts import unavailable
from tests.support.smtp import smtp_server  # noqa: F401  (aiosmtpd on VOIP_SMTP_PORT, per test)

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "tests" / "artifacts" / "screenshots"
CHROMIUM = os.environ.get("VOIP_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # tests run as root
    "--use-fake-ui-for-media-stream",  # grant getUserMedia without a prompt
    "--use-fake-device-for-media-stream",  # a synthetic microphone and camera
    "--disable-dev-shm-usage",
]
TIMEOUT_MS = 15_000


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser():
    try:
        from playwright.async_api import async_playwright
    except ImportError as exc:
        unavailable(f"Playwright (pip package playwright: {exc})")
    if not os.access(CHROMIUM, os.X_OK):
        unavailable(f"Chromium at {CHROMIUM} (Debian package chromium)")
    pw = await async_playwright().start()
    try:
        chromium = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    except Exception as exc:
        await pw.stop()
        unavailable(f"Chromium at {CHROMIUM} ({exc.__class__.__name__}: {exc})")
    yield chromium
    await chromium.close()
    await pw.stop()


@dataclass
class LivePanel:
    url: str
    app: object
    errors: list[BaseException] = field(default_factory=list)


@pytest.fixture(scope="session")
def live_panel(database, engine):
    """The panel on a real HTTP port, one for the run (threaded: each request in its thread)."""
    from flask import got_request_exception
    from werkzeug.serving import make_server

    from webpanel import create_app

    app = create_app({"TESTING": True, "VOIP_SETTINGS": database, "VOIP_ENGINE": engine})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    panel = LivePanel(f"http://127.0.0.1:{server.server_port}", app)

    def record(sender, exception, **extra):
        panel.errors.append(exception)

    got_request_exception.connect(record, app, weak=False)

    thread = threading.Thread(target=server.serve_forever, name="live-panel", daemon=True)
    thread.start()
    yield panel
    server.shutdown()
    thread.join(5)


@pytest_asyncio.fixture(loop_scope="session")
async def page(browser, live_panel):
    context = await browser.new_context(
        base_url=live_panel.url, viewport={"width": 1280, "height": 900}, locale="en-US", timezone_id="UTC"
    )
    context.set_default_timeout(TIMEOUT_MS)
    p = await context.new_page()
    p.console_errors = []
    p.on("console", lambda m: p.console_errors.append(m.text) if m.type == "error" else None)
    p.on("pageerror", lambda e: p.console_errors.append(str(e)))
    seen = len(live_panel.errors)
    yield p
    await context.close()
    new = live_panel.errors[seen:]
    assert not new, f"the panel raised during this test: {new!r}"


@dataclass(frozen=True)
class Operator:
    """An operator admin's login (what `login` needs)."""

    login: str
    password: str


@pytest.fixture()
def operator(factory) -> Operator:
    """A new operator admin of this run's database."""
    from db import accounts

    login_name, password = f"ops-{time.time_ns()}", "Admin-pass-2026"
    with transaction(factory) as s:
        accounts.create_admin(s, login_name, password)
    return Operator(login_name, password)


async def login(page, member, password: str | None = None) -> None:
    """Log in through the login form, as a member would, and land on Home."""
    await page.goto("/login")
    await page.fill("#login", member.login)
    await page.fill("#password", password or member.password)
    await page.click("form button[type=submit]")
    await page.wait_for_load_state()
    assert "/login" not in page.url, f"login failed: {await _flash_text(page)}"


async def _flash_text(page) -> str:
    return " | ".join(await page.locator(".flash, .field-message").all_inner_texts())


_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


async def shot(page, name: str) -> Path:
    """A full-page screenshot, tests/artifacts/screenshots/<name>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{_SAFE.sub('-', name).strip('-')}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


# The browser journeys' rate deck: US/Canada $0.60/min billed per second, one cheaper Californian
# prefix, the UK with a connect fee, toll-free free.
DECK = [
    ("1", "US/Canada", "US", Decimal("0.6000"), Decimal("0"), 1, 1),
    ("1415", "US California", "US", Decimal("0.0150"), Decimal("0"), 6, 6),
    ("1800", "toll-free", "US", Decimal("0"), Decimal("0"), 0, 1),
    ("44", "United Kingdom", "GB", Decimal("1.2000"), Decimal("0"), 1, 1),
    ("4420", "United Kingdom London", "GB", Decimal("0.0312"), Decimal("0.0100"), 60, 60),
]


@pytest.fixture()
def rate_deck(factory):
    """`DECK` as the active rate deck for one test (and area code 700's regional 312, the test
    members' area); the deck active before it is active again afterwards."""
    from sqlalchemy import select, update

    from db.models import RateDeck, RegionalAreaCode
    from db.rates import import_deck

    with transaction(factory) as s:
        before = s.scalar(select(RateDeck.id).where(RateDeck.active.is_(True)))
        import_deck(s, f"browser tests {uuid.uuid4().hex[:6]}", DECK)
        s.merge(RegionalAreaCode(area_code="700", regional_area_code="312"))
    yield DECK
    with transaction(factory) as s:
        s.execute(update(RateDeck).where(RateDeck.active.is_(True)).values(active=False))
        if before is not None:
            s.execute(update(RateDeck).where(RateDeck.id == before).values(active=True))
