"""The player's view of a mailbox, on top of the shared voicemail service functions
(controller.services.voicemail.service): the phone menu and the panel list, save, delete and keep
greetings through the same code, and every change queues MWI the same way (mwi.queue_mwi,
a pg_notify delivered on commit to the controller, which NOTIFYs the member's phones).

A mailbox is a virtual number the user may see (access.number_scope): every number of the
account for the primary holder, only their own for a secondary user. A message id outside
those mailboxes is "not found".
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from controller.services.voicemail import mwi, service
from db.audit import audit
from db.models import User, VirtualNumber, VoicemailMessage
from webpanel import access
from webpanel.i18n import _
from webpanel.voicemail.audio import GreetingAudioError, to_greeting_wav


class NotFound(Exception):
    """Not one of the user's mailboxes or messages (the view answers 404)."""


@dataclass(frozen=True)
class Greeting:
    custom: bool
    seconds: float = 0.0
    updated_at: dt.datetime | None = None


@dataclass(frozen=True)
class Player:
    box: VirtualNumber
    messages: list[service.MessageInfo]
    current: service.MessageInfo | None
    new: int
    saved: int
    greeting: Greeting

    @property
    def index(self) -> int:
        return self.messages.index(self.current) if self.current else -1

    @property
    def previous(self) -> service.MessageInfo | None:
        return self.messages[self.index - 1] if self.current and self.index > 0 else None

    @property
    def next(self) -> service.MessageInfo | None:
        if self.current and self.index + 1 < len(self.messages):
            return self.messages[self.index + 1]
        return None

    def position(self, info: service.MessageInfo) -> int:
        """1-based within its folder: "New 2", "Saved 1"."""
        return [m.id for m in self.messages if m.folder == info.folder].index(info.id) + 1

    @property
    def total_seconds(self) -> float:
        return sum(service.whole_seconds(m.duration_seconds) for m in self.messages)


def mailboxes(session: Session, user: User) -> list[VirtualNumber]:
    return list(session.scalars(access.visible_numbers(user)))


def mailbox(
    session: Session, user: User, number: str | None, boxes: list[VirtualNumber] | None = None
) -> VirtualNumber:
    """The mailbox asked for (by its digits), else the user's own number, else the first
    (among `boxes`, the user's `mailboxes` when the caller has them already)."""
    boxes = mailboxes(session, user) if boxes is None else boxes
    if number:
        for vn in boxes:
            if vn.number == number:
                return vn
        raise NotFound(number)
    for vn in boxes:
        if vn.id == user.virtual_number_id or vn.number == user.login:
            return vn
    if not boxes:
        raise NotFound("no mailbox")
    return boxes[0]


def message_mailbox(session: Session, user: User, message_id: int) -> VirtualNumber:
    """The mailbox of message `message_id`, when the user may see it."""
    vn = session.scalar(
        select(VirtualNumber)
        .join(VoicemailMessage, VoicemailMessage.virtual_number_id == VirtualNumber.id)
        .where(VoicemailMessage.id == message_id, access.number_scope(user))
    )
    if vn is None:
        raise NotFound(message_id)
    return vn


def player(session: Session, box: VirtualNumber, message_id: int | None = None) -> Player:
    messages = service.list_messages(session, box.id)
    current = messages[0] if messages else None
    if message_id is not None:
        current = next((m for m in messages if m.id == message_id), None)
        if current is None:
            raise NotFound(message_id)
    # the counts from the list just read (every message of the box): one query fewer
    new = sum(1 for m in messages if m.folder == service.NEW)
    saved = sum(1 for m in messages if m.folder == service.SAVED)
    return Player(box, messages, current, new, saved, greeting(session, box))


def greeting(session: Session, box: VirtualNumber) -> Greeting:
    row = service.get_greeting(session, box.id)
    if row is None:
        return Greeting(custom=False)
    audio, _format, updated_at = row
    return Greeting(custom=True, seconds=service.wav_seconds(audio), updated_at=updated_at)


def save(session: Session, box: VirtualNumber, message_id: int) -> bool:
    """New -> Saved (MWI queued when the counts change); False when it is gone."""
    return service.save_message(session, box.id, message_id, notify=mwi.queue_mwi)


def delete(
    session: Session, box: VirtualNumber, message_id: int, *, actor: User | None = None, remote_addr: str = ""
) -> bool:
    """Audited (who deleted a message, from where: a member may ask where it went)."""
    deleted = service.delete_message(session, box.id, message_id, notify=mwi.queue_mwi)
    if deleted:
        _audit(session, "voicemail.delete", box, actor, remote_addr, {"message_id": message_id})
    return deleted


def set_greeting(
    session: Session, box: VirtualNumber, upload: bytes, *, actor: User | None = None, remote_addr: str = ""
) -> float:
    """Convert an uploaded recording and make it the mailbox's greeting; returns its length.
    GreetingAudioError (nothing changed) when it is not a usable recording."""
    wav, seconds = to_greeting_wav(upload)
    service.set_greeting(session, box.id, audio=wav)
    _audit(session, "voicemail.greeting", box, actor, remote_addr, {"seconds": round(seconds, 1)})
    return seconds


def default_greeting(
    session: Session, box: VirtualNumber, *, actor: User | None = None, remote_addr: str = ""
) -> bool:
    had = service.delete_greeting(session, box.id)
    if had:
        _audit(session, "voicemail.greeting_default", box, actor, remote_addr, {})
    return had


def _audit(
    session: Session,
    action: str,
    box: VirtualNumber,
    actor: User | None,
    remote_addr: str,
    details: dict,
) -> None:
    audit(
        session,
        action,
        actor=actor,
        account_id=box.account_id,
        obj=box,
        details={"number": box.number, **details},
        remote_addr=remote_addr,
    )


def greeting_error_message(exc: GreetingAudioError) -> str:
    limit = service.GREETING_MAX_SECONDS
    return {
        "empty": _("The recording is empty. Please record your greeting again."),
        "too_large": _(
            "The recording is too large. A greeting can be at most %(seconds)s seconds long.", seconds=limit
        ),
        "format": _(
            "That file is not a recording the panel can use. Record in the browser, or "
            "upload a WebM, Ogg, MP4 or WAV audio file."
        ),
        "converter_missing": _(
            "The greeting could not be converted on the server. Please try again later or contact support."
        ),
        "undecodable": _("The recording could not be read. Please record your greeting again."),
        "too_short": _(
            "The greeting is too short: speak for at least %(seconds)s second(s).",
            seconds=int(service.GREETING_MIN_SECONDS),
        ),
        "too_long": _("The greeting is too long: at most %(seconds)s seconds.", seconds=limit),
        "silent": _(
            "The recording is silent. Check that your microphone is connected and allowed, then record again."
        ),
    }.get(exc.code, _("The recording could not be used."))
