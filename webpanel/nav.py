"""The left navigation: the help page's sections, in the help page's order (Log Out is
the button under the list).

A section whose blueprint is not built yet has no endpoint and is shown disabled.
"""
from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, g, request


@dataclass(frozen=True)
class Section:
    label: str
    endpoint: str | None = None  # None: not built yet
    roles: tuple[str, ...] = ("primary", "secondary")

    def active(self) -> bool:
        return self.endpoint is not None and request.endpoint == self.endpoint


SECTIONS: tuple[Section, ...] = (
    Section("Home", "home.index", roles=("primary", "secondary", "admin")),
    Section("Account Information"),
    Section("Virtual Number"),
    Section("Registered Users", "registered.index"),
    Section("Advanced Forwarding Option"),
    Section("Call History"),
    Section("Faxes"),
    Section("White Pages"),
    Section("Plan Information"),
    Section("DID Numbers"),
    Section("Conference"),
    Section("Missed Calls"),
    Section("Notepad"),
    Section("Rate Lookup"),
    Section("911 Information"),
    Section("Voicemail"),
    Section("Buddy List"),
    Section("Recharge Call Credit"),
    Section("Change Password"),
)


def init_app(app: Flask) -> None:
    app.context_processor(_navigation)


def _navigation() -> dict:
    user = g.get("user")
    sections = [s for s in SECTIONS if user is not None and user.role in s.roles]
    return {"nav_sections": sections}
