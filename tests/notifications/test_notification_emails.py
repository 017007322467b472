"""Issue 16, the notification emails over real SMTP (aiosmtpd) from real PostgreSQL, one
notifications round at a time (controller/services/notifications.run_round, as the controller's
NotificationTask runs it): missed calls from CDR rows (the real-call case is in
test_notifications_real_calls.py), low balance once per crossing, the weekly summary once per
ISO week after Monday 08:00 local, the voicemail retry; each only when switched on, never twice,
a failed send retried and one bad address blocking nobody else."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import select, text, update

from controller.services import notifications
from db.models import Account, CreditLot, JobCursor, NotificationSent, VoicemailMessage
from db.session import transaction
from tests.support.smtp import SmtpSink
from tests.web.cdrs import add_cdrs, cdr_values

from .helpers import email_of, later, member, round_at, switch, to

UTC = dt.UTC


def missed_cdr(number: str, start: dt.datetime, **kw) -> dict:
    kw.setdefault("src", "13125550100")
    kw.setdefault("clid", '"Alice Smith" <13125550100>')
    return cdr_values(
        vnum=number, start=start, dst=number, disposition=kw.pop("disposition", "NO ANSWER"), **kw
    )


def placed(number: str, start: dt.datetime, billsec: int) -> dict:
    """An answered call the number placed to the PSTN."""
    return cdr_values(
        vnum=number,
        start=start,
        src=number,
        dst="13125550111",
        dialed="13125550111",
        call_class="D",
        billsec=billsec,
        dstchannel="PJSIP/carrier-1",
    )


def start_cursor(factory, settings) -> None:
    """The missed-call cursor exists (its first round starts from the CDRs of then)."""
    round_at(factory, settings, later())


def sent_rows(factory, account_id: int, kind: str) -> list[tuple[str, str]]:
    with factory() as s:
        return [
            (r.key, r.sent_to)
            for r in s.scalars(
                select(NotificationSent)
                .where(NotificationSent.account_id == account_id, NotificationSent.kind == kind)
                .order_by(NotificationSent.id)
            )
        ]


# ----- missed calls


def test_a_missed_call_is_emailed_once_with_caller_number_and_local_time_only_when_on(
    factory, settings, smtp_server
):
    start_cursor(factory, settings)
    on = member(factory, settings, time_zone="America/Chicago")
    off = member(factory, settings)
    switch(factory, on, missed_call=True)
    start = dt.datetime.now(UTC).replace(microsecond=0) - dt.timedelta(minutes=5)
    add_cdrs(
        factory,
        [
            missed_cdr(on.number, start),
            missed_cdr(off.number, start),
            # answered: not missed
            missed_cdr(on.number, start, disposition="ANSWERED", dstchannel="PJSIP/x", billsec=30),
        ],
    )
    round_at(factory, settings, later())
    [mail] = to(smtp_server, email_of(factory, on))
    assert mail.message["Subject"] == f"Missed call on {on.number} from Alice Smith <13125550100>"
    body = mail.message.get_content()
    local = start.astimezone(notifications.zone("America/Chicago"))
    assert f"When: {local:%Y-%m-%d %H:%M:%S} CST (America/Chicago)" in body
    assert f"Number called: {on.number}" in body and "From: Alice Smith <13125550100>" in body
    assert to(smtp_server, email_of(factory, off)) == []
    # the next round sends nothing again
    round_at(factory, settings, later())
    assert len(to(smtp_server, email_of(factory, on))) == 1
    assert len(sent_rows(factory, on.account_id, "missed_call")) == 1


def test_a_call_answered_by_a_later_leg_is_not_missed(factory, settings, smtp_server):
    start_cursor(factory, settings)
    m = member(factory, settings)
    switch(factory, m, missed_call=True)
    start = dt.datetime.now(UTC) - dt.timedelta(minutes=3)
    first = missed_cdr(m.number, start, linkedid=f"lk-{m.number}")
    second = missed_cdr(
        m.number, start, linkedid=f"lk-{m.number}", disposition="ANSWERED", dstchannel="PJSIP/y", billsec=12
    )
    add_cdrs(factory, [first, second])
    round_at(factory, settings, later())
    assert to(smtp_server, email_of(factory, m)) == []


def test_a_recent_cdr_waits_for_the_settle_time_then_goes(factory, settings, smtp_server):
    start_cursor(factory, settings)
    m = member(factory, settings)
    switch(factory, m, missed_call=True)
    add_cdrs(factory, [missed_cdr(m.number, dt.datetime.now(UTC) - dt.timedelta(seconds=5))])
    round_at(factory, settings, dt.datetime.now(UTC))  # ended under MISSED_SETTLE_S ago
    assert to(smtp_server, email_of(factory, m)) == []
    round_at(factory, settings, later(notifications.MISSED_SETTLE_S + 30))
    assert len(to(smtp_server, email_of(factory, m))) == 1


def test_smtp_down_sends_nothing_marks_nothing_and_the_next_round_sends(factory, settings):
    from aiosmtpd.controller import Controller

    m = member(factory, settings)
    # the cursor is made while the server is up (a round with nothing to send sends nothing)
    round_at(factory, settings, later())
    switch(factory, m, missed_call=True)
    add_cdrs(factory, [missed_cdr(m.number, dt.datetime.now(UTC) - dt.timedelta(minutes=2))])
    with factory() as s:
        cursor_before = s.get_one(JobCursor, notifications.MISSED_CURSOR).last_id
    result = round_at(factory, settings, later())  # no SMTP server: the port is closed
    assert result.server_down and result.failed.get("missed_call") == 1
    assert sent_rows(factory, m.account_id, "missed_call") == []
    with factory() as s:
        assert s.get_one(JobCursor, notifications.MISSED_CURSOR).last_id == cursor_before
    sink = SmtpSink(settings.smtp_host, settings.smtp_port)
    server = Controller(sink, hostname=settings.smtp_host, port=settings.smtp_port)
    server.start()
    try:
        round_at(factory, settings, later())
        assert len(to(sink, email_of(factory, m))) == 1
        assert len(sent_rows(factory, m.account_id, "missed_call")) == 1
    finally:
        server.stop()


def test_one_accounts_bad_address_does_not_block_the_others(factory, settings, smtp_server):
    start_cursor(factory, settings)
    bad = member(factory, settings, email="not an address@example.test")
    good = member(factory, settings)
    switch(factory, bad, missed_call=True)
    switch(factory, good, missed_call=True)
    start = dt.datetime.now(UTC) - dt.timedelta(minutes=2)
    add_cdrs(factory, [missed_cdr(bad.number, start), missed_cdr(good.number, start)])
    result = round_at(factory, settings, later())
    assert not result.server_down
    assert len(to(smtp_server, email_of(factory, good))) == 1
    assert sent_rows(factory, bad.account_id, "missed_call") == []
    assert len(sent_rows(factory, good.account_id, "missed_call")) == 1


def test_nobody_switched_on_costs_one_query_and_moves_the_cursor(factory, settings, smtp_server):
    start_cursor(factory, settings)
    with transaction(factory) as s:
        s.execute(text("UPDATE notification_settings SET missed_call = false"))
    m = member(factory, settings)
    ids = add_cdrs(factory, [missed_cdr(m.number, dt.datetime.now(UTC) - dt.timedelta(minutes=2))])
    round_at(factory, settings, later())
    with factory() as s:
        assert s.get_one(JobCursor, notifications.MISSED_CURSOR).last_id >= ids[-1]
    assert to(smtp_server, email_of(factory, m)) == []


# ----- low balance


def set_remaining(factory, m, amount: str) -> None:
    with transaction(factory) as s:
        s.execute(
            update(CreditLot).where(CreditLot.account_id == m.account_id).values(remaining=Decimal(amount))
        )


def test_low_balance_is_emailed_once_per_crossing_and_only_when_on(factory, settings, smtp_server):
    m = member(factory, settings, credit=("20.00",))
    set_remaining(factory, m, "3.00")  # as calls would have spent it
    off = member(factory, settings, credit=("1.00",))
    with transaction(factory) as s:
        for who in (m, off):
            s.get_one(Account, who.account_id).low_balance_threshold = Decimal("5.00")
    switch(factory, m, low_balance=True)
    address = email_of(factory, m)
    round_at(factory, settings)
    [mail] = to(smtp_server, address)
    assert mail.message["Subject"] == f"{settings.operator_name}: your balance is low ($3.00)"
    assert "under the $5.00 you chose" in mail.message.get_content()
    assert to(smtp_server, email_of(factory, off)) == []
    round_at(factory, settings)
    round_at(factory, settings)
    assert len(to(smtp_server, address)) == 1  # still below: no other email
    set_remaining(factory, m, "10.00")  # back above
    round_at(factory, settings)
    assert len(to(smtp_server, address)) == 1
    set_remaining(factory, m, "4.99")  # below again: one more
    round_at(factory, settings)
    mails = to(smtp_server, address)
    assert len(mails) == 2 and "($4.99)" in mails[1].message["Subject"]
    assert [k for k, _ in sent_rows(factory, m.account_id, "low_balance")] == ["crossing:1", "crossing:2"]
    # the amount itself is not low: at the threshold is not below it
    set_remaining(factory, m, "5.00")
    round_at(factory, settings)
    set_remaining(factory, m, "5.00")
    round_at(factory, settings)
    assert len(to(smtp_server, address)) == 2


# ----- weekly summary


def test_weekly_summary_once_per_iso_week_after_monday_8_local_with_the_weeks_figures(
    factory, settings, smtp_server
):
    m = member(factory, settings, time_zone="Asia/Tokyo")
    off = member(factory, settings, time_zone="Asia/Tokyo")
    switch(factory, m, weekly_summary=True)
    tokyo = notifications.zone("Asia/Tokyo")
    # ISO week 2026-W10: Monday March 2 to Sunday March 8, Tokyo time
    in_week = dt.datetime(2026, 3, 4, 12, 0, tzinfo=tokyo)
    before = dt.datetime(2026, 3, 1, 23, 0, tzinfo=tokyo)  # Sunday of W09
    after = dt.datetime(2026, 3, 9, 0, 30, tzinfo=tokyo)  # Monday of W11
    rows = [
        # answered, 125 s, charged 0.40
        placed(m.number, in_week, 125),
        # answered, 60 s, charged 0.35
        placed(m.number, in_week + dt.timedelta(hours=1), 60),
        # missed twice
        missed_cdr(m.number, in_week + dt.timedelta(hours=2)),
        missed_cdr(m.number, in_week + dt.timedelta(hours=3)),
        # outside the week: not counted
        placed(m.number, before, 600),
        missed_cdr(m.number, after),
    ]
    add_cdrs(
        factory,
        rows,
        charges={
            i: {"cost": Decimal(cost), "account_id": m.account_id}
            for i, cost in ((0, "0.40"), (1, "0.35"), (4, "9.00"))
        },
    )
    with transaction(factory) as s:
        s.execute(
            text(
                "UPDATE cdr_charges SET rated_at = c.start FROM cdr c WHERE c.id = cdr_charges.cdr_id AND c.vnum = :n"
            ),
            {"n": m.number},
        )
        for when in (in_week, in_week + dt.timedelta(days=1), after):
            s.add(
                VoicemailMessage(
                    virtual_number_id=m.virtual_number_id, audio=b"RIFF", received_at=when, emailed_at=when
                )
            )

    # Monday March 9, 07:59 Tokyo: not yet
    round_at(factory, settings, dt.datetime(2026, 3, 9, 7, 59, tzinfo=tokyo))
    assert to(smtp_server, email_of(factory, m)) == []
    round_at(factory, settings, dt.datetime(2026, 3, 9, 8, 1, tzinfo=tokyo))
    [mail] = to(smtp_server, email_of(factory, m))
    assert "2026-W10" in mail.message["Subject"]
    body = mail.message.get_content()
    assert "2026-03-02 to 2026-03-08 (Asia/Tokyo)" in body
    assert "Calls:       4\n" in body  # 2 answered, 2 missed
    assert "Minutes:     4\n" in body  # 185 s, rounded up
    assert "Spend:       $0.75\n" in body
    assert "Voicemails:  2\n" in body
    assert "Missed calls: 2\n" in body
    # once: later that week nothing more
    round_at(factory, settings, dt.datetime(2026, 3, 11, 9, 0, tzinfo=tokyo))
    assert len(to(smtp_server, email_of(factory, m))) == 1
    assert sent_rows(factory, m.account_id, "weekly_summary") == [("2026-W10", email_of(factory, m))]
    assert to(smtp_server, email_of(factory, off)) == []
    # the next week's, the Monday after
    round_at(factory, settings, dt.datetime(2026, 3, 16, 8, 0, tzinfo=tokyo))
    mails = to(smtp_server, email_of(factory, m))
    assert len(mails) == 2 and "2026-W11" in mails[1].message["Subject"]
    assert "Missed calls: 1\n" in mails[1].message.get_content()


def test_week_due_follows_the_local_monday_morning():
    ny = "America/New_York"
    # Monday Dec 7 2026 07:00 New York = 12:00 UTC: W49's summary is not due yet
    assert notifications.week_due(dt.datetime(2026, 12, 7, 12, 0, tzinfo=UTC), ny) is None
    key, start, end = notifications.week_due(dt.datetime(2026, 12, 7, 13, 0, tzinfo=UTC), ny)
    assert key == "2026-W49" and start.isoformat() == "2026-11-30T00:00:00-05:00"
    assert end.isoformat() == "2026-12-07T00:00:00-05:00"
    # still due on Wednesday (a late round), not on Thursday morning (too old to send)
    assert notifications.week_due(dt.datetime(2026, 12, 9, 23, 0, tzinfo=UTC), ny)[0] == "2026-W49"
    assert notifications.week_due(dt.datetime(2026, 12, 10, 14, 0, tzinfo=UTC), ny) is None


def test_a_round_with_every_notification_switched_off_is_a_few_small_queries(factory, settings, smtp_server):
    from sqlalchemy import event

    start_cursor(factory, settings)
    with transaction(factory) as s:
        s.execute(
            text(
                "UPDATE notification_settings SET missed_call = false, low_balance = false,"
                " weekly_summary = false"
            )
        )
        s.execute(text("UPDATE voicemail_messages SET emailed_at = now() WHERE emailed_at IS NULL"))
    m = member(factory, settings)
    add_cdrs(factory, [missed_cdr(m.number, dt.datetime.now(UTC) - dt.timedelta(minutes=2))])
    statements: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    engine = factory.kw["bind"]
    event.listen(engine, "before_cursor_execute", seen)
    try:
        result = round_at(factory, settings, later())
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert not result.sent and not result.failed
    # the cursor (read; nobody on; the newest CDR; moved there), then one query per other kind
    assert len(statements) <= 7, statements
    assert not any("member_calls" in q for q in statements)


# ----- review (R-NOTIFY): refusals, hostile caller IDs, lengths, CDRs committed out of order


def refused_cdr(number: str, start: dt.datetime, reason: str, **kw) -> dict:
    """A call the number's screening refused, as route inbound leaves its CDR (see
    tests/asterisk/test_forwarding_screening.py): the carrier's leg, tagged with the number
    (vnum, dialed), sent to context `refused` whose extension is the reason."""
    row = missed_cdr(number, start, dialed=number, **kw)
    row.update(dcontext="refused", dst=reason, channel="PJSIP/carrier-00000001", lastapp="Playback")
    return row


def test_calls_refused_by_screening_are_listed_as_missed_but_never_emailed(factory, settings, smtp_server):
    start_cursor(factory, settings)
    m = member(factory, settings)
    switch(factory, m, missed_call=True)
    start = dt.datetime.now(UTC).replace(microsecond=0) - dt.timedelta(minutes=4)
    add_cdrs(
        factory,
        [
            refused_cdr(
                m.number, start, "caller_blocked", clid='"Nuisance" <13125550666>', src="13125550666"
            ),
            refused_cdr(
                m.number,
                start + dt.timedelta(seconds=30),
                "anonymous_rejected",
                clid='"Anonymous" <anonymous>',
                src="anonymous",
                disposition="ANSWERED",
            ),
            # a call refused for another reason the number did not choose: still a missed call
            missed_cdr(m.number, start + dt.timedelta(minutes=1), src="13125550777", clid=""),
        ],
    )
    with factory() as s:  # Missed Calls lists the refused ones (migration 0029): 3 missed
        assert (
            s.scalar(
                text(
                    "SELECT count(*) FROM member_calls m WHERE m.vnum = :n AND m.inbound AND NOT m.answered"
                ),
                {"n": m.number},
            )
            == 3
        )
    round_at(factory, settings, later())
    [mail] = to(smtp_server, email_of(factory, m))
    assert mail.message["Subject"] == f"Missed call on {m.number} from 13125550777"
    round_at(factory, settings, later())
    assert len(to(smtp_server, email_of(factory, m))) == 1


def test_a_hostile_caller_id_cannot_inject_headers_or_break_the_email(factory, settings, smtp_server):
    start_cursor(factory, settings)
    m = member(factory, settings)
    switch(factory, m, missed_call=True)
    address = email_of(factory, m)
    evil = "Evil\r\nBcc: victim@example.test\r\nX-Evil: 1\u2028A"  # a CDR's clid: 80 at most
    add_cdrs(
        factory,
        [
            missed_cdr(
                m.number, dt.datetime.now(UTC) - dt.timedelta(minutes=2), clid=f'"{evil}" <13125550100>'
            )
        ],
    )
    round_at(factory, settings, later())
    [mail] = to(smtp_server, address)  # sent (a caller must not be able to suppress it), to the member only
    assert mail.rcpt_tos == [address]
    assert mail.message["Bcc"] is None and mail.message["X-Evil"] is None
    subject = mail.message["Subject"]
    assert "\n" not in subject and "\r" not in subject and "\u2028" not in subject
    assert (
        subject == f"Missed call on {m.number} from Evil Bcc: victim@example.test X-Evil: 1 A <13125550100>"
    )
    body = mail.message.get_content()
    [line] = [ln for ln in body.splitlines() if ln.startswith("From: ")]
    assert "X-Evil: 1" in line and not any(ln.startswith(("Bcc:", "X-Evil")) for ln in body.splitlines())


def test_the_voicemail_email_says_the_length_the_panel_shows_and_survives_a_hostile_name(
    factory, settings, smtp_server
):
    m = member(factory, settings)
    address = email_of(factory, m)
    received = dt.datetime.now(UTC) - dt.timedelta(seconds=notifications.VOICEMAIL_RETRY_AFTER_S + 60)
    with transaction(factory) as s:
        s.add(
            VoicemailMessage(
                virtual_number_id=m.virtual_number_id,
                audio=b"RIFF",
                received_at=received,
                duration_seconds=62.5,  # the panel: 01:03 (whole_seconds); Python's round: 1:02
                caller_name="Bob\r\nBcc: victim@example.test\n" + "B" * 50,  # 80: the column's most
                caller_number="13125550100",
            )
        )
    round_at(factory, settings)
    [mail] = to(smtp_server, address)
    assert mail.rcpt_tos == [address] and mail.message["Bcc"] is None
    name = "Bob Bcc: victim@example.test " + "B" * 28 + "..."  # one line, 60 characters at most
    assert mail.message["Subject"] == f"New voicemail for {m.number} from {name} <13125550100>"
    assert "Length: 1:03\n" in mail.message.get_body(("plain",)).get_content()


def test_a_cdr_committed_after_a_later_one_is_still_emailed(factory, settings, smtp_server):
    """Sequences do not commit in order: CDR n+1 may be visible while CDR n is still being
    written. The cursor must not move past n before it is there."""
    from sqlalchemy import insert

    from db.models import Cdr, VirtualNumber

    start_cursor(factory, settings)
    early = member(factory, settings)
    late = member(factory, settings)
    switch(factory, early, missed_call=True)
    switch(factory, late, missed_call=True)
    ended = dt.datetime.now(UTC) - dt.timedelta(seconds=notifications.MISSED_SETTLE_S + 25)
    with transaction(factory) as s:  # the number was the member's then
        s.execute(
            update(VirtualNumber)
            .where(VirtualNumber.id == late.virtual_number_id)
            .values(created_at=ended - dt.timedelta(minutes=1))
        )
    with factory.kw["bind"].connect() as slow:  # `late`'s CDR: id first, committed last
        slow_id = slow.execute(
            insert(Cdr).values(**missed_cdr(late.number, ended - dt.timedelta(seconds=5))).returning(Cdr.id)
        ).scalar_one()
        [fast_id] = add_cdrs(factory, [missed_cdr(early.number, ended - dt.timedelta(seconds=5))])
        assert fast_id > slow_id
        round_at(factory, settings, dt.datetime.now(UTC))
        slow.commit()
    round_at(factory, settings, dt.datetime.now(UTC))
    round_at(factory, settings, later(notifications.MISSED_GAP_WAIT_S + 60))
    assert len(to(smtp_server, email_of(factory, early))) == 1
    assert len(to(smtp_server, email_of(factory, late))) == 1


def two_controllers_at_once(settings, now: dt.datetime) -> None:
    """Two controller processes' rounds (two engines, as two processes have) at the same time."""
    import threading

    from db.session import make_engine, session_factory

    engines = [make_engine(settings, pool_size=1, max_overflow=1) for _ in range(2)]
    go = threading.Barrier(2)
    errors: list[BaseException] = []

    def controller(engine) -> None:
        try:
            go.wait(10)
            notifications.run_round(session_factory(engine), settings, now)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=controller, args=(e,)) for e in engines]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    finally:
        for e in engines:
            e.dispose()
    assert errors == []


