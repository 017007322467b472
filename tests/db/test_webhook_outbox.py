"""Issue 15, webhooks: the outbox triggers (migration 0026) queue one delivery per matching
active webhook (the account's own and the operator's) in the event's own transaction, for every
event type; low balance is announced once, when the balance crosses under the threshold; no
webhook, no row.

These tests run on their own migrated database: the run's controller (started by the Asterisk
tests, alive for the whole run) sends and rates what it finds in the run's database, which
would race with what these tests look at."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import itertools
import os
import time
from collections.abc import Iterator
from decimal import Decimal

import pytest
from sqlalchemy import delete, select, text

from controller.rules import webhooks as rules
from controller.services.rater import rate_batch
from db import migrate, webhooks
from db.models import Account, Fax, FraudEvent, VoicemailMessage, Webhook, WebhookDelivery
from db.rates import import_deck
from db.session import make_engine, session_factory, transaction
from tests.asterisk.conftest import TEST_DECK
from tests.support.members import Member, new_member
from tests.support.realparts import unavailable, unique_number

_n = itertools.count(1)
ALL = ["call.ended", "voicemail.new", "fax.new", "balance.low", "fraud.tripped"]


@pytest.fixture(scope="module")
def outbox_db(settings):
    scratch = dataclasses.replace(settings, db_name=settings.db_name + "_webhooks")
    try:
        migrate.create_database(scratch, drop_first=True)
    except Exception as exc:
        unavailable(f"PostgreSQL ({exc.__class__.__name__}: {exc})")
    migrate.upgrade(scratch)
    yield scratch
    if not os.environ.get("VOIP_KEEP_TEST_DB"):
        migrate.drop_database(scratch)


@pytest.fixture(scope="module")
def factory(outbox_db):
    """Sessions on this module's own database, with the call tests' deck ($0.60 a minute to the
    US, per second) active."""
    engine = make_engine(outbox_db)
    made = session_factory(engine)
    with transaction(made) as s:
        import_deck(s, "call-tests", TEST_DECK)
    yield made
    engine.dispose()


@pytest.fixture(scope="module")
def database(outbox_db):
    return outbox_db


@pytest.fixture()
def member(factory, database) -> Member:
    return new_member(factory, realm=database.sip_realm, number=unique_number("1700"), credit=("5.00",))


@pytest.fixture()
def hooks(factory) -> Iterator[list[int]]:
    """Webhooks made by a test, deleted after it (an operator's would see every other test's events)."""
    made: list[int] = []
    yield made
    with transaction(factory) as s:
        s.execute(delete(Webhook).where(Webhook.id.in_(made)))


def hook(factory, made: list[int], account_id: int | None, events=ALL, active: bool = True) -> int:
    with transaction(factory) as s:
        h = webhooks.create(s, account_id, "https://hooks.example.com/x", list(events), None)
        h.active = active
        made.append(h.id)
        return h.id


def rows(factory, hook_ids) -> list[WebhookDelivery]:
    with factory() as s:
        return list(
            s.scalars(
                select(WebhookDelivery)
                .where(WebhookDelivery.webhook_id.in_(list(hook_ids)))
                .order_by(WebhookDelivery.id)
            ).all()
        )


def rated_call(
    factory,
    m: Member,
    billsec: int = 60,
    dialed: str = "13125550100",
    *,
    disposition: str = "ANSWERED",
    uniqueid: str | None = None,
    rate: bool = True,
) -> int:
    """A CDR as cdr_pgsql writes it for the member's call (one Dial attempt of the channel
    `uniqueid`: a failed-over call has one per attempt), rated by the real rater."""
    start = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=billsec + 5)
    n = next(_n)
    uid = uniqueid or f"wh{os.getpid()}.{n}"
    with transaction(factory) as s:
        cdr_id = s.scalar(
            text(
                "INSERT INTO cdr (accountcode, src, dst, dcontext, channel, dstchannel, lastapp, start,"
                ' answer, "end", duration, billsec, disposition, uniqueid, linkedid, vnum, call_class,'
                " dialed) VALUES (:acct, :src, :dialed, 'members', :chan, 'PJSIP/trunk-1', 'Dial', :start,"
                " :answer, now(), :dur, :bill, :disp, :uid, :uid, :vnum, 'D', :dialed) RETURNING id"
            ),
            {
                "acct": str(m.account_id),
                "src": m.number,
                "dialed": dialed,
                "chan": f"PJSIP/{m.number}-{n:08x}",
                "start": start,
                "answer": start if billsec else None,
                "dur": billsec + 5,
                "bill": billsec,
                "disp": disposition,
                "uid": uid,
                "vnum": m.number,
            },
        )
    if rate:
        with transaction(factory) as s:
            rate_batch(s, only_ids=[cdr_id])
    return cdr_id


def test_a_rated_call_queues_call_ended_for_the_account_and_the_operator_only(factory, member, hooks):
    mine = hook(factory, hooks, member.account_id, ["call.ended"])
    operator = hook(factory, hooks, None, ["call.ended"])
    other_event = hook(factory, hooks, member.account_id, ["voicemail.new"])
    disabled = hook(factory, hooks, member.account_id, ["call.ended"], active=False)
    someone_else = new_member(factory, realm="test", number=unique_number("1700"))
    theirs = hook(factory, hooks, someone_else.account_id, ["call.ended"])

    cdr_id = rated_call(factory, member, billsec=60)

    got = rows(factory, [mine, operator, other_event, disabled, theirs])
    assert sorted(d.webhook_id for d in got) == sorted([mine, operator])
    assert {d.event for d in got} == {"call.ended"}
    assert got[0].event_id == got[1].event_id  # one event, delivered to each
    with factory() as s:
        cost = s.scalar(text("SELECT cost FROM cdr_charges WHERE cdr_id = :c"), {"c": cdr_id})
    data = got[0].payload
    assert data["cdr_id"] == cdr_id and data["account_id"] == member.account_id
    assert data["number"] == member.number and data["destination"] == "13125550100"
    assert data["billsec"] == 60 and data["disposition"] == "ANSWERED" and data["call_type"] == "D"
    assert Decimal(data["cost"]) == cost and cost > 0
    assert data["start"]
    assert all(d.attempts == 0 and d.delivered_at is None and d.failed_at is None for d in got)


def test_a_failed_over_call_is_announced_once_by_its_answered_attempt(factory, member, hooks):
    """A carrier failed over: Asterisk writes one CDR per Dial attempt of the member's channel
    (the same uniqueid), the first CONGESTION (rated, costing nothing), the next ANSWERED. The
    call is announced once, by the attempt that was answered and charged, whichever is rated
    first."""
    mine = hook(factory, hooks, member.account_id, ["call.ended"])
    uid = f"fo{os.getpid()}.{next(_n)}"
    failed = rated_call(factory, member, 0, disposition="CONGESTION", uniqueid=uid, rate=False)
    answered = rated_call(factory, member, 30, uniqueid=uid, rate=False)
    with transaction(factory) as s:
        rate_batch(s, only_ids=[failed])
    with transaction(factory) as s:
        rate_batch(s, only_ids=[answered])
    [d] = rows(factory, [mine])
    assert d.payload["cdr_id"] == answered and d.payload["disposition"] == "ANSWERED"
    assert Decimal(d.payload["cost"]) > 0
    # rated the other way round, or in one batch: the same
    uid = f"fo{os.getpid()}.{next(_n)}"
    failed = rated_call(factory, member, 0, disposition="CONGESTION", uniqueid=uid, rate=False)
    answered = rated_call(factory, member, 30, uniqueid=uid, rate=False)
    with transaction(factory) as s:
        rate_batch(s, only_ids=[answered, failed])
    assert [d.payload["cdr_id"] for d in rows(factory, [mine])][1:] == [answered]
    # the first attempt rated before Asterisk wrote the next one (the rater is that quick): its
    # event waits a few seconds, and the answered attempt's rating withdraws it
    uid = f"fo{os.getpid()}.{next(_n)}"
    failed = rated_call(factory, member, 0, disposition="CONGESTION", uniqueid=uid)
    [waiting] = [d for d in rows(factory, [mine]) if d.payload["cdr_id"] == failed]
    assert waiting.next_attempt_at > dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5)
    answered = rated_call(factory, member, 30, uniqueid=uid)
    assert [d.payload["cdr_id"] for d in rows(factory, [mine])][2:] == [answered]


def test_a_call_no_attempt_answered_is_announced_once_by_its_last_attempt(factory, member, hooks):
    mine = hook(factory, hooks, member.account_id, ["call.ended"])
    uid = f"fo{os.getpid()}.{next(_n)}"
    first = rated_call(factory, member, 0, disposition="CONGESTION", uniqueid=uid, rate=False)
    last = rated_call(factory, member, 0, disposition="BUSY", uniqueid=uid, rate=False)
    with transaction(factory) as s:
        rate_batch(s, only_ids=[first, last])
    [d] = rows(factory, [mine])
    assert (
        d.payload["cdr_id"] == last and d.payload["disposition"] == "BUSY" and d.payload["cost"] == "0.0000"
    )
    # a lone unanswered call is announced as ever
    alone = rated_call(factory, member, 0, disposition="NO ANSWER")
    assert rows(factory, [mine])[-1].payload["cdr_id"] == alone


def test_no_webhook_no_row(factory, member, hooks):
    someone_else = new_member(factory, realm="test", number=unique_number("1700"))
    theirs = hook(factory, hooks, someone_else.account_id)
    with factory() as s:
        before = s.scalar(text("SELECT count(*) FROM webhook_deliveries"))
    rated_call(factory, member)
    with transaction(factory) as s:
        s.add(FraudEvent(account_id=member.account_id, kind="daily_cap", detail="x"))
    with factory() as s:
        assert s.scalar(text("SELECT count(*) FROM webhook_deliveries")) == before
    assert rows(factory, [theirs]) == []


def test_voicemail_fax_and_fraud_events(factory, member, hooks):
    mine = hook(factory, hooks, member.account_id)
    with transaction(factory) as s:
        vm = VoicemailMessage(
            virtual_number_id=member.vn_id,
            caller_name="Ann",
            caller_number="13125550111",
            duration_seconds=7.5,
            audio=b"RIFF....",
        )
        fax = Fax(account_id=member.account_id, status="received", caller_number="13125550122", pages=3)
        s.add_all([vm, fax])
        s.flush()
        vm_id, fax_id = vm.id, fax.id
    with transaction(factory) as s:
        s.add(
            FraudEvent(
                account_id=member.account_id,
                virtual_number_id=member.vn_id,
                kind="velocity_tripped",
                detail="11 international calls in 10 minutes",
            )
        )
        s.add(FraudEvent(account_id=member.account_id, kind="velocity_lifted", detail="by the operator"))
    got = {d.event: d.payload for d in rows(factory, [mine])}
    assert set(got) == {"voicemail.new", "fax.new", "fraud.tripped"}
    assert got["voicemail.new"]["message_id"] == vm_id and got["voicemail.new"]["number"] == member.number
    assert got["voicemail.new"]["caller_number"] == "13125550111" and "audio" not in got["voicemail.new"]
    assert got["fax.new"]["fax_id"] == fax_id and got["fax.new"]["pages"] == 3
    assert (
        got["fraud.tripped"]["kind"] == "velocity_tripped" and got["fraud.tripped"]["number"] == member.number
    )


def test_an_event_rolled_back_queues_nothing(factory, member, hooks):
    mine = hook(factory, hooks, member.account_id)
    with factory() as s:
        s.add(Fax(account_id=member.account_id, status="received"))
        s.flush()
        s.rollback()
    assert rows(factory, [mine]) == []


def test_low_balance_is_announced_once_when_the_balance_crosses_the_threshold(factory, database, hooks):
    m = new_member(factory, realm=database.sip_realm, number=unique_number("1700"), credit=("0.50", "0.50"))
    mine = hook(factory, hooks, m.account_id, ["balance.low"])
    with transaction(factory) as s:
        s.get(Account, m.account_id).low_balance_threshold = Decimal("0.70")
    rated_call(factory, m, billsec=20)  # 1.00 -> about 0.80: above
    assert rows(factory, [mine]) == []
    rated_call(factory, m, billsec=20)  # -> about 0.60: crosses
    rated_call(factory, m, billsec=20)  # -> about 0.40: still under, not again
    got = rows(factory, [mine])
    assert [d.event for d in got] == ["balance.low"]
    p = got[0].payload
    assert Decimal(p["previous_balance"]) >= Decimal("0.70") > Decimal(p["balance"])
    assert p["threshold"] == "0.7000"
    # a lot bought lifts it; the next crossing is announced again
    with transaction(factory) as s:
        s.execute(
            text("UPDATE credit_lots SET remaining = original WHERE account_id = :a"), {"a": m.account_id}
        )
    rated_call(factory, m, billsec=40)
    assert [d.event for d in rows(factory, [mine])] == ["balance.low", "balance.low"]


def test_a_top_up_lifts_it_and_the_next_drop_is_announced_again(factory, database, hooks):
    """A top-up is a new lot (an INSERT, no trigger): announced once under, once again after the
    balance went back above and fell under again; never while it stays under."""
    from db.models import CreditLot

    m = new_member(factory, realm=database.sip_realm, number=unique_number("1700"), credit=("1.00",))
    mine = hook(factory, hooks, m.account_id, ["balance.low"])
    with transaction(factory) as s:
        s.get(Account, m.account_id).low_balance_threshold = Decimal("0.70")
    rated_call(factory, m, billsec=40)  # 1.00 -> 0.60: under
    rated_call(factory, m, billsec=10)  # -> 0.50: still under
    assert len(rows(factory, [mine])) == 1
    with transaction(factory) as s:
        s.add(
            CreditLot(
                account_id=m.account_id, original=Decimal("0.10"), remaining=Decimal("0.10"), source="admin"
            )
        )
    rated_call(factory, m, billsec=10)  # 0.60 -> 0.50: under the whole time, not again
    assert len(rows(factory, [mine])) == 1
    with transaction(factory) as s:
        s.add(
            CreditLot(account_id=m.account_id, original=Decimal("5"), remaining=Decimal("5"), source="admin")
        )
    rated_call(factory, m, billsec=10)  # 5.50 -> 5.40: above
    assert len(rows(factory, [mine])) == 1
    with transaction(factory) as s:  # the operator's debit by hand, down to 0.40
        s.execute(
            text("UPDATE credit_lots SET remaining = 0 WHERE account_id = :a AND original = 5"),
            {"a": m.account_id},
        )
    got = rows(factory, [mine])
    assert len(got) == 2 and Decimal(got[1].payload["previous_balance"]) >= Decimal("0.70")
    assert Decimal(got[1].payload["balance"]) < Decimal("0.70")


def test_one_statement_debiting_two_lots_is_one_crossing(factory, database, hooks):
    m = new_member(factory, realm=database.sip_realm, number=unique_number("1700"), credit=("3.00", "4.00"))
    mine = hook(factory, hooks, m.account_id, ["balance.low"])
    with transaction(factory) as s:
        s.get(Account, m.account_id).low_balance_threshold = Decimal("5")
        s.flush()
        s.execute(
            text(
                "UPDATE credit_lots SET remaining = CASE WHEN original = 3 THEN 0 ELSE 1 END WHERE account_id = :a"
            ),
            {"a": m.account_id},
        )
    got = rows(factory, [mine])
    assert len(got) == 1 and Decimal(got[0].payload["balance"]) == 1
    assert Decimal(got[0].payload["previous_balance"]) == 7


def test_no_threshold_never(factory, member, hooks):
    mine = hook(factory, hooks, member.account_id, ["balance.low"])
    with transaction(factory) as s:
        s.execute(
            text("UPDATE credit_lots SET remaining = 0 WHERE account_id = :a"), {"a": member.account_id}
        )
    assert rows(factory, [mine]) == []


def test_the_test_event_goes_to_that_webhook_only(factory, member, hooks):
    mine = hook(factory, hooks, member.account_id)
    operator = hook(factory, hooks, None)
    with transaction(factory) as s:
        webhooks.enqueue_test(s, s.get(Webhook, mine))
    got = rows(factory, [mine, operator])
    assert [(d.webhook_id, d.event) for d in got] == [(mine, "webhook.test")]


async def test_two_senders_claim_disjoint_deliveries_and_a_lease_keeps_them(factory, database, member, hooks):
    """Several controllers: a delivery claimed (FOR UPDATE SKIP LOCKED, then leased) by one is
    not claimed by another, while the first's transaction is open or after it committed."""
    from sqlalchemy.ext.asyncio import AsyncSession

    from db.session import make_async_engine

    mine = hook(factory, hooks, member.account_id)
    with transaction(factory) as s:
        h = s.get(Webhook, mine)
        for _ in range(30):
            webhooks.enqueue_test(s, h)
    engine = make_async_engine(database)
    try:
        async with AsyncSession(engine) as a, AsyncSession(engine) as b:
            async with a.begin():
                first = await webhooks.claim(a, 20)
                async with b.begin():
                    second = await webhooks.claim(b, 20)
            async with b.begin():
                third = await webhooks.claim(b, 20)
    finally:
        await engine.dispose()
    ours = {d.id for d in rows(factory, [mine])}
    got_first = {d.id for d in first} & ours
    got_second = {d.id for d in second} & ours
    assert len(got_first) == 20 and len(got_second) == 10 and not got_first & got_second
    assert not {d.id for d in third} & ours  # leased: not due again before the lease ends


