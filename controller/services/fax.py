"""Fax-to-email: what ReceiveFAX produced -> a stored fax (PDF) -> an email to the DID's address.

The pure part (TIFF -> PDF, reading the fax stack's variables, deciding received/failed) does no
I/O; `store_and_email` does it in an order that never loses a fax: the row is committed first,
the TIFF is removed only after that, and a mail failure leaves the row with `emailed_at` NULL.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageSequence
from sqlalchemy import func, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from controller.services.mailer import Attachment, MailError, send_mail
from controller.settings import Settings
from db.models import Fax

log = logging.getLogger("controller.services.fax")

STATUS_RECEIVED = "received"
STATUS_FAILED = "failed"
PPM_PER_DPI = 1 / 0.0254  # res_fax reports resolutions in pixels per metre

SendMail = Callable[[Settings, str, str, str, Sequence[Attachment]], Awaitable[None]]


class FaxImageError(Exception):
    """The received file is not a readable fax image."""


@dataclass(frozen=True)
class FaxOutcome:
    """What the fax stack said about one reception (FAXSTATUS, FAXERROR, ...)."""

    success: bool
    error: str = ""
    remote_station_id: str = ""
    pages: int = 0
    resolution: str = ""
    transfer_rate: str = ""
    caller_number: str = ""
    mode: str = ""  # how the fax came: "audio" (G.711) or "T38" (res_fax's FAXMODE)


@dataclass(frozen=True)
class FaxDocument:
    pdf: bytes
    pages: int
    dpi: tuple[int, int]


@dataclass(frozen=True)
class StoredFax:
    id: int
    status: str
    pages: int
    emailed: bool
    error: str


def _int(text: str | None) -> int:
    m = re.match(r"\s*(\d+)", text or "")
    return int(m.group(1)) if m else 0


def resolution_dpi(raw: str | None) -> str:
    """res_fax's FAXRESOLUTION ('8031x7700', pixels per metre) as dots per inch ('204x196')."""
    m = re.fullmatch(r"\s*(\d+)\s*x\s*(\d+)\s*", raw or "")
    if not m:
        return (raw or "").strip()[:40]
    x, y = int(m.group(1)), int(m.group(2))
    if not x or not y:
        return ""  # "0x0": no page was exchanged
    if x > 1000:  # pixels per metre: no fax is sent at 1000 dpi
        x, y = round(x / PPM_PER_DPI), round(y / PPM_PER_DPI)
    return f"{x}x{y}"


def outcome_from_variables(values: dict[str, str | None], caller_number: str = "") -> FaxOutcome:
    """The FaxOutcome for the channel variables ReceiveFAX left (None: unset or unreadable)."""
    status = (values.get("FAXSTATUS") or "").strip().upper()
    error = (values.get("FAXERROR") or "").strip()
    detail = (values.get("FAXOPT(statusstr)") or "").strip()
    success = status == "SUCCESS"
    if not success:
        if not status:
            error = error or "no fax status: the call ended before the fax stack reported"
        if detail and detail.lower() not in error.lower():
            error = f"{error}: {detail}" if error else detail
        error = error or "fax failed"
    pages = _int(values.get("FAXPAGES"))
    # with no page exchanged the bit rate is only the modem's starting offer
    rate = _int(values.get("FAXBITRATE")) if success or pages else 0
    mode = (values.get("FAXMODE") or "").strip()[:10]
    return FaxOutcome(
        success=success,
        error="" if success else error[:255],
        remote_station_id=(values.get("REMOTESTATIONID") or "").strip()[:40],
        pages=pages,
        resolution=resolution_dpi(values.get("FAXRESOLUTION")),
        transfer_rate=str(rate) if rate else "",
        caller_number=caller_number[:40],
        mode=mode,
    )


def tiff_to_pdf(tiff: bytes) -> FaxDocument:
    """Every page of a (possibly partial) fax TIFF as one PDF, pages at their fax resolution.

    A reception that broke off can leave a last page that does not decode: the pages before it
    are kept. A file with no readable page raises FaxImageError."""
    # The file came off a phone line: Pillow's parser raises many kinds of errors on a broken
    # one (OSError, ValueError, TypeError "Missing dimensions", KeyError...); all mean "unreadable".
    try:
        image = Image.open(io.BytesIO(tiff))
    except Exception as exc:
        raise FaxImageError(f"not a fax image: {exc.__class__.__name__}: {exc}") from exc
    pages: list[Image.Image] = []
    dpi: tuple[int, int] | None = None
    try:
        for frame in ImageSequence.Iterator(image):
            try:
                frame.load()
            except Exception as exc:
                log.warning(
                    "fax page unreadable, keeping the pages before it",
                    extra={"page": len(pages) + 1, "error": str(exc)},
                )
                break
            x, y = (round(v) for v in frame.info.get("dpi", (204, 196)))
            page = frame.convert("1") if frame.mode != "1" else frame.copy()
            if dpi is None:
                dpi = (x or 204, y or 196)
            elif (x, y) != dpi and x and y:
                # one PDF has one resolution here: rescale a page sent at another one
                page = page.resize((round(page.width * dpi[0] / x), round(page.height * dpi[1] / y)))
            pages.append(page)
    except Exception as exc:
        log.warning("fax image ends early", extra={"pages": len(pages), "error": str(exc)})
    if not pages or dpi is None:
        raise FaxImageError("no readable page in the fax image")
    out = io.BytesIO()
    pages[0].save(
        out,
        format="PDF",
        save_all=True,
        append_images=pages[1:],
        dpi=dpi,
        title="Fax",
        producer="voip-platform",
    )
    return FaxDocument(pdf=out.getvalue(), pages=len(pages), dpi=dpi)


