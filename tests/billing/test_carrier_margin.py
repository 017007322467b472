"""Carriers on the rater (issue 14), on real PostgreSQL: the charge of a CDR that names its carrier
gets the carrier's id, the buy cost (the carrier's own rate for the number, with its own minimum,
increments and connect fee, on the answered seconds) and the margin (what the member pays minus
the buy cost); a failed-over call (a CDR per attempt on the member's channel, one hold, only the
last attempt answered) is charged once, whatever order its CDRs are rated in and however often,
and its hold is settled by the answered attempt's rating only."""

from __future__ import annotations

import itertools
import threading
from decimal import Decimal

import pytest
from sqlalchemy import text

from controller.rules.rating import Rate
from controller.services.rater import rate_batch, rate_pending
from db import hotpath
from db.session import transaction
from tests.billing.conftest import charges, insert_cdr, lots

D = Decimal

_names = itertools.count(1)

# prefix, rate/min, connect fee, min seconds, increment: the buy decks (the sell deck is
# tests/billing/conftest.py DECK)
CHEAP = [
    ("1", D("0.0080"), D("0"), 6, 6),
    ("1212", D("0.0060"), D("0.0200"), 60, 60),
    ("44", D("0.0200"), D("0"), 1, 1),
    ("447", D("0.0900"), D("0.0050"), 30, 6),
]
LOSS = [("999", D("1.2000"), D("0"), 60, 60)]  # above the sell price: an allowed-loss prefix


def _carrier(bfactory, deck) -> tuple[str, int]:
    """A carrier with its buy deck; its name and id. Disabled: the rater prices a call through
    a carrier whatever its state now, and this run's other tests must not route calls to it."""
    name = f"rater-{next(_names)}"
    with transaction(bfactory) as s:
        carrier_id = s.scalar(
            text("INSERT INTO carriers (name, host, enabled) VALUES (:n, '127.0.0.9', false) RETURNING id"),
            {"n": name},
        )
        for prefix, per_minute, fee, min_seconds, increment in deck:
            s.execute(
                text(
                    "INSERT INTO carrier_rates (carrier_id, prefix, rate_per_minute, connect_fee,"
                    " min_seconds, increment_seconds) VALUES (:c, :p, :r, :f, :m, :i)"
                ),
                {"c": carrier_id, "p": prefix, "r": per_minute, "f": fee, "m": min_seconds, "i": increment},
            )
    return name, carrier_id


def _carrier_cdr(
    s, *, carrier: str | None, attempts: int | None = None, uniqueid: str | None = None, **kw
) -> int:
    """A CDR as cdr_pgsql writes one of a call that went out through `carrier` (the dialplan's
    CDR(carrier) and CDR(attempts)), in the same transaction, so no rater sees it half made."""
    cdr_id = insert_cdr(s, **kw)
    s.execute(
        text(
            "UPDATE cdr SET carrier = :c, attempts = :a, uniqueid = coalesce(:u, uniqueid),"
            " linkedid = coalesce(:u, linkedid) WHERE id = :id"
        ),
        {"c": carrier, "a": attempts, "u": uniqueid, "id": cdr_id},
    )
    return cdr_id


def _audits(s, action: str, cdr_ids) -> list[int]:
    return [
        int(i)
        for i in s.scalars(
            text("SELECT object_id FROM audit_log WHERE action = :a AND object_id = ANY(:ids) ORDER BY id"),
            {"a": action, "ids": [str(i) for i in cdr_ids]},
        )
    ]


# class, dialed, answered seconds, carrier ("cheap", "loss", "unknown", "" none), expected
# member cost, buy cost, margin
CASES = [
    pytest.param("D", "13125550100", 61, "cheap", "0.0165", "0.0088", "0.0077", id="6s-increments"),
    # sell: fee 0.05 + 36 s at 0.01; buy: its own fee 0.02 + a 60 s minimum at 0.006
    pytest.param(
        "D", "12125550100", 31, "cheap", "0.0560", "0.0260", "0.0300", id="connect-fee-and-own-minimum"
    ),
    # sell in whole minutes, buy per second
    pytest.param("I", "441632960000", 61, "cheap", "0.0600", "0.0203", "0.0397", id="per-second-buy"),
    # longest prefix of the buy deck (447, not 44): fee 0.005 + 30 s minimum at 0.09
    pytest.param("I", "447700900123", 7, "cheap", "0.1300", "0.0500", "0.0800", id="longest-buy-prefix"),
    pytest.param("I", "99912345", 61, "loss", "2.0000", "2.4000", "-0.4000", id="allowed-loss-negative"),
    # a toll-free call costs the member nothing, the carrier still bills it
    pytest.param("T", "18005550100", 300, "cheap", "0", "0.0400", "-0.0400", id="free-class-negative"),
    pytest.param("D", "13125550100", 0, "cheap", "0", "0", "0", id="unanswered-attempt-free"),
    pytest.param("D", "13125550100", 61, "", "0.0165", None, None, id="no-carrier-old-trunk"),
    pytest.param("D", "13125550100", 61, "unknown", "0.0165", None, None, id="unknown-carrier-name"),
    pytest.param("I", "99812345", 7, "cheap", "0.0700", None, None, id="no-buy-rate-for-prefix"),
]


