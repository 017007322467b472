"""Conference schedule and role rules: pure functions over plain values, no I/O.

A conference is open from `early_minutes` before its start until the end of its duration.
The PIN a caller keys names both the conference and the caller's role in it; the role says
which way the caller's audio is cut (ARI mute direction, checked on Asterisk 22):
`in` removes the caller's voice from the mix (cannot talk), `out` keeps it in the mix but the
caller hears nothing (cannot hear).
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

PIN_MIN_DIGITS = 4
PIN_MAX_DIGITS = 10


class Role(str, enum.Enum):
    ADMIN = "admin"
    NORMAL = "normal"
    TALK_ONLY = "talk_only"
    LISTEN_ONLY = "listen_only"


class Status(str, enum.Enum):
    CREATED = "created"
    STARTED = "started"
    EXPIRED = "expired"


class Entry(str, enum.Enum):
    """Why a caller with a known PIN may or may not come in."""

    OK = "ok"
    TOO_EARLY = "too_early"
    EXPIRED = "expired"
    TOLLFREE_BLOCKED = "tollfree_blocked"


@dataclass(frozen=True)
class Window:
    opens_at: dt.datetime  # first moment a caller is let in
    starts_at: dt.datetime
    ends_at: dt.datetime  # the conference is over at this moment


def window(starts_at: dt.datetime, duration_minutes: int, early_minutes: int) -> Window:
    if starts_at.tzinfo is None:
        raise ValueError("starts_at must be timezone-aware")
    return Window(
        opens_at=starts_at - dt.timedelta(minutes=max(0, early_minutes)),
        starts_at=starts_at,
        ends_at=starts_at + dt.timedelta(minutes=duration_minutes),
    )


def entry_verdict(
    now: dt.datetime,
    *,
    starts_at: dt.datetime,
    duration_minutes: int,
    status: str,
    early_minutes: int,
    allow_800: bool,
    tollfree: bool,
) -> Entry:
    """May a caller holding a valid PIN of this conference come in now, on this access number?"""
    if status == Status.EXPIRED.value:
        return Entry.EXPIRED
    w = window(starts_at, duration_minutes, early_minutes)
    if now >= w.ends_at:
        return Entry.EXPIRED
    if tollfree and not allow_800:
        return Entry.TOLLFREE_BLOCKED
    if now < w.opens_at:
        return Entry.TOO_EARLY
    return Entry.OK


def is_over(now: dt.datetime, starts_at: dt.datetime, duration_minutes: int) -> bool:
    return now >= window(starts_at, duration_minutes, 0).ends_at


def seconds_left(now: dt.datetime, starts_at: dt.datetime, duration_minutes: int) -> float:
    return (window(starts_at, duration_minutes, 0).ends_at - now).total_seconds()


# Status transitions: who may move a conference where
_NEXT = {
    ("created", "join"): Status.STARTED,
    ("started", "join"): Status.STARTED,
    ("created", "end"): Status.EXPIRED,
    ("started", "end"): Status.EXPIRED,
    ("expired", "end"): Status.EXPIRED,
}


def next_status(status: str, event: str) -> Status | None:
    """The status after `event` ("join": a participant came in, "end": the duration is over or
    the admin ended it); None when the event is not allowed in this status (join an expired one)."""
    return _NEXT.get((status, event))


def well_formed_pin(digits: str) -> bool:
    return digits.isdigit() and PIN_MIN_DIGITS <= len(digits) <= PIN_MAX_DIGITS


def mute_directions(role: Role, *, listeners_muted: bool = False) -> frozenset[str]:
    """ARI mute directions for a participant: listen-only cannot talk (`in`), talk-only cannot
    hear (`out`); normal participants are also muted `in` while the admin has muted all
    listeners. The admin is never muted."""
    if role is Role.LISTEN_ONLY:
        return frozenset({"in"})
    if role is Role.TALK_ONLY:
        return frozenset({"out"})
    if role is Role.NORMAL and listeners_muted:
        return frozenset({"in"})
    return frozenset()


# Admin keypad (the caller's journey and the keys are documented in ari_apps/conference/app.py)
class AdminAction(str, enum.Enum):
    MUTE_ALL = "mute_all"
    UNMUTE_ALL = "unmute_all"
    ARM_END = "arm_end"
    END = "end"
    NONE = "none"


ADMIN_KEY_MUTE = "1"
ADMIN_KEY_UNMUTE = "2"
ADMIN_KEY_END = "9"  # pressed twice within END_CONFIRM_SECONDS
END_CONFIRM_SECONDS = 3.0


def admin_action(digit: str, *, end_armed_at: float | None, now: float) -> AdminAction:
    """What one admin key press does. Ending needs the end key twice within
    END_CONFIRM_SECONDS so a stray key does not end everybody's call."""
    if digit == ADMIN_KEY_MUTE:
        return AdminAction.MUTE_ALL
    if digit == ADMIN_KEY_UNMUTE:
        return AdminAction.UNMUTE_ALL
    if digit == ADMIN_KEY_END:
        if end_armed_at is not None and 0 <= now - end_armed_at <= END_CONFIRM_SECONDS:
            return AdminAction.END
        return AdminAction.ARM_END
    return AdminAction.NONE
