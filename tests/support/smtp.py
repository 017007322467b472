"""A real SMTP server (aiosmtpd) on loopback that keeps every message it accepts.

Function-scoped on purpose: each test that expects mail gets a fresh, empty server on
VOIP_SMTP_PORT, and a test that does NOT request it sees the port closed (SMTP down).
Import the fixture into a conftest: `from tests.support.smtp import smtp_server  # noqa: F401`.
"""

from __future__ import annotations

import email
import email.policy
from dataclasses import dataclass, field
from email.message import EmailMessage

import pytest

from tests.support.realparts import unavailable
from tests.support.wait import until


@dataclass
class ReceivedMail:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage

    def attachments(self) -> list[tuple[str | None, bytes, str]]:
        return [
            (part.get_filename(), part.get_content(), part.get_content_type())
            for part in self.message.iter_attachments()
        ]


@dataclass
class SmtpSink:
    host: str
    port: int
    messages: list[ReceivedMail] = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope) -> str:  # aiosmtpd handler hook
        raw = (envelope.original_content or envelope.content).replace(b"\r\n", b"\n")
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        self.messages.append(ReceivedMail(envelope.mail_from, list(envelope.rcpt_tos), msg))
        return "250 Message accepted"

    async def wait_for(self, count: int = 1, timeout: float = 15) -> list[ReceivedMail]:
        await until(
            lambda: len(self.messages) >= count,
            timeout=timeout,
            what=f"{count} message(s) at the SMTP server",
        )
        return self.messages


@pytest.fixture()
def smtp_server(settings):
    try:
        from aiosmtpd.controller import Controller
    except ImportError:
        unavailable("aiosmtpd")
    sink = SmtpSink(settings.smtp_host, settings.smtp_port)
    server = Controller(sink, hostname=settings.smtp_host, port=settings.smtp_port)
    server.start()
    try:
        yield sink
    finally:
        server.stop()
