"""The rate lookups (in process and in SQL agree on the longest prefix) and the CDR trigger that
queues classed CDRs for the rater. (Missed Calls are the panel's, from member_calls: see
tests/web/test_missed_calls.py.)"""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import text

from db.billing import load_rate_deck, prefixes_of, sql_lookup
from db.session import transaction
from tests.billing.conftest import DECK, insert_cdr


@pytest.mark.parametrize(
    "digits, prefix",
    [
        ("13125550100", "1"),
        ("12125550100", "1212"),
        ("18005550100", "1800"),
        ("441632960000", "44"),
        ("447700900123", "447"),
        ("4", None),
        ("2125550100", None),
        ("", None),
        ("12a4", None),
        ("+447700900123", "447"),
        ("1" * 20, "1"),
    ],
)
def test_sql_and_in_process_lookups_find_the_longest_prefix(bfactory, digits, prefix):
    with bfactory() as s:
        deck = load_rate_deck(s)
        in_sql = sql_lookup(s, digits)
    in_process = deck.lookup(digits.lstrip("+")) if digits.lstrip("+").isdigit() else None
    assert len(deck) == len(DECK)
    assert (in_sql.prefix if in_sql else None) == prefix
    assert in_sql == in_process
    if in_sql:
        assert isinstance(in_sql.rate_per_minute, Decimal)


def test_prefixes_of_stop_at_fifteen_digits():
    assert prefixes_of("123") == ["1", "12", "123"]
    assert len(prefixes_of("1" * 30)) == 15 and prefixes_of("x") == []


def test_cdr_trigger_queues_only_classed_cdrs(bfactory):
    with transaction(bfactory) as s:
        a = insert_cdr(s, call_class=None, accountcode="")
        b = insert_cdr(s, call_class="N", dialed="17000000000", accountcode="")
        queued = s.scalars(
            text("SELECT cdr_id FROM cdr_rating_queue WHERE cdr_id IN (:a, :b)"), {"a": a, "b": b}
        ).all()
    assert queued == [b]


async def test_async_lookups_on_the_controllers_session(billing_db, bfactory):
    from db.billing import sql_lookup_async
    from db.session import async_session_factory, make_async_engine

    engine = make_async_engine(billing_db)
    try:
        async with async_session_factory(engine)() as s:
            deck = await s.run_sync(load_rate_deck)
            rate = await sql_lookup_async(s, "447700900123")
            missing = await sql_lookup_async(s, "2125550100")
    finally:
        await engine.dispose()
    assert len(deck) == len(DECK) and deck.lookup("447700900123") == rate
    assert (rate.prefix, rate.connect_fee, missing) == ("447", Decimal("0.01000"), None)
