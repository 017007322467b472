"""A call that was up when its account was suspended (issue 15): suspension refuses every new
call but 911, and the call in progress gets no further slice of its sliced hold
(db.hotpath.extend_hold), so it ends on the limit it has, instead of going on charging the
suspended account for as long as its money lasts. Resumed, the account's calls extend again."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import text

from db import hotpath
from db.session import transaction
from tests.billing.test_sliced_holds import _decide, _extend, _hold

D = Decimal


@pytest.fixture()
async def pg(billing_db):
    db = hotpath.HotDB(billing_db, min_size=1, max_size=4)
    await db.open()
    yield db
    await db.close()


def _set_status(bfactory, account_id: int, status: str) -> None:
    with transaction(bfactory) as s:
        s.execute(text("UPDATE accounts SET status = :s WHERE id = :id"), {"s": status, "id": account_id})


async def test_a_suspended_accounts_call_in_progress_is_not_extended(pg, member, bfactory):
    m = member(credit=["10.00"])
    first = await _decide(pg, m, "sl-suspended")
    assert first.max_seconds == 60
    _set_status(bfactory, m.account_id, "suspended")
    assert (await _extend(pg, first.auth_id)).seconds == 0
    hold = _hold(bfactory, first.auth_id)
    assert hold.max_seconds == 60 and hold.held_credit == D("1.0000")  # unchanged
    _set_status(bfactory, m.account_id, "active")
    ext = await _extend(pg, first.auth_id)
    assert (ext.seconds, ext.total_seconds) == (60, 120)
