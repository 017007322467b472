"""What the conference plays: its prompts and announcements, and the playbacks that carry them.

A conference plays a list of sounds as one ARI playback (to a caller's channel or to a room's
bridge) and waits for it through PlaybackFinished; unlike a voicemail prompt it is never cut
item by item. Bridges have no language of their own: announcements name the owner's (`lang`),
a caller's prompts use the channel's.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from ari_apps.line import GONE_STATUSES, CallerGone
from controller.rules.conference import Entry
from controller.services.ari import ARIClient, ARIError

log = logging.getLogger("ari_apps.conference")

SOUND_GET_PIN = "sound:conf-getpin"
SOUND_INVALID_PIN = "sound:conf-invalidpin"
SOUND_TOO_MANY = ("sound:confbridge-pin-bad", "sound:goodbye")
SOUND_GOODBYE = ("sound:goodbye",)
SOUND_JOINED = "sound:conf-hasjoin"
SOUND_LEFT = "sound:conf-hasleft"
SOUND_MUTED_ALL = "sound:conf-now-muted"
SOUND_UNMUTED_ALL = "sound:conf-now-unmuted"
SOUND_ENDED = ("sound:confbridge-conf-end", "sound:goodbye")
REFUSAL_SOUNDS: dict[Entry, tuple[str, ...]] = {
    Entry.EXPIRED: SOUND_ENDED,
    Entry.TOO_EARLY: ("sound:please-try-call-later", "sound:goodbye"),
    Entry.TOLLFREE_BLOCKED: ("sound:feature-not-avail-line", "sound:goodbye"),
}

PLAYBACK_WAIT = 30.0  # longest we wait for a prompt to finish


def to_channel(channel_id: str) -> str:
    return f"/channels/{channel_id}/play"


def to_bridge(bridge_id: str) -> str:
    return f"/bridges/{bridge_id}/play"


class Playbacks:
    """The playbacks under way, each with the future its PlaybackFinished resolves."""

    def __init__(self, ari: ARIClient):
        self.ari = ari
        self._waiting: dict[str, asyncio.Future[str | None]] = {}

    def finished(self, event: dict[str, Any]) -> None:
        fut = self._waiting.pop(event.get("playback", {}).get("id", ""), None)
        if fut is not None and not fut.done():
            fut.set_result(event["playback"].get("state"))

    async def start(self, target: str, media: list[str], lang: str | None = None) -> str:
        """Start playing `media` on `target` (to_channel() or to_bridge()); `lang` for a bridge.
        A 404 or 409 (the caller hung up, or the bridge is gone) ends the caller's call."""
        playback_id = uuid.uuid4().hex
        self._waiting[playback_id] = asyncio.get_running_loop().create_future()
        params = {"lang": lang} if lang else {}
        try:
            await self.ari.request("POST", target, media=media, playbackId=playback_id, **params)
        except BaseException as exc:
            self._waiting.pop(playback_id, None)
            if isinstance(exc, ARIError) and exc.status in GONE_STATUSES:
                raise CallerGone(target) from exc
            raise
        return playback_id

    async def stop(self, playback_id: str) -> None:
        fut = self._waiting.get(playback_id)
        if fut is None or fut.done():
            return
        try:
            await self.ari.delete(f"/playbacks/{playback_id}")
        except ARIError:
            pass
        self._waiting.pop(playback_id, None)

    async def play_and_wait(
        self, target: str, media: list[str], timeout: float = PLAYBACK_WAIT, lang: str | None = None
    ) -> None:
        """Play and wait for the end (at most `timeout`); a caller's keys meanwhile stay queued."""
        playback_id = await self.start(target, media, lang)
        fut = self._waiting.get(playback_id)
        if fut is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(fut), timeout)
        except TimeoutError:
            await self.stop(playback_id)
        finally:
            self._waiting.pop(playback_id, None)

    async def announce(self, bridge_id: str, sounds: list[str], lang: str | None) -> None:
        """Play to everyone in the room without waiting; a refused announcement is only logged."""
        try:
            await self.start(to_bridge(bridge_id), sounds, lang=lang)
        except ARIError as exc:
            log.warning("conference announcement failed", extra={"bridge": bridge_id, "error": str(exc)})
