"""The left navigation: the help page's sections, in the help page's order (Log Out is
the button under the list), and the user's Buddy List in the middle of it.

A section whose blueprint is not built yet has no endpoint and is shown disabled.
"""
from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app, g, request
from sqlalchemy import select

from db.models import Buddy

MEMBERS = ("primary", "secondary")
EVERYONE = ("primary", "secondary", "admin")
SIDEBAR_BUDDIES = 12


@dataclass(frozen=True)
class Section:
    label: str
    endpoint: str | None = None  # None: not built yet
    roles: tuple[str, ...] = MEMBERS
    also: tuple[str, ...] = ()   # other endpoints that belong to this section

    def active(self) -> bool:
        return self.endpoint is not None and (request.endpoint == self.endpoint
                                              or request.endpoint in self.also)


SECTIONS: tuple[Section, ...] = (
    Section("Home", "home.index", roles=EVERYONE),
    Section("Account Information", "account.index"),
    Section("Virtual Number", "virtual_number.index", also=("virtual_number.add",)),
    Section("Registered Users", "registered.index"),
    Section("Advanced Forwarding Option", "forwarding.index"),
    Section("Call History", "call_history.index", also=("call_history.export",)),
    Section("Faxes", "faxes.index"),
    Section("White Pages", "white_pages.index"),
    Section("Plan Information", "plans.index"),
    Section("DID Numbers", "dids.index"),
    Section("Conference"),
    Section("Missed Calls", "missed_calls.index", also=("missed_calls.export",)),
    Section("Notepad", "notepad.index"),
    Section("Rate Lookup", "rate_lookup.index"),
    Section("911 Information", "dids.e911_index", also=("dids.e911",)),
    Section("Voicemail"),
    Section("Buddy List", "buddies.index", also=("buddies.add", "buddies.edit")),
    Section("Recharge Call Credit", "recharge.index", also=("recharge.redeem",)),
    Section("Change Password", "password.index", roles=EVERYONE),
)


def init_app(app: Flask) -> None:
    app.context_processor(_navigation)
    app.add_template_global(endpoint_exists)


def endpoint_exists(endpoint: str) -> bool:
    """Links to sections built by others appear once their blueprint is registered."""
    return endpoint in current_app.view_functions


def _navigation() -> dict:
    user = g.get("user")
    sections = [s for s in SECTIONS if user is not None and user.role in s.roles]
    return {"nav_sections": sections, "sidebar_buddies": _sidebar_buddies(user)}


def _sidebar_buddies(user) -> list[Buddy]:
    """The help page's Buddy List "on the middle left navigation bar"."""
    if user is None or user.role not in MEMBERS:
        return []
    from webpanel.database import db
    return list(db().scalars(select(Buddy).where(Buddy.user_id == user.id)
                             .order_by(Buddy.name, Buddy.id).limit(SIDEBAR_BUDDIES)))
