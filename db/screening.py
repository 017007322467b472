"""A number's screening, schedule and forwarding plan read from the database (issue 16).

One mapping (`build`) turns a forwarding_rules row, the number's call_blocks, its voicemail
switch and its account's time zone into what controller.rules.screening decides on; the
inbound route (agi/inbound.py) loads it async, the panel's simulator
(webpanel/forwarding/simulate.py) sync, so both see the same settings.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from controller.rules.forwarding import ForwardingSettings, RingList, RingMode, Step1
from controller.rules.screening import OfficeHours, Screening, normalize_caller
from db.models import Account, CallBlock, ForwardingRule, VirtualNumber

DEFAULT_TIME_ZONE = "America/New_York"


@dataclass(frozen=True)
class NumberRules:
    """What decide() and the plan need for one virtual number."""

    screening: Screening
    settings: ForwardingSettings
    time_zone: str

    def local_now(self, now: dt.datetime | None = None) -> dt.datetime:
        """`now` (aware; default the current time) in the account's zone."""
        return (now or dt.datetime.now(dt.UTC)).astimezone(zone(self.time_zone))


def zone(name: str) -> ZoneInfo:
    """The account's zone; an unknown name falls back to the default (never fails a call)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_TIME_ZONE)


def ring_list(numbers: Iterable[str] | None, mode: str, seconds: int) -> RingList | None:
    kept = tuple(n for n in (numbers or []) if n)
    if not kept:
        return None
    return RingList(kept, RingMode(mode), int(seconds))


def build(
    rule: ForwardingRule | None, blocks: Iterable[str], voicemail_enabled: bool, time_zone: str | None
) -> NumberRules:
    """THE row -> rules mapping. `rule` None: the defaults (no row yet)."""
    tz = time_zone or DEFAULT_TIME_ZONE
    blocked = frozenset(b for b in (normalize_caller(n) for n in blocks) if b)
    if rule is None:
        return NumberRules(
            Screening(blocked=blocked), ForwardingSettings(voicemail_enabled=voicemail_enabled), tz
        )
    settings = ForwardingSettings(
        step1=Step1(rule.step1),
        step1_list=ring_list(rule.step1_numbers, rule.step1_mode, rule.step1_seconds),
        device_seconds=rule.device_seconds,
        no_answer_list=ring_list(rule.no_answer_numbers, rule.no_answer_mode, rule.no_answer_seconds)
        if rule.no_answer_enabled
        else None,
        busy_list=ring_list(rule.busy_numbers, rule.busy_mode, rule.busy_seconds)
        if rule.busy_enabled
        else None,
        voicemail_enabled=voicemail_enabled,
        confirm_forwarded=bool(rule.confirm_forwarded),
    )
    hours = (
        OfficeHours(int(rule.hours_days), rule.hours_open, rule.hours_close) if rule.hours_enabled else None
    )
    screening = Screening(
        dnd=bool(rule.dnd),
        reject_anonymous=bool(rule.reject_anonymous),
        blocked=blocked,
        hours=hours,
        after_hours=Step1(rule.after_hours_step1),
        after_hours_list=ring_list(rule.after_hours_numbers, rule.after_hours_mode, rule.after_hours_seconds),
    )
    return NumberRules(screening, settings, tz)


def _query(vn_id: int):
    """One statement: the number's voicemail switch, its account's zone, its rules row (None
    when it has none) and its blocked caller IDs (None when none)."""
    blocks = (
        select(func.array_agg(CallBlock.number))
        .where(CallBlock.virtual_number_id == VirtualNumber.id)
        .scalar_subquery()
    )
    return (
        select(VirtualNumber.voicemail_enabled, Account.time_zone, ForwardingRule, blocks)
        .join(Account, Account.id == VirtualNumber.account_id)
        .outerjoin(ForwardingRule, ForwardingRule.virtual_number_id == VirtualNumber.id)
        .where(VirtualNumber.id == vn_id)
    )


async def load(session: AsyncSession, vn_id: int) -> NumberRules | None:
    """For the inbound route (one round trip); None when the number does not exist."""
    row = (await session.execute(_query(vn_id))).first()
    if row is None:
        return None
    voicemail_enabled, time_zone, rule, blocks = row
    return build(rule, blocks or (), voicemail_enabled, time_zone)


def load_sync(session: Session, vn_id: int) -> NumberRules | None:
    """For the panel; None when the number does not exist."""
    row = session.execute(_query(vn_id)).first()
    if row is None:
        return None
    voicemail_enabled, time_zone, rule, blocks = row
    return build(rule, blocks or (), voicemail_enabled, time_zone)
