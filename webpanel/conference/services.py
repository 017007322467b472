"""Conference: schedule, edit and delete a member's conferences, their guests and invites.

The rows, the PINs and the time conversions are controller.services.conference.schedule's
(the demo seed schedules through it too); this module checks the member's form, scopes, edits,
deletes and sends. Time: the member picks the date and time in the account's time zone;
`starts_at` is stored in UTC (timestamptz) and shown back in the member's zone.

Who sees what: a conference belongs to the account; its Admin Phone is one of the account's
virtual numbers. The primary holder manages every conference of the account, a secondary
user the ones whose Admin Phone is their own number. Anything else answers 404.

PINs are unique across all conferences (schedule.py: a PIN alone names its conference on the
phone), and every one is drawn at random by the service, the Admin PIN too (issue 13: a PIN
the member typed would have to be refused when taken, and that refusal tells the member some
conference uses it). So no answer of the panel depends on other conferences' PINs.

Invites go through controller.services.conference.service.send_invites (text + .ics, real SMTP), with
one quick attempt while the member waits; a failure keeps the conference and says so, and
"Resend invite" tries again. Invites per account and hour are limited: the panel must not
become a way to mail anyone. They are written in the owner account's language (the panel's
catalogs, webpanel.i18n.in_language, handed to the service as an invites.Language), whoever
of the account saves.

Deleting a conference that is still ahead tells the guests who got an invite: a cancellation
with an .ics (METHOD:CANCEL, the invite's UID, a higher SEQUENCE) that removes the calendar
entry. The .ics SEQUENCE is the number of saved edits of the conference (audit log), so each
re-sent invite outranks the one before and the cancellation outranks them all.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, and_, false, func, literal_column, select
from sqlalchemy.orm import Session, selectinload

from controller.rules import conference as rules
from controller.services.conference import schedule as scheduling
from controller.services.conference import service as conference_service
from controller.services.conference.invites import Invitation, Language
from controller.services.conference.schedule import local_parts, to_utc, user_zone, zone
from controller.settings import Settings
from db.audit import audit
from db.errors import ServiceError
from db.models import GUEST_ROLES, Account, AuditLog, Conference, ConferenceGuest, User, VirtualNumber
from webpanel.i18n import _, get_locale, gettext, in_language
from webpanel.validation import FieldErrors, is_email

UTC = dt.UTC
DURATIONS = (15, 30, 45, 60, 90, 120, 180, 240, 360, 480, 720, 1440)  # minutes (model: 5..1440)
DEFAULT_DURATION = 60
TIME_STEP_MINUTES = 15
MAX_AHEAD = dt.timedelta(days=731)  # schedule at most two years ahead
MAX_GUESTS = 100
MAX_OPEN_CONFERENCES = 50  # not yet expired, per account
INVITES_PER_HOUR = 100  # per account
PANEL_SMTP_TIMEOUT = 10.0  # the member waits for the invites: fail fast

# conference fields that an invite shows: a change re-sends the invites already sent
_INVITE_FIELDS = ("starts_at", "duration_minutes", "video", "allow_800", "admin_name")


@dataclass
class GuestInput:
    guest_id: int | None = None
    virtual_number: str = ""
    name: str = ""
    email: str = ""
    role: str = "normal"
    send_invite: bool = False

    def blank(self) -> bool:
        return not (self.virtual_number or self.name or self.email)


@dataclass
class ConferenceInput:
    admin_name: str = ""
    admin_phone: str = ""
    video: bool = False
    quiet_mode: bool = False
    allow_800: bool = False
    date: str = ""  # YYYY-MM-DD in the member's zone
    time: str = ""  # HH:MM in the member's zone
    duration_minutes: int = DEFAULT_DURATION
    guests: list[GuestInput] = field(default_factory=list)


class ConferenceFieldErrors(FieldErrors):
    """The form's errors, keyed by form field."""


@dataclass
class Saved:
    conference: Conference
    invite_guest_ids: list[int]  # guests whose invite is due (new, or what it says changed)


# --- time ----------------------------------------------------------------------------------


def next_hour(now: dt.datetime) -> dt.datetime:
    """The schedule form's first suggestion: the next full hour (full in every zone with
    whole-hour offsets; a zone at :30 or :45 gets a quarter-hour step all the same)."""
    return (now + dt.timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)


def time_choices() -> list[str]:
    return [f"{m // 60:02d}:{m % 60:02d}" for m in range(0, 24 * 60, TIME_STEP_MINUTES)]


def ends_at(conference: Conference) -> dt.datetime:
    return rules.window(conference.starts_at, conference.duration_minutes, 0).ends_at


