"""The rater on real PostgreSQL: exactly one charge per CDR, plan seconds before credit, the
rate deck's minimum, increment and connect fee, never a negative lot, under concurrency."""

from __future__ import annotations

import threading
from decimal import Decimal

from sqlalchemy import text

from controller.services.rater import rate_pending
from db.session import transaction
from tests.billing.conftest import charges, insert_cdr, lots, plan_left

D = Decimal


def _cdrs(bfactory, member, specs):
    with transaction(bfactory) as s:
        return [insert_cdr(s, member=member, **spec) for spec in specs]


def test_rating_twice_writes_one_charge_per_cdr_and_second_run_changes_no_balance(bfactory, member):
    m = member(credit=["5.00"])
    ids = _cdrs(
        bfactory,
        m,
        [
            dict(call_class="D", dialed="13125550100", billsec=61),
            dict(call_class="I", dialed="447700900123", billsec=30),
        ],
    )
    assert rate_pending(bfactory) >= 2
    with bfactory() as s:
        after_first = lots(s, m.account_id)
        first = charges(s, ids)
    assert rate_pending(bfactory) == 0
    with bfactory() as s:
        assert lots(s, m.account_id) == after_first
        assert charges(s, ids) == first
        debits = s.scalar(
            text(
                "SELECT count(*) FROM credit_debits d JOIN cdr_charges c ON c.id = d.charge_id"
                " WHERE c.cdr_id = ANY(:ids)"
            ),
            {"ids": ids},
        )
    assert len(first) == 2 and debits == 2
    # 61 s at 0.015/min in 6 s increments -> 66 s = 0.0165; 30 s to a UK mobile -> 60 s + fee = 0.1300
    assert [c.cost for c in first] == [D("0.0165"), D("0.1300")]
    assert after_first == [D("5.00") - D("0.0165") - D("0.1300")]


def test_rate_deck_minimum_increment_and_connect_fee_are_respected(bfactory, member):
    m = member(credit=["10.00"])
    cases = [  # dialed, billsec, expected cost, prefix
        ("13125550100", 1, D("0.0015"), "1"),  # 6 s minimum
        ("13125550100", 7, D("0.0030"), "1"),  # 12 s
        ("12125550100", 1, D("0.0550"), "1212"),  # fee 0.05 + 30 s minimum at 0.01
        ("12125550100", 31, D("0.0560"), "1212"),  # fee + 36 s
        ("441632960000", 1, D("0.0300"), "44"),  # 60 s minimum
        ("447700900123", 61, D("0.2500"), "447"),  # fee 0.01 + 120 s at 0.12
        ("99912345", 119, D("2.0000"), "999"),
        ("99812345", 7, D("0.0700"), "998"),  # per second
    ]
    ids = _cdrs(bfactory, m, [dict(call_class="I", dialed=d, billsec=b) for d, b, _, _ in cases])
    rate_pending(bfactory)
    with bfactory() as s:
        got = charges(s, ids)
        remaining = lots(s, m.account_id)
    assert [(c.cost, c.prefix, c.billable_seconds, c.call_type) for c in got] == [
        (cost, prefix, b, "I") for _, b, cost, prefix in cases
    ]
    assert remaining == [D("10.00") - sum(c for _, _, c, _ in cases)]


def test_plan_seconds_absorb_first_then_credit_pays_the_rest(bfactory, member):
    m = member(credit=["1.00"], plan=(60, 30))
    ids = _cdrs(
        bfactory,
        m,
        [
            dict(call_class="R", dialed="12125550100", billsec=50),  # plan: 50 regional
            dict(call_class="R", dialed="12125550100", billsec=50),  # 10 reg + 30 US + 10 credit
            dict(call_class="D", dialed="13125550100", billsec=20),
        ],
    )  # plan empty: credit
    rate_pending(bfactory)
    with bfactory() as s:
        got = charges(s, ids)
        left = plan_left(s, m.subscription_id)
        remaining = lots(s, m.account_id)
    assert [(c.call_type, c.plan_seconds, c.cost) for c in got] == [
        ("PR", 50, D("0")),
        ("R", 40, D("0.0550")),  # 10 s remainder: fee 0.05 + 30 s minimum at 0.01
        ("D", 0, D("0.0060")),  # 20 s -> 24 s at 0.015
    ]
    assert got[0].plan_subscription_id == m.subscription_id and got[2].plan_subscription_id is None
    assert left == (0, 0)
    assert remaining == [D("1.00") - D("0.0550") - D("0.0060")]


def test_domestic_calls_use_only_us_canada_seconds(bfactory, member):
    m = member(credit=["1.00"], plan=(600, 30))
    ids = _cdrs(bfactory, m, [dict(call_class="D", dialed="13125550100", billsec=36)])
    rate_pending(bfactory)
    with bfactory() as s:
        (c,) = charges(s, ids)
        assert plan_left(s, m.subscription_id) == (600, 0)
    assert (c.call_type, c.plan_seconds, c.cost) == ("D", 30, D("0.0015"))  # 6 s on credit


