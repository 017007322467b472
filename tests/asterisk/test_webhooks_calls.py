"""Issue 15, webhooks after real calls: a member's phone (SIPp, registered with the number's
credentials) calls the simulated PSTN; Asterisk writes the CDR, the controller's rater rates it,
the outbox trigger queues 'call.ended' and the controller's sender POSTs it, signed, to a real
HTTP receiver on loopback. A receiver that fails is retried with backoff until it answers 2xx;
a member's webhook to a private address is refused unless the setting allows it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from decimal import Decimal

import pytest
from sqlalchemy import delete, select

from controller.rules.webhooks import verify
from db import webhooks
from db.models import Cdr, CdrCharge, Webhook, WebhookDelivery
from db.session import transaction
from tests.asterisk.test_carrier_failover import call as failover_call
from tests.asterisk.test_carrier_failover import routes, sims  # noqa: F401 (fixtures)
from tests.asterisk.test_outbound_calls import DOMESTIC, HANGS_UP, completed, phone_calls
from tests.support.members import make_member
from tests.support.wait import until
from tests.support.webhook_receiver import Receiver

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


@pytest.fixture()
def sender(controller):
    """The running controller's sender with test timings: loopback allowed (the receiver is on
    127.0.0.1), short retries, a fast poll; restored after the test."""
    s = controller.webhooks
    saved = (s.allow_private, s.backoff, s.poll_seconds)
    s.allow_private, s.backoff, s.poll_seconds = True, (0.3, 0.3, 0.3), 0.2
    yield s
    s.allow_private, s.backoff, s.poll_seconds = saved


@pytest.fixture()
def hooks(factory) -> Iterator[list[int]]:
    made: list[int] = []
    yield made
    with transaction(factory) as s:
        s.execute(delete(Webhook).where(Webhook.id.in_(made)))


def register(factory, made, account_id, url, events=("call.ended",)) -> tuple[int, str]:
    with transaction(factory) as s:
        h = webhooks.create(s, account_id, url, list(events), None)
        made.append(h.id)
        return h.id, h.secret


def delivery(factory, hook_id: int) -> list[WebhookDelivery]:
    with factory() as s:
        return list(
            s.scalars(
                select(WebhookDelivery)
                .where(WebhookDelivery.webhook_id == hook_id)
                .order_by(WebhookDelivery.id)
            ).all()
        )


async def test_a_real_call_is_announced_signed_with_its_charge(
    controller, factory, settings, tmp_path, need_sipp, receiver, sender, hooks
):
    m = make_member(factory, settings, credit="5.00", allow_us_canada_ld=True)
    mine, secret = register(factory, hooks, m.account_id, receiver.url("/member"))
    operator, op_secret = register(factory, hooks, None, receiver.url("/operator"))

    call = phone_calls(settings, m, DOMESTIC, tmp_path, scenario=HANGS_UP)
    completed(await call)

    got = await until(lambda: receiver.at("/member"), timeout=40, what="the member's call.ended")
    r = got[0]
    assert r.status == 200 and r.headers["x-voip-event"] == "call.ended"
    assert verify(secret, r.headers["x-voip-timestamp"], r.headers["x-voip-signature"], r.body, time.time())
    assert not verify(
        "not-the-secret", r.headers["x-voip-timestamp"], r.headers["x-voip-signature"], r.body, time.time()
    )
    event = r.json
    assert event["event"] == "call.ended" and event["id"] == r.headers["x-voip-delivery"]
    data = event["data"]
    with factory() as s:
        cdr = s.scalar(select(Cdr).where(Cdr.vnum == m.number, Cdr.call_class == "D"))
        charge = s.scalar(select(CdrCharge).where(CdrCharge.cdr_id == cdr.id))
    assert data["cdr_id"] == cdr.id and data["account_id"] == m.account_id and data["number"] == m.number
    assert data["destination"] == DOMESTIC and data["disposition"] == "ANSWERED"
    assert data["billsec"] == cdr.billsec > 0 and data["call_type"] == "D"
    assert (
        Decimal(data["cost"])
        == charge.cost
        == (Decimal("0.60") * cdr.billsec / 60).quantize(Decimal("0.0001"))
    )

    # the operator's webhook got the same event, signed with its own secret
    op = await until(
        lambda: [x for x in receiver.at("/operator") if x.json["data"].get("cdr_id") == cdr.id],
        timeout=20,
        what="the operator's call.ended",
    )
    assert op[0].headers["x-voip-delivery"] == r.headers["x-voip-delivery"]
    assert verify(
        op_secret,
        op[0].headers["x-voip-timestamp"],
        op[0].headers["x-voip-signature"],
        op[0].body,
        time.time(),
    )
    [d] = delivery(factory, mine)
    assert d.delivered_at is not None and d.attempts == 1 and d.last_status == 200


async def test_a_failing_receiver_is_retried_with_backoff_until_delivered(
    controller, factory, settings, tmp_path, need_sipp, receiver, sender, hooks
):
    m = make_member(factory, settings, credit="5.00", allow_us_canada_ld=True)
    receiver.statuses = [500, 500]
    mine, secret = register(factory, hooks, m.account_id, receiver.url("/flaky"))

    call = phone_calls(settings, m, DOMESTIC, tmp_path, scenario=HANGS_UP)
    completed(await call)

    got = await until(
        lambda: [x for x in receiver.at("/flaky") if x.status == 200],
        timeout=40,
        what="the delivery after two failures",
    )
    tries = receiver.at("/flaky")
    assert [x.status for x in tries] == [500, 500, 200]
    assert len({x.headers["x-voip-delivery"] for x in tries}) == 1  # the same event each time
    assert got[0].json["event"] == "call.ended"
    for x in tries:
        assert verify(
            secret, x.headers["x-voip-timestamp"], x.headers["x-voip-signature"], x.body, time.time()
        )

    def done():
        ds = delivery(factory, mine)
        return ds if ds and ds[0].delivered_at is not None else None

    [d] = await until(done, timeout=10, what="the delivery's log")
    assert d.attempts == 3 and d.last_status == 200 and d.failed_at is None


async def test_gives_up_after_the_last_retry(controller, factory, settings, receiver, sender, hooks):
    m = make_member(factory, settings)
    receiver.statuses = [503] * 10
    mine, _ = register(factory, hooks, m.account_id, receiver.url("/down"))
    with transaction(factory) as s:
        webhooks.enqueue_test(s, s.get(Webhook, mine))

    def failed():
        ds = delivery(factory, mine)
        return ds if ds and ds[0].failed_at is not None else None

    [d] = await until(failed, timeout=20, what="the delivery given up")
    assert d.attempts == 4 and d.last_status == 503 and "HTTP 503" in d.last_error  # 1 + 3 retries
    assert len(receiver.at("/down")) == 4 and d.delivered_at is None


async def test_a_members_webhook_to_a_private_address_is_refused(
    controller, factory, settings, receiver, sender, hooks
):
    sender.allow_private = False  # the production default
    m = make_member(factory, settings)
    mine, _ = register(factory, hooks, m.account_id, receiver.url("/private"))
    operator, _ = register(factory, hooks, None, receiver.url("/operator-private"), events=("fax.new",))
    with transaction(factory) as s:
        webhooks.enqueue_test(s, s.get(Webhook, mine))
        webhooks.enqueue_test(s, s.get(Webhook, operator))

    def tried():
        ds = delivery(factory, mine)
        return ds if ds and ds[0].attempts >= 1 else None

    [d] = await until(tried, timeout=20, what="the refused attempt")
    assert d.last_status is None and d.last_error.startswith("refused URL: private")
    await until(lambda: receiver.at("/operator-private"), timeout=20, what="the operator's delivery")
    assert receiver.at("/private") == []


async def test_a_failed_over_call_is_announced_once_by_its_answered_attempt(
    controller, factory, settings, tmp_path, need_sipp, receiver, sender, hooks, sims, routes
):
    """The cheapest carrier answers 503, the next answers: Asterisk writes a CDR per attempt and
    the rater charges each (the first costs nothing); the member's webhook gets one call.ended,
    the answered attempt's, with its charge."""
    routes.add("full", sims["r503"], "0.0100")
    routes.add("next", sims["answer"], "0.0200")
    await routes.ready()
    m = make_member(factory, settings, credit="5.00", allow_us_canada_ld=True)
    mine, _ = register(factory, hooks, m.account_id, receiver.url("/failover"))

    result = await failover_call(settings, m, tmp_path)
    assert result.ok, result.stdout[-1500:]

    def both_rated():
        with factory() as s:
            legs = s.scalars(select(Cdr).where(Cdr.vnum == m.number).order_by(Cdr.id)).all()
            charged = s.scalars(select(CdrCharge).where(CdrCharge.cdr_id.in_([c.id for c in legs]))).all()
            return (legs, charged) if len(legs) == 2 and len(charged) == 2 else None

    legs, charges = await until(both_rated, timeout=40, what="both attempts rated")
    assert [c.disposition for c in legs] == ["CONGESTION", "ANSWERED"]
    got = await until(lambda: receiver.at("/failover"), timeout=20, what="the call.ended")
    answered = {c.cdr_id: c for c in charges}[legs[1].id]
    assert got[0].json["data"]["cdr_id"] == legs[1].id
    assert Decimal(got[0].json["data"]["cost"]) == answered.cost > 0
    await asyncio.sleep(2 * sender.poll_seconds + 1)  # anything else queued would be sent by now
    assert len(receiver.at("/failover")) == 1 and len(delivery(factory, mine)) == 1
