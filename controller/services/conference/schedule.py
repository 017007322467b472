"""Scheduling a conference: its row, its guests and their PINs, whoever schedules it (the
panel once its form is checked, the demo seed).

Time: the member picks a date and time in the account's time zone; `starts_at` is stored in
UTC. A wall time that does not exist on that day (the hour skipped when clocks go forward) is
refused; one that happens twice (clocks go back) is the first of the two.

PINs: every PIN (admin or guest) names one conference, so PINs are unique across all of them
(database constraints). Guest PINs are always drawn at random; the Admin PIN too unless the
member typed one. When no free PIN is found this raises NoFreePin: the caller words it for
its reader.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from controller.rules import conference as rules
from db.audit import audit
from db.models import Conference, ConferenceGuest, User

GENERATED_PIN_DIGITS = 6


class NoFreePin(Exception):
    """Every PIN drawn named a conference already (or one of this same save)."""


class GuestFields(Protocol):
    """A guest as the scheduler reads it (the panel's GuestInput, the demo's NewGuest)."""

    @property
    def virtual_number(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def email(self) -> str: ...
    @property
    def role(self) -> str: ...
    @property
    def send_invite(self) -> bool: ...


@dataclass(frozen=True)
class NewGuest:
    name: str
    email: str = ""
    role: str = "normal"
    virtual_number: str = ""
    send_invite: bool = False


# --- time ----------------------------------------------------------------------------------


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def user_zone(user: User) -> ZoneInfo:
    account = getattr(user, "account", None)
    return zone(account.time_zone if account is not None else "UTC")


def to_utc(date: dt.date, time: dt.time, tz: ZoneInfo) -> dt.datetime:
    """The UTC instant of a wall-clock date and time in `tz`; ValueError if that wall time
    does not exist there (skipped by a daylight-saving change)."""
    local = dt.datetime.combine(date, time).replace(tzinfo=tz, fold=0)
    instant = local.astimezone(dt.UTC)
    back = instant.astimezone(tz)
    if (back.date(), back.time().replace(tzinfo=None)) != (date, time):
        raise ValueError("nonexistent local time")
    return instant


def local_parts(starts_at: dt.datetime, tz: ZoneInfo) -> tuple[str, str]:
    """('YYYY-MM-DD', 'HH:MM') of a stored start, in the member's zone (for the form)."""
    local = starts_at.astimezone(tz)
    return local.strftime("%Y-%m-%d"), local.strftime("%H:%M")


# --- PINs ----------------------------------------------------------------------------------


def pin_taken(session: Session, pin: str, *, except_conference: int | None = None) -> bool:
    admin = select(Conference.id).where(Conference.admin_pin == pin)
    if except_conference is not None:
        admin = admin.where(Conference.id != except_conference)
    guest = select(ConferenceGuest.id).where(ConferenceGuest.pin == pin)
    return session.scalar(admin.limit(1)) is not None or session.scalar(guest.limit(1)) is not None


def new_pin(session: Session, reserved: set[str]) -> str:
    """A random PIN that names nothing yet (nor one of `reserved`, PINs of this same save)."""
    digits = GENERATED_PIN_DIGITS
    for attempt in range(40):
        if attempt and attempt % 10 == 0:
            digits = min(rules.PIN_MAX_DIGITS, digits + 1)  # a crowded space: longer PINs
        pin = f"{secrets.randbelow(10**digits):0{digits}d}"
        if pin not in reserved and not pin_taken(session, pin):
            reserved.add(pin)
            return pin
    raise NoFreePin()


# --- rows ----------------------------------------------------------------------------------


def add_guest(
    session: Session, conference: Conference, guest: GuestFields, reserved: set[str]
) -> ConferenceGuest:
    """The guest on the conference with a new PIN (flushed: it has its id)."""
    row = ConferenceGuest(
        virtual_number=guest.virtual_number,
        name=guest.name,
        email=guest.email,
        role=guest.role,
        send_invite=guest.send_invite,
        pin=new_pin(session, reserved),
    )
    conference.guests.append(row)
    session.flush()
    return row


def create(
    session: Session,
    user: User,
    *,
    starts_at: dt.datetime,
    duration_minutes: int,
    admin_name: str,
    admin_phone: str,
    admin_pin: str = "",
    video: bool = False,
    quiet_mode: bool = False,
    allow_800: bool = False,
    guests: Iterable[GuestFields] = (),
    remote_addr: str = "",
) -> tuple[Conference, list[ConferenceGuest]]:
    """A new conference of the user's account (audited as the user's), with its guests; the
    values as given (the caller has checked them), an empty `admin_pin` drawn at random. The
    caller commits."""
    reserved: set[str] = set()
    conference = Conference(
        account_id=user.account_id,
        admin_pin=admin_pin or new_pin(session, reserved),
        admin_name=admin_name,
        admin_phone=admin_phone,
        video=video,
        quiet_mode=quiet_mode,
        allow_800=allow_800,
        starts_at=starts_at,
        duration_minutes=duration_minutes,
        status=rules.Status.CREATED.value,
    )
    reserved.add(conference.admin_pin)
    session.add(conference)
    session.flush()
    added = [add_guest(session, conference, g, reserved) for g in guests]
    session.flush()
    audit(
        session,
        "conference.schedule",
        actor=user,
        account_id=user.account_id,
        obj=conference,
        details={"guests": len(added)},
        remote_addr=remote_addr,
    )
    session.flush()
    return conference, added
