"""The controller's rater loop: a CDR written by cdr_pgsql is charged on the trigger's
notification, long before the fallback poll; the loop stops when asked."""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import text

from controller.services.rater import run_rater
from db.session import make_async_engine, transaction
from tests.billing.conftest import charges, insert_cdr


async def _wait_for(predicate, deadline_s: float):
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.05)
    return predicate()


async def test_cdr_is_rated_on_notify_without_waiting_for_the_poll(billing_db, bfactory, member):
    m = member(credit=["1.00"])
    engine = make_async_engine(billing_db)
    stop = asyncio.Event()
    task = asyncio.create_task(run_rater(engine, stop, poll_seconds=120))
    try:
        await asyncio.sleep(0.5)  # the loop's first round and its LISTEN
        for _ in range(3):  # each CDR on its own notification
            with transaction(bfactory) as s:
                cdr_id = insert_cdr(s, member=m, call_class="D", billsec=60)

            def charged(cdr_id: int = cdr_id) -> bool:
                with bfactory() as s:
                    return len(charges(s, [cdr_id])) == 1

            assert await _wait_for(charged, 10), "not rated within 10 s although the poll is 120 s"
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)  # stops promptly
        await engine.dispose()


async def test_polling_rates_a_cdr_whose_notification_was_lost(billing_db, bfactory, member):
    m = member(credit=["1.00"])
    engine = make_async_engine(billing_db)
    stop = asyncio.Event()
    task = asyncio.create_task(run_rater(engine, stop, poll_seconds=1.0))
    try:
        await asyncio.sleep(0.5)
        with transaction(bfactory) as s:
            # triggers off for this transaction: queued by hand, no pg_notify is sent
            s.execute(text("SET LOCAL session_replication_role = replica"))
            cdr_id = insert_cdr(s, member=m, call_class="D", billsec=60)
            s.execute(text("INSERT INTO cdr_rating_queue (cdr_id) VALUES (:id)"), {"id": cdr_id})

        def charged():
            with bfactory() as s:
                return len(charges(s, [cdr_id])) == 1

        assert await _wait_for(charged, 10)
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
        await engine.dispose()


async def test_rater_loop_survives_an_unreachable_database(billing_db):
    import dataclasses

    bad = dataclasses.replace(billing_db, db_port=1)  # nothing listens there
    engine = make_async_engine(bad)
    stop = asyncio.Event()
    task = asyncio.create_task(run_rater(engine, stop, poll_seconds=0.2))
    await asyncio.sleep(1.0)
    assert not task.done()  # logged and retried, not crashed
    stop.set()
    await asyncio.wait_for(task, 5)
    await engine.dispose()
