"""Issue 16, notification emails from real calls on the real Asterisk, over real SMTP:

- a missed call: a PSTN caller from the test carrier (SIP) calls a member's DID, the member's
  registered SIPp phone does not answer, voicemail is off; Asterisk writes the CDRs and the
  notifications round emails the member (only when switched on);
- a new voicemail left by a PSTN caller: emailed without the audio (a link to the panel) when
  the member says so, with it and then deleted (MWI counts updated) when asked, not at all when
  switched off; an email that failed because SMTP was down goes out at a later round."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import text, update

from controller.services import notifications
from db.models import Account
from db.session import transaction
from tests.asterisk.test_inbound_forwarding import call_did, expect_hangup_cause
from tests.support.members import add_did, make_member, set_forwarding
from tests.support.realparts import unique_number
from tests.support.sipp import Phone
from tests.support.smtp import SmtpSink
from tests.support.wait import until
from tests.voicemail.helpers import CALLER, counts, leave_message, messages, vm_member, wait_for_messages

from .helpers import later, round_at, switch, to

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture(autouse=True)
def _need_sipp(need_sipp):
    pass


def missed_calls_of(factory, number: str) -> int:
    with factory() as s:
        return s.scalar(
            text("SELECT count(*) FROM member_calls m WHERE m.vnum = :n AND m.inbound AND NOT m.answered"),
            {"n": number},
        )


async def unanswered_call(controller, factory, settings, tmp_path, ami_events, *, on: bool):
    m = make_member(factory, settings, voicemail_enabled=False)
    address = f"missed{unique_number('8')}@example.test"
    with transaction(factory) as s:
        s.execute(update(Account).where(Account.id == m.account_id).values(email=address, time_zone="UTC"))
    switch(factory, m, missed_call=on)
    did = add_did(factory, m)
    set_forwarding(factory, m, step1="none", device_seconds=3)
    phone = Phone(
        "noanswer",
        m.number,
        m.sip_password,
        host=settings.asterisk_host,
        port=settings.sip_port,
        cwd=tmp_path,
    )
    try:
        call = await call_did(controller, tmp_path, did)
        await expect_hangup_cause(ami_events, call, "19")  # rang out, not answered
    finally:
        phone.stop()
    await until(lambda: missed_calls_of(factory, m.number) == 1, timeout=20, what="the call's CDRs")
    return m, address, call


async def test_a_real_unanswered_call_is_emailed_as_missed_only_when_switched_on(
    controller, factory, settings, tmp_path, ami_events, smtp_server
):
    await asyncio.to_thread(round_at, factory, settings, later())  # the cursor exists
    m, address, call = await unanswered_call(controller, factory, settings, tmp_path, ami_events, on=True)
    quiet, quiet_address, _ = await unanswered_call(
        controller, factory, settings, tmp_path, ami_events, on=False
    )
    # once the CDRs have settled
    await asyncio.to_thread(round_at, factory, settings, later(notifications.MISSED_SETTLE_S + 60))
    [mail] = to(smtp_server, address)
    assert mail.message["Subject"].startswith(f"Missed call on {m.number} from ")
    assert call.caller in mail.message["Subject"]
    body = mail.message.get_content()
    assert f"Number called: {call.did}\n" in body and "(UTC)" in body and call.caller in body
    assert to(smtp_server, quiet_address) == []
    # never twice
    await asyncio.to_thread(round_at, factory, settings, later(notifications.MISSED_SETTLE_S + 60))
    assert len(to(smtp_server, address)) == 1


# ----- voicemail


async def emails_done(controller) -> None:
    tasks = controller.stasis.apps["voicemail"].service.ctx.tasks
    await until(lambda: not tasks, timeout=30, what="the voicemail email attempt to end")


async def test_voicemail_without_the_attachment_links_to_the_panel_and_keeps_the_message(
    controller, factory, settings, smtp_server
):
    m = vm_member(factory, settings, email=f"vm{unique_number('8')}@example.test")
    switch(factory, m, voicemail_attach=False)
    await leave_message(controller, m.number, wait=1)
    [msg] = await wait_for_messages(factory, m, 1)
    [mail] = await smtp_server.wait_for(1)
    assert m.number in mail.message["Subject"] and CALLER[1] in mail.message["Subject"]
    assert mail.attachments() == []
    body = mail.message.get_content()
    assert f"{settings.panel_base_url}/voicemail/{m.number}/" in body
    await until(lambda: messages(factory, m)[0].emailed_at is not None, what="emailed_at")
    assert counts(factory, m) == (1, 0)


async def test_voicemail_delete_after_sending_sends_the_wav_then_deletes_the_message(
    controller, factory, settings, smtp_server
):
    m = vm_member(factory, settings, email=f"vm{unique_number('8')}@example.test")
    switch(factory, m, voicemail_delete_after=True)
    await leave_message(controller, m.number, wait=1)
    [mail] = await smtp_server.wait_for(1)
    [(filename, content, mime)] = mail.attachments()
    assert filename.endswith(".wav") and mime == "audio/wav" and content[:4] == b"RIFF"
    await until(lambda: messages(factory, m) == [], timeout=20, what="the message to be deleted")
    assert counts(factory, m) == (0, 0)
    with factory() as s:
        [(key,)] = s.execute(
            text("SELECT key FROM notifications_sent WHERE account_id = :a AND kind = 'voicemail'"),
            {"a": m.account_id},
        ).all()
    assert key.isdigit()


async def test_voicemail_email_switched_off_sends_nothing(controller, factory, settings, smtp_server):
    address = f"vm{unique_number('8')}@example.test"
    m = vm_member(factory, settings, email=address)
    switch(factory, m, voicemail_email=False)
    await leave_message(controller, m.number, wait=1)
    [msg] = await wait_for_messages(factory, m, 1)
    await emails_done(controller)
    assert to(smtp_server, address) == []
    assert msg.emailed_at is None
    # nor does a later round send it
    await asyncio.to_thread(round_at, factory, settings, later(notifications.VOICEMAIL_RETRY_AFTER_S + 60))
    assert to(smtp_server, address) == []


async def test_a_voicemail_email_that_failed_goes_out_at_a_later_round(controller, factory, settings):
    address = f"vm{unique_number('8')}@example.test"
    m = vm_member(factory, settings, email=address)
    await leave_message(controller, m.number, wait=1)  # SMTP is down: no server on the port
    [msg] = await wait_for_messages(factory, m, 1)
    await emails_done(controller)
    assert messages(factory, m)[0].emailed_at is None
    # too early: the deposit's own attempt may still be going
    sink = SmtpSink(settings.smtp_host, settings.smtp_port)
    server = Controller(sink, hostname=settings.smtp_host, port=settings.smtp_port)
    server.start()
    try:
        await asyncio.to_thread(round_at, factory, settings, dt.datetime.now(dt.UTC))
        assert to(sink, address) == []
        await asyncio.to_thread(
            round_at, factory, settings, later(notifications.VOICEMAIL_RETRY_AFTER_S + 60)
        )
        [mail] = to(sink, address)
        [(filename, content, mime)] = mail.attachments()
        assert content == msg.audio and mime == "audio/wav"
        assert messages(factory, m)[0].emailed_at is not None
        await asyncio.to_thread(
            round_at, factory, settings, later(notifications.VOICEMAIL_RETRY_AFTER_S + 60)
        )
        assert len(to(sink, address)) == 1
    finally:
        server.stop()
