"""Conference data: PIN lookup, status transitions, overdue conferences, invitations.

The Stasis app calls the async functions with an AsyncSession; the panel calls
`send_invites(settings, session, conference_id)` with its synchronous Session. The rules
themselves (window, verdicts, transitions) are pure, in controller/rules/conference.py.

Invites and cancellations are written in the `lang` the caller gives (invites.Language: the
panel's gettext in the owner's language); without one, in English.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import parseaddr
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, literal_column, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, selectinload

from controller.rules import conference as rules
from controller.rules.conference import Entry, Role, Status
from controller.services import mailer
from controller.services.conference import invites
from controller.settings import Settings
from db.models import Account, Conference, ConferenceGuest

log = logging.getLogger("ari_apps.conference")


@dataclass(frozen=True)
class ConferenceInfo:
    """What the app keeps of a conference row (a plain value, safe across sessions)."""

    id: int
    starts_at: dt.datetime
    duration_minutes: int
    status: str
    quiet_mode: bool
    video: bool
    allow_800: bool
    bridge_id: str | None

    @property
    def ends_at(self) -> dt.datetime:
        return rules.window(self.starts_at, self.duration_minutes, 0).ends_at

    @classmethod
    def of(cls, c: Conference) -> ConferenceInfo:
        return cls(
            id=c.id,
            starts_at=c.starts_at,
            duration_minutes=c.duration_minutes,
            status=c.status,
            quiet_mode=c.quiet_mode,
            video=c.video,
            allow_800=c.allow_800,
            bridge_id=c.bridge_id,
        )


@dataclass(frozen=True)
class PinMatch:
    conference: ConferenceInfo
    role: Role
    guest_id: int | None  # None for the admin


@dataclass(frozen=True)
class Admission:
    """The answer to "who keyed this PIN, and may they come in now?"; match None = unknown PIN."""

    match: PinMatch | None
    entry: Entry | None


def _ends_at() -> ColumnElement[dt.datetime]:
    return Conference.starts_at + literal_column("interval '1 minute'") * Conference.duration_minutes


async def find_by_pin(session: AsyncSession, pin: str) -> list[PinMatch]:
    if not rules.well_formed_pin(pin):
        return []
    matches: list[PinMatch] = []
    admin = await session.scalar(select(Conference).where(Conference.admin_pin == pin))
    if admin is not None:
        matches.append(PinMatch(ConferenceInfo.of(admin), Role.ADMIN, None))
    row = (
        await session.execute(
            select(ConferenceGuest, Conference)
            .join(Conference, ConferenceGuest.conference_id == Conference.id)
            .where(ConferenceGuest.pin == pin)
        )
    ).first()
    if row is not None:
        guest, conf = row
        role = Role(guest.role) if guest.role in Role._value2member_map_ else Role.NORMAL
        matches.append(PinMatch(ConferenceInfo.of(conf), role, guest.id))
    return matches


async def admit(
    session: AsyncSession, pin: str, now: dt.datetime, *, tollfree: bool, early_minutes: int
) -> Admission:
    """Which conference and role the PIN names, and the entry verdict for it now. An admin PIN
    of one conference and a guest PIN of another may be equal (each is unique in its own
    column): the one whose conference is open wins."""
    matches = await find_by_pin(session, pin)
    if not matches:
        return Admission(None, None)
    verdicts = [
        (
            m,
            rules.entry_verdict(
                now,
                starts_at=m.conference.starts_at,
                duration_minutes=m.conference.duration_minutes,
                status=m.conference.status,
                early_minutes=early_minutes,
                allow_800=m.conference.allow_800,
                tollfree=tollfree,
            ),
        )
        for m in matches
    ]
    for m, v in verdicts:
        if v is Entry.OK:
            return Admission(m, v)
    return Admission(*verdicts[0])


async def owner_language(session: AsyncSession, conference_id: int) -> str | None:
    """The conference owner's Account.language: the language of its prompts and announcements."""
    language = await session.scalar(
        select(Account.language)
        .join(Conference, Conference.account_id == Account.id)
        .where(Conference.id == conference_id)
    )
    return language


