"""The reports' rollup (issue 15, migration 0023) on real PostgreSQL: CDRs inserted as
Asterisk's cdr_pgsql writes them, rated by the real rater, and the report (db/reports.py, which
reads only cdr_rollup_daily) equals the sums computed straight from cdr and cdr_charges over the
same UTC days: minutes, revenue, cost, margin, ASR, ACD, by day, by country, by account, for one
carrier. The backfill (voip_rollup_rebuild, which the migration runs) equals what the trigger
kept incrementally, and deletes and updates of charges and CDRs are followed."""

from __future__ import annotations

import datetime as dt
import itertools
import random
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from controller.services.rater import rate_pending
from db import reports
from db.session import transaction
from tests.billing.conftest import insert_cdr

D = Decimal
_names = itertools.count(1)
_days = iter(random.Random().sample(range(1300), 400))  # 1990-2018: no other test rates then


def _fresh_days(n: int) -> dt.date:
    """n consecutive UTC days no other test rates calls on: the first one."""
    return dt.date(1990, 1, 1) + dt.timedelta(days=next(_days) * 8)


@pytest.fixture(scope="module")
def carrier(bfactory, deck):
    name = f"rollup-{next(_names)}-{random.randrange(10**6)}"
    with transaction(bfactory) as s:
        carrier_id = s.scalar(
            text("INSERT INTO carriers (name, host, enabled) VALUES (:n, '127.0.0.9', false) RETURNING id"),
            {"n": name},
        )
        for prefix, rate, fee, minimum, increment in [
            ("1", D("0.0080"), D("0"), 6, 6),
            ("44", D("0.0200"), D("0"), 1, 1),
        ]:
            s.execute(
                text(
                    "INSERT INTO carrier_rates (carrier_id, prefix, rate_per_minute, connect_fee,"
                    " min_seconds, increment_seconds) VALUES (:c, :p, :r, :f, :m, :i)"
                ),
                {"c": carrier_id, "p": prefix, "r": rate, "f": fee, "m": minimum, "i": increment},
            )
    return name, carrier_id


def _direct(s, start: dt.date, end: dt.date, account_id: int | None = None, carrier_id: int | None = None):
    """The report's figures summed from cdr and cdr_charges (what the rollup must equal)."""
    where = ""
    params: dict = {"a": start, "b": end + dt.timedelta(days=1)}
    if account_id is not None:
        where += " AND coalesce(ch.account_id, 0) = :acc"
        params["acc"] = account_id
    if carrier_id is not None:
        where += " AND coalesce(ch.carrier_id, 0) = :car"
        params["car"] = carrier_id
    return s.execute(
        text(
            "SELECT count(*) AS calls, count(*) FILTER (WHERE c.disposition = 'ANSWERED') AS answered,"
            " coalesce(sum(c.billsec) FILTER (WHERE c.disposition = 'ANSWERED'), 0) AS billsec,"
            " coalesce(sum(ch.billable_seconds), 0) AS billable_seconds, coalesce(sum(ch.cost), 0) AS revenue,"
            " coalesce(sum(ch.buy_cost), 0) AS cost, coalesce(sum(ch.margin), 0) AS margin"
            " FROM cdr c JOIN cdr_charges ch ON ch.cdr_id = c.id"
            " WHERE c.start >= :a AND c.start < :b" + where
        ),
        params,
    ).one()


def _same(figures: reports.Figures, row) -> None:
    assert (
        figures.calls,
        figures.answered,
        figures.billsec,
        figures.billable_seconds,
        figures.revenue,
        figures.cost,
        figures.margin,
    ) == (row.calls, row.answered, row.billsec, row.billable_seconds, row.revenue, row.cost, row.margin)


def _rollup(s, start: dt.date, end: dt.date) -> list:
    return s.execute(
        text("SELECT * FROM cdr_rollup_daily WHERE day BETWEEN :a AND :b ORDER BY 1, 2, 3, 4, 5"),
        {"a": start, "b": end},
    ).all()


