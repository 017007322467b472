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

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from controller.services.voicemail import mwi, service
from db.audit import audit
from db.models import User, VirtualNumber, VoicemailGreeting, VoicemailMessage
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
class Box:
    """A mailbox: the virtual number's columns the player and its actions use (read as
    columns, not ORM objects: issue 16, CPU)."""

    id: int
    number: str
    display_name: str | None
    voicemail_enabled: bool
    account_id: int
    # the greeting's (updated_at, size, first bytes) when read with the box (None: no greeting)
    greeting_row: tuple[dt.datetime, int, bytes] | None = None
    greeting_read: bool = False


_BOX_COLUMNS = (
    VirtualNumber.id,
    VirtualNumber.number,
    VirtualNumber.display_name,
    VirtualNumber.voicemail_enabled,
    VirtualNumber.account_id,
)


_HEAD_BYTES = 256  # a WAV's header (RIFF, fmt, data chunk header: 44 bytes in ours) fits
_GREETING_COLUMNS = (
    VoicemailGreeting.updated_at,
    func.octet_length(VoicemailGreeting.audio),
    func.substring(VoicemailGreeting.audio, 1, _HEAD_BYTES),
)
_GREETING = select(*_GREETING_COLUMNS).where(VoicemailGreeting.virtual_number_id == bindparam("vn_id"))


# access.visible_numbers' query (its scope added per user) as mailboxes with their greeting's
# header, built once (a statement built per request costs more CPU than the query: issue 16)
_BOXES = (
    select(*_BOX_COLUMNS, *_GREETING_COLUMNS)
    .outerjoin(VoicemailGreeting, VoicemailGreeting.virtual_number_id == VirtualNumber.id)
    .order_by(VirtualNumber.number)
)


@dataclass(frozen=True)
class Player:
    box: Box
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


def mailboxes(session: Session, user: User) -> list[Box]:
    """The user's mailboxes, each with its greeting's header (the player shows one's length)."""
    stmt = _BOXES.where(access.number_scope(user))  # as access.visible_numbers
    return [
        Box(id_, number, name, enabled, account_id, None if size is None else (at, size, head), True)
        for id_, number, name, enabled, account_id, at, size, head in session.execute(stmt)
    ]


def mailbox(session: Session, user: User, number: str | None, boxes: list[Box] | None = None) -> Box:
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


def message_mailbox(session: Session, user: User, message_id: int) -> Box:
    """The mailbox of message `message_id`, when the user may see it."""
    row = session.execute(
        select(*_BOX_COLUMNS)
        .join(VoicemailMessage, VoicemailMessage.virtual_number_id == VirtualNumber.id)
        .where(VoicemailMessage.id == message_id, access.number_scope(user))
    ).first()
    if row is None:
        raise NotFound(message_id)
    return Box(*row)


# service.list_messages' rows, read as columns (no ORM objects: issue 16, CPU)
_MESSAGES = (
    select(
        VoicemailMessage.id,
        VoicemailMessage.folder,
        VoicemailMessage.caller_name,
        VoicemailMessage.caller_number,
        VoicemailMessage.received_at,
        VoicemailMessage.duration_seconds,
        VoicemailMessage.audio_format,
    )
    .where(VoicemailMessage.virtual_number_id == bindparam("vn_id"))
    .order_by(VoicemailMessage.received_at, VoicemailMessage.id)
)
_FOLDER_ORDER = {service.NEW: 0, service.SAVED: 1}


def messages(session: Session, vn_id: int) -> list[service.MessageInfo]:
    """service.list_messages(session, vn_id): new first, then saved, oldest first in each."""
    infos = [service.MessageInfo(*row) for row in session.execute(_MESSAGES, {"vn_id": vn_id})]
    return sorted(infos, key=lambda m: _FOLDER_ORDER.get(m.folder, 2))  # stable: keeps time order


def player(session: Session, box: Box, message_id: int | None = None) -> Player:
    messages_ = messages(session, box.id)
    current = messages_[0] if messages_ else None
    if message_id is not None:
        current = next((m for m in messages_ if m.id == message_id), None)
        if current is None:
            raise NotFound(message_id)
    # the counts from the list just read (every message of the box): one query fewer
    new = sum(1 for m in messages_ if m.folder == service.NEW)
    saved = sum(1 for m in messages_ if m.folder == service.SAVED)
    return Player(box, messages_, current, new, saved, greeting(session, box))


def greeting(session: Session, box: Box) -> Greeting:
    """The greeting's length from its WAV header (not the whole recording, on every page)."""
    row = box.greeting_row if box.greeting_read else session.execute(_GREETING, {"vn_id": box.id}).first()
    if row is None:
        return Greeting(custom=False)
    updated_at, size, head = row
    seconds = service.wav_seconds(bytes(head))
    if not seconds and size > len(head):  # a header longer than the head read: the whole file
        full = service.get_greeting(session, box.id)
        seconds = service.wav_seconds(full[0]) if full is not None else 0.0
    return Greeting(custom=True, seconds=seconds, updated_at=updated_at)


def save(session: Session, box: Box, message_id: int) -> bool:
    """New -> Saved (MWI queued when the counts change); False when it is gone."""
    return service.save_message(session, box.id, message_id, notify=mwi.queue_mwi)


def delete(
    session: Session, box: Box, message_id: int, *, actor: User | None = None, remote_addr: str = ""
) -> bool:
    """Audited (who deleted a message, from where: a member may ask where it went)."""
    deleted = service.delete_message(session, box.id, message_id, notify=mwi.queue_mwi)
    if deleted:
        _audit(session, "voicemail.delete", box, actor, remote_addr, {"message_id": message_id})
    return deleted


def set_greeting(
    session: Session, box: Box, upload: bytes, *, actor: User | None = None, remote_addr: str = ""
) -> float:
    """Convert an uploaded recording and make it the mailbox's greeting; returns its length.
    GreetingAudioError (nothing changed) when it is not a usable recording."""
    wav, seconds = to_greeting_wav(upload)
    service.set_greeting(session, box.id, audio=wav)
    _audit(session, "voicemail.greeting", box, actor, remote_addr, {"seconds": round(seconds, 1)})
    return seconds


def default_greeting(session: Session, box: Box, *, actor: User | None = None, remote_addr: str = "") -> bool:
    had = service.delete_greeting(session, box.id)
    if had:
        _audit(session, "voicemail.greeting_default", box, actor, remote_addr, {})
    return had


def _audit(
    session: Session,
    action: str,
    box: Box,
    actor: User | None,
    remote_addr: str,
    details: dict,
) -> None:
    audit(
        session,
        action,
        actor=actor,
        account_id=box.account_id,
        object_type=VirtualNumber.__tablename__,
        object_id=box.id,
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