def test_two_controllers_running_the_round_at_once_send_each_email_once(factory, settings, smtp_server):
    """The sent row is claimed in the transaction that sends: the second sender waits on it and
    finds it taken (a crash between the server's 250 and the commit sends again: at least once)."""
    start_cursor(factory, settings)
    m = member(factory, settings, credit=("20.00",), time_zone="Asia/Tokyo")
    set_remaining(factory, m, "1.00")
    with transaction(factory) as s:
        s.get_one(Account, m.account_id).low_balance_threshold = Decimal("5.00")
    switch(factory, m, missed_call=True, low_balance=True, weekly_summary=True)
    add_cdrs(factory, [missed_cdr(m.number, dt.datetime.now(UTC) - dt.timedelta(minutes=2))])
    two_controllers_at_once(settings, later())
    two_controllers_at_once(settings, dt.datetime(2026, 3, 9, 9, 0, tzinfo=notifications.zone("Asia/Tokyo")))
    mails = to(smtp_server, email_of(factory, m))
    assert len(mails) == 3, [mail.message["Subject"] for mail in mails]
    for kind in ("missed_call", "low_balance", "weekly_summary"):
        assert len(sent_rows(factory, m.account_id, kind)) == 1, kind


def test_after_a_long_mail_outage_old_missed_calls_are_not_emailed(factory, settings, smtp_server):
    start_cursor(factory, settings)
    m = member(factory, settings)
    switch(factory, m, missed_call=True)
    now = dt.datetime.now(UTC)
    stale = now - notifications.MISSED_EMAIL_WITHIN - dt.timedelta(minutes=5)
    add_cdrs(
        factory,
        [
            missed_cdr(m.number, stale, src="13125550101", clid=""),
            missed_cdr(m.number, now - dt.timedelta(minutes=2), src="13125550102", clid=""),
        ],
    )
    round_at(factory, settings, later())
    [mail] = to(smtp_server, email_of(factory, m))
    assert mail.message["Subject"].endswith("from 13125550102")


