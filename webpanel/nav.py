"""The left navigation: the help page's sections, in the help page's order (Log Out is
the button under the list), and the user's Buddy List in the middle of it.

A section whose blueprint is not built yet has no endpoint and is shown disabled.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, NamedTuple

from flask import Flask, current_app, g, request, url_for
from markupsafe import Markup, escape
from sqlalchemy import ColumnElement, bindparam, literal_column, select

from db.models import Buddy
from webpanel.i18n import _, current_locale
from webpanel.i18n import lazy_gettext as _l
from webpanel.render_speed import generate_csrf  # the templates' csrf_token()

MEMBERS = ("primary", "secondary")
EVERYONE = ("primary", "secondary", "admin")
ADMIN_ONLY = ("admin",)
SIDEBAR_BUDDIES = 12


@dataclass(frozen=True)
class Section:
    label: str  # lazy: shown in the request's language
    endpoint: str | None = None  # None: not built yet
    roles: tuple[str, ...] = MEMBERS
    also: tuple[str, ...] = ()  # other endpoints that belong to this section
    setting: str | None = None  # shown only when this setting (controller.settings) is set

    def active(self) -> bool:
        return self.endpoint is not None and (
            request.endpoint == self.endpoint or request.endpoint in self.also
        )


SECTIONS: tuple[Section, ...] = (
    Section(_l("Home"), "home.index", roles=EVERYONE),
    Section(_l("Account Information"), "account.index"),
    Section(_l("Virtual Number"), "virtual_number.index", also=("virtual_number.add",)),
    Section(_l("Registered Users"), "registered.index"),
    Section(_l("Phone setup"), "phone_setup.index", also=("phone_setup.check",)),  # issue 16
    Section(_l("Advanced Forwarding Option"), "forwarding.index", also=("forwarding.save",)),
    Section(  # issue 16
        _l("Call Blocking"), "forwarding.blocks", also=("forwarding.block_add", "forwarding.block_remove")
    ),
    Section(_l("Call History"), "call_history.index", also=("call_history.export",)),
    Section(_l("Faxes"), "faxes.index"),
    Section(_l("White Pages"), "white_pages.index"),
    Section(_l("Plan Information"), "plans.index"),
    Section(_l("DID Numbers"), "dids.index"),
    Section(_l("Conference"), "conference.index", also=("conference.schedule", "conference.edit")),
    Section(_l("Missed Calls"), "missed_calls.index", also=("missed_calls.export",)),
    Section(_l("Notepad"), "notepad.index"),
    Section(_l("Rate Lookup"), "rate_lookup.index"),
    Section(_l("911 Information"), "dids.e911_index", also=("dids.e911",)),
    Section(_l("Voicemail"), "voicemail.index", also=("voicemail.mailbox",)),
    Section(_l("Buddy List"), "buddies.index", also=("buddies.add", "buddies.edit")),
    Section(_l("Recharge Call Credit"), "recharge.index", also=("recharge.redeem",)),
    Section(_l("Spending Limits"), "limits.index", also=("limits.update",)),  # issue 13
    Section(
        _l("API Tokens"), "api_tokens.index", also=("api_tokens.create", "api_tokens.revoke")
    ),  # issue 15
    Section(_l("Invoices"), "invoices.index", roles=("primary",), also=("invoices.pdf",)),  # issue 15
    Section(_l("Notifications"), "notifications.index", also=("notifications.update",)),  # issue 16
    Section(  # issue 15
        _l("Webhooks"),
        "webhooks.index",
        roles=("primary",),
        also=("webhooks.add", "webhooks.active", "webhooks.delete", "webhooks.test", "webhooks.threshold"),
    ),
    # the operator admin (webpanel/admin), role admin only
    Section(_l("Admin Overview"), "admin.index", roles=ADMIN_ONLY),
    Section(
        _l("Accounts"),
        "admin.accounts",
        roles=ADMIN_ONLY,
        also=(
            "admin.account",
            "admin.account_new",
            "admin.account_status",
            "admin.account_add_number",
            "admin.account_add_user",
            "admin.account_subscribe",
            "admin.subscription_cancel",
            "admin.user_password",
            "admin.number_options",  # issue 15
        ),
    ),
    Section(  # issue 15, bulk import
        _l("Bulk Import"),
        "admin.bulk_import",
        roles=ADMIN_ONLY,
        also=("admin.bulk_dry_run", "admin.bulk_apply"),
    ),
    Section(_l("DIDs"), "admin.dids", roles=ADMIN_ONLY, also=("admin.did_new", "admin.did_connect")),
    Section(  # issue 13, spending limits
        _l("Fraud"),
        "admin.fraud",
        roles=ADMIN_ONLY,
        also=("admin.account_limits",),
    ),
    Section(
        _l("Service Numbers"),
        "admin.service_numbers_index",
        roles=ADMIN_ONLY,
        also=("admin.service_number_new", "admin.service_number_update"),
    ),
    Section(  # issue 14, carriers and least-cost routing
        _l("Carriers"),
        "admin.carriers_index",
        roles=ADMIN_ONLY,
        also=(
            "admin.carrier_new",
            "admin.carrier_edit",
            "admin.carrier_enabled",
            "admin.carrier_delete",
            "admin.carrier_rates_import",
            "admin.carrier_test_call",
            "admin.carrier_loss_prefix_add",
            "admin.carrier_loss_prefix_delete",
            "admin.carriers_route",
        ),
    ),
    Section(  # issue 15, invoices
        _l("Invoices"),
        "admin.invoices_index",
        roles=ADMIN_ONLY,
        also=("admin.invoices_issue", "admin.invoice_pdf", "admin.invoice_email"),
    ),
    Section(  # issue 15, call records across every account
        _l("Call Records"),
        "admin.records_index",
        roles=ADMIN_ONLY,
        also=("admin.record", "admin.records_export"),
    ),
    Section(
        _l("Reports"), "admin.reports_index", roles=ADMIN_ONLY, also=("admin.reports_export",)
    ),  # issue 15
    Section(  # issue 15, webhooks
        _l("Webhooks"),
        "admin.webhooks_index",
        roles=ADMIN_ONLY,
        also=("admin.webhook_new", "admin.webhook_active", "admin.webhook_delete", "admin.webhook_test"),
    ),
    Section(
        _l("Rate Decks"), "admin.rates", roles=ADMIN_ONLY, also=("admin.rates_import", "admin.rates_activate")
    ),
    Section(
        _l("Calling Plans"),
        "admin.plans",
        roles=ADMIN_ONLY,
        also=("admin.plan_new", "admin.plan_edit", "admin.plan_delete"),
    ),
    Section(
        _l("Vouchers"), "admin.vouchers", roles=ADMIN_ONLY, also=("admin.vouchers_new", "admin.voucher_void")
    ),
    Section(
        _l("Dialplan"),
        "admin.dialplan_index",
        roles=ADMIN_ONLY,
        also=("admin.dialplan_submit", "admin.dialplan_version", "admin.dialplan_rollback"),
    ),
    Section(  # issue 15, the REST API's tokens
        _l("API Tokens"),
        "admin.api_tokens",
        roles=ADMIN_ONLY,
        also=("admin.api_token_new", "admin.api_token_revoke"),
    ),
    Section(
        _l("Live Calls"), "admin.live_calls", roles=ADMIN_ONLY, also=("admin.live_call_hangup",)
    ),  # issue 15
    Section(_l("Audit Log"), "admin.audit_log", roles=ADMIN_ONLY),
    Section(
        _l("Demo Mail"),
        "admin.mail",
        roles=ADMIN_ONLY,
        also=("admin.mail_message",),
        setting="demo_mailbox",
    ),
    Section(_l("Change Password"), "password.index", roles=EVERYONE),
    Section(_l("Two-factor login"), "twofactor.index", roles=EVERYONE),  # issue 16
)


def init_app(app: Flask) -> None:
    app.context_processor(_navigation)
    app.add_template_global(endpoint_exists)
    app.add_template_global(nav_html)
    app.add_template_global(layout_top)
    app.extensions[_NAV_CACHE] = {}
    app.extensions[_TOP_CACHE] = OrderedDict()  # layout_top's: the app's own, as _links'


_NAV_CACHE = "voip_nav"
_BUDDIES = "buddies.index"


@dataclass(frozen=True)
class _Link:
    """One section's link, built once per (role, language, script root) and app."""

    endpoints: frozenset[str]  # the section's endpoint and its `also`
    li: str  # '<li>' or the buddy list's '<li class="nav-buddies">'
    plain: str  # '<a href="...">label</a>'
    current: str  # the same, marked as the current section
    buddies: bool