def status_of(conference: Conference, now: dt.datetime) -> str:
    """The help page's status: Created (scheduled), Started (someone is in), Expired (over).
    A conference whose time is over is Expired even before the controller's sweep marks it."""
    if conference.status == rules.Status.EXPIRED.value or rules.is_over(
        now, conference.starts_at, conference.duration_minutes
    ):
        return rules.Status.EXPIRED.value
    if conference.status == rules.Status.STARTED.value:
        return rules.Status.STARTED.value
    return rules.Status.CREATED.value


def editable(conference: Conference, now: dt.datetime) -> bool:
    return status_of(conference, now) == rules.Status.CREATED.value


def deletable(conference: Conference, now: dt.datetime) -> bool:
    return status_of(conference, now) != rules.Status.STARTED.value


# --- scope ---------------------------------------------------------------------------------


def own_number(session: Session, user: User) -> str | None:
    if user.virtual_number_id is None:
        return None
    vn = session.get(VirtualNumber, user.virtual_number_id)
    return vn.number if vn is not None else None


def scope(session: Session, user: User | None) -> ColumnElement[bool]:
    """The conferences `user` may see and change."""
    if user is None or user.account_id is None or user.role not in ("primary", "secondary"):
        return false()
    if user.role == "primary":
        return Conference.account_id == user.account_id
    return and_(
        Conference.account_id == user.account_id, Conference.admin_phone == (own_number(session, user) or "")
    )


def conferences(session: Session, user: User, now: dt.datetime) -> list[Conference]:
    """Upcoming and running conferences first (soonest first), then the expired ones
    (latest first)."""
    rows = list(
        session.scalars(
            select(Conference).where(scope(session, user)).options(selectinload(Conference.guests))
        )
    )
    open_ = sorted((c for c in rows if status_of(c, now) != "expired"), key=lambda c: (c.starts_at, c.id))
    over = sorted(
        (c for c in rows if status_of(c, now) == "expired"), key=lambda c: (c.starts_at, c.id), reverse=True
    )
    return open_ + over


def conference_for(session: Session, user: User, conference_id: int) -> Conference | None:
    return session.scalar(
        select(Conference)
        .where(Conference.id == conference_id, scope(session, user))
        .options(selectinload(Conference.guests))
    )


_NUMBERS = select(VirtualNumber.number).order_by(VirtualNumber.number)


def admin_phones(session: Session, user: User) -> list[str]:
    """The virtual numbers the user may name as Admin Phone (own first)."""
    from webpanel import access

    # as access.visible_numbers (its scope), the numbers alone, from a statement built once
    numbers = list(session.scalars(_NUMBERS.where(access.number_scope(user))))
    if user.login in numbers:
        numbers.remove(user.login)
        numbers.insert(0, user.login)
    return numbers


def default_admin_name(user: User) -> str:
    account = user.account
    return f"{account.first_name} {account.last_name}".strip() if account is not None else ""


# --- PINs ----------------------------------------------------------------------------------


@contextmanager
def _drawing_pins() -> Iterator[None]:
    """The scheduler's NoFreePin as the member reads it."""
    try:
        yield
    except scheduling.NoFreePin:
        raise ServiceError(_("No free PIN could be found; please try again.")) from None


# --- validation ----------------------------------------------------------------------------


def _ascii_digits(value: str, shortest: int, longest: int) -> bool:
    """0-9 only (str.isdigit also takes other scripts' digits and superscripts, which a
    keypad cannot send and the database's checks refuse)."""
    return shortest <= len(value) <= longest and all("0" <= c <= "9" for c in value)


