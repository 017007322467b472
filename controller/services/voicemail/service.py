"""Voicemail service functions, shared by the phone flows (ari_apps/voicemail) and the panel's
voicemail player: list, count, stream, save, delete, zip and store messages, and set or remove
the mailbox's greeting (recorded by phone or in the browser).

They take a synchronous SQLAlchemy Session (the panel's); the controller runs them on its
AsyncSession with `await session.run_sync(fn, ...)`. Every function that changes a mailbox
calls `notify(session, vn_id)` inside the same transaction, so the member's phones get an MWI
NOTIFY with the new counts whichever side made the change: pass `mwi.queue_mwi`, which defers
the NOTIFY to the controller through pg_notify (delivered only if the transaction commits).

Every lookup is scoped by the virtual number id: a message id of another mailbox is "not found".
"""

from __future__ import annotations

import datetime as dt
import io
import math
import re
import wave
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import CursorResult, Result, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session, defer

from controller.rules.clock import file_stamp
from db.models import Account, VirtualNumber, VoicemailGreeting, VoicemailMessage

MwiNotify = Callable[[Session, int], None]

NEW, SAVED = "new", "saved"
# a greeting, recorded by phone or in the panel: what the deposit plays before the beep
GREETING_MIN_SECONDS = 1.0
GREETING_MAX_SECONDS = 60
_FOLDER_ORDER = {NEW: 0, SAVED: 1}


@dataclass(frozen=True)
class Mailbox:
    vn_id: int
    number: str
    account_id: int
    account_active: bool
    voicemail_enabled: bool
    password_hash: str | None
    email: str
    language: str
    display_name: str


@dataclass(frozen=True)
class MessageInfo:
    id: int
    folder: str
    caller_name: str
    caller_number: str
    received_at: dt.datetime
    duration_seconds: float
    audio_format: str


# ----- reading
def mailbox(session: Session, number: str) -> Mailbox | None:
    row = session.execute(
        select(VirtualNumber, Account.status, Account.email, Account.language)
        .join(Account, Account.id == VirtualNumber.account_id)
        .where(VirtualNumber.number == number)
    ).first()
    if row is None:
        return None
    vn, status, email, language = row
    return Mailbox(
        vn.id,
        vn.number,
        vn.account_id,
        status == "active",
        vn.voicemail_enabled,
        vn.vm_password_hash,
        email or "",
        language or "en",
        vn.display_name or "",
    )


def list_messages(session: Session, vn_id: int, folder: str | None = None) -> list[MessageInfo]:
    """New messages first, then saved; oldest first within a folder (the order they are played)."""
    stmt = (
        select(VoicemailMessage)
        .options(defer(VoicemailMessage.audio))
        .where(VoicemailMessage.virtual_number_id == vn_id)
    )
    if folder is not None:
        stmt = stmt.where(VoicemailMessage.folder == folder)
    rows = session.scalars(stmt.order_by(VoicemailMessage.received_at, VoicemailMessage.id)).all()
    infos = [
        MessageInfo(
            m.id, m.folder, m.caller_name, m.caller_number, m.received_at, m.duration_seconds, m.audio_format
        )
        for m in rows
    ]
    return sorted(infos, key=lambda m: _FOLDER_ORDER.get(m.folder, 2))  # stable: keeps time order


def counts(session: Session, vn_id: int) -> tuple[int, int]:
    """(new, saved)."""
    rows = session.execute(
        select(VoicemailMessage.folder, func.count())
        .where(VoicemailMessage.virtual_number_id == vn_id)
        .group_by(VoicemailMessage.folder)
    ).all()
    by_folder: dict[str, int] = {folder: n for folder, n in rows}
    return int(by_folder.get(NEW, 0)), int(by_folder.get(SAVED, 0))


def get_audio(session: Session, vn_id: int, message_id: int) -> tuple[bytes, str] | None:
    """(audio, format such as "wav") of one message of this mailbox, or None."""
    row = session.execute(
        select(VoicemailMessage.audio, VoicemailMessage.audio_format).where(
            VoicemailMessage.id == message_id, VoicemailMessage.virtual_number_id == vn_id
        )
    ).first()
    return (bytes(row[0]), row[1]) if row else None


def get_greeting(session: Session, vn_id: int) -> tuple[bytes, str, dt.datetime] | None:
    row = session.execute(
        select(VoicemailGreeting.audio, VoicemailGreeting.audio_format, VoicemailGreeting.updated_at).where(
            VoicemailGreeting.virtual_number_id == vn_id
        )
    ).first()
    return (bytes(row[0]), row[1], row[2]) if row else None


def zip_messages(session: Session, vn_id: int, zone: dt.tzinfo = dt.UTC) -> bytes:
    """Every message of the mailbox in one zip ("Download all messages"), named so they sort
    in play order, with the time in the account's `zone`: new-001-20261126T101500-CST-13125550000.wav."""
    buf = io.BytesIO()
    numbering = {NEW: 0, SAVED: 0}
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for info in list_messages(session, vn_id):
            audio = get_audio(session, vn_id, info.id)
            if audio is None:  # deleted meanwhile
                continue
            numbering[info.folder] = numbering.get(info.folder, 0) + 1
            zf.writestr(message_file_name(info, numbering[info.folder], zone), audio[0])
    return buf.getvalue()


