"""The left navigation: the help page's sections, in the help page's order (Log Out is
the button under the list), and the user's Buddy List in the middle of it.

A section whose blueprint is not built yet has no endpoint and is shown disabled.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app, g, request
from sqlalchemy import select

from db.models import Buddy
from webpanel.i18n import lazy_gettext as _l

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
    Section(_l("Advanced Forwarding Option"), "forwarding.index"),
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
        ),
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
    Section(_l("Audit Log"), "admin.audit_log", roles=ADMIN_ONLY),
    Section(
        _l("Demo Mail"),
        "admin.mail",
        roles=ADMIN_ONLY,
        also=("admin.mail_message",),
        setting="demo_mailbox",
    ),
    Section(_l("Change Password"), "password.index", roles=EVERYONE),
)


def init_app(app: Flask) -> None:
    app.context_processor(_navigation)
    app.add_template_global(endpoint_exists)


def endpoint_exists(endpoint: str) -> bool:
    """Links to sections built by others appear once their blueprint is registered."""
    return endpoint in current_app.view_functions


def _navigation() -> dict:
    user = g.get("user")
    settings = current_app.extensions["voip_settings"]
    sections = [
        s
        for s in SECTIONS
        if user is not None and user.role in s.roles and (s.setting is None or getattr(settings, s.setting))
    ]
    return {"nav_sections": sections, "sidebar_buddies": _sidebar_buddies(user)}


def _sidebar_buddies(user) -> list[Buddy]:
    """The help page's Buddy List "on the middle left navigation bar"."""
    if user is None or user.role not in MEMBERS:
        return []
    from webpanel.database import db

    return list(
        db().scalars(
            select(Buddy)
            .where(Buddy.user_id == user.id)
            .order_by(Buddy.name, Buddy.id)
            .limit(SIDEBAR_BUDDIES)
        )
    )
