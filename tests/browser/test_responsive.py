"""Every page of the panel, for every role (anonymous, primary holder, secondary user, operator
admin), at a phone's width (375 x 812) and a desktop's (1280 x 800) (and the member's and the
operator's pages at a tablet's 900 px, in Spanish and French at 375 px): nothing is wider than the
viewport, measured in Chromium, and a full-page screenshot of each is kept in
tests/artifacts/screenshots/responsive/<role>-<page>-<width>.png.

The pages are not listed by hand: every GET route of the Flask app's url_map is one, its
arguments filled from data seeded here (a DID, a buddy, a conference, an account, a carrier,
a plan, a dialplan version, a call record...). A new route with an argument this test does not
know fails the test until it is added to ARGS or, if it is not a page (a download, JSON),
to NOT_PAGES with the reason. Each page must render (200, HTML) for at least one role.

"Wider than the viewport": the document scrolls sideways (scrollWidth > clientWidth), or any
rendered element's box ends right of the viewport. An element inside an overflow-x:auto box
counts too: a table that needs a sideways scroll is not usable on a phone. And no box may cut
off or scroll sideways what it holds (overflow-x not visible, content wider than the box),
unless it says so with an ellipsis; form fields and <pre> are left to themselves. Ignored: elements
not rendered (display:none, visibility:hidden, the closed menu), the .visually-hidden ones
(clipped to 1 px), and the inside of an SVG (the <svg> box itself is measured).

Also: the charts' axis labels (Call History, the operator's reports) render at 10 px or more
on a phone.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import uuid
from dataclasses import dataclass, field
from decimal import Decimal

import pytest
from sqlalchemy import select, text

from db import accounts
from db.models import (
    Account,
    Buddy,
    Conference,
    ConferenceGuest,
    DialplanVersion,
    Did,
    Fax,
    PasswordReset,
    PlanSubscription,
    User,
)
from db.session import transaction
from tests.browser.conftest import SCREENSHOTS, TIMEOUT_MS, Member, login
from tests.support.members import add_did
from tests.support.realparts import unique_number
from tests.voicemail.helpers import seed_messages
from tests.web.cdrs import add_cdrs, cdr_values

pytestmark = pytest.mark.asyncio(loop_scope="session")

WIDTHS = ((375, 812), (1280, 800))
ROLES = ("anonymous", "member", "secondary", "admin")
PHONE = WIDTHS[:1]
TABLET = ((900, 800),)  # the navigation beside a narrow content column: tables as cards too
# (role, language, widths): every role in English at both widths; the member's and operator's
# pages at a tablet's width; the member's in Spanish and the operator's in French at a phone's
# width (longer words, same layout)
PASSES = [(role, "en", WIDTHS) for role in ROLES] + [
    ("member", "en", TABLET),
    ("admin", "en", TABLET),
    ("member", "es", PHONE),
    ("admin", "fr", PHONE),
]
OUT = SCREENSHOTS / "responsive"

# GET routes that are not pages a browser shows: files and JSON. Endpoint -> why.
NOT_PAGES = {
    "static": "the stylesheet, scripts and icons",
    "health.healthz": "JSON for the load balancer",
    "api_docs.asset": "the API docs' script and stylesheet",
    "api-docs.openapi_json": "the OpenAPI document (JSON)",
    "api_docs.unknown": "the API's JSON 404",
    "call_history.export": "a CSV download",
    "missed_calls.export": "a CSV download",
    "admin.records_export": "a CSV download",
    "admin.reports_export": "a CSV download",
    "faxes.pdf": "a PDF download",
    "invoices.pdf": "a PDF download",
    "admin.invoice_pdf": "a PDF download",
    "voicemail.download": "a zip download",
    "voicemail.audio": "a WAV download",
    "voicemail.greeting_audio": "a WAV download",
    "admin.mail_raw": "an .eml download",
    "admin.mail_part": "an attachment download",
    "phone_setup.qr_png": "the QR code's PNG (an <img> of the phone setup page)",
    # Demo Mail's messages exist only with a demo mailbox (VOIP_DEMO_MAILBOX, `make up`); the
    # test panel runs as production does, without one, so the page is a 404 there (its list
    # page, which says where mail goes instead, is measured)
    "admin.mail_message": "Demo Mail is off in the test panel (no VOIP_DEMO_MAILBOX)",
}
# pages this walk cannot land on: they exist only in the middle of a flow
ONLY_MID_FLOW = {
    "twofactor_login.code": "the second step of a login with two-factor on (the two-factor tests walk it)",
}
# the REST API: JSON for programs (its HTML docs page, api_docs.docs, is measured)
API_PREFIX = "/api/v1/"


@dataclass
class Seeded:
    """What the pages with an argument are opened with, per role."""

    primary: Member
    secondary: Member
    admin: Member
    did_id: int
    buddy_id: int
    conference_id: int
    carrier_id: int
    plan_id: int
    dialplan_version_id: int
    cdr_id: int
    reset_token: str
    numbers: dict[str, str] = field(default_factory=dict)  # role -> its own virtual number


# endpoint -> its arguments (seeded data, the role looking at it)
ARGS = {
    "buddies.edit": lambda d, role: {"buddy_id": d.buddy_id},
    "conference.edit": lambda d, role: {"conference_id": d.conference_id},
    "dids.e911": lambda d, role: {"did_id": d.did_id},
    "voicemail.mailbox": lambda d, role: {"number": d.numbers.get(role, d.primary.number)},
    "auth.reset_password": lambda d, role: {"token": d.reset_token},
    "phone_setup.check": lambda d, role: {"number": d.numbers.get(role, d.primary.number)},
    "admin.account": lambda d, role: {"account_id": d.primary.account_id},
    "admin.account_limits": lambda d, role: {"account_id": d.primary.account_id},
    "admin.number_options": lambda d, role: {"account_id": d.primary.account_id, "number": d.primary.number},
    "admin.carrier_edit": lambda d, role: {"carrier_id": d.carrier_id},
    "admin.dialplan_version": lambda d, role: {"version_id": d.dialplan_version_id},
    "admin.plan_edit": lambda d, role: {"plan_id": d.plan_id},
    "admin.record": lambda d, role: {"cdr_id": d.cdr_id},
}

# Run in the page: what sticks out right of the viewport. Returns the document's overflow and
# up to 8 offending elements, outermost first, as CSS selectors with their right edge.
MEASURE = """() => {
  const limit = document.documentElement.clientWidth;
  const describe = (el) => {
    const parts = [];
    for (let e = el; e && e.nodeType === 1 && parts.length < 4; e = e.parentElement) {
      let s = e.tagName.toLowerCase();
      if (e.id) { parts.unshift(s + '#' + e.id); break; }
      const cls = [...e.classList].slice(0, 3).join('.');
      if (cls) s += '.' + cls;
      const same = e.parentElement ? [...e.parentElement.children].filter(c => c.tagName === e.tagName) : [];
      if (same.length > 1) s += ':nth-of-type(' + (same.indexOf(e) + 1) + ')';
      parts.unshift(s);
    }
    return parts.join(' > ');
  };
  const hidden = (el) => {
    if (!el.checkVisibility({visibilityProperty: true})) return true;
    for (let e = el; e; e = e.parentElement) {
      const cs = getComputedStyle(e);
      if (cs.clip !== 'auto' || cs.clipPath !== 'none') return true;
    }
    return false;
  };
  const found = [];
  const reported = new Set();
  for (const el of document.body.querySelectorAll('*')) {
    if (el.closest('svg') && el.tagName.toLowerCase() !== 'svg') continue;
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    if (r.right <= limit + 1) continue;
    if (hidden(el)) continue;
    // one report per branch: skip the children of an element already reported
    let inside = false;
    for (let e = el.parentElement; e; e = e.parentElement) if (reported.has(e)) { inside = true; break; }
    reported.add(el);
    if (inside) continue;
    found.push({selector: describe(el), right: Math.round(r.right), width: Math.round(r.width),
                text: (el.innerText || '').trim().slice(0, 40)});
    if (found.length >= 8) break;
  }
  // a box that scrolls or clips sideways what it holds (a table in an overflow-x:auto wrapper):
  // its content is wider than the box, so part of it is out of sight (an ellipsis is meant)
  for (const el of document.body.querySelectorAll('*')) {
    if (found.length >= 8) break;
    if (el.matches('input, select, textarea, button, svg, svg *, pre *') || hidden(el)) continue;
    const cs = getComputedStyle(el);
    if (cs.overflowX === 'visible' || cs.textOverflow === 'ellipsis') continue;
    if (el.scrollWidth > el.clientWidth + 1 && el.clientWidth > 0) {
      found.push({selector: describe(el) + ' (content cut off or scrolled sideways)',
                  right: Math.round(el.getBoundingClientRect().left + el.scrollWidth),
                  width: el.scrollWidth, text: (el.innerText || '').trim().slice(0, 40)});
    }
  }
  // a .table-wrap is a size container (panel.css): in a box that shrinks to fit it would
  // collapse; it must be as wide as its parent's content
  for (const w of document.querySelectorAll('.table-wrap')) {
    if (hidden(w)) continue;
    const cs = getComputedStyle(w.parentElement);
    const inner = w.parentElement.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight);
    const width = w.getBoundingClientRect().width;
    if (width < inner - 2) {
      found.push({selector: describe(w) + ' (narrower than its parent)', right: 0, width: Math.round(width), text: ''});
    }
  }
  const scrollWidth = document.documentElement.scrollWidth;
  if (!found.length && scrollWidth > limit + 1) {
    // nothing rendered sticks out, yet the page scrolls sideways: name the widest boxes anyway
    const all = [...document.body.querySelectorAll('*')].map(el => [el, el.getBoundingClientRect().right]);
    all.sort((a, b) => b[1] - a[1]);
    for (const [el, right] of all.slice(0, 3)) {
      found.push({selector: describe(el) + ' (not rendered)', right: Math.round(right), width: 0, text: ''});
    }
  }
  return {limit, scrollWidth, found};
}"""

# Run in the page: each chart's axis labels' rendered font size (computed size x the SVG's scale)
LABEL_SIZES = """() => [...document.querySelectorAll('svg.chart-svg text')].map(t => {
  const ctm = t.getScreenCTM();
  const scale = ctm ? Math.hypot(ctm.a, ctm.b) : 1;
  const box = t.getBoundingClientRect();
  return {text: t.textContent, size: parseFloat(getComputedStyle(t).fontSize) * scale, height: box.height,
          svg: t.closest('svg').id || t.closest('svg').className.baseVal};
})"""


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")


@pytest.fixture()
def seeded(factory, database, make_member) -> Seeded:
    """A primary holder with a bit of everything (long names and addresses, to see them wrap),
    a secondary user on its second number, an operator admin and the admin-side objects."""
    primary = make_member(
        email=f"a.rather.long.address.{uuid.uuid4().hex[:8]}@subdomain.example-company.test",
        first_name="Maximiliana",
        last_name="Featherstonehaugh-Wolfeschlegel",
        plan=(1800, 3600),
    )
    now = dt.datetime.now(dt.UTC)
    did = add_did(factory, primary)
    seed_messages(factory, primary, 3.2, 12.0, 65.5)
    rows = []
    for days in range(0, 12, 2):
        rows.append(
            cdr_values(
                vnum=primary.number,
                start=now - dt.timedelta(days=days, hours=1),
                src=primary.number,
                dst="14155550100",
                dialed="14155550100",
                call_class="D",
                billsec=60 * (days + 3),
            )
        )
    rows.append(
        cdr_values(
            vnum=primary.number,
            start=now - dt.timedelta(hours=3),
            src="13125550199",
            dst=primary.number,
            clid='"A Caller With A Long Name" <13125550199>',
            disposition="NO ANSWER",
        )
    )
    cdr_ids = add_cdrs(factory, rows, {0: {"call_type": "D", "country": "US", "cost": Decimal("0.1800")}})
    token = secrets.token_urlsafe(32)
    with transaction(factory) as s:
        from webpanel.auth.recovery import token_hash

        account = s.get(Account, primary.account_id)
        vn = accounts.add_virtual_number(s, account, unique_number(), realm=database.sip_realm)
        user = accounts.add_secondary_user(s, vn, primary.password)
        secondary = Member(primary.account_id, user.id, vn.id, vn.number, user.login, primary.password)
        did_id = s.scalar(select(Did.id).where(Did.number == did))
        s.add(Fax(account_id=primary.account_id, did_id=did_id, status="received", caller_number="13125550123",
                  remote_station_id="+1 312 555 0123 ACME CORP", pages=3, bytes=48_213))  # fmt: skip
        buddy = Buddy(user_id=primary.user_id, name="Bartholomew Longname-Smythe", virtual_number=vn.number,
                      pstn_phone="14155550123")  # fmt: skip
        s.add(buddy)
        conference = Conference(
            account_id=primary.account_id,
            admin_pin=f"{secrets.randbelow(10**9):09d}",
            admin_name="Maximiliana Featherstonehaugh",
            admin_phone=primary.number,
            starts_at=now + dt.timedelta(days=2),
        )
        conference.guests.append(
            ConferenceGuest(
                name="A Guest With A Long Name",
                email="guest.with.a.very.long.address@subdomain.example-company.test",
                pin=f"{secrets.randbelow(10**9):09d}",
            )
        )
        s.add(conference)
        carrier_id = s.scalar(
            text("INSERT INTO carriers (name, host, enabled) VALUES (:n, '127.0.0.9', false) RETURNING id"),
            {"n": f"resp-{uuid.uuid4().hex[:8]}"},
        )
        plan_id = s.scalar(
            select(PlanSubscription.plan_id).where(PlanSubscription.account_id == primary.account_id)
        )
        version_id = s.scalar(select(DialplanVersion.id).order_by(DialplanVersion.id.desc()).limit(1))
        made_version = version_id is None  # removed afterwards: the dialplan tests count versions
        if made_version:
            version = DialplanVersion(
                body="; the operator's part of the dialplan\n", sha256="0" * 64, comment="test"
            )
            s.add(version)
            s.flush()
            version_id = version.id
        admin_login = f"admin{unique_number()}"
        admin_user = accounts.create_admin(s, admin_login, "Admin-pass-2026")
        primary_user = s.get(User, primary.user_id)
        s.add(PasswordReset(user_id=primary.user_id, token_hash=token_hash(token),
                            session_version=primary_user.session_version,
                            expires_at=now + dt.timedelta(hours=1)))  # fmt: skip
        s.flush()
        seeded = Seeded(
            primary=primary,
            secondary=secondary,
            admin=Member(0, admin_user.id, 0, "", admin_login, "Admin-pass-2026"),
            did_id=did_id,
            buddy_id=buddy.id,
            conference_id=conference.id,
            carrier_id=carrier_id,
            plan_id=plan_id,
            dialplan_version_id=version_id,
            cdr_id=cdr_ids[0],
            reset_token=token,
        )
    seeded.numbers = {"member": primary.number, "secondary": secondary.number}
    yield seeded
    with transaction(factory) as s:
        s.execute(text("DELETE FROM carriers WHERE id = :id"), {"id": carrier_id})
        if made_version:
            s.execute(text("DELETE FROM dialplan_versions WHERE id = :id"), {"id": version_id})


def discover(app, data: Seeded, role: str) -> tuple[list[tuple[str, str]], list[str]]:
    """Every GET page of the app as (endpoint, url) for `role`; and the routes this test does
    not know how to open (an argument missing from ARGS)."""
    from flask import url_for

    pages, unknown = [], []
    with app.test_request_context():
        for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
            if "GET" not in (rule.methods or ()) or rule.endpoint in NOT_PAGES:
                continue
            if rule.rule.startswith(API_PREFIX) and rule.endpoint != "api_docs.docs":
                continue
            if rule.arguments:
                if rule.endpoint not in ARGS:
                    unknown.append(f"{rule.rule} ({rule.endpoint})")
                    continue
                url = url_for(rule.endpoint, **ARGS[rule.endpoint](data, role))
            else:
                url = url_for(rule.endpoint)
            pages.append((rule.endpoint, url))
    return pages, unknown


async def _role_context(browser, live_panel, role: str, data: Seeded, language: str = "en"):
    """A browser context logged in as `role`; an admin's (or an anonymous) page is in the
    browser's language, a member's in its account's (the caller sets Account.language)."""
    context = await browser.new_context(
        base_url=live_panel.url, viewport={"width": 1280, "height": 800}, locale=language, timezone_id="UTC"
    )
    context.set_default_timeout(TIMEOUT_MS)
    page = await context.new_page()
    page.console_errors = []
    page.on("console", lambda m: page.console_errors.append(m.text) if m.type == "error" else None)
    who = {"member": data.primary, "secondary": data.secondary, "admin": data.admin}.get(role)
    if who is not None:
        await login(page, who)
    return context, page