def test_international_calls_never_use_plan_seconds(bfactory, member):
    m = member(credit=["1.00"], plan=(600, 600))
    ids = _cdrs(bfactory, m, [dict(call_class="I", dialed="441632960000", billsec=60)])
    rate_pending(bfactory)
    with bfactory() as s:
        (c,) = charges(s, ids)
        assert plan_left(s, m.subscription_id) == (600, 600)
    assert (c.call_type, c.plan_seconds, c.cost) == ("I", 0, D("0.0300"))


def test_unanswered_zero_billsec_and_free_classes_get_a_zero_charge(bfactory, member):
    m = member(credit=["1.00"], plan=(100, 100))
    ids = _cdrs(
        bfactory,
        m,
        [
            dict(call_class="D", billsec=0),
            dict(call_class="D", disposition="NO ANSWER"),
            dict(call_class="I", dialed="447700900123", disposition="BUSY"),
            dict(call_class="N", dialed="17009990001", billsec=300),
            dict(call_class="E", dialed="911", billsec=300),
            dict(call_class="T", dialed="18005550100", billsec=300),
        ],
    )
    rate_pending(bfactory)
    with bfactory() as s:
        got = charges(s, ids)
        assert lots(s, m.account_id) == [D("1.00")]
        assert plan_left(s, m.subscription_id) == (100, 100)
    assert [(c.call_type, c.cost, c.plan_seconds) for c in got] == [
        ("D", 0, 0),
        ("D", 0, 0),
        ("I", 0, 0),
        ("N", 0, 0),
        ("E", 0, 0),
        ("T", 0, 0),
    ]
    assert [c.billable_seconds for c in got] == [0, 0, 0, 300, 300, 300]


def test_cdr_without_call_class_is_not_ours_and_never_charged(bfactory, member):
    m = member(credit=["1.00"])
    ids = _cdrs(bfactory, m, [dict(call_class=None), dict(call_class="")])
    rate_pending(bfactory)
    with bfactory() as s:
        assert charges(s, ids) == []
        assert s.scalar(text("SELECT count(*) FROM cdr_rating_queue WHERE cdr_id = ANY(:i)"), {"i": ids}) == 0


def test_shortfall_charges_true_cost_debits_what_is_there_and_is_audited(bfactory, member):
    m = member(credit=["0.30", "0.20"])
    ids = _cdrs(bfactory, m, [dict(call_class="I", dialed="99912345", billsec=60)])  # 1.00
    rate_pending(bfactory)
    with bfactory() as s:
        (c,) = charges(s, ids)
        debits = (
            s.execute(text("SELECT amount FROM credit_debits WHERE charge_id = :c ORDER BY id"), {"c": c.id})
            .scalars()
            .all()
        )
        audit = s.execute(
            text("SELECT details FROM audit_log WHERE action = 'billing.shortfall' AND object_id = :id"),
            {"id": str(ids[0])},
        ).scalar_one()
        assert lots(s, m.account_id) == [D("0"), D("0")]
    assert c.cost == D("1.0000") and debits == [D("0.30"), D("0.20")]  # oldest lot first
    assert audit["shortfall"] == "0.5000" and audit["debited"] == "0.5000"


def test_lots_are_spent_oldest_first_and_marked_used(bfactory, member):
    m = member(credit=["0.0100", "5.00"])
    _cdrs(bfactory, m, [dict(call_class="I", dialed="441632960000", billsec=60)])  # 0.03
    rate_pending(bfactory)
    with bfactory() as s:
        assert lots(s, m.account_id) == [D("0"), D("4.98")]
        used = s.scalars(
            text(
                "SELECT last_used_at IS NOT NULL FROM credit_lots WHERE account_id = :a ORDER BY purchased_at"
            ),
            {"a": m.account_id},
        ).all()
    assert used == [True, True]


def test_fifty_cdrs_on_one_small_balance_rated_by_concurrent_raters(bfactory, member):
    """Several raters (threads, each its own sessions) on 50 CDRs of one small balance and 50 of
    another account, interleaved: every CDR is charged once, no lot goes negative, and what
    the debits add up to is exactly what left the lots."""
    small = member(credit=["0.50", "0.25", "0.75"])  # 1.50 in three lots
    other = member(credit=["3.00"])
    specs = [
        dict(call_class="I", dialed="99812345", billsec=3 + (i % 7)) for i in range(50)
    ]  # 0.03-0.09 each
    with transaction(bfactory) as s:
        ids = []
        for spec in specs:
            ids.append(insert_cdr(s, member=small, **spec))
            ids.append(insert_cdr(s, member=other, **spec))
    originals = {small.account_id: D("1.50"), other.account_id: D("3.00")}

    errors, counts = [], []
    barrier = threading.Barrier(6)

    def worker():
        try:
            barrier.wait()
            counts.append(rate_pending(bfactory, batch=7))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert sum(counts) == len(ids)  # each CDR charged by exactly one of the raters
    with bfactory() as s:
        got = charges(s, ids)
        assert len(got) == len(ids) == len({c.cdr_id for c in got})
        for account_id, original in originals.items():
            remaining = lots(s, account_id)
            assert all(r >= 0 for r in remaining)
            debited = s.scalar(
                text(
                    "SELECT coalesce(sum(d.amount), 0) FROM credit_debits d"
                    " JOIN credit_lots l ON l.id = d.credit_lot_id WHERE l.account_id = :a"
                ),
                {"a": account_id},
            )
            assert debited == original - sum(remaining)
        true_cost = sum(c.cost for c in got if c.account_id == small.account_id)
    assert true_cost > D("1.50")  # the small balance ran out...
    with bfactory() as s:
        assert lots(s, small.account_id) == [0, 0, 0]  # ...and stopped at zero


