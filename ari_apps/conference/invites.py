"""Conference invitations: the email text and its iCalendar (.ics) attachment.

Pure: values in, text out. The .ics is written by hand after RFC 5545: CRLF line ends, lines
folded at 75 octets, TEXT values escaped, every time in UTC with a trailing Z. One VEVENT per
guest with a stable UID (conference and guest), so a re-sent invite updates the calendar
entry instead of adding a second one.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers

ROLE_TEXT = {
    "normal": "Normal: you can talk and listen",
    "talk_only": "Talk only: the others hear you, you will not hear them",
    "listen_only": "Listen only: you hear the conference, your line is muted",
    "admin": "Administrator",
}


@dataclass(frozen=True)
class Invitation:
    conference_id: int
    guest_id: int
    guest_name: str
    guest_email: str
    pin: str
    role: str
    starts_at: dt.datetime          # aware
    duration_minutes: int
    organiser: str                  # the admin's name (or the account's)
    time_zone: str                  # the organiser's zone, for the human-readable date
    dial_in: tuple[str, ...]        # access numbers (digits)
    toll_free: tuple[str, ...]      # toll-free access numbers, empty unless 800 dial-in is allowed
    video: bool = False

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


def subject(inv: Invitation) -> str:
    local = inv.starts_at.astimezone(_zone(inv.time_zone))
    return f"Conference invitation: {local:%Y-%m-%d %H:%M} ({local.tzname()})"


def body(inv: Invitation) -> str:
    zone = _zone(inv.time_zone)
    local = inv.starts_at.astimezone(zone)
    utc = inv.starts_at.astimezone(dt.UTC)
    hours, minutes = divmod(inv.duration_minutes, 60)
    duration = " ".join(p for p in (f"{hours} h" if hours else "", f"{minutes} min" if minutes else "") if p)
    lines = [
        f"Hello{' ' + inv.guest_name if inv.guest_name else ''},",
        "",
        f"{inv.organiser or 'A member'} invites you to a {'video ' if inv.video else ''}conference call.",
        "",
        f"Date:      {local:%Y-%m-%d} ({local:%A})",
        f"Time:      {local:%H:%M} {local.tzname()} ({utc:%H:%M} UTC)",
        f"Duration:  {duration}",
        "",
        "Dial in:   " + ", ".join(display_number(n) for n in inv.dial_in),
    ]
    if inv.toll_free:
        lines.append("Toll free: " + ", ".join(display_number(n) for n in inv.toll_free))
    lines += [
        f"Your PIN:  {inv.pin}",
        f"Your role: {ROLE_TEXT.get(inv.role, inv.role)}",
        "",
        "Call the number, then key your PIN followed by #. You can join a few minutes before",
        "the start; the call ends at the end of the scheduled time.",
        "",
        "The attached calendar file adds the conference to your calendar.",
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


def ics(inv: Invitation, *, domain: str, now: dt.datetime | None = None) -> bytes:
    now = now or dt.datetime.now(dt.UTC)
    numbers = ", ".join(display_number(n) for n in inv.dial_in + inv.toll_free)
    description = body(inv)
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//VoIP Platform//Conference invitations//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        "BEGIN:VEVENT",
        f"UID:conference-{inv.conference_id}-guest-{inv.guest_id}@{domain}",
        f"DTSTAMP:{ics_time(now)}",
        f"DTSTART:{ics_time(inv.starts_at)}",
        f"DTEND:{ics_time(inv.ends_at)}",
        f"SUMMARY:{ics_text('Conference call' + (' with ' + inv.organiser if inv.organiser else ''))}",
        f"DESCRIPTION:{ics_text(description)}",
        f"LOCATION:{ics_text('Dial in: ' + numbers + ' - PIN ' + inv.pin)}",
        "STATUS:CONFIRMED",
        "TRANSP:OPAQUE",
        "END:VEVENT",
        "END:VCALENDAR",
    ]
    return ("\r\n".join(fold(line) for line in lines) + "\r\n").encode("utf-8")


def unfold(text: str) -> list[str]:
    """Content lines of an iCalendar text (for readers and tests): CRLF + space/tab joins."""
    return text.replace("\r\n ", "").replace("\r\n\t", "").split("\r\n")