@pytest.mark.parametrize(("call_class", "dialed", "seconds", "which", "cost", "buy", "margin"), CASES)
def test_a_carriers_cdr_gets_its_carrier_buy_cost_and_margin(
    bfactory, member, call_class, dialed, seconds, which, cost, buy, margin
):
    m = member(credit=["10.00"])
    cheap, cheap_id = _carrier(bfactory, CHEAP)
    loss, loss_id = _carrier(bfactory, LOSS)
    name, carrier_id = {
        "cheap": (cheap, cheap_id),
        "loss": (loss, loss_id),
        "unknown": ("no-such-carrier", None),
        "": (None, None),
    }[which]
    with transaction(bfactory) as s:
        cdr_id = _carrier_cdr(
            s,
            carrier=name,
            attempts=1 if name else None,
            member=m,
            call_class=call_class,
            dialed=dialed,
            billsec=seconds,
            disposition="ANSWERED" if seconds else "NO ANSWER",
        )
    rate_pending(bfactory)
    with bfactory() as s:
        (c,) = charges(s, [cdr_id])
        assert lots(s, m.account_id) == [D("10.00") - D(cost)]  # the member pays their price only
        unknown = _audits(s, "billing.unknown_carrier", [cdr_id])
        no_buy_rate = _audits(s, "billing.no_buy_rate", [cdr_id])
    assert (c.cost, c.carrier_id, c.buy_cost, c.margin) == (
        D(cost),
        carrier_id,
        None if buy is None else D(buy),
        None if margin is None else D(margin),
    )
    assert unknown == ([cdr_id] if which == "unknown" else [])
    assert no_buy_rate == ([cdr_id] if buy is None and which == "cheap" else [])


def test_a_plan_absorbed_call_costs_the_member_nothing_and_its_margin_is_minus_the_buy_cost(bfactory, member):
    """The plan's price is earned when the plan is sold: per call, a plan-absorbed call is a
    cost to us (margin = 0 - buy cost)."""
    m = member(credit=["1.00"], plan=(600, 600))
    name, carrier_id = _carrier(bfactory, CHEAP)
    with transaction(bfactory) as s:
        cdr_id = _carrier_cdr(
            s, carrier=name, attempts=1, member=m, call_class="R", dialed="12125550100", billsec=50
        )
    rate_pending(bfactory)
    with bfactory() as s:
        (c,) = charges(s, [cdr_id])
        assert lots(s, m.account_id) == [D("1.00")]
    # buy: fee 0.02 + a 60 s minimum at 0.006/min
    assert (c.call_type, c.plan_seconds, c.cost) == ("PR", 50, D("0"))
    assert (c.carrier_id, c.buy_cost, c.margin) == (carrier_id, D("0.0260"), D("-0.0260"))


# --- a failed-over call: carriers a and b fail (congestion, no answer), c answers

SELL_447 = Rate("447", D("0.1200"), D("0.0100"), 60, 60, "United Kingdom mobile", "GB")
ANSWERED_COST = D("0.2500")  # 61 s: fee 0.01 + 120 s at 0.12
C_BUY = D("0.0712")  # 61 s at 0.07/min, per second


