"""Missed Calls (one row per unanswered inbound call, keyset pages) and the rate lookups
(in process and in SQL agree on the longest prefix)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import text

from db.billing import load_rate_deck, missed_calls, prefixes_of, sql_lookup
from db.models import Did
from db.session import transaction
from tests.billing.conftest import DECK, insert_cdr
from tests.support.realparts import unique_number

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


def _inbound(s, dst, minutes, disposition="NO ANSWER", linkedid=None, dstchannel="", vnum=None):
    return insert_cdr(
        s,
        call_class=None,
        dialed="",
        dst=dst,
        disposition=disposition,
        billsec=20,
        start=T0 + dt.timedelta(minutes=minutes),
        linkedid=linkedid,
        dstchannel=dstchannel,
        vnum=vnum,
        accountcode="",
    )


@pytest.fixture()
def inbox(bfactory, member):
    m = member()
    other = member()
    did = unique_number("1312")
    with transaction(bfactory) as s:
        s.add(
            Did(account_id=m.account_id, number=did, connection="virtual_number", virtual_number_id=m.vn_id)
        )
        s.flush()
        ids = {
            "plain": _inbound(s, m.number, 1),
            "busy": _inbound(s, m.number, 2, disposition="BUSY"),
            "on_did": _inbound(s, did, 3),
            # a ring list: three unanswered legs of one call -> one missed call (the first leg)
            "leg1": _inbound(s, m.number, 4, linkedid="call-legs"),
            "leg2": _inbound(s, m.number, 4, linkedid="call-legs"),
            "leg3": _inbound(s, m.number, 4, linkedid="call-legs"),
            # unanswered on the device, then answered on a forwarded leg -> not missed
            "fwd_noanswer": _inbound(s, m.number, 5, linkedid="call-fwd"),
            "fwd_answered": _inbound(
                s,
                m.number,
                5,
                disposition="ANSWERED",
                linkedid="call-fwd",
                dstchannel="Local/15550001234@fwd-out-0001;1",
            ),
            # rang out, then voicemail answered it (no dstchannel) -> still missed
            "vm_noanswer": _inbound(s, m.number, 6, linkedid="call-vm"),
            "vm": _inbound(s, m.number, 6, disposition="ANSWERED", linkedid="call-vm"),
            "answered": _inbound(s, m.number, 7, disposition="ANSWERED", dstchannel="PJSIP/x-1"),
            "someone_else": _inbound(s, other.number, 8),
        }
    return m, did, ids


def test_missed_calls_are_unanswered_inbound_calls_one_row_per_call(bfactory, inbox):
    m, did, ids = inbox
    with bfactory() as s:
        rows = missed_calls(s, [m.number])
    assert [r.id for r in rows] == [ids[k] for k in ("vm_noanswer", "leg1", "on_did", "busy", "plain")]
    on_did = next(r for r in rows if r.id == ids["on_did"])
    assert (on_did.did, on_did.virtual_number, on_did.called) == (did, m.number, did)
    assert rows[-1].caller_name.startswith("Caller ") and rows[-1].disposition == "NO ANSWER"


def test_missed_calls_keyset_pages_and_date_range(bfactory, inbox):
    m, _, ids = inbox
    with bfactory() as s:
        everything = [r.id for r in missed_calls(s, [m.number])]
        pages, after = [], None
        while True:
            page = missed_calls(s, [m.number], limit=2, after_id=after)
            if not page:
                break
            pages.append([r.id for r in page])
            after = page[-1].id
        ranged = missed_calls(
            s, [m.number], start=T0 + dt.timedelta(minutes=2), end=T0 + dt.timedelta(minutes=4)
        )
    assert [len(p) for p in pages] == [2, 2, 1] and sum(pages, []) == everything
    assert [r.id for r in ranged] == [ids["on_did"], ids["busy"]]


def test_missed_calls_of_nobodys_numbers_is_empty(bfactory):
    with bfactory() as s:
        assert missed_calls(s, []) == [] and missed_calls(s, ["not-a-number"]) == []


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
