"""The catcher's SMTP side: aiosmtpd on VOIP_SMTP_HOST:VOIP_SMTP_PORT (the address the mailer
sends to), answering 250 only once a message is on disk in the mailbox, and 451 (the mailer
retries a 4xx) when it cannot be written: a message is kept or its sender knows it was not.

It takes any sender and any recipient and relays nothing: it is for a loopback demo, never an
address other hosts can reach.
"""

from __future__ import annotations

import asyncio
import logging

from aiosmtpd.smtp import SMTP, Envelope, Session

from controller.services.mailcatcher.mailbox import Mailbox
from controller.settings import Settings

log = logging.getLogger("controller.services.mailcatcher")

# a voicemail of VOIP_VM_MAX_MESSAGE seconds or a long fax, base64-encoded, fits with room
DATA_SIZE_LIMIT = 64 * 1024 * 1024


class Catcher:
    """aiosmtpd's handler: every message DATA brings goes into the mailbox."""

    def __init__(self, mailbox: Mailbox) -> None:
        self.mailbox = mailbox

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        mail_from = envelope.mail_from or ""
        rcpt_tos = list(envelope.rcpt_tos)
        try:
            # a thread: the fsync must not stall the other sessions
            message_id = await asyncio.to_thread(self.mailbox.deliver, content, mail_from, rcpt_tos)
        except OSError as exc:
            log.error("mail not kept", extra={"error": f"{exc.__class__.__name__}: {exc}"[:300]})
            return "451 Requested action aborted: the mailbox cannot be written"
        log.info("mail caught", extra={"id": message_id, "to": ", ".join(rcpt_tos), "bytes": len(content)})
        return f"250 OK kept as {message_id}"


async def start(settings: Settings, mailbox: Mailbox) -> asyncio.Server:
    """Listening once this returns (a port already taken raises OSError here)."""
    catcher = Catcher(mailbox)
    loop = asyncio.get_running_loop()

    def session() -> SMTP:
        # a fixed hostname: aiosmtpd's default looks the host's FQDN up, which can stall
        return SMTP(
            catcher,
            hostname="mailcatcher.voip.local",
            ident="voip demo mail catcher",
            enable_SMTPUTF8=True,
            data_size_limit=DATA_SIZE_LIMIT,
        )

    return await loop.create_server(session, host=settings.smtp_host, port=settings.smtp_port)


async def serve(settings: Settings, mailbox: Mailbox, stop: asyncio.Event) -> None:
    server = await start(settings, mailbox)
    log.info(
        "mail catcher listening",
        extra={"host": settings.smtp_host, "port": settings.smtp_port, "mailbox": str(mailbox.directory)},
    )
    await stop.wait()
    server.close()
    log.info("mail catcher stopped")