def _check(
    session: Session, user: User, data: ConferenceInput, conference: Conference | None, now: dt.datetime
) -> tuple[dt.datetime, list[GuestInput]]:
    """Every problem of the input at once (FieldErrors keyed by form field), or the UTC start
    and the non-blank guests."""
    errors: dict[str, list[str]] = {}

    def err(name: str, message: str) -> None:
        errors.setdefault(name, []).append(message)

    data.admin_name = " ".join((data.admin_name or "").split())
    if len(data.admin_name) > 120:
        err("admin_name", _("The Admin Name has at most 120 characters."))
    if data.admin_phone not in admin_phones(session, user):
        err("admin_phone", _("Choose one of your virtual numbers as Admin Phone."))

    if data.duration_minutes not in DURATIONS and not (
        conference is not None and data.duration_minutes == conference.duration_minutes
    ):
        err("duration", _("Choose how long you would like the conference room for."))

    starts_at = None
    tz = user_zone(user)
    try:
        day = dt.date.fromisoformat((data.date or "").strip())
    except ValueError:
        day = None
        err(
            "date",
            _("Enter the date as year-month-day, such as 2027-01-15.")
            if (data.date or "").strip()
            else _("Select a date for your conference."),
        )
    try:
        hour, minute = ((data.time or "").strip()).split(":")
        at = dt.time(int(hour), int(minute))
    except ValueError:
        at = None
        err("time", _("Select a time for your conference."))
    if day is not None and at is not None:
        try:
            starts_at = to_utc(day, at, tz)
        except ValueError:
            err(
                "time",
                _(
                    "%(time)s does not exist on %(date)s in your time zone (%(zone)s): the clocks "
                    "go forward then. Choose another time.",
                    time=data.time,
                    date=data.date,
                    zone=tz.key,
                ),
            )
    unchanged = conference is not None and starts_at == conference.starts_at
    if starts_at is not None and not unchanged:
        if starts_at <= now:
            err("date", _("That date and time has already passed. Choose a time in the future."))
        elif starts_at - now > MAX_AHEAD:
            err("date", _("A conference can be scheduled at most two years ahead."))

    guests: list[GuestInput] = []
    emails: dict[str, int] = {}
    numbers: dict[str, int] = {}
    for i, g in enumerate(data.guests):
        g.virtual_number = (g.virtual_number or "").strip()
        g.name = " ".join((g.name or "").split())
        g.email = (g.email or "").strip()
        if g.blank() and g.guest_id is None:
            continue  # the empty row a member did not fill
        key = f"guests-{i}-"
        if not g.name:
            err(key + "name", _("Enter the guest's name."))
        elif len(g.name) > 120:
            err(key + "name", _("A name has at most 120 characters."))
        if g.virtual_number and not _ascii_digits(g.virtual_number, 4, 15):
            err(key + "virtual_number", _("A virtual number is 4 to 15 digits."))
        if g.email and not is_email(g.email):
            err(key + "email", _("Enter a valid email address, such as name@example.com."))
        if g.send_invite and not g.email:
            err(key + "email", _("Enter the guest's email address to send an invite."))
        if g.role not in GUEST_ROLES:
            err(key + "role", _("Choose Talk Only, Listen Only or Normal."))
        if g.email:
            first = emails.setdefault(g.email.casefold(), i)
            if first != i:
                err(key + "email", _("Guest %(n)d has this email address already.", n=first + 1))
        if g.virtual_number:
            first = numbers.setdefault(g.virtual_number, i)
            if first != i:
                err(key + "virtual_number", _("Guest %(n)d has this virtual number already.", n=first + 1))
        guests.append(g)
    if len(guests) > MAX_GUESTS:
        err("form", _("A conference has at most %(n)d guests.", n=MAX_GUESTS))

    known = {g.id for g in conference.guests} if conference is not None else set()
    if any(g.guest_id is not None and g.guest_id not in known for g in guests):
        err("form", _("A guest on the form is not on this conference any more. Reload the page."))

    if conference is None:
        open_count = session.scalar(
            select(func.count())
            .select_from(Conference)
            .where(
                Conference.account_id == user.account_id,
                Conference.status != "expired",
                Conference.starts_at + literal_column("interval '1 minute'") * Conference.duration_minutes
                > now,
            )
        )
        if (open_count or 0) >= MAX_OPEN_CONFERENCES:
            err(
                "form",
                _(
                    "Your account has %(n)d conferences scheduled, the most it may have. Delete one first.",
                    n=MAX_OPEN_CONFERENCES,
                ),
            )

    if errors:
        raise ConferenceFieldErrors(errors)
    assert starts_at is not None  # no error: the date and the time made an instant
    return starts_at, guests


# --- changes -------------------------------------------------------------------------------


def schedule(
    session: Session,
    user: User,
    data: ConferenceInput,
    *,
    now: dt.datetime | None = None,
    remote_addr: str = "",
) -> Saved:
    now = now or dt.datetime.now(UTC)
    starts_at, guests = _check(session, user, data, None, now)
    with _drawing_pins():
        conference, added = scheduling.create(
            session,
            user,
            starts_at=starts_at,
            duration_minutes=data.duration_minutes,
            admin_name=data.admin_name,
            admin_phone=data.admin_phone,
            video=data.video,
            quiet_mode=data.quiet_mode,
            allow_800=data.allow_800,
            guests=guests,
            remote_addr=remote_addr,
        )
    return Saved(conference, [g.id for g in added if g.send_invite and g.email])