async def get_conference(session: AsyncSession, conference_id: int) -> ConferenceInfo | None:
    c = await session.get(Conference, conference_id, populate_existing=True)
    return ConferenceInfo.of(c) if c is not None else None


async def mark_started(session: AsyncSession, conference_id: int, bridge_id: str) -> ConferenceInfo | None:
    """Created -> Started (or a Started one gets its new bridge); None if it expired meanwhile."""
    started = rules.next_status(Status.CREATED.value, "join")
    assert started is not None  # the rules let a created conference start
    c = (
        await session.execute(
            update(Conference)
            .where(
                Conference.id == conference_id,
                Conference.status.in_([Status.CREATED.value, Status.STARTED.value]),
            )
            .values(status=started.value, bridge_id=bridge_id)
            .returning(Conference)
        )
    ).scalar_one_or_none()
    return ConferenceInfo.of(c) if c is not None else None


async def mark_expired(session: AsyncSession, conference_id: int) -> bool:
    """Created/Started -> Expired; True when this call made the change."""
    result = await session.execute(
        update(Conference)
        .where(Conference.id == conference_id, Conference.status != Status.EXPIRED.value)
        .values(status=Status.EXPIRED.value, bridge_id=None)
    )
    return cast("CursorResult[Any]", result).rowcount > 0


async def overdue(session: AsyncSession, now: dt.datetime) -> list[ConferenceInfo]:
    """Conferences not marked Expired whose scheduled end has passed."""
    rows = await session.scalars(
        select(Conference).where(Conference.status != Status.EXPIRED.value, _ends_at() <= now)
    )
    return [ConferenceInfo.of(c) for c in rows]


async def started(session: AsyncSession) -> list[ConferenceInfo]:
    rows = await session.scalars(select(Conference).where(Conference.status == Status.STARTED.value))
    return [ConferenceInfo.of(c) for c in rows]


# --- invitations (the panel's "Send email invite")


@dataclass
class InviteReport:
    sent: list[int] = dataclasses.field(default_factory=list)  # guest ids
    failed: dict[int, str] = dataclasses.field(default_factory=dict)  # guest id -> reason


def numbers(raw: str) -> tuple[str, ...]:
    return tuple(n.strip() for n in raw.split(",") if n.strip().isdigit())


def build_invitations(
    settings: Settings,
    conference: Conference,
    account: Account | None,
    guests: Iterable[ConferenceGuest],
    *,
    sequence: int = 0,
) -> list[invites.Invitation]:
    organiser = conference.admin_name or (
        f"{account.first_name} {account.last_name}".strip() if account is not None else ""
    )
    tz = account.time_zone if account is not None else "UTC"
    toll_free = numbers(settings.conference_tollfree_numbers) if conference.allow_800 else ()
    return [
        invites.Invitation(
            conference_id=conference.id,
            guest_id=g.id,
            guest_name=g.name,
            guest_email=g.email,
            pin=g.pin,
            role=g.role,
            starts_at=conference.starts_at,
            duration_minutes=conference.duration_minutes,
            organiser=organiser,
            time_zone=tz,
            dial_in=numbers(settings.conference_numbers),
            toll_free=toll_free,
            video=conference.video,
            sequence=sequence,
        )
        for g in guests
    ]


def _calendar_mail(
    settings: Settings, to: str, subject: str, body: str, filename: str, ics: bytes, method: str
) -> EmailMessage:
    """The email with its .ics; the calendar part says its METHOD in its Content-Type too
    (RFC 6047), which mail clients look at to offer "add" or "remove", and its charset (the
    .ics is UTF-8: names and texts in any language; without it a reader assumes US-ASCII)."""
    msg = mailer.build_message(settings, to, subject, body, [(filename, ics, "text/calendar")])
    for part in msg.iter_attachments():
        if part.get_content_type() == "text/calendar":
            part.set_param("charset", "utf-8")
            part.set_param("method", method)
    return msg


