"""Queries the call routes need, async (the controller's event loop). Each is one round trip."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from controller.rules.decisions import Permissions
from db.models import Account, Did, E911Address, VirtualNumber


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
    # issue 13, spending limits: CONTEXT_SQL's limit columns as read (db.limits.LIMIT_COLUMNS,
    # turned into controller.rules.limits values by db.limits.decision_limits only for a
    # billable call)
    limit_row: Sequence[Any] = ()


# issue 13, spending limits: the limits and the facts they decide on (db/limits.py
# LIMIT_COLUMNS, in this order; the money state, read above, is the last of them), for virtual
# number `vn` of account `a`. Only what every billable call needs is read from rows the
# statement joins anyway: the number's credit limit, and on the accounts row which limits rows
# exist (limit_flags) and the day counters (migration 0021's triggers keep them from
# account_day_spend: the charges of the latest local day with any, all and international, and
# of that day and the two before it), with the account's local date to compare them with.
# The account's and the number's own limits and the facts only they need (the number's spend
# today, the calls in progress, the window's international attempts) come from
# voip_limit_facts, called only when one may apply: a limits row exists, the number has a
# credit limit, or %(more)s (the call may be international, or a concurrent-call limit applies
# to every account). A function in a CASE: the plan holds no node for it otherwise (a subquery
# in a CASE is still set up on every execution). No other relation is opened: the premium-rate
# prefixes are matched in the controller's memory (db.limits.PremiumPrefixes), and the velocity
# window's charges are summed only when the day counters could put them over the velocity
# amount (db.limits.decision_limits). docs/scaling.md section 8.
LIMIT_SELECT = """
           vn.credit_limit, a.limit_flags, (now() AT TIME ZONE a.time_zone)::date, a.spend_day,
           a.spend_today, a.spend_today_intl, a.spend_recent"""
LIMIT_OWN = """
           CASE WHEN a.limit_flags <> 0 OR vn.credit_limit IS NOT NULL OR %(more)s
                THEN voip_limit_facts(vn.account_id, vn.id, %(group)s, %(velocity_minutes)s,
                                      %(max_concurrent)s, (now() AT TIME ZONE a.time_zone)::date)
           END"""


# Everything an outbound decision reads, in one statement (the FastAGI hot path runs it on a
# pooled asyncpg connection: db.hotpath.decision_context).
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
    + ","
    + LIMIT_OWN
    + """
      FROM virtual_numbers vn JOIN accounts a ON a.id = vn.account_id
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


def missed(alias: str = "m") -> str:
    """What a missed call is, the one definition for every reader (Missed Calls, the missed-call
    emails): a member_calls row the number received and nobody answered (voicemail is not an
    answer). SQL over member_calls aliased `alias`; the partial index ix_member_calls_missed
    covers it."""
    return f"{alias}.inbound AND NOT {alias}.answered"