def test_a_member_who_switches_off_or_changes_address_is_followed_by_the_queued_email(factory, settings):
    """The round finds the calls first and sends them one by one: each send reads the switch and
    the address again. The member acts on the panel while the first email is being delivered."""
    from aiosmtpd.controller import Controller

    from tests.support.smtp import SmtpSink

    start_cursor(factory, settings)  # (no server yet: nothing to send)
    first, off, moved = (member(factory, settings) for _ in range(3))
    for who in (first, off, moved):
        switch(factory, who, missed_call=True)
    start = dt.datetime.now(UTC) - dt.timedelta(minutes=2)
    add_cdrs(factory, [missed_cdr(who.number, start) for who in (first, off, moved)])
    old_address = email_of(factory, moved)

    class MemberActsMeanwhile(SmtpSink):
        async def handle_DATA(self, server, session, envelope) -> str:
            if not self.messages:
                with transaction(factory) as s:
                    s.execute(
                        text("UPDATE notification_settings SET missed_call = false WHERE account_id = :a"),
                        {"a": off.account_id},
                    )
                    s.get_one(Account, moved.account_id).email = "new-" + old_address
            return await super().handle_DATA(server, session, envelope)

    sink = MemberActsMeanwhile(settings.smtp_host, settings.smtp_port)
    server = Controller(sink, hostname=settings.smtp_host, port=settings.smtp_port)
    server.start()
    try:
        round_at(factory, settings, later())
    finally:
        server.stop()
    assert len(to(sink, email_of(factory, first))) == 1
    assert to(sink, email_of(factory, off)) == []
    assert to(sink, old_address) == []
    [mail] = to(sink, "new-" + old_address)
    assert mail.message["To"] == "new-" + old_address


