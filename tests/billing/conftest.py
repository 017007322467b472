"""Billing tests run on their own migrated PostgreSQL database (derived from the run's
settings): the rater rates every queued CDR in a database, so these tests own the cdr table
and the active rate deck, and nothing another test leaves behind is rated by them."""

from __future__ import annotations

import datetime as dt
import itertools
import os
from decimal import Decimal

import pytest
from sqlalchemy import text

from tests.support.members import Member, new_member
from tests.support.realparts import scratch_database, unique_number

D = Decimal

# prefix, destination, country, rate/min, connect fee, min seconds, increment
DECK = [
    ("1", "United States / Canada", "US", D("0.0150"), D("0"), 6, 6),
    ("1212", "New York (test: fee, 30 s minimum)", "US", D("0.0100"), D("0.0500"), 30, 6),
    ("1800", "US toll-free", "US", D("0"), D("0"), 0, 1),
    ("44", "United Kingdom", "GB", D("0.0300"), D("0"), 60, 60),
    ("447", "United Kingdom mobile", "GB", D("0.1200"), D("0.0100"), 60, 60),
    ("999", "Test premium, $1.00 a minute", "", D("1.0000"), D("0"), 60, 60),
    ("998", "Test per second", "", D("0.6000"), D("0"), 1, 1),
]


@pytest.fixture(scope="session")
def billing_db(settings):
    with scratch_database(settings, "_billing") as scratch:
        yield scratch


@pytest.fixture(scope="session")
def bengine(billing_db):
    from db.session import make_engine

    eng = make_engine(billing_db, pool_size=12, max_overflow=8)
    yield eng
    eng.dispose()


@pytest.fixture(scope="session")
def bfactory(bengine, deck):
    from db.session import session_factory

    return session_factory(bengine)


@pytest.fixture(scope="session")
def deck(bengine):
    from db.rates import import_deck
    from db.session import session_factory, transaction

    with transaction(session_factory(bengine)) as s:
        import_deck(s, "billing tests", DECK)
    return DECK


_uniq = itertools.count(1)


@pytest.fixture()
def member(bfactory):
    """make(credit=[lots...], plan=(regional s, us s), credit_limit=None) -> Member"""

    def make(credit=(), plan=None, credit_limit=None, number=None) -> Member:
        return new_member(
            bfactory,
            realm="test",
            password="Pass-2026-x",
            number=number or unique_number("1700"),
            credit=credit,  # oldest first, in the order given
            credit_since=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
            plan=plan,
            credit_limit=credit_limit,
        )

    return make


def insert_cdr(
    session,
    *,
    member: Member | None = None,
    call_class: str | None = "D",
    dialed: str = "13125550100",
    billsec: int = 60,
    disposition: str = "ANSWERED",
    auth_id: int | None = None,
    dst: str | None = None,
    start: dt.datetime | None = None,
    linkedid: str | None = None,
    dstchannel: str = "PJSIP/trunk-00000001",
    accountcode: str | None = None,
    vnum: str | None = None,
) -> int:
    """A row as cdr_pgsql writes it (our CDR variables in their own columns)."""
    start = start or dt.datetime.now(dt.UTC)
    n = next(_uniq)
    return session.scalar(
        text(
            "INSERT INTO cdr (accountcode, src, dst, dcontext, clid, channel, dstchannel, lastapp, start,"
            ' answer, "end", duration, billsec, disposition, amaflags, uniqueid, linkedid, vnum,'
            " call_class, dialed, auth_id) VALUES (:acct, :src, :dst, 'members', :clid, :chan, :dchan,"
            " 'Dial', :start, :answer, :end, :dur, :bill, :disp, 'DOCUMENTATION', :uid, :lid, :vnum,"
            " :cc, :dialed, :auth) RETURNING id"
        ),
        {
            "acct": accountcode if accountcode is not None else (str(member.account_id) if member else None),
            "src": member.number if member else "15550001111",
            "dst": dst or dialed,
            "clid": f'"Caller {n}" <{member.number if member else "15550001111"}>',
            "chan": f"PJSIP/{member.number if member else 'x'}-{n:08x}",
            "dchan": dstchannel,
            "start": start,
            "answer": start if disposition == "ANSWERED" else None,
            "end": start + dt.timedelta(seconds=billsec + 5),
            "dur": billsec + 5,
            "bill": billsec if disposition == "ANSWERED" else 0,
            "disp": disposition,
            "uid": f"{os.getpid()}.{n}",
            "lid": linkedid or f"{os.getpid()}.{n}",
            "vnum": vnum if vnum is not None else (member.number if member else None),
            "cc": call_class,
            "dialed": dialed,
            "auth": auth_id,
        },
    )


def lots(session, account_id: int) -> list[Decimal]:
    return list(
        session.scalars(
            text("SELECT remaining FROM credit_lots WHERE account_id = :a ORDER BY purchased_at, id"),
            {"a": account_id},
        )
    )


def charges(session, cdr_ids) -> list:
    return session.execute(
        text("SELECT * FROM cdr_charges WHERE cdr_id = ANY(:ids) ORDER BY cdr_id"), {"ids": list(cdr_ids)}
    ).all()


def plan_left(session, subscription_id: int) -> tuple[int, int]:
    return tuple(
        session.execute(
            text(
                "SELECT regional_seconds_left, us_canada_seconds_left FROM plan_subscriptions WHERE id = :id"
            ),
            {"id": subscription_id},
        ).one()
    )