def send_invites(
    settings: Settings,
    session: Session,
    conference_id: int,
    *,
    guest_ids: Iterable[int] | None = None,
    now: dt.datetime | None = None,
    sequence: int = 0,
    lang: invites.Language = invites.ENGLISH,
) -> InviteReport:
    """Email every guest of the conference that has "send email invite" and an address (or only
    `guest_ids`): date, time, duration, dial-in numbers, PIN, role, and an .ics (revision
    `sequence`). Sets the guest's invited_at on success; a failure for one guest does not stop
    the others. Blocks on the mailer (the caller is synchronous: the panel)."""
    conference = session.scalar(
        select(Conference).where(Conference.id == conference_id).options(selectinload(Conference.guests))
    )
    if conference is None:
        raise LookupError(f"no conference {conference_id}")
    wanted = set(guest_ids) if guest_ids is not None else None
    guests = [
        g
        for g in conference.guests
        if g.send_invite and g.email.strip() and (wanted is None or g.id in wanted)
    ]
    account = session.get(Account, conference.account_id)
    domain = parseaddr(settings.mail_from)[1].partition("@")[2] or "localhost"
    now = now or dt.datetime.now(dt.UTC)
    report = InviteReport()
    guest_by_id = {g.id: g for g in guests}
    for inv in build_invitations(settings, conference, account, guests, sequence=sequence):
        try:
            mailer.send_message_blocking(
                settings,
                _calendar_mail(
                    settings,
                    inv.guest_email,
                    invites.subject(inv, lang),
                    invites.body(inv, lang),
                    f"conference-{conference.id}.ics",
                    invites.ics(inv, domain=domain, now=now, organiser_email=settings.mail_from, lang=lang),
                    "PUBLISH",
                ),
            )
        except mailer.MailError as exc:
            report.failed[inv.guest_id] = str(exc)[:200]
            log.warning(
                "conference invite failed",
                extra={"conference": conference.id, "guest": inv.guest_id, "error": str(exc)[:200]},
            )
            continue
        guest_by_id[inv.guest_id].invited_at = now
        report.sent.append(inv.guest_id)
    session.flush()
    log.info(
        "conference invites sent",
        extra={"conference": conference.id, "sent": len(report.sent), "failed": len(report.failed)},
    )
    return report


def send_cancellations(
    settings: Settings,
    cancelled: Iterable[invites.Invitation],
    *,
    now: dt.datetime | None = None,
    lang: invites.Language = invites.ENGLISH,
) -> InviteReport:
    """Tell invited guests that their conference was cancelled (deleted): a short text and an
    .ics with METHOD:CANCEL for the same UID as their invite, whose `sequence` the caller has
    set above the invite's. Plain values in (the conference row may be gone already); a failure
    for one guest does not stop the others."""
    domain = parseaddr(settings.mail_from)[1].partition("@")[2] or "localhost"
    now = now or dt.datetime.now(dt.UTC)
    report = InviteReport()
    for inv in cancelled:
        try:
            mailer.send_message_blocking(
                settings,
                _calendar_mail(
                    settings,
                    inv.guest_email,
                    invites.cancel_subject(inv, lang),
                    invites.cancel_body(inv, lang),
                    f"conference-{inv.conference_id}.ics",
                    invites.ics(
                        inv,
                        domain=domain,
                        now=now,
                        cancel=True,
                        organiser_email=settings.mail_from,
                        lang=lang,
                    ),
                    "CANCEL",
                ),
            )
        except mailer.MailError as exc:
            report.failed[inv.guest_id] = str(exc)[:200]
            log.warning(
                "conference cancellation failed",
                extra={"conference": inv.conference_id, "guest": inv.guest_id, "error": str(exc)[:200]},
            )
            continue
        report.sent.append(inv.guest_id)
    return report


__all__ = [
    "Admission",
    "ConferenceInfo",
    "InviteReport",
    "PinMatch",
    "admit",
    "build_invitations",
    "find_by_pin",
    "get_conference",
    "mark_expired",
    "mark_started",
    "overdue",
    "owner_language",
    "send_cancellations",
    "send_invites",
    "started",
]