def update(
    session: Session,
    user: User,
    conference: Conference,
    data: ConferenceInput,
    *,
    now: dt.datetime | None = None,
    remote_addr: str = "",
) -> Saved:
    now = now or dt.datetime.now(UTC)
    if not editable(conference, now):
        raise ServiceError(_("This conference has started or expired; it can no longer be changed."))
    starts_at, guests = _check(session, user, data, conference, now)
    before = {name: getattr(conference, name) for name in _INVITE_FIELDS}
    reserved: set[str] = set()
    conference.admin_name = data.admin_name
    conference.admin_phone = data.admin_phone
    conference.video = data.video
    conference.quiet_mode = data.quiet_mode
    conference.allow_800 = data.allow_800
    conference.starts_at = starts_at
    conference.duration_minutes = data.duration_minutes
    conference_changed = any(getattr(conference, name) != value for name, value in before.items())

    existing = {g.id: g for g in conference.guests}
    kept: set[int] = set()
    invite: list[ConferenceGuest] = []
    for g in guests:
        if g.guest_id is None:
            with _drawing_pins():
                invite.append(scheduling.add_guest(session, conference, g, reserved))
            continue
        row = existing[g.guest_id]
        kept.add(row.id)
        changed = (row.email, row.role, row.name) != (g.email, g.role, g.name)
        row.virtual_number, row.name, row.email = g.virtual_number, g.name, g.email
        row.role, row.send_invite = g.role, g.send_invite
        if changed or conference_changed or row.invited_at is None:
            invite.append(row)
    removed = [row for gid, row in existing.items() if gid not in kept]
    for row in removed:
        conference.guests.remove(row)  # delete-orphan: the row goes
    session.flush()
    audit(
        session,
        "conference.update",
        actor=user,
        account_id=user.account_id,
        obj=conference,
        details={"guests": len(conference.guests), "removed": len(removed)},
        remote_addr=remote_addr,
    )
    session.flush()
    return Saved(conference, [g.id for g in invite if g.send_invite and g.email])


def delete(
    session: Session,
    user: User,
    conference: Conference,
    *,
    settings: Settings | None = None,
    now: dt.datetime | None = None,
    remote_addr: str = "",
) -> list[Invitation]:
    """Delete the conference and its guests; returns the cancellations due (with `settings`):
    send them with send_cancellations once the deletion is committed."""
    now = now or dt.datetime.now(UTC)
    if not deletable(conference, now):
        raise ServiceError(_("This conference is in progress; it can be deleted once it has ended."))
    due = cancellations_due(session, settings, conference, now) if settings is not None else []
    audit(
        session,
        "conference.delete",
        actor=user,
        account_id=user.account_id,
        obj=conference,
        details={"guests": len(conference.guests), "cancellations": len(due)},
        remote_addr=remote_addr,
    )
    session.delete(conference)  # its guests go with it (cascade)
    session.flush()
    return due


# --- invites -------------------------------------------------------------------------------


@dataclass
class InviteResult:
    sent: list[str] = field(default_factory=list)  # addresses
    failed: list[str] = field(default_factory=list)  # addresses
    limited: bool = False


def owner_language(session: Session, conference: Conference) -> str:
    """The language of the conference's emails: its account's (the account owns the conference)."""
    return session.scalar(select(Account.language).where(Account.id == conference.account_id)) or "en"


def invite_sequence(session: Session, conference: Conference) -> int:
    """The revision of the guests' calendar entries: the saved edits of the conference."""
    return (
        session.scalar(
            select(func.count())
            .select_from(AuditLog)
            .where(
                AuditLog.account_id == conference.account_id,
                AuditLog.action == "conference.update",
                AuditLog.object_type == Conference.__tablename__,
                AuditLog.object_id == str(conference.id),
            )
        )
        or 0
    )


@contextmanager
def _texts_in(code: str | None) -> Iterator[Language]:
    """The emails' language for the service: the panel's gettext, under `code` for the block."""
    with in_language(code):
        locale = get_locale()
        yield Language(str(locale) if locale is not None else "en", gettext)


def _quick(settings: Settings) -> Settings:
    """The member waits for these emails: one attempt, a short timeout."""
    return dataclasses.replace(
        settings, smtp_attempts=1, smtp_timeout=min(settings.smtp_timeout, PANEL_SMTP_TIMEOUT)
    )


def cancellations_due(
    session: Session, settings: Settings, conference: Conference, now: dt.datetime
) -> list[Invitation]:
    """Who hears that the conference is off: the guests an invite reached, while it is still
    ahead (an ended conference needs no cancellation), each with the next SEQUENCE."""
    if status_of(conference, now) != rules.Status.CREATED.value:
        return []
    told = [g for g in conference.guests if g.invited_at is not None and g.email.strip()]
    if not told:
        return []
    account = session.get(Account, conference.account_id)
    return conference_service.build_invitations(
        settings,
        conference,
        account,
        sorted(told, key=lambda g: g.id),
        sequence=invite_sequence(session, conference) + 1,
    )


