"""Message waiting indication: an unsolicited `message-summary` NOTIFY (RFC 3842) to the
member's registered phones through AMI `PJSIPNotify` (Debian's Asterisk has no
res_mwi_external, and app_voicemail is not ours: PostgreSQL holds the messages).

Whoever changes a mailbox (the phone flows in the controller, the panel's player) calls
`queue_mwi(session, vn_id)` inside its transaction: a `pg_notify` that PostgreSQL delivers on
commit. The controller's `MwiSender` LISTENs, reads the counts from the database at that moment
(so a late or duplicated notification still sends the truth) and sends the NOTIFY.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import aclosing
from typing import TYPE_CHECKING, Any

import psycopg
from sqlalchemy import text
from sqlalchemy.orm import Session

from controller.services.voicemail import service

if TYPE_CHECKING:  # the panel imports queue_mwi: it needs no AMI client (panoramisk)
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from controller.services.ami import AMILink

log = logging.getLogger("controller.services.voicemail.mwi")

MWI_CHANNEL = "voicemail_mwi"


def queue_mwi(session: Session, vn_id: int) -> None:
    """The MWI notifier to pass to the service functions (panel and controller alike)."""
    session.execute(
        text("SELECT pg_notify(:channel, :payload)"), {"channel": MWI_CHANNEL, "payload": str(int(vn_id))}
    )


def message_summary(new: int, saved: int) -> list[str]:
    """The body lines of an application/simple-message-summary (saved messages are "old")."""
    return [f"Messages-Waiting: {'yes' if new > 0 else 'no'}", f"Voice-Message: {new}/{saved} (0/0)"]


def pjsip_notify_action(endpoint: str, new: int, saved: int) -> dict[str, Any]:
    """The AMI action: each `Variable` becomes a header, except `Content` lines (the body, in
    order) once a `Content-Type` variable is given."""
    variables = ["Event=message-summary", "Content-Type=application/simple-message-summary"]
    variables += [f"Content={line}" for line in message_summary(new, saved)]
    return {"Action": "PJSIPNotify", "Endpoint": endpoint, "Variable": variables}


class MwiSender:
    """Turns `voicemail_mwi` notifications into PJSIPNotify; `send(vn_id)` does one directly."""

    def __init__(
        self,
        conninfo: str,
        db: async_sessionmaker[AsyncSession],
        ami: AMILink,
        *,
        retry_seconds: float = 2.0,
    ):
        self._conninfo = conninfo  # libpq URL of the LISTEN connection (its own, autocommit)
        self._db = db
        self._ami = ami
        self._retry = retry_seconds
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self.sent: int = 0
        self.listening = asyncio.Event()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="voicemail-mwi")

    async def stop(self) -> None:
        self._stop.set()
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass

    async def send(self, vn_id: int) -> bool:
        """Read the mailbox's counts now and NOTIFY its phones. False when it could not."""
        try:
            async with self._db() as session:
                number, new, saved = await session.run_sync(_number_and_counts, vn_id)
        except Exception as exc:
            log.error("mwi counts unavailable", extra={"vn_id": vn_id, "error": repr(exc)[:200]})
            return False
        if number is None:
            return False
        return await self.send_counts(number, new, saved)

    async def send_counts(self, number: str, new: int, saved: int) -> bool:
        try:
            reply = await self._ami.action(pjsip_notify_action(number, new, saved))
        except Exception as exc:
            log.warning("mwi not sent", extra={"vnum": number, "error": repr(exc)[:200]})
            return False
        replies = reply if isinstance(reply, list) else [reply]
        ok = all(str(r.get("Response", "")).lower() == "success" for r in replies if hasattr(r, "get"))
        if ok:
            self.sent += 1
            log.info("mwi sent", extra={"vnum": number, "new": new, "saved": saved})
        else:  # e.g. no registered contact: nothing to light up, not an error
            message = replies[0].get("Message", "") if replies and hasattr(replies[0], "get") else ""
            log.info("mwi not delivered", extra={"vnum": number, "reason": str(message)[:200]})
        return ok

    async def _run(self) -> None:
        while not self._stop.is_set():
            conn = None
            try:
                conn = await psycopg.AsyncConnection.connect(
                    self._conninfo, autocommit=True, connect_timeout=5
                )
                await conn.execute(f"LISTEN {MWI_CHANNEL}")
                self.listening.set()
                async with aclosing(conn.notifies()) as notes:
                    async for note in notes:
                        try:
                            vn_id = int(note.payload)
                        except ValueError:
                            continue
                        # one NOTIFY at a time, in commit order: counts are read when sending
                        await self.send(vn_id)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("mwi LISTEN lost, retrying", extra={"error": repr(exc)[:200]})
            finally:
                self.listening.clear()
                if conn is not None:
                    try:
                        await conn.close()
                    except Exception:
                        pass
            try:
                await asyncio.wait_for(self._stop.wait(), self._retry)
            except TimeoutError:
                pass


def _number_and_counts(session: Session, vn_id: int) -> tuple[str | None, int, int]:
    from db.models import VirtualNumber

    number = session.get(VirtualNumber, vn_id)
    if number is None:
        return None, 0, 0
    new, saved = service.counts(session, vn_id)
    return number.number, new, saved