def message_file_name(info: MessageInfo, position: int, zone: dt.tzinfo = dt.UTC) -> str:
    stamp = file_stamp(info.received_at, zone, pattern="%Y%m%dT%H%M%S")
    caller = re.sub(r"[^0-9A-Za-z+]", "", info.caller_number)[:20] or "unknown"
    ext = re.sub(r"[^a-z0-9]", "", info.audio_format.lower()) or "wav"
    return f"{info.folder}-{position:03d}-{stamp}-{caller}.{ext}"


# ----- changing (each one notifies MWI)
def store_message(
    session: Session,
    vn_id: int,
    *,
    audio: bytes,
    duration_seconds: float,
    caller_name: str = "",
    caller_number: str = "",
    audio_format: str = "wav",
    notify: MwiNotify,
) -> int:
    """A new message in folder New; returns its id. Its length is the recording's own (what a
    player plays) when the audio is a readable WAV, else what the recorder reported."""
    measured = wav_seconds(audio) if audio_format == "wav" else 0.0
    message = VoicemailMessage(
        virtual_number_id=vn_id,
        folder=NEW,
        audio=audio,
        audio_format=audio_format,
        duration_seconds=round(measured or duration_seconds, 2),
        caller_name=_clean(caller_name, 80),
        caller_number=_clean(caller_number, 40),
    )
    session.add(message)
    session.flush()
    notify(session, vn_id)
    return message.id


def save_message(session: Session, vn_id: int, message_id: int, *, notify: MwiNotify) -> bool:
    """Move a message to Saved; False when this mailbox has no such message. Saving a saved
    message changes nothing (and sends no MWI)."""
    result = session.execute(
        update(VoicemailMessage)
        .where(
            VoicemailMessage.id == message_id,
            VoicemailMessage.virtual_number_id == vn_id,
            VoicemailMessage.folder == NEW,
        )
        .values(folder=SAVED)
    )
    if _rowcount(result):
        notify(session, vn_id)
        return True
    return (
        session.scalar(
            select(VoicemailMessage.id).where(
                VoicemailMessage.id == message_id, VoicemailMessage.virtual_number_id == vn_id
            )
        )
        is not None
    )


def delete_message(session: Session, vn_id: int, message_id: int, *, notify: MwiNotify) -> bool:
    result = session.execute(
        delete(VoicemailMessage).where(
            VoicemailMessage.id == message_id, VoicemailMessage.virtual_number_id == vn_id
        )
    )
    if _rowcount(result):
        notify(session, vn_id)
        return True
    return False


def set_greeting(session: Session, vn_id: int, *, audio: bytes, audio_format: str = "wav") -> None:
    """Make `audio` (an 8 kHz mono PCM WAV, see media.to_asterisk_wav) the greeting the deposit
    plays for this mailbox, replacing any previous one. No MWI: the counts do not change."""
    stmt = insert(VoicemailGreeting).values(virtual_number_id=vn_id, audio=audio, audio_format=audio_format)
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=[VoicemailGreeting.virtual_number_id],
            set_={
                "audio": stmt.excluded.audio,
                "audio_format": stmt.excluded.audio_format,
                "updated_at": func.now(),
            },
        )
    )


def delete_greeting(session: Session, vn_id: int) -> bool:
    """Back to the default greeting ("The person at extension ... is unavailable"); False when
    the mailbox had none."""
    result = session.execute(delete(VoicemailGreeting).where(VoicemailGreeting.virtual_number_id == vn_id))
    return bool(_rowcount(result))


def _rowcount(result: Result[Any]) -> int:
    """The rows an UPDATE or DELETE matched (Session.execute types its result as a plain Result)."""
    return cast("CursorResult[Any]", result).rowcount


def mark_emailed(session: Session, message_id: int) -> None:
    session.execute(
        update(VoicemailMessage).where(VoicemailMessage.id == message_id).values(emailed_at=func.now())
    )


# ----- audio
def whole_seconds(seconds: float | None) -> int:
    """A message's or greeting's length as the panel shows it, everywhere (list, player, email):
    whole seconds, halves rounded up (2.5 s is 00:03, as a browser's Math.round; Python's round
    would make it 00:02)."""
    return max(0, math.floor((seconds or 0.0) + 0.5))


def wav_seconds(audio: bytes) -> float:
    """Length of a WAV file in seconds (0.0 when it is not a readable PCM WAV)."""
    try:
        with wave.open(io.BytesIO(audio)) as w:
            rate = w.getframerate()
            return w.getnframes() / rate if rate else 0.0
    except (wave.Error, EOFError, ValueError):
        return 0.0


def _clean(value: str, limit: int) -> str:
    return "".join(c for c in (value or "") if c.isprintable())[:limit]