def test_no_address_or_a_refused_one_is_not_tried_again_every_round(factory, settings, smtp_server):
    """An account without an email address is not sent anything (nor counted as failing each
    minute); a refused address is tried once per crossing, not at every round."""
    nobody = member(factory, settings, credit=("20.00",), email="")
    refused = member(factory, settings, credit=("20.00",), email="not an address@example.test")
    for who in (nobody, refused):
        set_remaining(factory, who, "1.00")
        with transaction(factory) as s:
            s.get_one(Account, who.account_id).low_balance_threshold = Decimal("5.00")
        switch(factory, who, low_balance=True, weekly_summary=True)
    first = round_at(factory, settings)
    second = round_at(factory, settings)
    assert not first.server_down and not second.server_down
    assert second.failed.get("low_balance", 0) == 0, second.failed
    assert first.failed.get("low_balance", 0) <= 1  # the refused address, once
    for who in (nobody, refused):
        assert sent_rows(factory, who.account_id, "low_balance") == []
    with factory() as s:  # the refused address's crossing is seen (the next email: the next crossing)
        assert s.scalar(
            text("SELECT below FROM low_balance_watch WHERE account_id = :a"), {"a": refused.account_id}
        )
    monday = dt.datetime(2026, 3, 9, 9, 0, tzinfo=UTC)
    assert round_at(factory, settings, monday).failed.get("weekly_summary", 0) <= 1
    assert round_at(factory, settings, monday + dt.timedelta(minutes=1)).failed == {}
    assert sent_rows(factory, nobody.account_id, "weekly_summary") == []
    assert sent_rows(factory, refused.account_id, "weekly_summary") == []
    with transaction(factory) as s:  # a good address: sent at the next round
        s.get_one(Account, refused.account_id).email = f"fixed.{refused.number}@example.test"
    round_at(factory, settings, monday + dt.timedelta(minutes=2))
    [mail] = to(smtp_server, f"fixed.{refused.number}@example.test")
    assert "2026-W10" in mail.message["Subject"]


