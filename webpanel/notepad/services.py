"""Notepad: one note per user; save, clear, and email it to an address.

Emails go through controller.services.mailer (the same SMTP path as voicemail and fax mail). A member
can send a few notes an hour, not more: the panel must not become a way to spam anyone.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from controller.settings import Settings
from db.audit import audit
from db.errors import ServiceError
from db.models import AuditLog, Note, User
from webpanel.filters import number
from webpanel.i18n import _
from webpanel.validation import check_email

MAX_NOTE = 20000  # the notes.body_length check
EMAILS_PER_HOUR = 10
PANEL_SMTP_TIMEOUT = 10.0  # a member waits for this request: fail fast


def note_body(session: Session, user: User) -> str:
    note = session.get(Note, user.id)
    return note.body if note is not None else ""


def save_note(session: Session, user: User, body: str) -> Note:
    body = (body or "").replace("\r\n", "\n")
    if len(body) > MAX_NOTE:
        raise ServiceError(
            _(
                "A note has at most %(limit)s characters; this one has %(count)s.",
                limit=number(MAX_NOTE),
                count=number(len(body)),
            )
        )
    note = session.get(Note, user.id)
    if note is None:
        note = Note(user_id=user.id, body=body)
        session.add(note)
    else:
        note.body = body
    session.flush()
    return note


def clear_note(session: Session, user: User) -> None:
    note = session.get(Note, user.id)
    if note is not None:
        session.delete(note)
        session.flush()


def email_note(
    session: Session,
    settings: Settings,
    user: User,
    to: str,
    body: str,
    *,
    remote_addr: str = "",
    now: dt.datetime | None = None,
) -> None:
    """Send `body` to `to`. Raises ServiceError with a message for the member when the note
    or the address is wrong, the hourly limit is reached, or the mail server fails."""
    from controller.services import mailer

    to = check_email(to)
    body = (body or "").replace("\r\n", "\n")
    if not body.strip():
        raise ServiceError(_("The note is empty: type your note before sending it."))
    if len(body) > MAX_NOTE:
        raise ServiceError(
            _(
                "A note has at most %(limit)s characters; this one has %(count)s.",
                limit=number(MAX_NOTE),
                count=number(len(body)),
            )
        )
    now = now or dt.datetime.now(dt.UTC)
    sent = session.scalars(
        select(func.count())
        .select_from(AuditLog)
        .where(
            AuditLog.actor_user_id == user.id,
            AuditLog.action == "notepad.email",
            AuditLog.at > now - dt.timedelta(hours=1),
        )
    ).one()
    if sent >= EMAILS_PER_HOUR:
        raise ServiceError(
            _("You can email at most %(count)s notes an hour; please try later.", count=EMAILS_PER_HOUR)
        )
    quick = dataclasses.replace(
        settings, smtp_attempts=1, smtp_timeout=min(settings.smtp_timeout, PANEL_SMTP_TIMEOUT)
    )
    subject = _("Note from %(login)s", login=user.login)
    try:
        mailer.send_mail_blocking(quick, to, subject, body)
    except mailer.BadMessage:
        raise ServiceError(_("That email address cannot receive mail.")) from None
    except mailer.MailRejected:
        raise ServiceError(_("The mail server refused that address. Check it and try again.")) from None
    except mailer.MailError:
        raise ServiceError(
            _(
                "The note could not be sent right now (the mail server did not answer). "
                "Please try again later."
            )
        ) from None
    audit(
        session,
        "notepad.email",
        actor=user,
        account_id=user.account_id,
        details={"to_domain": to.rpartition("@")[2]},
        remote_addr=remote_addr,
    )
    session.flush()