def email_text(
    outcome: FaxOutcome, did_number: str, pages: int, received_at: dt.datetime, complete: bool
) -> tuple[str, str]:
    sender = outcome.remote_station_id or outcome.caller_number or "unknown sender"
    subject = f"Fax from {sender} to {did_number}: {pages} page{'s' if pages != 1 else ''}"
    if not complete:
        subject = "Incomplete " + subject[0].lower() + subject[1:]
    lines = [
        f"A fax arrived on your fax number {did_number}.",
        "",
        f"Received:          {received_at.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S} UTC",
        f"Remote station ID: {outcome.remote_station_id or '-'}",
        f"Caller number:     {outcome.caller_number or '-'}",
        f"Pages:             {pages}",
        f"Resolution:        {outcome.resolution or '-'} dpi",
        f"Transfer rate:     {outcome.transfer_rate or '-'} bps",
    ]
    if not complete:
        lines += ["", f"The transmission broke off ({outcome.error}); the pages received are attached."]
    lines += ["", "The fax is attached as a PDF."]
    return subject, "\n".join(lines) + "\n"


async def _read_tiff(path: Path | None) -> bytes | None:
    if path is None:
        return None
    try:
        return await asyncio.to_thread(path.read_bytes)
    except FileNotFoundError:
        return None
    except OSError as exc:  # permissions, a vanished volume: stored as failed, never dropped
        log.error("fax file unreadable", extra={"file": str(path), "error": str(exc)})
        return None


async def _insert(db: async_sessionmaker[AsyncSession], row: Fax) -> tuple[int, dt.datetime, int]:
    async with db() as session, session.begin():
        session.add(row)
        await session.flush()
        await session.refresh(row, ["received_at"])
        return row.id, row.received_at, row.pages


async def store_and_email(
    db: async_sessionmaker[AsyncSession],
    settings: Settings,
    *,
    account_id: int,
    did_id: int | None,
    did_number: str,
    email: str | None,
    outcome: FaxOutcome,
    tiff_path: Path | None,
    send: SendMail = send_mail,
) -> StoredFax:
    """Store the fax (received or failed, with its PDF when there is one), then email it."""
    status, error = (STATUS_RECEIVED, "") if outcome.success else (STATUS_FAILED, outcome.error)
    document: FaxDocument | None = None
    tiff = await _read_tiff(tiff_path)
    if tiff:
        try:
            document = await asyncio.to_thread(tiff_to_pdf, tiff)
        except FaxImageError as exc:
            if outcome.success:
                status, error = STATUS_FAILED, f"received file unreadable: {exc}"
    elif outcome.success:
        status, error = STATUS_FAILED, "the fax stack reported success but left no file"

    try:
        fax_id, received_at, pages = await _insert(
            db,
            Fax(
                account_id=account_id,
                did_id=did_id,
                status=status,
                error=error[:255],
                remote_station_id=outcome.remote_station_id,
                caller_number=outcome.caller_number,
                pages=document.pages if document else 0,
                bytes=len(document.pdf) if document else 0,
                resolution=outcome.resolution or (f"{document.dpi[0]}x{document.dpi[1]}" if document else ""),
                transfer_rate=outcome.transfer_rate,
                pdf=document.pdf if document else None,
            ),
        )
    except Exception:
        # the spool file is all that is left of this fax: say where it is
        log.exception(
            "fax NOT stored; its file is kept",
            extra={"file": str(tiff_path), "did": did_number, "account_id": account_id, "status": status},
        )
        raise
    log.info(
        "fax stored",
        extra={
            "fax_id": fax_id,
            "status": status,
            "error": error,
            "pages": pages,
            "mode": outcome.mode,
            "did": did_number,
            "account_id": account_id,
        },
    )
    if tiff_path is not None:
        # the PDF is in the database now: the spool copy has served its purpose
        await asyncio.to_thread(tiff_path.unlink, missing_ok=True)

    emailed = False
    if document and email:
        subject, body = email_text(
            outcome, did_number, document.pages, received_at, complete=status == STATUS_RECEIVED
        )
        filename = f"fax-{did_number}-{received_at.astimezone(dt.UTC):%Y%m%d-%H%M%S}-{fax_id}.pdf"
        try:
            await send(settings, email, subject, body, [(filename, document.pdf, "application/pdf")])
        except MailError as exc:
            # stored all the same: the panel shows it and a later run can send it again
            log.error("fax not emailed", extra={"fax_id": fax_id, "error": str(exc)})
        else:
            async with db() as session, session.begin():
                await session.execute(
                    update(Fax).where(Fax.id == fax_id).values(emailed_at=func.now(), emailed_to=email)
                )
            emailed = True
    return StoredFax(
        id=fax_id, status=status, pages=document.pages if document else 0, emailed=emailed, error=error
    )