CALL = st.tuples(
    st.sampled_from(["D", "I", "R", "N", "T"]),  # call class
    st.sampled_from(["13125550100", "12125550100", "442071234567", "447700900123", "18005550100"]),
    st.integers(0, 400),  # answered seconds (0: not answered)
    st.integers(0, 2 * 86400 + 3600),  # seconds after the first day's midnight (3 days)
    st.booleans(),  # through the carrier
    st.sampled_from([0, 1]),  # which member
)


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(calls=st.lists(CALL, min_size=1, max_size=25))
def test_the_report_equals_the_rated_cdrs_it_covers(bfactory, member, carrier, calls):
    members = [member(credit=["50.00"]), member(credit=["50.00"])]
    first = _fresh_days(3)
    midnight = dt.datetime.combine(first, dt.time(), tzinfo=dt.UTC)
    name, carrier_id = carrier
    with transaction(bfactory) as s:
        for call_class, dialed, seconds, offset, through, who in calls:
            cdr_id = insert_cdr(
                s,
                member=members[who],
                call_class=call_class,
                dialed=dialed,
                billsec=seconds,
                disposition="ANSWERED" if seconds else "NO ANSWER",
                start=midnight + dt.timedelta(seconds=offset),
            )
            if through:
                s.execute(
                    text("UPDATE cdr SET carrier = :c, attempts = 1 WHERE id = :id"),
                    {"c": name, "id": cdr_id},
                )
    rate_pending(bfactory)
    last = first + dt.timedelta(days=2)
    with bfactory() as s:
        for m in members:
            rep = reports.report(s, first, last, account_id=m.account_id, account_limit=None)
            _same(rep.totals, _direct(s, first, last, m.account_id))
            for row in rep.by_day:
                _same(row.figures, _direct(s, row.key, row.key, m.account_id))
            assert sum(r.figures.calls for r in rep.by_country) == rep.totals.calls
            assert [r.key for r in rep.by_account] == ([m.account_id] if rep.totals.calls else [])
            one = reports.report(s, first, last, account_id=m.account_id, carrier_id=carrier_id)
            _same(one.totals, _direct(s, first, last, m.account_id, carrier_id))
            none = reports.report(s, first, last, account_id=m.account_id, carrier_id=0)
            _same(none.totals, _direct(s, first, last, m.account_id, 0))
            t = rep.totals
            if t.calls:
                assert t.asr == (D(100 * t.answered) / t.calls).quantize(D("0.1"))
            if t.answered:
                assert t.acd == round(t.billsec / t.answered)
        # the backfill (the migration's voip_rollup_rebuild) gives the rows the trigger kept
        kept = _rollup(s, first, last)
        s.execute(text("SELECT voip_rollup_rebuild(:a, :b)"), {"a": first, "b": last})
        assert _rollup(s, first, last) == kept
        s.rollback()


def test_ungrouped_report_sums_every_account(bfactory, member):
    m = member(credit=["5.00"])
    first = _fresh_days(1)
    start = dt.datetime.combine(first, dt.time(12), tzinfo=dt.UTC)
    with transaction(bfactory) as s:
        insert_cdr(s, member=m, call_class="D", dialed="13125550100", billsec=90, start=start)
        insert_cdr(
            s, member=None, call_class="N", dialed="17005550100", billsec=30, start=start, accountcode=""
        )
    rate_pending(bfactory)
    with bfactory() as s:
        rep = reports.report(s, first, first, account_limit=None)
        _same(rep.totals, _direct(s, first, first))
        assert rep.totals.calls == 2
        assert {r.key for r in rep.by_account} == {m.account_id, 0}
        assert [r.key for r in rep.top_destinations] == ["US"]


def test_deletes_and_updates_are_followed(bfactory, member):
    a, b = member(credit=["5.00"]), member(credit=["5.00"])
    first = _fresh_days(2)
    start = dt.datetime.combine(first, dt.time(23, 59, 30), tzinfo=dt.UTC)
    with transaction(bfactory) as s:
        ids = [
            insert_cdr(s, member=a, call_class="D", dialed="13125550100", billsec=s_, start=start)
            for s_ in (61, 120, 0)
        ]
    rate_pending(bfactory)
    last = first + dt.timedelta(days=1)

    def check() -> None:
        with bfactory() as s:
            for acc in (a.account_id, b.account_id, 0):
                _same(reports.report(s, first, last, account_id=acc).totals, _direct(s, first, last, acc))
            kept = _rollup(s, first, last)
            s.execute(text("SELECT voip_rollup_rebuild(:a, :b)"), {"a": first, "b": last})
            assert _rollup(s, first, last) == kept
            s.rollback()

    check()
    with transaction(bfactory) as s:  # a charge moved to another account, its cost changed
        s.execute(
            text("UPDATE cdr_charges SET account_id = :b, cost = cost + 1 WHERE cdr_id = :id"),
            {"b": b.account_id, "id": ids[0]},
        )
    check()
    with transaction(bfactory) as s:  # the account gone: ON DELETE SET NULL is an UPDATE
        s.execute(text("UPDATE cdr_charges SET account_id = NULL WHERE cdr_id = :id"), {"id": ids[0]})
    check()
    with transaction(bfactory) as s:  # a CDR's start moved past midnight, its disposition changed
        s.execute(
            text("UPDATE cdr SET start = start + interval '1 minute', disposition = 'BUSY' WHERE id = :id"),
            {"id": ids[1]},
        )
    check()
    with transaction(bfactory) as s:  # a charge deleted, then a CDR deleted (its charge cascades)
        s.execute(text("DELETE FROM cdr_charges WHERE cdr_id = :id"), {"id": ids[2]})
        s.execute(text("DELETE FROM cdr WHERE id = :id"), {"id": ids[1]})
    check()
    with bfactory() as s:
        assert _direct(s, first, last).calls == 1
