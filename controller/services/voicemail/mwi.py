"""Message waiting indication (RFC 3842), both ways phones get it:

- unsolicited: a `message-summary` NOTIFY to the member's registered phones through AMI
  `PJSIPNotify` (Debian's Asterisk has no res_mwi_external);
- by subscription: a phone that SUBSCRIBEs to message-summary is served by res_pjsip_mwi, whose
  mailbox state provider is app_voicemail counting a spool we keep (spool.py: PostgreSQL holds
  the messages, the spool only their counts); after writing it, AMI `VoicemailRefresh` makes
  app_voicemail re-count the mailbox and res_pjsip_mwi NOTIFY the subscriptions.

Whoever changes a mailbox (the phone flows in the controller, the panel's player) calls
`queue_mwi(session, vn_id)` inside its transaction: a `pg_notify` that PostgreSQL delivers on
commit. The controller's `MwiSender` LISTENs, reads the counts from the database at that moment
(so a late or duplicated notification still sends the truth), writes the spool and sends the
NOTIFY. Each time its LISTEN (re)connects it rewrites the whole spool from the database, since a
change committed while it was not listening was never announced.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import aclosing
from typing import TYPE_CHECKING, Any

import psycopg
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from controller.services.voicemail import service
from controller.services.voicemail.spool import MwiSpool
from db.models import VirtualNumber, VoicemailMessage

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


def voicemail_refresh_action(spool: MwiSpool, number: str | None = None) -> dict[str, Any]:
    """The AMI action that makes app_voicemail re-count a mailbox (every mailbox of the spool's
    context without `number`) and publish it if it changed; only subscribed mailboxes are
    counted."""
    action = {"Action": "VoicemailRefresh", "Context": spool.context}
    if number is not None:
        action["Mailbox"] = number
    return action


def pjsip_notify_action(endpoint: str, new: int, saved: int) -> dict[str, Any]:
    """The AMI action: each `Variable` becomes a header, except `Content` lines (the body, in
    order) once a `Content-Type` variable is given."""
    variables = ["Event=message-summary", "Content-Type=application/simple-message-summary"]
    variables += [f"Content={line}" for line in message_summary(new, saved)]
    return {"Action": "PJSIPNotify", "Endpoint": endpoint, "Variable": variables}


class MwiSender:
    """Turns `voicemail_mwi` notifications into the spool's counts and PJSIPNotify; `send(vn_id)`
    does one directly, `resync()` writes every mailbox's counts."""

    def __init__(
        self,
        conninfo: str,
        db: async_sessionmaker[AsyncSession],
        ami: AMILink,
        *,
        spool: MwiSpool,
        retry_seconds: float = 2.0,
    ):
        self._conninfo = conninfo  # libpq URL of the LISTEN connection (its own, autocommit)
        self._db = db
        self._ami = ami
        self.spool = spool
        self._spool_lock = asyncio.Lock()  # one writer of the spool at a time
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
        """Read the mailbox's counts now, write them for subscribing phones and NOTIFY the
        registered ones. False when the unsolicited NOTIFY could not go."""
        try:
            async with self._db() as session:
                number, new, saved = await session.run_sync(_number_and_counts, vn_id)
        except Exception as exc:
            log.error("mwi counts unavailable", extra={"vn_id": vn_id, "error": repr(exc)[:200]})
            return False
        if number is None:
            return False
        await self.publish(number, new, saved)
        return await self.send_counts(number, new, saved)

    async def publish(self, number: str, new: int, saved: int) -> bool:
        """The mailbox's counts for subscriptions: its spool, then VoicemailRefresh. False when
        either failed (app_voicemail's poll re-counts a subscribed mailbox within pollfreq)."""
        async with self._spool_lock:
            try:
                shown = await asyncio.to_thread(self.spool.counts, number)
                if (new, saved) == (0, 0) and shown != (0, 0):
                    await self._refresh(number)  # publishes `shown` first: see _refresh
                await asyncio.to_thread(self.spool.write, number, new, saved)
            except (OSError, ValueError) as exc:
                log.error("mwi spool not written", extra={"vnum": number, "error": repr(exc)[:200]})
                return False
            return await self._refresh(number)

    async def resync(self) -> bool:
        """Every mailbox's spool from the database's counts (the spool of a mailbox without
        messages goes), then one VoicemailRefresh for them all. False when it could not."""
        async with self._spool_lock:
            try:
                async with self._db() as session:
                    counts = await session.run_sync(_all_counts)
                for number in await asyncio.to_thread(self._emptied_by, counts):
                    await self._refresh(number)  # publishes what its phones were shown: see _refresh
                changed = await asyncio.to_thread(self.spool.write_all, counts)
            except Exception as exc:
                log.error("mwi spool not resynced", extra={"error": repr(exc)[:200]})
                return False
            log.info("mwi spool resynced", extra={"mailboxes": len(counts), "changed": len(changed)})
            return await self._refresh(None)

    def _emptied_by(self, counts: dict[str, tuple[int, int]]) -> list[str]:
        """The mailboxes with messages in the spool and none in `counts`."""
        return [n for n in self.spool.mailboxes() if n not in counts and self.spool.counts(n) != (0, 0)]

    async def _refresh(self, number: str | None) -> bool:
        """VoicemailRefresh: app_voicemail re-counts the mailbox and publishes the counts if they
        differ from the state it last published, or from 0/0 when it has published none: none
        since a phone subscribed (that phone got its counts straight from the spool) or since
        any phone of that mailbox unsubscribed (app_voicemail then drops the state). A mailbox
        emptied then would look unchanged and its phones keep the lamp on, so before emptying a
        mailbox's spool we refresh it once more: that publishes what its phones were shown."""
        try:
            reply = await self._ami.action(voicemail_refresh_action(self.spool, number))
        except Exception as exc:
            log.warning("mwi refresh not sent", extra={"vnum": number, "error": repr(exc)[:200]})
            return False
        replies = reply if isinstance(reply, list) else [reply]
        ok = all(str(r.get("Response", "")).lower() == "success" for r in replies if hasattr(r, "get"))
        if not ok:
            log.warning("mwi refresh refused", extra={"vnum": number, "reply": str(replies[0])[:200]})
        return ok

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
                # what was committed while nobody listened: only the database knows it now
                await self.resync()
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
    number = session.get(VirtualNumber, vn_id)
    if number is None:
        return None, 0, 0
    new, saved = service.counts(session, vn_id)
    return number.number, new, saved


def _all_counts(session: Session) -> dict[str, tuple[int, int]]:
    """number -> (new, saved) of every mailbox with messages."""
    rows = session.execute(
        select(VirtualNumber.number, VoicemailMessage.folder, func.count())
        .join(VirtualNumber, VirtualNumber.id == VoicemailMessage.virtual_number_id)
        .group_by(VirtualNumber.number, VoicemailMessage.folder)
    ).all()
    counts: dict[str, tuple[int, int]] = {}
    for number, folder, n in rows:
        new, saved = counts.get(number, (0, 0))
        if folder == service.NEW:
            new = int(n)
        elif folder == service.SAVED:
            saved = int(n)
        counts[number] = (new, saved)
    return counts