def test_a_dst_week_runs_from_local_midnight_to_local_midnight():
    ny = "America/New_York"  # DST began Sunday March 8 2026: a week of 167 hours
    key, start, end = notifications.week_due(dt.datetime(2026, 3, 9, 13, 0, tzinfo=UTC), ny)
    assert key == "2026-W10"
    assert start.isoformat() == "2026-03-02T00:00:00-05:00" and end.isoformat() == "2026-03-09T00:00:00-04:00"
    assert end.timestamp() - start.timestamp() == 167 * 3600
    # Monday 08:00 after the change is 12:00 UTC, not 13:00
    assert notifications.week_due(dt.datetime(2026, 3, 9, 11, 59, tzinfo=UTC), ny) is None
    assert notifications.week_due(dt.datetime(2026, 3, 9, 12, 0, tzinfo=UTC), ny)[0] == "2026-W10"
    # the week DST ends (Sunday November 1 2026): 169 hours
    key, start, end = notifications.week_due(dt.datetime(2026, 11, 2, 14, 0, tzinfo=UTC), ny)
    assert key == "2026-W44" and end.timestamp() - start.timestamp() == 169 * 3600


def test_a_call_in_the_second_the_number_joined_counts_as_call_history_counts_it(
    factory, settings, smtp_server
):
    """CDR times are whole seconds: Call History counts a call in the second its number joined
    the account (webpanel/call_history/queries.py); the emails do too."""
    from db.models import VirtualNumber

    start_cursor(factory, settings)
    tokyo = notifications.zone("Asia/Tokyo")
    m = member(factory, settings, time_zone="Asia/Tokyo")
    switch(factory, m, missed_call=True, weekly_summary=True)
    joined = dt.datetime.now(UTC).replace(microsecond=0) - dt.timedelta(minutes=3)
    with transaction(factory) as s:
        s.execute(
            update(VirtualNumber)
            .where(VirtualNumber.id == m.virtual_number_id)
            .values(created_at=joined + dt.timedelta(milliseconds=700))
        )
    add_cdrs(factory, [missed_cdr(m.number, joined)], numbers_existed=False)
    round_at(factory, settings, later())
    assert len(to(smtp_server, email_of(factory, m))) == 1
    local = joined.astimezone(tokyo)
    next_monday = local.date() + dt.timedelta(days=7 - local.weekday())
    round_at(factory, settings, dt.datetime.combine(next_monday, dt.time(9), tokyo))
    summary = to(smtp_server, email_of(factory, m))[-1].message.get_content()
    assert "Calls:       1\n" in summary and "Missed calls: 1\n" in summary