async def _failed_over_call(billing_db, bfactory, member, tag: str):
    """A member's call held once, then three CDRs of its channel as Asterisk writes them (the
    same uniqueid, class, number and hold): a and b unanswered, c answered. Returns the member,
    the hold id, the three CDR ids and the three carriers' ids."""
    m = member(credit=["5.00"])
    a = _carrier(bfactory, [("44", D("0.0500"), D("0"), 1, 1)])
    b = _carrier(bfactory, [("447", D("0.0600"), D("0"), 1, 1)])
    c = _carrier(bfactory, [("447", D("0.0700"), D("0"), 1, 1)])
    pg = hotpath.HotDB(billing_db, min_size=1, max_size=1)
    await pg.open()
    try:
        async with pg.connection() as conn:
            auth = await hotpath.authorize(
                conn,
                account_id=m.account_id,
                virtual_number_id=m.vn_id,
                call_class="I",
                dialed="447700900123",
                uniqueid=f"fo-{tag}",
                rate=SELL_447,
                max_seconds=600,
                call_group=f"fo-{tag}",
            )
    finally:
        await pg.close()
    assert auth.auth_id and auth.reason == ""
    common = dict(member=m, call_class="I", dialed="447700900123", auth_id=auth.auth_id, uniqueid=f"fo-{tag}")
    with transaction(bfactory) as s:
        ids = [
            _carrier_cdr(s, carrier=a[0], attempts=1, disposition="CONGESTION", billsec=0, **common),
            _carrier_cdr(s, carrier=b[0], attempts=2, disposition="NO ANSWER", billsec=0, **common),
            _carrier_cdr(s, carrier=c[0], attempts=3, disposition="ANSWERED", billsec=61, **common),
        ]
    return m, auth.auth_id, ids, [a[1], b[1], c[1]]


def _settled(s, auth_id: int) -> bool:
    return s.scalar(
        text("SELECT settled_at IS NOT NULL FROM call_authorizations WHERE id = :id"), {"id": auth_id}
    )


def _charged_once(bfactory, m, auth_id: int, ids, carriers) -> None:
    with bfactory() as s:
        got = charges(s, ids)
        assert lots(s, m.account_id) == [D("5.00") - ANSWERED_COST]
        debits = s.scalar(
            text(
                "SELECT count(*) FROM credit_debits d JOIN cdr_charges c ON c.id = d.charge_id"
                " WHERE c.cdr_id = ANY(:ids)"
            ),
            {"ids": ids},
        )
        day_spend = s.scalar(
            text("SELECT coalesce(sum(amount), 0) FROM account_day_spend WHERE account_id = :a"),
            {"a": m.account_id},
        )
        assert _settled(s, auth_id)
    assert debits == 1 and day_spend == ANSWERED_COST  # the spending limits' day counter
    # a charge per CDR (Call History shows the call as rated), the member's price on one
    assert [(c.cdr_id, c.cost, c.carrier_id, c.buy_cost, c.margin) for c in got] == [
        (ids[0], D("0"), carriers[0], D("0"), D("0")),
        (ids[1], D("0"), carriers[1], D("0"), D("0")),
        (ids[2], ANSWERED_COST, carriers[2], C_BUY, ANSWERED_COST - C_BUY),
    ]


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))), ids=lambda o: "-".join(map(str, o)))
async def test_a_failed_over_call_is_charged_once_and_its_hold_waits_for_the_answered_attempt(
    billing_db, bfactory, member, order
):
    m, auth_id, ids, carriers = await _failed_over_call(
        billing_db, bfactory, member, "-".join(map(str, order))
    )
    for step, i in enumerate(order):
        with transaction(bfactory) as s:
            assert rate_batch(s, 1, [ids[i]]) == (1, 1)
        with bfactory() as s:
            # unanswered attempts rated first leave the hold alone: the answered one's money
            # stays held until it is charged
            assert _settled(s, auth_id) == (2 in order[: step + 1])
    _charged_once(bfactory, m, auth_id, ids, carriers)

    # rated again (queued again by hand, as after a crash between charge and dequeue): the
    # charges exist, nothing moves
    for _ in range(2):
        with transaction(bfactory) as s:
            s.execute(
                text("INSERT INTO cdr_rating_queue (cdr_id) SELECT unnest(CAST(:ids AS bigint[]))"),
                {"ids": ids},
            )
        assert rate_pending(bfactory) == 0
        _charged_once(bfactory, m, auth_id, ids, carriers)


async def test_a_failed_over_calls_cdrs_rated_by_concurrent_raters_charge_it_once(
    billing_db, bfactory, member
):
    m, auth_id, ids, carriers = await _failed_over_call(billing_db, bfactory, member, "threads")
    start = threading.Barrier(len(ids))
    errors: list[BaseException] = []

    def rate(cdr_id: int) -> None:
        try:
            start.wait()
            with transaction(bfactory) as s:
                rate_batch(s, 1, [cdr_id])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=rate, args=(i,)) for i in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    _charged_once(bfactory, m, auth_id, ids, carriers)
