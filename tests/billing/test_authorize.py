"""Call authorizations: the maximum length from plan seconds then credit, and holds that keep
concurrent calls from spending the same balance twice."""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal

import pytest
from sqlalchemy import text

from controller.rules.rating import MAX_CALL_SECONDS
from db.billing import authorize_call, available_balance
from db.session import transaction

D = Decimal


def _authorize(bfactory, m, call_class="D", dialed="13125550100", uniqueid="u", **kw):
    with transaction(bfactory) as s:
        return authorize_call(
            s,
            account_id=m.account_id,
            virtual_number_id=m.vn_id,
            call_class=call_class,
            dialed=dialed,
            uniqueid=uniqueid,
            **kw,
        )


def test_plan_seconds_first_then_credit_sets_the_maximum_length(bfactory, member):
    m = member(credit=["0.10"], plan=(0, 120))
    auth = _authorize(bfactory, m, "D")
    # 120 plan seconds + 0.10 at 0.015/min in 6 s increments: 396 s (0.0990; 402 s would be 0.1005)
    assert (auth.max_seconds, auth.plan_seconds, auth.reason) == (516, 120, "")
    assert auth.held_credit == D("0.0990") and auth.rate_prefix == "1"
    with bfactory() as s:
        row = s.execute(text("SELECT * FROM call_authorizations WHERE id = :id"), {"id": auth.auth_id}).one()
        bal = available_balance(s, m.account_id, m.vn_id)
    assert (row.held_plan_seconds, row.held_credit, row.plan_subscription_id, row.max_seconds) == (
        120,
        D("0.0990"),
        m.subscription_id,
        516,
    )
    assert bal.credit == D("0.0010") and bal.plan_seconds("D") == 0
    assert row.expires_at - row.created_at >= dt.timedelta(seconds=516 + 300)


def test_regional_calls_use_regional_then_us_canada_seconds_domestic_only_us(bfactory, member):
    m = member(plan=(100, 50))
    with bfactory() as s:
        bal = available_balance(s, m.account_id, m.vn_id)
    assert (bal.plan_seconds("R"), bal.plan_seconds("D"), bal.plan_seconds("I")) == (150, 50, 0)
    r = _authorize(bfactory, m, "R", "12125550100")
    assert (r.max_seconds, r.plan_seconds) == (150, 150)
    with bfactory() as s:
        bal = available_balance(s, m.account_id, m.vn_id)
    assert (bal.plan_seconds("R"), bal.plan_seconds("D")) == (0, 0)  # the overflow holds US seconds


def test_international_calls_never_use_plan_seconds(bfactory, member):
    m = member(credit=["0.03"], plan=(600, 600))
    auth = _authorize(bfactory, m, "I", "441632960000")
    assert (auth.max_seconds, auth.plan_seconds, auth.held_credit) == (60, 0, D("0.0300"))
    with bfactory() as s:
        assert available_balance(s, m.account_id, m.vn_id).plan_seconds("D") == 600


def test_nothing_affordable_is_refused_no_credit_and_holds_nothing(bfactory, member):
    m = member(credit=["0.50"])
    auth = _authorize(bfactory, m, "I", "99912345")  # 1.00 for the first minute
    assert tuple(auth) == (None, 0, 0, "no_credit")
    with bfactory() as s:
        assert (
            s.scalar(
                text("SELECT count(*) FROM call_authorizations WHERE account_id = :a"), {"a": m.account_id}
            )
            == 0
        )


def test_no_rate_for_the_destination_is_refused_not_in_service(bfactory, member):
    m = member(credit=["5.00"])
    assert _authorize(bfactory, m, "I", "2125550100").reason == "not_in_service"


def test_maximum_length_is_capped_at_four_hours(bfactory, member):
    m = member(credit=["1000.00"], plan=(0, 99999))
    assert _authorize(bfactory, m, "D").max_seconds == MAX_CALL_SECONDS
    m2 = member(credit=["1000.00"])
    auth = _authorize(bfactory, m2, "D")
    assert auth.max_seconds == MAX_CALL_SECONDS and auth.held_credit == D("3.6000")


def test_free_destination_needs_no_credit(bfactory, member):
    m = member()
    auth = _authorize(bfactory, m, "D", "18005550100")  # a 0-rate prefix in the deck
    assert auth.max_seconds == MAX_CALL_SECONDS and auth.held_credit == 0 and auth.reason == ""


def test_credit_limit_of_the_number_caps_what_its_calls_hold(bfactory, member):
    m = member(credit=["10.00"], credit_limit=D("1.50"))
    first = _authorize(bfactory, m, "I", "99912345")
    second = _authorize(bfactory, m, "I", "99912345")
    assert (first.max_seconds, second.reason) == (60, "no_credit")  # 1.00 held, 0.50 left < 1.00
    with bfactory() as s:
        assert available_balance(s, m.account_id, m.vn_id).credit == D("0.50")


def test_expired_holds_stop_counting(bfactory, member):
    m = member(credit=["1.00"])
    auth = _authorize(bfactory, m, "I", "99912345")
    assert auth.max_seconds == 60
    with bfactory() as s:
        assert available_balance(s, m.account_id, m.vn_id).credit == 0
    with transaction(bfactory) as s:
        s.execute(
            text("UPDATE call_authorizations SET expires_at = now() - interval '1 second' WHERE id = :id"),
            {"id": auth.auth_id},
        )
    with bfactory() as s:
        assert available_balance(s, m.account_id, m.vn_id).credit == D("1.00")
    assert _authorize(bfactory, m, "I", "99912345").max_seconds == 60


def test_two_concurrent_authorizations_cannot_both_get_the_whole_balance(bfactory, member):
    m = member(credit=["1.00"])  # one minute at 1.00/min
    results, errors = [], []
    barrier = threading.Barrier(2)

    def call(i):
        try:
            barrier.wait()
            results.append(_authorize(bfactory, m, "I", "99912345", uniqueid=f"race-{i}"))
        except Exception as exc:  # pragma: no cover
            errors.append(exc)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(2)]
    [t.start() for t in threads]
    [t.join(30) for t in threads]
    assert errors == []
    assert sorted(r.max_seconds for r in results) == [0, 60]
    assert sum(r.held_credit for r in results) == D("1.0000")


def test_many_concurrent_authorizations_hold_no_more_than_the_balance(bfactory, member):
    m = member(credit=["2.00", "1.00"])  # three minutes at 1.00/min, one per call
    results, errors = [], []
    barrier = threading.Barrier(10)

    def call(i):
        try:
            barrier.wait()
            results.append(_authorize(bfactory, m, "I", "99912345", uniqueid=f"many-{i}", max_seconds=60))
        except Exception as exc:  # pragma: no cover
            errors.append(exc)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(10)]
    [t.start() for t in threads]
    [t.join(30) for t in threads]
    assert errors == []
    granted = [r for r in results if r.max_seconds > 0]
    assert len(granted) == 3 and sum(r.held_credit for r in results) == D("3.0000")
    assert {r.reason for r in results if r.max_seconds == 0} == {"no_credit"}


def test_authorization_for_another_accounts_number_is_a_programming_error(bfactory, member):
    a, b = member(credit=["1.00"]), member(credit=["1.00"])
    with pytest.raises(ValueError), transaction(bfactory) as s:
        authorize_call(
            s,
            account_id=a.account_id,
            virtual_number_id=b.vn_id,
            call_class="D",
            dialed="13125550100",
            uniqueid="x",
        )
