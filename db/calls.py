"""Queries the call routes need, async (the controller's event loop). Each is one round trip."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from controller.rules.decisions import Permissions
from controller.rules.forwarding import ForwardingSettings, RingList, RingMode, Step1
from db.models import Account, Did, E911Address, ForwardingRule, VirtualNumber


@dataclass(frozen=True)
class Member:
    """A virtual number as the call routes see it, with its account's status and language."""

    vn_id: int
    number: str
    account_id: int
    account_active: bool
    display_name: str
    permissions: Permissions
    allow_incoming_800: bool
    voicemail_enabled: bool
    language: str


async def member(session: AsyncSession, number: str) -> Member | None:
    row = (
        await session.execute(
            select(VirtualNumber, Account.status, Account.language)
            .join(Account, Account.id == VirtualNumber.account_id)
            .where(VirtualNumber.number == number)
        )
    ).first()
    if row is None:
        return None
    vn, status, language = row
    return Member(
        vn.id,
        vn.number,
        vn.account_id,
        status == "active",
        vn.display_name,
        Permissions(vn.allow_us_canada_ld, vn.allow_international_ld),
        vn.allow_incoming_800,
        vn.voicemail_enabled,
        language,
    )


async def on_net_numbers(session: AsyncSession, candidates: list[str]) -> set[str]:
    rows = await session.execute(select(VirtualNumber.number).where(VirtualNumber.number.in_(candidates)))
    return {r[0] for r in rows}


async def did(session: AsyncSession, number: str) -> Did | None:
    return await session.scalar(select(Did).where(Did.number == number))


@dataclass(frozen=True)
class CallerIdentity:
    did_number: str | None
    e911: dict[str, str] | None  # the e911_addresses row's fields by column name


async def caller_identity(session: AsyncSession, vn_id: int) -> CallerIdentity:
    """The member's DID (outbound caller ID) and the 911 address on file for it."""
    row = (
        await session.execute(
            select(Did, E911Address)
            .outerjoin(E911Address, E911Address.did_id == Did.id)
            .where(Did.virtual_number_id == vn_id, Did.connection == "virtual_number")
            .order_by(Did.id)
            .limit(1)
        )
    ).first()
    if row is None:
        return CallerIdentity(None, None)
    d, addr = row
    e911: dict[str, str] | None = None
    if addr is not None:
        e911 = {
            k: getattr(addr, k)
            for k in (
                "name",
                "house_number",
                "number_suffix",
                "street_dir_prefix",
                "street_name",
                "street_type",
                "street_dir_suffix",
                "city",
                "state",
                "postal_code",
                "country",
                "location",
            )
        }
    return CallerIdentity(d.number, e911)


def _ring_list(numbers: Iterable[str] | None, mode: str, seconds: int) -> RingList | None:
    kept = tuple(n for n in (numbers or []) if n)
    if not kept:
        return None
    return RingList(kept, RingMode(mode), int(seconds))


async def forwarding(session: AsyncSession, vn_id: int, voicemail_enabled: bool) -> ForwardingSettings:
    rule = await session.get(ForwardingRule, vn_id)
    if rule is None:
        return ForwardingSettings(voicemail_enabled=voicemail_enabled)
    return ForwardingSettings(
        step1=Step1(rule.step1),
        step1_list=_ring_list(rule.step1_numbers, rule.step1_mode, rule.step1_seconds),
        device_seconds=rule.device_seconds,
        no_answer_list=_ring_list(rule.no_answer_numbers, rule.no_answer_mode, rule.no_answer_seconds)
        if rule.no_answer_enabled
        else None,
        busy_list=_ring_list(rule.busy_numbers, rule.busy_mode, rule.busy_seconds)
        if rule.busy_enabled
        else None,
        voicemail_enabled=voicemail_enabled,
    )


@dataclass(frozen=True)
class DecisionContext:
    """What an outbound decision reads in one statement (CONTEXT_SQL): the caller (None when
    `vnum` is no virtual number), which of the candidates are on-net virtual numbers, the area
    codes regional for the caller, the caller's DID (its outbound caller ID), and which of the
    candidates are enabled service numbers, with their dialplan targets."""

    member: Member | None
    on_net: frozenset[str]
    regional: frozenset[str]
    did_number: str | None
    # the account's money as db.billing.AUTH_STATE reads it, unlocked: a billable call decides
    # on it and voip_hold inserts the hold only if it is still true (db.hotpath.authorize)
    money_state: str | None = None
    services: Mapping[str, str] = field(default_factory=dict)  # service number -> its target
    # issue 13, spending limits: CONTEXT_SQL's limit columns as read (LIMIT_COLUMNS, turned into
    # controller.rules.limits values by db.limits.limits_of only for a billable call)
    limit_row: Sequence[Any] = ()


