"""Outgoing email over SMTP, shared by fax-to-email, voicemail and conference invites.

smtplib runs in a worker thread so a slow or dead mail server never blocks the event loop.
Connection trouble (refused, reset, timeout, a 4xx answer) is retried a few times with
exponential backoff; a permanent refusal (5xx, bad address, failed login) is not retried.
Every failure surfaces as a MailError, so callers catch one type and decide what to keep.

Synchronous callers (the panel's requests and background jobs) use the `_blocking` variants,
the one bridge from their thread to this asyncio code.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import smtplib
import ssl
from collections.abc import Coroutine, Iterable, Sequence
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid, parseaddr
from typing import Any

from controller.settings import Settings

log = logging.getLogger("controller.services.mailer")

Attachment = tuple[str, bytes, str]  # (file name, content, MIME type such as "application/pdf")


class MailError(Exception):
    """The message could not be handed to the SMTP server."""

    permanent = False


class MailUnavailable(MailError):
    """The server could not be reached or kept failing transiently, after every retry."""


class MailRejected(MailError):
    """The server refused the message, a recipient or our login: retrying will not help."""

    permanent = True


class BadMessage(MailError):
    """The message itself is malformed (address or header with control characters...)."""

    permanent = True


def _address(addr: str) -> str:
    if any(ord(c) < 32 or ord(c) == 127 for c in addr):
        raise BadMessage("control characters in an email address")
    name, email = parseaddr(addr)
    if not email or "@" not in email or " " in email:
        raise BadMessage(f"not an email address: {addr[:80]!r}")
    return formataddr((name, email)) if name else email


def build_message(
    settings: Settings,
    to: str | Sequence[str],
    subject: str,
    body: str,
    attachments: Iterable[Attachment] = (),
) -> EmailMessage:
    """The message as it will be sent: plain-text body, one MIME part per attachment."""
    recipients = [to] if isinstance(to, str) else list(to)
    if not recipients:
        raise BadMessage("no recipient")
    if any(c in subject for c in "\r\n"):
        raise BadMessage("line break in the subject")
    msg = EmailMessage()
    msg["From"] = _address(settings.mail_from)
    msg["To"] = ", ".join(_address(r) for r in recipients)
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = make_msgid(domain=parseaddr(settings.mail_from)[1].partition("@")[2] or None)
    msg.set_content(body)
    for filename, content, mimetype in attachments:
        maintype, _, subtype = mimetype.partition("/")
        if not subtype:
            raise BadMessage(f"bad MIME type {mimetype!r}")
        msg.add_attachment(content, maintype=maintype, subtype=subtype, filename=filename)
    return msg


def _deliver(settings: Settings, msg: EmailMessage) -> None:
    """One blocking attempt (runs in a worker thread)."""
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout) as smtp:
        if settings.smtp_starttls:
            smtp.starttls(context=ssl.create_default_context())
        if settings.smtp_user:
            smtp.login(settings.smtp_user, settings.smtp_password)
        smtp.send_message(msg)


def _transient(exc: Exception) -> bool:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(400 <= code < 500 for code, _ in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return False
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500
    # SMTPServerDisconnected, SMTPConnectError (a subclass of the above, handled there),
    # ConnectionRefusedError, socket timeouts, DNS failures: all OSError or SMTPException
    return isinstance(exc, (OSError, smtplib.SMTPServerDisconnected))


async def send_message(settings: Settings, msg: EmailMessage) -> None:
    attempts = max(1, settings.smtp_attempts)
    delay = settings.smtp_retry_delay
    for attempt in range(1, attempts + 1):
        try:
            await asyncio.to_thread(_deliver, settings, msg)
            log.info("mail sent", extra={"to": msg["To"], "subject": msg["Subject"], "attempt": attempt})
            return
        except (smtplib.SMTPException, OSError) as exc:
            reason = f"{exc.__class__.__name__}: {exc}"[:300]
            if not _transient(exc):
                log.error("mail rejected", extra={"to": msg["To"], "error": reason})
                raise MailRejected(reason) from exc
            if attempt == attempts:
                log.error(
                    "mail server unavailable", extra={"to": msg["To"], "error": reason, "attempts": attempts}
                )
                raise MailUnavailable(f"after {attempts} attempts: {reason}") from exc
            log.warning(
                "mail attempt failed, retrying",
                extra={"to": msg["To"], "error": reason, "attempt": attempt, "retry_in": delay},
            )
            await asyncio.sleep(delay)
            delay *= 2


async def send_mail(
    settings: Settings,
    to: str | Sequence[str],
    subject: str,
    body: str,
    attachments: Iterable[Attachment] = (),
) -> None:
    """Send a plain-text email with attachments; raises MailError (never smtplib's errors)."""
    await send_message(settings, build_message(settings, to, subject, body, attachments))


def send_message_blocking(settings: Settings, msg: EmailMessage) -> None:
    """send_message for synchronous code: returns once the message is sent, or raises MailError."""
    _wait(send_message(settings, msg))


def send_mail_blocking(
    settings: Settings,
    to: str | Sequence[str],
    subject: str,
    body: str,
    attachments: Iterable[Attachment] = (),
) -> None:
    """send_mail for synchronous code: returns once the message is sent, or raises MailError."""
    _wait(send_mail(settings, to, subject, body, attachments))


def _wait(coro: Coroutine[Any, Any, None]) -> None:
    """Run the coroutine to completion: in this thread when it runs no event loop (a sync web
    worker, a background thread), else in a helper thread (asyncio.run cannot nest)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(coro)
        return
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, coro).result()