# ---------------------------------------------------------------------------------------------
# The sender against receivers that misbehave (real HTTP servers on loopback)


class Misbehaving:
    """A loopback HTTP server that reads the request, then either trickles a 200's headers one
    byte every 0.2 s (never ending until closed: no single read waits long enough to time out), or
    answers 500 with a 64 MB body; it records the Host header and the bytes it managed to send."""

    def __init__(self, how: str) -> None:
        import socket
        import threading

        self.how = how
        self.sent = 0
        self.hosts: list[str] = []
        self.stop = threading.Event()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        import time

        while not self.stop.is_set():
            try:
                self.sock.settimeout(0.2)
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(5)
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                head, _, body = data.partition(b"\r\n\r\n")
                lines = head.decode().split("\r\n")
                headers = {k.lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
                self.hosts.append(headers.get("host", ""))
                while len(body) < int(headers.get("content-length", "0")):
                    body += conn.recv(65536)
                try:
                    if self.how == "trickle":
                        conn.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
                        while not self.stop.is_set():
                            conn.sendall(b"x")
                            self.sent += 1
                            time.sleep(0.2)
                    else:
                        size = 64 * 1024 * 1024
                        conn.sendall(b"HTTP/1.1 500 Oops\r\nContent-Length: %d\r\n\r\n" % size)
                        chunk = b"<" * 65536
                        for _ in range(size // len(chunk)):
                            conn.sendall(chunk)
                            self.sent += len(chunk)
                except OSError:
                    pass

    def url(self, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}/hook"

    def close(self) -> None:
        self.stop.set()
        self.thread.join(10)
        self.sock.close()


async def send_due(database, **attrs):
    """One round of a real sender (the controller's class) on this module's database."""
    from controller.services.webhooks import WebhookSender
    from db.session import make_async_engine

    engine = make_async_engine(database)
    sender = WebhookSender(engine, database)
    sender.allow_private, sender.backoff = True, (30.0,)
    for k, v in attrs.items():
        setattr(sender, k, v)
    try:
        async with sender.http_client() as client:
            return await asyncio.wait_for(sender.deliver_due(client), 30)
    finally:
        await engine.dispose()


def queue_test(factory, made, account_id, url) -> int:
    with transaction(factory) as s:
        h = webhooks.create(s, account_id, url, ["call.ended"], None)
        made.append(h.id)
        webhooks.enqueue_test(s, h)
        return h.id


async def test_a_receiver_that_trickles_its_answer_is_cut_at_the_timeout(factory, database, member, hooks):
    server = Misbehaving("trickle")
    try:
        mine = queue_test(factory, hooks, member.account_id, server.url())
        started = time.monotonic()
        assert await send_due(database, timeout=1.0) == 1
        took = time.monotonic() - started
    finally:
        server.close()
    [d] = rows(factory, [mine])
    assert took < 5, took
    assert d.attempts == 1 and d.delivered_at is None and d.failed_at is None
    assert d.last_error.startswith("timed out after 1 s")


async def test_a_huge_answer_is_not_read_and_is_logged_short(factory, database, member, hooks):
    server = Misbehaving("huge")
    try:
        mine = queue_test(factory, hooks, member.account_id, server.url())
        assert await send_due(database, timeout=20.0) == 1
    finally:
        server.close()
    [d] = rows(factory, [mine])
    assert d.last_status == 500 and d.delivered_at is None
    assert d.last_error.startswith("HTTP 500: <<<") and len(d.last_error) <= 300
    assert server.sent < 32 * 1024 * 1024  # the sender hung up long before the end


async def test_a_named_host_is_posted_to_the_address_resolved_with_its_own_host_header(
    factory, database, member, hooks
):
    """The connection goes to the address the sender resolved (and checked), not to a second
    resolution by the HTTP client; the receiver still sees the URL's host."""
    from tests.support.webhook_receiver import Receiver

    with Receiver() as r:
        mine = queue_test(factory, hooks, member.account_id, f"http://localhost:{r.port}/named")
        assert await send_due(database) == 1
        [got] = r.at("/named")
        assert got.headers["host"] == f"localhost:{r.port}"
    [d] = rows(factory, [mine])
    assert d.delivered_at is not None and d.last_status == 200


async def test_a_members_webhook_to_a_name_of_a_private_address_is_refused_when_sent(
    factory, database, member, hooks
):
    """A name (here this machine's, which resolves to a non-public address) passes the check of
    the URL at registration; the sender resolves it at each delivery and refuses it."""
    import socket

    name = socket.gethostname()
    assert rules.private_address(socket.getaddrinfo(name, 80, type=socket.SOCK_STREAM)[0][4][0])
    server = Misbehaving("huge")
    try:
        url = f"http://{name}:{server.port}/hook"
        assert rules.url_problem(url, allow_private=False) is None
        mine = queue_test(factory, hooks, member.account_id, url)
        assert await send_due(database, allow_private=False) == 1
    finally:
        server.close()
    [d] = rows(factory, [mine])
    assert d.last_error == "refused URL: private" and d.attempts == 1 and server.hosts == []


async def test_an_attempt_always_ends_within_its_lease(database):
    """However long VOIP_WEBHOOK_TIMEOUT, a batch's rounds (ceil(20 / 8) = 3) end before the
    lease does: another controller never claims and sends a delivery still being sent."""
    from controller.services.webhooks import LEASE_MARGIN, WebhookSender
    from db.session import make_async_engine

    engine = make_async_engine(database)
    try:
        sender = WebhookSender(
            engine, dataclasses.replace(database, webhook_timeout_s=600.0), batch=20, concurrency=8
        )
        assert sender.deadline() * 3 <= webhooks.LEASE_SECONDS - LEASE_MARGIN
        sender.timeout = 5.0
        assert sender.deadline() == 5.0
    finally:
        await engine.dispose()


async def test_disabling_a_webhook_gives_up_its_pending_deliveries(factory, database, member, hooks):
    """A disabled webhook's queue does not pile up at the head of the due index (every claim
    would step over it) nor burst out, days old, when it is enabled again: its pending deliveries
    are given up, and logged so."""
    from db.session import make_async_engine

    mine = queue_test(factory, hooks, member.account_id, "https://hooks.example.com/off")
    with transaction(factory) as s:
        h = s.get(Webhook, mine)
        webhooks.enqueue_test(s, h)
        webhooks.enqueue_test(s, h)
    done = rows(factory, [mine])[0].id
    with transaction(factory) as s:
        s.execute(text("UPDATE webhook_deliveries SET delivered_at = now() WHERE id = :i"), {"i": done})
    with transaction(factory) as s:
        webhooks.set_active(s, s.get(Webhook, mine), False)
    got = rows(factory, [mine])
    assert len(got) == 3
    assert got[0].delivered_at is not None and got[0].failed_at is None
    assert all(d.failed_at is not None and d.last_error == "webhook disabled" for d in got[1:])
    with transaction(factory) as s:
        webhooks.set_active(s, s.get(Webhook, mine), True)
    engine = make_async_engine(database)
    try:
        from sqlalchemy.ext.asyncio import AsyncSession

        async with AsyncSession(engine) as a, a.begin():
            claimed = {d.id for d in await webhooks.claim(a, 100)}
    finally:
        await engine.dispose()
    assert not claimed & {d.id for d in got}


async def test_https_to_a_name_is_pinned_to_its_address_and_still_checks_the_certificate(
    factory, database, member, hooks, tmp_path
):
    """The connection goes to the resolved address, yet TLS is that of the URL's host: its name
    is sent as SNI and the certificate is checked against it (a certificate for another name is
    refused)."""
    import http.server
    import ssl
    import subprocess
    import threading

    import httpx

    from controller.services.webhooks import USER_AGENT, WebhookSender
    from db.session import make_async_engine

    def cert(name: str) -> tuple[str, str]:
        key, crt = tmp_path / f"{name}.key", tmp_path / f"{name}.crt"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", f"/CN={name}",
             "-addext", f"subjectAltName=DNS:{name}", "-keyout", str(key), "-out", str(crt)],
            check=True, capture_output=True,
        )  # fmt: skip
        return str(crt), str(key)

    seen: list[tuple[str | None, str]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers["Content-Length"]))
            seen.append((self.server.sni, self.headers["Host"]))  # type: ignore[attr-defined]
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    async def deliver(crt: str, key: str, name: str) -> WebhookDelivery:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(crt, key)
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.sni = None  # type: ignore[attr-defined]

        def remember(sock, sni, _ctx) -> None:
            server.sni = sni  # type: ignore[attr-defined]

        ctx.sni_callback = remember
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        engine = make_async_engine(database)
        try:
            mine = queue_test(
                factory, hooks, member.account_id, f"https://{name}:{server.server_address[1]}/tls"
            )
            sender = WebhookSender(engine, database)
            sender.allow_private, sender.backoff = True, (30.0,)
            trust = ssl.create_default_context(cafile=crt)
            async with httpx.AsyncClient(
                verify=trust, follow_redirects=False, headers={"User-Agent": USER_AGENT}
            ) as c:
                assert await asyncio.wait_for(sender.deliver_due(c), 30) == 1
        finally:
            await engine.dispose()
            server.shutdown()
            server.server_close()
            thread.join(5)
        [d] = rows(factory, [mine])
        return d

    d = await deliver(*cert("localhost"), "localhost")
    assert d.last_status == 204 and d.delivered_at is not None
    port = seen[0][1].rpartition(":")[2]
    assert seen == [("localhost", f"localhost:{port}")]
    d = await deliver(*cert("elsewhere.example"), "localhost")
    assert d.delivered_at is None and d.last_status is None and "SSL" in d.last_error.upper()
    assert len(seen) == 1


async def test_a_redirect_is_not_followed_but_retried(factory, database, member, hooks):
    """A 3xx (here to a loopback path the member could not register) is an attempt that failed:
    logged, retried after the backoff's first delay, never followed."""
    from tests.support.webhook_receiver import Receiver

    with Receiver() as r:
        r.statuses = [307]
        mine = queue_test(factory, hooks, member.account_id, r.url("/moved"))
        assert await send_due(database) == 1
        assert [x.path for x in r.received] == ["/moved"]
    [d] = rows(factory, [mine])
    assert d.last_status == 307 and d.delivered_at is None and d.failed_at is None
    assert d.last_error.startswith("HTTP 307") and d.attempts == 1
    assert d.next_attempt_at > dt.datetime.now(dt.UTC) + dt.timedelta(seconds=20)  # backoff (30 s)