# issue 13, spending limits: the limits and the facts they decide on (db/limits.py
# LIMIT_COLUMNS, in this order; the money state, read above, is the last of them), for virtual
# number `vn` of account `a` (LIMIT_FROM's joins) and a call of tree %(group)s. The facts
# (controller/rules/limits.py LimitFacts): the premium-rate prefixes (a short table, matched in
# Python); credit charged today in the account's time zone (all, international, by this
# number: today's rows of account_day_spend, the day counters migration 0018's trigger keeps on
# cdr_charges, read by primary key instead of summing the day's charges) and in the velocity
# window (the window's charges alone, ix_cdr_charges_account_rated); only when a concurrent-
# call limit applies, the other call trees with an open hold (voip_open_calls, migration 0018: a
# function, so the decision's plan holds no scan for it when no such limit applies);
# the international holds taken in the window (ix_call_authorizations_international). The
# credit the open holds reserve comes from the money state.
LIMIT_SELECT = """
           vn.credit_limit, l.daily_cap, l.daily_cap_ceiling, l.intl_daily_cap,
           l.intl_daily_cap_ceiling, l.countries, l.countries_allowed, l.max_rate,
           l.max_concurrent, l.premium_opt_in, l.velocity_intl_attempts, l.velocity_amount,
           l.velocity_minutes, l.tripped_at, l.tripped_reason, nl.countries, nl.max_concurrent,
           (SELECT array_agg(p.prefix) FROM premium_prefixes p),
           (SELECT ARRAY[coalesce(sum(s.amount), 0), coalesce(sum(s.intl), 0),
                         coalesce(sum(s.amount) FILTER (WHERE s.virtual_number_id = vn.id), 0),
                         (SELECT coalesce(sum(ch.cost), 0) FROM cdr_charges ch
                           WHERE ch.account_id = vn.account_id AND ch.rated_at > t.since)]
              FROM account_day_spend s WHERE s.account_id = vn.account_id AND s.day = t.day),
           CASE WHEN t.conc THEN voip_open_calls(vn.account_id, vn.id, %(group)s) END,
           (SELECT count(*) FROM call_authorizations w
             WHERE w.account_id = vn.account_id AND w.call_class = 'I' AND w.created_at > t.since
               AND coalesce(w.call_group, '') <> coalesce(%(group)s, '-'))"""
LIMIT_FROM = """
      LEFT JOIN account_limits l ON l.account_id = vn.account_id
      LEFT JOIN number_limits nl ON nl.virtual_number_id = vn.id
      CROSS JOIN LATERAL (
          SELECT (now() AT TIME ZONE a.time_zone)::date AS day,
                 now() - make_interval(mins => coalesce(l.velocity_minutes, %(velocity_minutes)s))
                     AS since,
                 coalesce(l.max_concurrent, %(max_concurrent)s) > 0
                     OR coalesce(nl.max_concurrent, 0) > 0 AS conc) t"""


# Everything an outbound decision reads, in one statement (the FastAGI hot path runs it on a
# pooled psycopg connection: db.hotpath.decision_context).
CONTEXT_SQL = (
    """
    SELECT vn.id, vn.number, vn.account_id, a.status = 'active', vn.display_name,
           vn.allow_us_canada_ld, vn.allow_international_ld, vn.allow_incoming_800,
           vn.voicemail_enabled, a.language,
           (SELECT coalesce(array_agg(o.number), '{}') FROM virtual_numbers o
             WHERE o.number = ANY(%(candidates)s)),
           (SELECT coalesce(array_agg(r.regional_area_code), '{}') FROM regional_area_codes r
             WHERE r.area_code = %(area)s),
           (SELECT d.number FROM dids d WHERE d.virtual_number_id = vn.id
               AND d.connection = 'virtual_number' ORDER BY d.id LIMIT 1),
           voip_money_state(vn.account_id, vn.id, %(group)s)::text,
           (SELECT coalesce(array_agg(s.number || ',' || s.target), '{}') FROM service_numbers s
             WHERE s.number = ANY(%(candidates)s) AND s.enabled),"""
    + LIMIT_SELECT
    + """
      FROM virtual_numbers vn JOIN accounts a ON a.id = vn.account_id"""
    + LIMIT_FROM
    + """
     WHERE vn.number = %(vnum)s
"""
)


def context_from_row(row: Sequence[Any] | None) -> DecisionContext:
    """CONTEXT_SQL's row (an asyncpg Record, read by position) as a DecisionContext."""
    if row is None:
        return DecisionContext(None, frozenset(), frozenset(), None, None)
    member = Member(
        row[0], row[1], row[2], row[3], row[4], Permissions(row[5], row[6]), row[7], row[8], row[9]
    )
    # a service number is digits, its target `context,extension,priority`: split at the first comma
    services = dict(entry.split(",", 1) for entry in row[14])
    return DecisionContext(
        member, frozenset(row[10]), frozenset(row[11]), row[12], row[13], services, (*row[15:], row[13])
    )