@dataclass(frozen=True)
class NavHtml:
    """The navigation's list items, split where the Buddy List's sidebar goes (inside the
    "Buddy List" item): `head`, the sidebar (when `buddies`), `tail`."""

    head: Markup
    buddies: bool
    tail: Markup


def _links(role: str, language: str) -> tuple[_Link, ...]:
    """The role's sections, labelled in `language` and with their URLs: per process constant
    (the sections, the settings, the URL map and the catalogs do not change while it runs),
    so they are built once per (role, language, script root) instead of on every page."""
    cache: dict = current_app.extensions[_NAV_CACHE]
    key = (role, language, request.script_root)
    links = cache.get(key)
    if links is None:
        settings = current_app.extensions["voip_settings"]
        built = []
        for s in SECTIONS:
            if role not in s.roles or (s.setting is not None and not getattr(settings, s.setting)):
                continue
            if s.endpoint is None:
                title = _("Coming soon")
                a = f'<span class="disabled" aria-disabled="true" title="{title}">{s.label}</span>'
                built.append(_Link(frozenset(), "<li>", a, a, False))
                continue
            # labels are written as the template wrote them: translations are markup (LazyString's
            # __html__, Jinja's _()), only the URL is escaped
            href, label = escape(url_for(s.endpoint)), str(s.label)
            built.append(
                _Link(
                    frozenset((s.endpoint, *s.also)),
                    '<li class="nav-buddies">' if s.endpoint == _BUDDIES else "<li>",
                    f'<a href="{href}">{label}</a>',
                    f'<a href="{href}" class="active" aria-current="page">{label}</a>',
                    s.endpoint == _BUDDIES,
                )
            )
        links = cache[key] = tuple(built)
    return links


