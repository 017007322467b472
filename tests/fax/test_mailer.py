"""controller.services.mailer against real SMTP servers: delivery with attachments, retries while the
server is down, no retry when it refuses, and header injection refused before any I/O."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import time

import pytest

from controller.services.mailer import (
    BadMessage,
    MailError,
    MailRejected,
    MailUnavailable,
    build_message,
    send_mail,
)
from tests.support.realparts import unavailable


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_send_mail_delivers_body_and_attachments(settings, smtp_server):
    await send_mail(
        settings,
        "Jane Member <jane@example.com>",
        "Hello",
        "Body text\n",
        [("a.pdf", b"%PDF-1.4 fake", "application/pdf"), ("n.txt", b"note", "text/plain")],
    )
    [mail] = await smtp_server.wait_for(1)
    assert mail.mail_from == settings.mail_from and mail.rcpt_tos == ["jane@example.com"]
    assert mail.message["Subject"] == "Hello" and mail.message["Message-ID"]
    assert mail.message.get_body(("plain",)).get_content() == "Body text\n"
    assert mail.attachments() == [
        ("a.pdf", b"%PDF-1.4 fake", "application/pdf"),
        ("n.txt", "note", "text/plain"),
    ]


async def test_smtp_down_is_retried_with_backoff_then_raises_mail_unavailable(settings):
    quick = dataclasses.replace(settings, smtp_port=_free_port(), smtp_attempts=3, smtp_retry_delay=0.1)
    started = time.monotonic()
    with pytest.raises(MailUnavailable, match="after 3 attempts"):
        await send_mail(quick, "x@example.com", "s", "b")
    assert time.monotonic() - started >= 0.1 + 0.2  # two backoff waits, doubling


async def test_server_coming_back_during_the_retries_gets_the_mail(settings):
    try:
        from aiosmtpd.controller import Controller
    except ImportError:
        unavailable("aiosmtpd")
    from tests.support.smtp import SmtpSink

    port = _free_port()
    sink = SmtpSink("127.0.0.1", port)
    server = Controller(sink, hostname="127.0.0.1", port=port)
    slow = dataclasses.replace(settings, smtp_port=port, smtp_attempts=4, smtp_retry_delay=0.3)
    sending = asyncio.create_task(send_mail(slow, "x@example.com", "late", "b"))
    await asyncio.sleep(0.1)  # first attempt refused
    server.start()
    try:
        await sending
        assert [m.message["Subject"] for m in sink.messages] == ["late"]
    finally:
        server.stop()


async def test_permanent_refusal_is_not_retried(settings):
    try:
        from aiosmtpd.controller import Controller
    except ImportError:
        unavailable("aiosmtpd")

    class Refuser:
        calls = 0

        async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
            Refuser.calls += 1
            return "550 no such user here"

    port = _free_port()
    server = Controller(Refuser(), hostname="127.0.0.1", port=port)
    server.start()
    try:
        with pytest.raises(MailRejected):
            await send_mail(
                dataclasses.replace(settings, smtp_port=port, smtp_retry_delay=0.1),
                "nobody@example.com",
                "s",
                "b",
            )
        assert Refuser.calls == 1
    finally:
        server.stop()


@pytest.mark.parametrize(
    "to, subject",
    [
        ("victim@example.com\r\nBcc: other@example.com", "s"),
        ("victim@example.com", "hi\r\nBcc: other@example.com"),
        ("not-an-address", "s"),
        ([], "s"),
    ],
)
def test_header_injection_and_bad_addresses_are_refused_before_any_io(settings, to, subject):
    with pytest.raises(BadMessage):
        build_message(settings, to, subject, "b")
    assert issubclass(BadMessage, MailError)
