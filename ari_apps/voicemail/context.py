"""What the voicemail flows share: settings, database, ARI, the media dir, the MWI sender,
the mailer and the background tasks (emails) they start. Built once by the app."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from controller.services.voicemail.media import MediaDir
from controller.services.voicemail.mwi import MwiSender
from controller.settings import Settings

log = logging.getLogger("ari_apps.voicemail")

Mailer = Callable[..., Awaitable[None]]  # controller.services.mailer.send_mail's signature


@dataclass
class VoicemailContext:
    settings: Settings
    db: Any  # async_sessionmaker
    ari: Any  # controller.services.ari.ARIClient
    media: MediaDir
    mwi: MwiSender
    send_mail: Mailer
    tasks: set[asyncio.Task] = field(default_factory=set)

    async def read(self, fn, *args, **kwargs):
        """A service function (sync Session) on the controller's AsyncSession, read only."""
        async with self.db() as session:
            return await session.run_sync(fn, *args, **kwargs)

    async def write(self, fn, *args, **kwargs):
        """A service function in its own transaction, committed on return."""
        async with self.db() as session, session.begin():
            return await session.run_sync(fn, *args, **kwargs)

    def background(self, coro, name: str) -> asyncio.Task:
        """A task that outlives the call (emailing); kept referenced, errors logged."""
        task = asyncio.create_task(coro, name=name)
        self.tasks.add(task)

        def done(t: asyncio.Task) -> None:
            self.tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                log.error(
                    "voicemail background task failed",
                    extra={"task": name, "error": repr(t.exception())[:300]},
                )

        task.add_done_callback(done)
        return task