def nav_html() -> NavHtml:
    """The layout's navigation for the request's user, its current section marked: the same
    markup the sections' loop made (see `Section`), from `_links`' per-process cache."""
    user = g.get("user")
    if user is None:
        return NavHtml(Markup(""), False, Markup(""))
    endpoint = request.endpoint
    head: list[str] = []
    tail: list[str] = []
    part, buddies = head, False
    for link in _links(user.role, current_locale()):
        part.append(link.li)
        part.append(link.current if endpoint in link.endpoints else link.plain)
        if link.buddies:  # the sidebar goes here, inside this item: the rest is the tail
            part, buddies = tail, True
        part.append("</li>\n")
    return NavHtml(Markup("".join(head)), buddies, Markup("".join(tail)))


_TOP_CACHE = "voip_layout_top"
_TOP_SIZE = 2048
_top_lock = threading.Lock()


def layout_top() -> Markup:
    """base.html's top (_layout_top.html), rendered once per language, script root, endpoint,
    user (login, role), sidebar rows and CSRF token (the session's, reused for a minute:
    render_speed.generate_csrf) and then kept per process (a bounded LRU): its twenty-odd
    lookups, translations and links were a sixth of a page's CPU. Kept per app, as `_links`
    (what it shows depends on the app's settings: Demo Mail)."""
    user = g.get("user")
    sidebar = tuple(_sidebar_buddies(user)) if user is not None else ()
    key = (
        current_locale(),
        request.script_root,
        request.endpoint,
        None if user is None else (user.login, user.role),
        sidebar,
        generate_csrf() if user is not None else None,
    )
    _top: OrderedDict[tuple, Markup] = current_app.extensions[_TOP_CACHE]
    with _top_lock:
        hit = _top.get(key)
        if hit is not None:
            _top.move_to_end(key)
            return hit
    html = Markup(current_app.jinja_env.get_template("_layout_top.html").render(sidebar_buddies=sidebar))
    with _top_lock:
        _top[key] = html
        while len(_top) > _TOP_SIZE:
            _top.popitem(last=False)
    return html


def endpoint_exists(endpoint: str) -> bool:
    """Links to sections built by others appear once their blueprint is registered."""
    return endpoint in current_app.view_functions


def _navigation() -> dict:
    # the sections themselves come from nav_html() (built once per role and language)
    return {"sidebar_buddies": _sidebar_buddies(g.get("user"))}


def _sidebar_buddies(user) -> list:
    """The help page's Buddy List "on the middle left navigation bar": the columns it shows
    (rows, not Buddy objects: read on every member page, never changed here). Read with the
    session's user (SIDEBAR_COLUMN, access.load_logged_in_user); by itself otherwise."""
    if user is None or user.role not in MEMBERS:
        return []
    kept = g.get("sidebar_buddies")
    if kept is not None:
        return kept
    from webpanel.database import db

    # through the Session's Connection (Core): columns need none of the ORM's result handling;
    # the statement built once (_SIDEBAR_QUERY)
    return list(db().connection().execute(_SIDEBAR_QUERY, {"user_id": user.id}))


_SIDEBAR_QUERY = (
    select(Buddy.id, Buddy.name, Buddy.virtual_number, Buddy.pstn_phone)
    .where(Buddy.user_id == bindparam("user_id"))
    .order_by(Buddy.name, Buddy.id)
    .limit(SIDEBAR_BUDDIES)
)


class SidebarBuddy(NamedTuple):
    id: int
    name: str
    virtual_number: str
    pstn_phone: str


# the same rows as _SIDEBAR_QUERY's, as one JSON column of the user's row (users.id correlated):
# the session's query reads them, so a page costs one round trip fewer
SIDEBAR_COLUMN: ColumnElement[Any] = literal_column(
    "(SELECT json_agg(json_build_array(b.id, b.name, b.virtual_number, b.pstn_phone)"
    " ORDER BY b.name, b.id) FROM (SELECT id, name, virtual_number, pstn_phone FROM buddies"
    f" WHERE buddies.user_id = users.id ORDER BY name, id LIMIT {int(SIDEBAR_BUDDIES)}) AS b)"
)


def sidebar_rows(value: list | None) -> list[SidebarBuddy]:
    """SIDEBAR_COLUMN's value (psycopg has decoded the JSON) as _SIDEBAR_QUERY's rows."""
    return [SidebarBuddy(*item) for item in value or ()]
