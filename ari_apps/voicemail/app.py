"""The voicemail Stasis apps: `voicemail` (deposit) and `voicemail-main` (retrieval).

Both share one VoicemailContext and one LineRouter (the single place that subscribes to the
ARI events voicemail calls need, ari_apps.line.EVENTS). Each call runs as its own task, so a
long recording never holds up the ARI client's event loop. The MWI sender LISTENs for mailbox
changes committed by anyone (phone flows, panel) and NOTIFYs the phones through AMI.

After an Asterisk restart the ARI client reconnects by itself and emits ClientConnected; the
router then ends the lines whose channels died with Asterisk, and new calls work as before
(nothing else is registered per connection: the app is named in every websocket URL).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ari_apps.line import LineRouter
from ari_apps.voicemail.context import VoicemailContext
from ari_apps.voicemail.deposit import deposit
from ari_apps.voicemail.retrieval import retrieve
from controller.rules import channel_vars as cv
from controller.services.deps import Deps
from controller.services.mailer import send_mail
from controller.services.voicemail.media import MediaDir
from controller.services.voicemail.mwi import MwiSender
from controller.services.voicemail.spool import MwiSpool

log = logging.getLogger("ari_apps.voicemail")


class VoicemailService:
    """What both apps share, started once and stopped once."""

    def __init__(self, deps: Deps):
        s = deps.settings
        conninfo = s.database_url.replace("postgresql+psycopg://", "postgresql://", 1)
        self.ctx = VoicemailContext(
            settings=s,
            db=deps.db,
            ari=deps.ari,
            media=MediaDir(s.vm_media_dir, s.vm_media_local_dir),
            mwi=MwiSender(conninfo, deps.db, deps.ami, spool=MwiSpool(s.vm_media_local_dir)),
            send_mail=send_mail,
        )
        self.router = LineRouter(deps.ari)
        self.calls: set[asyncio.Task] = set()
        self._started = False
        self._stopped = False

    async def start(self) -> None:
        if self._started:
            return
        self._started = True
        self.router.subscribe()
        self.ctx.mwi.start()
        try:
            await asyncio.to_thread(self.ctx.media.sweep)
        except OSError as exc:
            log.warning("voicemail media dir not swept", extra={"error": str(exc)})

    async def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self.router.unsubscribe()
        for task in list(self.calls) + list(self.ctx.tasks):
            task.cancel()
        await asyncio.gather(*self.calls, *self.ctx.tasks, return_exceptions=True)
        await self.ctx.mwi.stop()

    def run_call(self, event: dict[str, Any], flow, *args) -> None:
        """Open the line now (so no event of this channel is missed), run the flow as a task."""
        line = self.router.open(event["channel"])

        async def call() -> None:
            try:
                await flow(line, self.ctx, *args)
            except Exception:
                log.exception("voicemail call failed", extra={"channel": line.id})
                await line.hangup()
            finally:
                self.router.close(line)

        task = asyncio.create_task(call(), name=f"voicemail-{line.id}")
        self.calls.add(task)
        task.add_done_callback(self.calls.discard)


class VoicemailApp:
    """Stasis(<ari_app>, voicemail, <virtual number>[, busy]): leave a message."""

    name = cv.STASIS_VOICEMAIL

    def __init__(self, service: VoicemailService):
        self.service = service

    async def start(self) -> None:
        await self.service.start()

    async def on_stasis_start(self, event: dict[str, Any], args: list[str]) -> None:
        busy = args[1:2] == [cv.VM_ARG_BUSY]
        self.service.run_call(event, deposit, args[0] if args else "", busy)

    async def stop(self) -> None:
        await self.service.stop()


class VoicemailMainApp:
    """Stasis(<ari_app>, voicemail-main[, <virtual number>]): listen to messages."""

    name = cv.STASIS_VOICEMAIL_MAIN

    def __init__(self, service: VoicemailService):
        self.service = service

    async def start(self) -> None:
        await self.service.start()

    async def on_stasis_start(self, event: dict[str, Any], args: list[str]) -> None:
        self.service.run_call(event, retrieve, args[0] if args and args[0] else None)

    async def stop(self) -> None:
        await self.service.stop()


def build(deps: Deps) -> list:
    service = VoicemailService(deps)
    return [VoicemailApp(service), VoicemailMainApp(service)]
