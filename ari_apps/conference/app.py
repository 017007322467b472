"""The conference Stasis app: the ARI events it subscribes to (declared once, in _events), the
StasisStart of each caller, and the wiring of its parts.

entry.py         a caller's way in: answer, PIN, refusals
participants.py  who is in a room: joining (roles as mute directions), leaving, admin keys
lifecycle.py     a room's bridge: start, timers, the end, recovery after restarts
media.py         the prompts and announcements, and the playbacks that carry them
context.py       what the parts share (the rooms, the callers keying their PIN, the tasks)

A caller's channel is a `Line` (ari_apps/line.py) while it keys its PIN: its keys and its
StasisEnd go to that Line; once in a room its keys are a participant's. Each call runs as its
own task, so a caller keying slowly never holds up the ARI client's event loop.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from ari_apps.conference import entry, lifecycle, participants
from ari_apps.conference.context import ConferenceContext, Room
from ari_apps.conference.media import Playbacks
from ari_apps.line import Line, LineRouter
from controller.rules import channel_vars as cv
from controller.services.deps import Deps


class ConferenceApp:
    name = cv.APP_CONFERENCE

    def __init__(self, deps: Deps, *, clock: Callable[[], dt.datetime] | None = None):
        self.deps = deps
        self.settings = deps.settings
        self.ari = deps.ari
        self.ctx = ConferenceContext(
            settings=deps.settings,
            db=deps.db,
            ari=deps.ari,
            now=clock or (lambda: dt.datetime.now(dt.UTC)),
            callers=LineRouter(deps.ari),
            playbacks=Playbacks(deps.ari),
        )
        self._sweeper: asyncio.Task[None] | None = None

    def _events(self) -> tuple[tuple[str, Callable[[dict[str, Any]], Awaitable[None]]], ...]:
        """The ARI events this app acts on (StasisStart comes through the Dispatcher)."""
        return (
            ("ChannelDtmfReceived", self._on_dtmf),
            ("StasisEnd", self._on_stasis_end),
            ("PlaybackFinished", self._on_playback_finished),
            ("ClientConnected", self._on_connected),
        )

    @property
    def rooms(self) -> dict[int, Room]:
        """The running conferences by id."""
        return self.ctx.rooms

    @property
    def stats(self) -> dict[str, int]:
        return self.ctx.stats

    @property
    def _digits(self) -> Mapping[str, Line]:
        """The callers still keying their PIN, by channel id (the tests wait on it)."""
        return self.ctx.callers.lines

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        for event, handler in self._events():
            self.ari.on(event, handler)
        self._sweeper = asyncio.create_task(lifecycle.sweep_forever(self.ctx), name="conference-sweep")
        if self.ari.connected.is_set():
            self.ctx.spawn(self.recover(), "conference-recover")

    async def stop(self) -> None:
        for event, handler in self._events():
            self.ari.off(event, handler)
        ctx = self.ctx
        tasks = [t for t in [self._sweeper, *ctx.timers.values(), *ctx.tasks] if t]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        ctx.timers.clear()
        # calls and bridges stay up in Asterisk: the next controller re-adopts them

    async def end(self, conference_id: int, reason: str) -> None:
        """End a running conference now (as at the end of its duration)."""
        await lifecycle.end(self.ctx, conference_id, reason)

    async def sweep(self) -> None:
        await lifecycle.sweep(self.ctx)

    async def recover(self) -> None:
        await lifecycle.recover(self.ctx)

    # ------------------------------------------------------------------ events
    async def on_stasis_start(self, event: dict[str, Any], args: list[str]) -> None:
        if event.get("replace_channel"):
            return
        # open the line now, so no key of the PIN is missed before the call's task runs
        line = self.ctx.callers.open(event["channel"])
        tollfree = cv.CONF_ARG_TOLLFREE in args
        self.ctx.spawn(entry.call(self.ctx, line, tollfree), f"conference-call-{line.id}")

    async def _on_dtmf(self, event: dict[str, Any]) -> None:
        if self.ctx.callers.feed(event):
            return  # a PIN digit
        participants.key(self.ctx, event.get("channel", {}).get("id", ""), event.get("digit", ""))

    async def _on_stasis_end(self, event: dict[str, Any]) -> None:
        self.ctx.callers.feed(event)
        participants.leave(self.ctx, event.get("channel", {}).get("id", ""))

    async def _on_playback_finished(self, event: dict[str, Any]) -> None:
        self.ctx.playbacks.finished(event)

    async def _on_connected(self, event: dict[str, Any]) -> None:
        self.ctx.spawn(self.recover(), "conference-recover")
