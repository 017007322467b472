"""Conference invitations and cancellations: the email text and its iCalendar (.ics) attachment.

Pure: values in, text out. The .ics is written by hand after RFC 5545: CRLF line ends, lines
folded at 75 octets, TEXT values escaped, every time in UTC with a trailing Z. One VEVENT per
guest with a stable UID (conference and guest), so a re-sent invite updates the calendar
entry instead of adding a second one, and a cancellation (METHOD:CANCEL, the same UID, a
higher SEQUENCE) removes it.

Language: the texts go through the `gettext` of a `Language` the caller gives (its code names
the weekday too). The panel gives its own gettext (Flask-Babel, the catalogs in
webpanel/translations) under the conference owner's language; without one they are English,
the msgids as written. `scripts/i18n` extracts this file's strings into the panel's catalog:
each function binds the caller's gettext to `_` so that pybabel finds the msgids.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from babel.dates import format_date


def N_(message: str) -> str:
    """Marks a message for the catalog; it is translated where it is used."""
    return message


class Gettext(Protocol):
    """gettext as Flask-Babel has it: the msgid translated, then %-formatted with the keywords."""

    def __call__(self, message: str, /, **variables: object) -> str: ...


def untranslated(message: str, /, **variables: object) -> str:
    """The gettext of no catalog: the msgid itself, formatted as a translated one would be."""
    return message % variables if variables else message


@dataclass(frozen=True)
class Language:
    """What the texts are written in: Babel's locale code (the weekday's name) and its gettext."""

    code: str
    gettext: Gettext


ENGLISH = Language("en", untranslated)

ROLE_TEXT = {
    "normal": N_("Normal: you can talk and listen"),
    "talk_only": N_("Talk only: the others hear you, you will not hear them"),
    "listen_only": N_("Listen only: you hear the conference, your line is muted"),
    "admin": N_("Administrator"),
}


@dataclass(frozen=True)
class Invitation:
    conference_id: int
    guest_id: int
    guest_name: str
    guest_email: str
    pin: str
    role: str
    starts_at: dt.datetime  # aware
    duration_minutes: int
    organiser: str  # the admin's name (or the account's)
    time_zone: str  # the organiser's zone, for the human-readable date
    dial_in: tuple[str, ...]  # access numbers (digits)
    toll_free: tuple[str, ...]  # toll-free access numbers, empty unless 800 dial-in is allowed
    video: bool = False
    sequence: int = 0  # the calendar entry's revision (iCalendar SEQUENCE)

    @property
    def ends_at(self) -> dt.datetime:
        return self.starts_at + dt.timedelta(minutes=self.duration_minutes)


def display_number(digits: str) -> str:
    """+1 646-555-0150 style (phonenumbers), the digits as they are if they do not parse."""
    try:
        parsed = phonenumbers.parse("+" + digits.lstrip("+"), None)
    except phonenumbers.NumberParseException:
        return digits
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _local(inv: Invitation) -> dt.datetime:
    return inv.starts_at.astimezone(_zone(inv.time_zone))


def _when(inv: Invitation) -> str:
    local = _local(inv)
    return f"{local:%Y-%m-%d %H:%M} ({local.tzname()})"


def _day(inv: Invitation, lang: Language) -> str:
    """2031-03-14 (Friday), the weekday in the text's language."""
    local = _local(inv)
    return f"{local:%Y-%m-%d} ({format_date(local.date(), 'EEEE', locale=lang.code)})"


def _time(inv: Invitation) -> str:
    local, utc = _local(inv), inv.starts_at.astimezone(dt.UTC)
    return f"{local:%H:%M} {local.tzname()} ({utc:%H:%M} UTC)"


def _greeting(inv: Invitation, lang: Language) -> str:
    _ = lang.gettext
    return _("Hello %(name)s,", name=inv.guest_name) if inv.guest_name else _("Hello,")


def _organiser(inv: Invitation, lang: Language) -> str:
    _ = lang.gettext
    return inv.organiser or _("A member")


def _table(rows: list[tuple[str, str]]) -> list[str]:
    """Label: value lines with the values in one column (labels as long as the language has them)."""
    width = max(len(label) for label, _value in rows) + 1
    return [f"{label.ljust(width)}{value}" for label, value in rows]


def _paragraph(text: str) -> list[str]:
    """A paragraph is one line: mail clients wrap it to their width, in any language."""
    return [text]


def subject(inv: Invitation, lang: Language = ENGLISH) -> str:
    _ = lang.gettext
    return _("Conference invitation: %(when)s", when=_when(inv))


