"""Issue 16: a number's registration in words (the dashboard's line, "Check my registration").

From what Asterisk said (registration_events: its security events and the contacts made and
removed) and the contacts live now (ps_contacts).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from webpanel.filters import localtime_zoned
from webpanel.home.queries import Event, NumberState
from webpanel.i18n import _
from webpanel.i18n import lazy_gettext as _l

REASONS = {
    "bad_password": _l("wrong password"),
    "unknown_user": _l("unknown user name"),
    "address_refused": _l("address not allowed"),
    "too_many_devices": _l("too many devices"),
    "other_failure": _l("refused"),
}
NEAR_MISS_DAYS = 7

NEAR_MISS_SQL = text("""
SELECT at, number, remote_addr FROM registration_events
 WHERE number = ANY(CAST(:names AS varchar[])) AND event = 'unknown_user'
   AND at > now() - make_interval(days => :days)
 ORDER BY at DESC, id DESC LIMIT 1
""")


def reason(event: str) -> str:
    return str(REASONS.get(event, REASONS["other_failure"]))


def near_names(number: str, realm: str) -> list[str]:
    """User names a phone set up for `number` may send by mistake: without the leading 1 (a
    ten-digit US number), with a + or 011, with the realm, with a 1 too many."""
    names = {f"+{number}", f"011{number}", f"{number}@{realm}", f"1{number}", f"sip:{number}"}
    if len(number) == 11 and number.startswith("1"):
        names |= {number[1:], f"+{number[1:]}"}
    names.discard(number)
    return sorted(names)


def near_miss(session: Session, number: str, realm: str) -> Event | None:
    """The latest refusal of an account name that is `number` misspelled (the phone's user name
    is wrong): attributed to the member by the name it tried, never by address."""
    row = session.execute(NEAR_MISS_SQL, {"names": near_names(number, realm), "days": NEAR_MISS_DAYS}).first()
    return None if row is None else Event(row[0], "unknown_user", row[2], row[1])


@dataclass(frozen=True)
class Finding:
    level: str  # "ok", "error", "warning", "info"
    text: str


def _when(at: dt.datetime) -> str:
    return localtime_zoned(at)  # a time in a sentence names its zone (CST)


def explain(state: NumberState, near: Event | None = None) -> list[Finding]:
    """What to tell the member, most important first."""
    out: list[Finding] = []
    if state.devices:
        for d in state.devices:
            out.append(
                Finding(
                    "ok",
                    _(
                        "Registered now from %(address)s (%(agent)s).",
                        address=d.address or _("an unknown address"),
                        agent=d.user_agent or _("no user agent given"),
                    ),
                )
            )
    failure = state.last_failure
    recent_failure = failure is not None and (
        not state.devices or state.last_seen is None or failure.at >= state.last_seen.at
    )
    if failure is not None and recent_failure:
        where = failure.remote_addr or _("an unknown address")
        when = _when(failure.at)
        if failure.event == "bad_password":
            text_ = _(
                "The last attempt (%(when)s, from %(address)s) was refused: wrong password. Type the"
                " SIP password into the phone again, or set a new one on the Virtual Number page.",
                when=when,
                address=where,
            )
        elif failure.event == "address_refused":
            text_ = _(
                "The last attempt (%(when)s) came from %(address)s, which is not on this number's SIP"
                " allow-list. Add that address on the Virtual Number page, or clear the list.",
                when=when,
                address=where,
            )
        elif failure.event == "unknown_user":
            text_ = _(
                "The last attempt (%(when)s, from %(address)s) was refused: the server did not"
                " know the user name. The account may be suspended; contact support.",
                when=when,
                address=where,
            )
        elif failure.event == "too_many_devices":
            text_ = _(
                "The last attempt (%(when)s, from %(address)s) was refused: this number already has"
                " %(max)s devices registered.",
                when=when,
                address=where,
                max=state.max_contacts,
            )
        else:
            text_ = _("The last attempt (%(when)s, from %(address)s) was refused.", when=when, address=where)
        out.append(Finding("error" if not state.devices else "warning", text_))
    if near is not None and (failure is None or near.at > failure.at) and not state.devices:
        out.append(
            Finding(
                "error",
                _(
                    "A phone at %(address)s tried the user name %(tried)s (%(when)s), which is no"
                    " account: the user name is %(number)s.",
                    address=near.remote_addr or _("an unknown address"),
                    tried=near.detail,
                    when=_when(near.at),
                    number=state.number,
                ),
            )
        )
    if not state.devices and not out:
        seen = state.last_seen
        if seen is None:
            out.append(
                Finding(
                    "warning",
                    _(
                        "Nothing from a phone using %(number)s has reached the server. Check the"
                        " server, port and transport in the phone, and that the network lets SIP"
                        " through.",
                        number=state.number,
                    ),
                )
            )
        elif seen.event == "expired":
            out.append(
                Finding(
                    "warning",
                    _(
                        "Not registered. The last registration (from %(address)s) ran out at"
                        " %(when)s: the phone stopped renewing it (switched off, or offline).",
                        address=seen.remote_addr or _("an unknown address"),
                        when=_when(seen.at),
                    ),
                )
            )
        else:
            out.append(
                Finding(
                    "warning",
                    _(
                        "Not registered. The phone at %(address)s was last seen at %(when)s.",
                        address=seen.remote_addr or _("an unknown address"),
                        when=_when(seen.at),
                    ),
                )
            )
    return out