def test_a_top_up_while_the_round_sends_stops_the_low_balance_email(factory, settings):
    """The round lists the accounts under their amount, then emails them one by one: each is
    judged again (under its watch row's lock) just before its email. The second member tops
    up while the first one's email is being delivered."""
    from aiosmtpd.controller import Controller

    from tests.support.smtp import SmtpSink

    first, topped = (member(factory, settings, credit=("20.00",)) for _ in range(2))
    for who in (first, topped):
        set_remaining(factory, who, "1.00")
        with transaction(factory) as s:
            s.get_one(Account, who.account_id).low_balance_threshold = Decimal("5.00")
        switch(factory, who, low_balance=True)

    class TopUpMeanwhile(SmtpSink):
        async def handle_DATA(self, server, session, envelope) -> str:
            if not self.messages:
                set_remaining(factory, topped, "15.00")
            return await super().handle_DATA(server, session, envelope)

    sink = TopUpMeanwhile(settings.smtp_host, settings.smtp_port)
    server = Controller(sink, hostname=settings.smtp_host, port=settings.smtp_port)
    server.start()
    try:
        round_at(factory, settings)
    finally:
        server.stop()
    assert len(to(sink, email_of(factory, first))) == 1
    assert to(sink, email_of(factory, topped)) == []
    assert sent_rows(factory, topped.account_id, "low_balance") == []


def test_a_cdr_without_an_end_does_not_hold_the_missed_calls_behind_it(factory, settings, smtp_server):
    start_cursor(factory, settings)
    m = member(factory, settings)
    switch(factory, m, missed_call=True)
    start = dt.datetime.now(UTC) - dt.timedelta(minutes=3)
    broken = cdr_values(vnum=None, start=start, src="13125550100", dst="s", disposition="FAILED")
    broken.update(end=None, start=None)
    add_cdrs(factory, [broken, missed_cdr(m.number, start)], numbers_existed=False)
    with transaction(factory) as s:
        s.execute(
            text("UPDATE virtual_numbers SET created_at = :t WHERE id = :v"),
            {"t": start - dt.timedelta(minutes=1), "v": m.virtual_number_id},
        )
    round_at(factory, settings, later())
    assert len(to(smtp_server, email_of(factory, m))) == 1