def body(inv: Invitation, lang: Language = ENGLISH) -> str:
    _ = lang.gettext
    hours, minutes = divmod(inv.duration_minutes, 60)
    duration = " ".join(p for p in (f"{hours} h" if hours else "", f"{minutes} min" if minutes else "") if p)
    invites = (
        _("%(organiser)s invites you to a video conference call.", organiser=_organiser(inv, lang))
        if inv.video
        else _("%(organiser)s invites you to a conference call.", organiser=_organiser(inv, lang))
    )
    rows = [
        (_("Date:"), _day(inv, lang)),
        (_("Time:"), _time(inv)),
        (_("Duration:"), duration),
        ("", ""),
        (_("Dial in:"), ", ".join(display_number(n) for n in inv.dial_in)),
    ]
    if inv.toll_free:
        rows.append((_("Toll free:"), ", ".join(display_number(n) for n in inv.toll_free)))
    rows += [
        (_("Your PIN:"), inv.pin),
        (_("Your role:"), _(ROLE_TEXT[inv.role]) if inv.role in ROLE_TEXT else inv.role),
    ]
    lines = [_greeting(inv, lang), "", *_paragraph(invites), ""]
    lines += [line if label else "" for line, (label, _value) in zip(_table(rows), rows, strict=False)]
    lines += [
        "",
        *_paragraph(
            _(
                "Call the number, then key your PIN followed by #. You can join a few minutes before "
                "the start; the call ends at the end of the scheduled time."
            )
        ),
        "",
        *_paragraph(_("The attached calendar file adds the conference to your calendar.")),
    ]
    return "\n".join(lines) + "\n"


def cancel_subject(inv: Invitation, lang: Language = ENGLISH) -> str:
    _ = lang.gettext
    return _("Conference cancelled: %(when)s", when=_when(inv))


def cancel_body(inv: Invitation, lang: Language = ENGLISH) -> str:
    _ = lang.gettext
    cancelled = _(
        "%(organiser)s cancelled the conference call of %(date)s at %(time)s. It will not take place; "
        "your PIN for it no longer works.",
        organiser=_organiser(inv, lang),
        date=_day(inv, lang),
        time=_time(inv),
    )
    lines = [
        _greeting(inv, lang),
        "",
        *_paragraph(cancelled),
        "",
        *_paragraph(_("The attached calendar file removes the conference from your calendar.")),
    ]
    return "\n".join(lines) + "\n"


# --- iCalendar (RFC 5545)


def ics_time(value: dt.datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("iCalendar times must be timezone-aware")
    return value.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def ics_text(value: str) -> str:
    """A TEXT value (RFC 5545 3.3.11): backslash, semicolon and comma escaped, newlines as \\n."""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    value = value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    return value.replace("\n", "\\n")


def fold(line: str) -> str:
    """Fold a content line at 75 octets (RFC 5545 3.1), never inside a UTF-8 sequence."""
    out: list[str] = []
    current, size, limit = "", 0, 75
    for ch in line:
        n = len(ch.encode("utf-8"))
        if size + n > limit:
            out.append(current)
            current, size, limit = " ", 1, 75
        current += ch
        size += n
    out.append(current)
    return "\r\n".join(out)


def _param(value: str) -> str:
    """A parameter value (RFC 5545 3.2) as a quoted-string: no DQUOTE, no control characters."""
    return '"' + "".join(c for c in value if c != '"' and (c == "\t" or ord(c) >= 32 and ord(c) != 127)) + '"'


def _address(value: str) -> str:
    return parseaddr(value)[1] or value.strip()


def ics(
    inv: Invitation,
    *,
    domain: str,
    now: dt.datetime | None = None,
    cancel: bool = False,
    organiser_email: str = "",
    lang: Language = ENGLISH,
) -> bytes:
    """The invitation's calendar entry (METHOD:PUBLISH), or with `cancel` the message that
    removes it (METHOD:CANCEL, STATUS:CANCELLED; give it a `sequence` above the invite's)."""
    _ = lang.gettext
    now = now or dt.datetime.now(dt.UTC)
    numbers = ", ".join(display_number(n) for n in inv.dial_in + inv.toll_free)
    summary = (
        _("Conference call with %(organiser)s", organiser=inv.organiser)
        if inv.organiser
        else _("Conference call")
    )
    location = _("Dial in: %(numbers)s - PIN %(pin)s", numbers=numbers, pin=inv.pin)
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//VoIP Platform//Conference invitations//EN",
        "CALSCALE:GREGORIAN",
        f"METHOD:{'CANCEL' if cancel else 'PUBLISH'}",
        "BEGIN:VEVENT",
        f"UID:conference-{inv.conference_id}-guest-{inv.guest_id}@{domain}",
        f"SEQUENCE:{inv.sequence}",
        f"DTSTAMP:{ics_time(now)}",
        f"DTSTART:{ics_time(inv.starts_at)}",
        f"DTEND:{ics_time(inv.ends_at)}",
    ]
    if organiser_email:
        lines.append(f"ORGANIZER;CN={_param(_organiser(inv, lang))}:mailto:{_address(organiser_email)}")
    if cancel:  # RFC 5546 CANCEL: every attendee of the cancelled event
        lines.append(
            f"ATTENDEE;CN={_param(inv.guest_name or _address(inv.guest_email))}"
            f":mailto:{_address(inv.guest_email)}"
        )
    lines += [
        f"SUMMARY:{ics_text(summary)}",
        f"DESCRIPTION:{ics_text(cancel_body(inv, lang) if cancel else body(inv, lang))}",
        f"LOCATION:{ics_text(location)}",
        f"STATUS:{'CANCELLED' if cancel else 'CONFIRMED'}",
        "TRANSP:OPAQUE",
        "END:VEVENT",
        "END:VCALENDAR",
    ]
    return ("\r\n".join(fold(line) for line in lines) + "\r\n").encode("utf-8")


def unfold(text: str) -> list[str]:
    """Content lines of an iCalendar text (for readers and tests): CRLF + space/tab joins."""
    return text.replace("\r\n ", "").replace("\r\n\t", "").split("\r\n")