def _set_language(factory, data: Seeded, language: str) -> None:
    with transaction(factory) as s:
        s.get(Account, data.primary.account_id).language = language


async def _pages_of(context, pages: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The pages this role may open: 200 with HTML, redirects not followed (a page of another
    role sends this one to its home or the login)."""
    mine = []
    for endpoint, url in pages:
        response = await context.request.get(url, max_redirects=0)
        kind = response.headers.get("content-type", "")
        if response.status == 200 and kind.startswith("text/html"):
            mine.append((endpoint, url))
        elif response.status == 200:
            raise AssertionError(f"{url} ({endpoint}) answers {kind}, not a page: add it to NOT_PAGES")
        await response.dispose()
    return mine


async def test_every_page_fits_a_phone_and_a_desktop_for_every_role(browser, live_panel, seeded, factory):
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("*.png"):
        old.unlink()
    seen_errors = len(live_panel.errors)
    rendered: dict[str, list[str]] = {}
    failures: list[str] = []
    unknown: list[str] = []
    everything: set[str] = set()
    for role, language, widths in PASSES:
        pages, unknown = discover(live_panel.app, seeded, role)
        everything |= {endpoint for endpoint, _ in pages}
        _set_language(factory, seeded, language)
        context, page = await _role_context(browser, live_panel, role, seeded, language)
        who = role if language == "en" else f"{role}.{language}"
        try:
            mine = await _pages_of(context, pages)
            mine.append(("error-404", "/no-such-page"))  # the error page
            for width, height in widths:
                await page.set_viewport_size({"width": width, "height": height})
                for endpoint, url in mine:
                    response = await page.goto(url)
                    assert response is not None
                    if endpoint != "error-404":
                        assert response.status == 200, (role, url, response.status)
                    rendered.setdefault(endpoint, []).append(role)
                    result = await page.evaluate(MEASURE)
                    name = f"{who}-{_slug(endpoint)}-{width}"
                    await page.screenshot(path=str(OUT / f"{name}.png"), full_page=True)
                    if page.console_errors and endpoint != "error-404":
                        failures.append(f"{name} {url}: console errors {page.console_errors}")
                    page.console_errors.clear()
                    if result["scrollWidth"] > result["limit"] + 1 or result["found"]:
                        worst = "; ".join(
                            f"{f['selector']} right={f['right']} width={f['width']} {f['text']!r}"
                            for f in result["found"]
                        )
                        failures.append(
                            f"{name} {url}: scrollWidth {result['scrollWidth']} > {result['limit']}: {worst}"
                        )
        finally:
            await context.close()
            _set_language(factory, seeded, "en")
    never = sorted(everything - set(rendered) - set(ONLY_MID_FLOW))
    problems = [f"wider than the viewport or console errors: {f}" for f in failures]
    problems += [
        f"a route with arguments this test cannot open (add it to ARGS or NOT_PAGES): {u}" for u in unknown
    ]
    problems += [f"a page no role could open (not 200 HTML for anyone): {p}" for p in never]
    assert not problems, "\n".join(problems)
    assert not live_panel.errors[seen_errors:], live_panel.errors[seen_errors:]
    shots = sorted(p.name for p in OUT.glob("*.png"))
    assert len(shots) >= 2 * len(everything), shots


@pytest.mark.parametrize("role, url", [("member", "/call-history/"), ("admin", "/admin/reports/")])
async def test_chart_labels_are_readable_on_a_phone(browser, live_panel, seeded, role, url):
    context, page = await _role_context(browser, live_panel, role, seeded)
    try:
        await page.set_viewport_size({"width": 375, "height": 812})
        await page.goto(url)
        sizes = await page.evaluate(LABEL_SIZES)
        assert sizes, f"{url}: no chart labels"
        small = [s for s in sizes if s["size"] < 10 or s["height"] < 10]
        assert not small, f"{url}: labels under 10 px at 375 px: {small[:5]}"
        await page.screenshot(path=str(OUT / f"{role}-chart-375.png"), full_page=True)
    finally:
        await context.close()


async def test_the_menu_button_opens_and_closes_the_navigation_by_keyboard_on_a_phone(
    browser, live_panel, seeded
):
    context, page = await _role_context(browser, live_panel, "member", seeded)
    try:
        await page.set_viewport_size({"width": 375, "height": 812})
        await page.goto("/account/")
        button, nav = page.locator("#nav-toggle"), page.locator("#sidenav")
        assert await button.is_visible() and not await nav.is_visible()
        assert await button.get_attribute("aria-expanded") == "false"
        assert await button.get_attribute("aria-controls") == "sidenav"
        await page.keyboard.press("Tab")  # the skip link
        await page.keyboard.press("Tab")
        assert await page.evaluate("document.activeElement.id") == "nav-toggle"
        await page.keyboard.press("Enter")
        assert await button.get_attribute("aria-expanded") == "true"
        assert await nav.is_visible()
        await page.screenshot(path=str(OUT / "member-menu-open-375.png"), full_page=True)
        result = await page.evaluate(MEASURE)
        assert not result["found"], result
        await page.keyboard.press("Escape")
        assert await button.get_attribute("aria-expanded") == "false" and not await nav.is_visible()
        assert await page.evaluate("document.activeElement.id") == "nav-toggle"
        await page.keyboard.press("Space")
        assert await button.get_attribute("aria-expanded") == "true" and await nav.is_visible()
        # a link of the open menu works
        await nav.locator('a:text-is("Call History")').click()
        await page.wait_for_url("**/call-history/")
        # at a desktop's width there is no Menu button and the navigation is always there
        await page.set_viewport_size({"width": 1280, "height": 800})
        assert not await button.is_visible() and await nav.is_visible()
        assert not page.console_errors, page.console_errors
    finally:
        await context.close()