async def test_concurrent_async_raters_charge_each_cdr_once(billing_db, bfactory, member):
    import asyncio

    from controller.services.rater import rate_pending_async
    from db.session import async_session_factory, make_async_engine

    m = member(credit=["0.40"])
    ids = _cdrs(bfactory, m, [dict(call_class="D", dialed="13125550100", billsec=60 + i) for i in range(30)])
    engine = make_async_engine(billing_db, pool_size=6)
    try:
        factory = async_session_factory(engine)
        counts = await asyncio.gather(*(rate_pending_async(factory, batch=4) for _ in range(5)))
    finally:
        await engine.dispose()
    assert sum(counts) == 30
    with bfactory() as s:
        got = charges(s, ids)
        remaining = lots(s, m.account_id)
    assert len(got) == 30 and remaining[0] >= 0
    assert D("0.40") - remaining[0] == min(D("0.40"), sum(c.cost for c in got))


async def test_rating_settles_the_calls_authorization(bfactory, billing_db, member):
    from controller.rules.rating import Rate
    from db import hotpath

    m = member(credit=["2.00"])
    pg = hotpath.HotDB(billing_db, min_size=1, max_size=1)
    await pg.open()
    try:
        async with pg.connection() as conn:
            auth = await hotpath.authorize(
                conn,
                account_id=m.account_id,
                virtual_number_id=m.vn_id,
                call_class="D",
                dialed="13125550100",
                uniqueid="u-settle",
                rate=Rate("1", D("0.0150"), D("0"), 6, 6, "United States / Canada", "US"),
            )
    finally:
        await pg.close()
    assert auth.auth_id and auth.reason == ""
    ids = _cdrs(bfactory, m, [dict(call_class="D", billsec=60, auth_id=auth.auth_id)])
    rate_pending(bfactory)
    with bfactory() as s:
        settled = s.scalar(
            text("SELECT settled_at IS NOT NULL FROM call_authorizations WHERE id = :id"),
            {"id": auth.auth_id},
        )
        (c,) = charges(s, ids)
    assert settled and c.cost == D("0.0150")


def test_cdr_without_account_is_charged_its_true_cost_as_a_shortfall(bfactory, member):
    m = member(credit=["1.00"])
    ids = _cdrs(bfactory, m, [dict(call_class="D", billsec=60, accountcode="", vnum="")])
    rate_pending(bfactory)
    with bfactory() as s:
        (c,) = charges(s, ids)
        assert lots(s, m.account_id) == [D("1.00")]
    assert c.account_id is None and c.cost == D("0.0150")


def test_a_cdr_that_cannot_be_rated_is_quarantined_and_does_not_block_the_queue(bfactory, member):
    m = member(credit=["1.00"])
    ids = _cdrs(bfactory, m, [dict(call_class="D", billsec=60) for _ in range(3)])
    bad = ids[1]
    with transaction(bfactory) as s:  # a real database error for one CDR's charge
        s.execute(
            text(f"""
            CREATE FUNCTION test_refuse_charge() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN IF NEW.cdr_id = {bad} THEN RAISE EXCEPTION 'refused for the test'; END IF;
            RETURN NEW; END $$;
            CREATE TRIGGER test_refuse_charge BEFORE INSERT ON cdr_charges
            FOR EACH ROW EXECUTE FUNCTION test_refuse_charge();""")
        )
    try:
        assert rate_pending(bfactory) == 2
    finally:
        with transaction(bfactory) as s:
            s.execute(
                text("DROP TRIGGER test_refuse_charge ON cdr_charges; DROP FUNCTION test_refuse_charge()")
            )
    with bfactory() as s:
        assert [c.cdr_id for c in charges(s, ids)] == [ids[0], ids[2]]
        assert (
            s.scalar(
                text(
                    "SELECT count(*) FROM audit_log WHERE action = 'billing.rating_failed'"
                    " AND object_id = :id"
                ),
                {"id": str(bad)},
            )
            == 1
        )
        assert lots(s, m.account_id) == [D("1.00") - D("0.0300")]
    # once the cause is gone, requeue_unrated puts it back and it is rated once
    from db.billing import requeue_unrated

    with transaction(bfactory) as s:
        assert requeue_unrated(s) >= 1
    rate_pending(bfactory)
    with bfactory() as s:
        assert [c.cdr_id for c in charges(s, ids)] == ids