def send_cancellations(
    session: Session,
    settings: Settings,
    user: User,
    language: str,
    cancelled: list[Invitation],
    *,
    now: dt.datetime | None = None,
    remote_addr: str = "",
) -> InviteResult:
    """Email the cancellations (in the owner's `language`), one quick attempt each; the caller
    commits (an audit entry per email sent)."""
    result = InviteResult()
    if not cancelled:
        return result
    with _texts_in(language) as lang:
        report = conference_service.send_cancellations(_quick(settings), cancelled, now=now, lang=lang)
    by_id = {inv.guest_id: inv for inv in cancelled}
    for gid in report.sent:
        inv = by_id[gid]
        result.sent.append(inv.guest_email)
        audit(
            session,
            "conference.cancellation",
            actor=user,
            account_id=user.account_id,
            details={
                "conference": inv.conference_id,
                "guest": gid,
                "to_domain": inv.guest_email.rpartition("@")[2].rstrip(">"),
            },
            remote_addr=remote_addr,
        )
    result.failed += [by_id[gid].guest_email for gid in report.failed]
    session.flush()
    return result


def send_invites(
    session: Session,
    settings: Settings,
    user: User,
    conference: Conference,
    guest_ids: list[int],
    *,
    now: dt.datetime | None = None,
    remote_addr: str = "",
) -> InviteResult:
    """Email the invite (text + .ics) to these guests of the conference. The caller commits
    (invited_at and the audit entries)."""
    now = now or dt.datetime.now(UTC)
    result = InviteResult()
    if not guest_ids:
        return result
    sent_last_hour = (
        session.scalar(
            select(func.count())
            .select_from(AuditLog)
            .where(
                AuditLog.account_id == user.account_id,
                AuditLog.action == "conference.invite",
                AuditLog.at > now - dt.timedelta(hours=1),
            )
        )
        or 0
    )
    room = max(0, INVITES_PER_HOUR - sent_last_hour)
    by_id = {g.id: g for g in conference.guests}
    wanted = [gid for gid in guest_ids if gid in by_id]
    if len(wanted) > room:
        result.limited = True
        result.failed += [by_id[gid].email for gid in wanted[room:]]
        wanted = wanted[:room]
    if not wanted:
        return result
    with _texts_in(owner_language(session, conference)) as lang:
        report = conference_service.send_invites(
            _quick(settings),
            session,
            conference.id,
            guest_ids=wanted,
            now=now,
            sequence=invite_sequence(session, conference),
            lang=lang,
        )
    for gid in report.sent:
        result.sent.append(by_id[gid].email)
        audit(
            session,
            "conference.invite",
            actor=user,
            account_id=user.account_id,
            obj=by_id[gid],
            details={"conference": conference.id, "to_domain": by_id[gid].email.rpartition("@")[2]},
            remote_addr=remote_addr,
        )
    result.failed += [by_id[gid].email for gid in report.failed]
    session.flush()
    return result


def resend_invite(
    session: Session,
    settings: Settings,
    user: User,
    conference: Conference,
    guest: ConferenceGuest,
    *,
    now: dt.datetime | None = None,
    remote_addr: str = "",
) -> InviteResult:
    now = now or dt.datetime.now(UTC)
    if status_of(conference, now) == "expired":
        raise ServiceError(_("This conference has expired; no invite was sent."))
    if not guest.email:
        raise ServiceError(
            _(
                "%(name)s has no email address: add one, then click Schedule.",
                name=guest.name or _("This guest"),
            )
        )
    guest.send_invite = True
    session.flush()
    return send_invites(session, settings, user, conference, [guest.id], now=now, remote_addr=remote_addr)


def guest_in(conference: Conference, guest_id: int) -> ConferenceGuest | None:
    return next((g for g in conference.guests if g.id == guest_id), None)


__all__ = [
    "ConferenceInput",
    "DURATIONS",
    "GuestInput",
    "InviteResult",
    "Saved",
    "cancellations_due",
    "conference_for",
    "conferences",
    "delete",
    "deletable",
    "editable",
    "ends_at",
    "invite_sequence",
    "local_parts",
    "owner_language",
    "resend_invite",
    "schedule",
    "send_cancellations",
    "send_invites",
    "status_of",
    "time_choices",
    "to_utc",
    "update",
    "user_zone",
    "zone",
]
