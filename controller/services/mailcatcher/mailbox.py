"""The demo mailbox: a directory with one .eml file per message the catcher accepted.

A file is named after the moment it arrived (UTC, to the microsecond) plus a random tag, so
names sort by arrival and two messages never share one; that name, without .eml, is the
message's id in the panel's URLs, and only a name of exactly that shape is ever opened (an id
is never a path). A message is written to a hidden temporary file, flushed to disk, then
renamed into place: a reader sees whole messages only, and a message the catcher acknowledged
is on disk. The SMTP envelope (sender, every recipient, Bcc included) is kept in two headers
put before the message's own bytes, which are stored as received.
"""

from __future__ import annotations

import datetime as dt
import email.policy
import os
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.parser import BytesHeaderParser, BytesParser
from pathlib import Path
from typing import cast

SUFFIX = ".eml"
ENVELOPE_FROM = "X-Envelope-From"
ENVELOPE_TO = "X-Envelope-To"
_ID = re.compile(r"\d{8}T\d{6}\.\d{6}Z-[0-9a-f]{8}")
_STAMP = "%Y%m%dT%H%M%S.%fZ"
_HEADER_LIMIT = 256 * 1024  # headers beyond this are not read for the list (the message view reads all)


class NoSuchMessage(LookupError):
    """No message has that id (or the id is not the shape of one)."""


@dataclass(frozen=True)
class Summary:
    """What the list shows of one message."""

    id: str
    received_at: dt.datetime
    sender: str
    to: str
    subject: str


@dataclass(frozen=True)
class Part:
    """A part of a message other than its text body: an attachment, an HTML alternative..."""

    index: int
    filename: str
    content_type: str
    size: int


def received_at(message_id: str) -> dt.datetime:
    return dt.datetime.strptime(message_id.split("-", 1)[0], _STAMP).replace(tzinfo=dt.UTC)


def _clean(value: str) -> str:
    """An envelope address as one header line (SMTP lines cannot hold CR/LF; be sure anyway)."""
    return "".join(c for c in value if ord(c) >= 32 and ord(c) != 127)


class Mailbox:
    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    # --- writing (the catcher) ---------------------------------------------------------------

    def deliver(self, content: bytes, mail_from: str, rcpt_tos: Sequence[str]) -> str:
        """Keep one message (its bytes as received over SMTP) and return its id, once on disk."""
        self.directory.mkdir(parents=True, exist_ok=True)
        now = dt.datetime.now(dt.UTC)
        message_id = f"{now.strftime(_STAMP)}-{secrets.token_hex(4)}"
        envelope = (
            f"{ENVELOPE_FROM}: {_clean(mail_from) or '<>'}\n"
            f"{ENVELOPE_TO}: {', '.join(_clean(r) for r in rcpt_tos)}\n"
        ).encode()
        # mail files on disk end lines with LF (as Maildir and mbox readers expect)
        data = envelope + content.replace(b"\r\n", b"\n")
        tmp = self.directory / f".{message_id}.tmp"
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self._path(message_id))
        # the rename itself is durable once the directory is synced
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        return message_id

    # --- reading (the panel) -----------------------------------------------------------------

    def ids(self) -> list[str]:
        """Every message's id, newest first."""
        try:
            names = os.listdir(self.directory)
        except FileNotFoundError:
            return []
        found = [n[: -len(SUFFIX)] for n in names if n.endswith(SUFFIX)]
        return sorted((i for i in found if _ID.fullmatch(i)), reverse=True)

    def summaries(self, ids: Iterable[str]) -> list[Summary]:
        out = []
        for message_id in ids:
            try:
                headers = self._headers(message_id)
            except NoSuchMessage:  # removed since it was listed
                continue
            out.append(
                Summary(
                    id=message_id,
                    received_at=received_at(message_id),
                    sender=str(headers.get("From", "") or headers.get(ENVELOPE_FROM, "")),
                    to=str(headers.get("To", "") or headers.get(ENVELOPE_TO, "")),
                    subject=str(headers.get("Subject", "")),
                )
            )
        return out

    def raw(self, message_id: str) -> bytes:
        try:
            return self._path(message_id).read_bytes()
        except FileNotFoundError:
            raise NoSuchMessage(message_id) from None

    def message(self, message_id: str) -> EmailMessage:
        return BytesParser(policy=email.policy.default).parsebytes(self.raw(message_id))

    def _headers(self, message_id: str) -> EmailMessage:
        """The header block only: a list page need not read every voicemail WAV it names."""
        head = b""
        try:
            with open(self._path(message_id), "rb") as f:
                while b"\n\n" not in head and len(head) < _HEADER_LIMIT:
                    chunk = f.read(8192)
                    if not chunk:
                        break
                    head += chunk
        except FileNotFoundError:
            raise NoSuchMessage(message_id) from None
        head = head.split(b"\n\n", 1)[0] + b"\n\n"
        return BytesHeaderParser(policy=email.policy.default).parsebytes(head)

    def _path(self, message_id: str) -> Path:
        if not _ID.fullmatch(message_id):
            raise NoSuchMessage(message_id)
        return self.directory / f"{message_id}{SUFFIX}"


def text_body(msg: EmailMessage) -> EmailMessage | None:
    """The part shown as the message's text: plain text, else HTML (shown as its source)."""
    return cast(EmailMessage | None, msg.get_body(preferencelist=("plain", "html")))


def text_of(part: EmailMessage) -> str:
    """A text part's content; an unknown or lying charset still shows, with replacement marks."""
    try:
        return str(part.get_content())
    except (LookupError, UnicodeError):
        return part_bytes(part).decode("utf-8", errors="replace")


def other_parts(msg: EmailMessage) -> list[tuple[Part, EmailMessage]]:
    """Every leaf part but the text body, numbered in the message's order (the download URLs
    use these numbers): attachments such as a voicemail WAV, a fax PDF, an invite's .ics."""
    body = text_body(msg)
    parts: list[tuple[Part, EmailMessage]] = []
    for part in msg.walk():
        if part.is_multipart() or part is body:
            continue
        payload = part.get_payload(decode=True)
        size = len(payload) if isinstance(payload, bytes) else 0
        index = len(parts)
        name = _safe_filename(part.get_filename() or "") or f"part-{index + 1}"
        parts.append((Part(index, name, part.get_content_type(), size), part))
    return parts


def part_bytes(part: EmailMessage) -> bytes:
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


def _safe_filename(name: str) -> str:
    """A sender's file name as a download name: no directories, no control characters."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    return "".join(c for c in name if ord(c) >= 32 and ord(c) != 127).strip().lstrip(".")
