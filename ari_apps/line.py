"""The ARI adapter for one caller's channel in Stasis, shared by the Stasis apps.

A `LineRouter` hands each ARI event to the `Line` of its channel (the ARI client dispatches
events one by one, so handlers only enqueue); the voicemail app lets it subscribe to `EVENTS`,
the conference app feeds it from its own handlers while a caller keys the PIN. A `Line` offers
what an IVR needs: play (stopped by a key), read keys with type-ahead (keys pressed during a
prompt stay buffered for the next read), record, set channel variables, mute, put the channel
into a bridge, hang up. A caller that hangs up (or leaves Stasis) surfaces as `CallerGone`; any
other ARI failure as `LineError` with a stable code.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from controller.rules import channel_vars as cv
from controller.services.ari import ARIClient, ARIError

log = logging.getLogger("ari_apps.line")

# The ARI events a Line reacts to (besides StasisStart, which the Dispatcher routes)
EVENTS = (
    "ChannelDtmfReceived",
    "PlaybackFinished",
    "RecordingFinished",
    "RecordingFailed",
    "ChannelHangupRequest",
    "StasisEnd",
    "ChannelDestroyed",
)
_GONE = ("ChannelHangupRequest", "StasisEnd", "ChannelDestroyed")
KEYS = set("0123456789*#")
# A request about the caller's channel answered 404 (no such channel: hung up) or 409 (not in
# Stasis: leaving us) means the caller is gone
GONE_STATUSES = (404, 409)


class LineError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code


class CallerGone(LineError):
    def __init__(self, message: str = "caller hung up"):
        super().__init__("caller_gone", message)


class Line:
    def __init__(self, ari: ARIClient, channel: dict[str, Any]):
        self.ari = ari
        self.id: str = channel["id"]
        caller = channel.get("caller") or {}
        self.caller_name: str = caller.get("name") or ""
        self.caller_number: str = caller.get("number") or ""
        self.language: str = channel.get("language") or "en"
        self.gone = False
        self._events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._keys: list[str] = []
        self._recordings: dict[str, dict[str, Any]] = {}  # name -> its RecordingFinished/Failed event

    # --- fed by the router
    def feed(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "ChannelDtmfReceived" and event.get("digit") in KEYS:
            self._keys.append(event["digit"])
        elif kind in ("RecordingFinished", "RecordingFailed"):
            self._recordings[(event.get("recording") or {}).get("name", "")] = event
        elif kind in _GONE:
            self.gone = True
        self._events.put_nowait(event)

    async def _next(self, timeout: float | None) -> dict[str, Any] | None:
        try:
            return await asyncio.wait_for(self._events.get(), timeout)
        except TimeoutError:
            return None

    # --- REST with errors in our terms
    async def _call(self, method: str, path: str, **params: Any) -> Any:
        """A request about this channel (every request a Line makes is one, adding it to a
        bridge too: there a 404 is the bridge gone, which ends the call all the same)."""
        try:
            return await self.ari.request(method, path, **params)
        except ARIError as exc:
            if self.gone or exc.status in GONE_STATUSES:
                self.gone = True  # hung up, or left Stasis meanwhile
                raise CallerGone(str(exc)) from exc
            if exc.status == 0:
                raise LineError("asterisk_unreachable", str(exc)) from exc
            raise LineError("ari_refused", str(exc)) from exc

    def _check(self) -> None:
        if self.gone:
            raise CallerGone()

    async def answer(self) -> None:
        self._check()
        await self._call("POST", f"/channels/{self.id}/answer")

    async def hangup(self) -> None:
        if self.gone:
            return
        await hang_up(self.ari, self.id)
        self.gone = True

    async def hangup_with_cause(self, cause: int) -> None:
        """Hang up with a Q.850 cause (e.g. 21 call rejected) for the CDR and the other side."""
        if self.gone:
            return
        try:
            await self.ari.delete(f"/channels/{self.id}", reason_code=int(cause))
        except ARIError:
            await self.hangup()
        self.gone = True

    async def continue_in_dialplan(self, context: str, extension: str, priority: int = 1) -> None:
        """Leave Stasis for a dialplan context (e.g. a refusal's announcement and cause)."""
        if self.gone:
            return
        try:
            await self._call(
                "POST",
                f"/channels/{self.id}/continue",
                context=context,
                extension=extension,
                priority=priority,
            )
        except LineError:
            await self.hangup()
        self.gone = True

    async def use_language(self, language: str | None) -> None:
        """Play every prompt from now on in a member's language (the mailbox's or the
        conference's owner; each play names it, `lang`), and leave it on the channel
        (CHANNEL(language)) for a refusal in the dialplan and for the channel's own playbacks.
        Not a plain language code, or the language already on the channel: nothing changes."""
        language = cv.prompt_language(language)
        if not language or language == self.language:
            return
        self.language = language
        await self.set_variable(cv.VAR_LANGUAGE, language)

    async def set_variable(self, variable: str, value: str) -> None:
        await self._call("POST", f"/channels/{self.id}/variable", variable=variable, value=value)

    async def mute(self, direction: str) -> None:
        """Mute the channel's audio `in` (what the caller says), `out` (what they hear) or `both`."""
        await self._call("POST", f"/channels/{self.id}/mute", direction=direction)

    async def join_bridge(self, bridge_id: str) -> None:
        """Into a bridge, its keys swallowed there (they still reach us as events)."""
        await self._call("POST", f"/bridges/{bridge_id}/addChannel", channel=self.id, absorbDTMF=True)

    # --- keys
    def clear_keys(self) -> None:
        self._keys.clear()

    def take_key(self, key: str) -> bool:
        """Consume the first buffered key when it is `key` (a key typed ahead during a prompt)."""
        if self._keys and self._keys[0] == key:
            self._keys.pop(0)
            return True
        return False

    async def play(self, *media: str, interruptible: bool = True, timeout: float = 600) -> bool:
        """Play media URIs (sound:, digits:, number:, recording:) in order. With `interruptible`,
        a key stops it (and stays buffered) and a key already buffered skips it. Returns True
        when a key stopped or skipped it.

        One ARI playback per item: `DELETE /playbacks/{id}` of a multi-media playback stops only
        the current item and Asterisk goes on with the next one."""
        for item in media:
            if interruptible and self._keys:
                return True
            if await self._play_one(item, interruptible, timeout):
                return True
        return False

    async def _play_one(self, media: str, interruptible: bool, timeout: float) -> bool:
        self._check()
        playback_id = f"vm-{uuid.uuid4().hex}"
        keys_before = len(self._keys)
        await self._call("POST", f"/channels/{self.id}/play/{playback_id}", media=media, lang=self.language)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            self._check()
            if interruptible and len(self._keys) > keys_before:
                await self._stop_playback(playback_id)
                return True
            event = await self._next(max(0.0, deadline - loop.time()))
            if event is None:
                await self._stop_playback(playback_id)
                return False
            if _is_finished(event, playback_id):
                return False

    async def _stop_playback(self, playback_id: str) -> None:
        """Stop it and wait (briefly) until Asterisk says so: the channel's next operation
        (a recording, another prompt) would otherwise queue behind it."""
        try:
            await self.ari.delete(f"/playbacks/{playback_id}")
        except ARIError:
            return  # already finished
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 2
        while not self.gone and loop.time() < deadline:
            event = await self._next(deadline - loop.time())
            if event is None or _is_finished(event, playback_id):
                return

    async def read_key(self, timeout: float) -> str | None:
        """The next key (a buffered one first), or None after `timeout` seconds without one."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self._keys:
            self._check()
            left = deadline - loop.time()
            if left <= 0:
                return None
            await self._next(left)
        return self._keys.pop(0)

    async def read_digits(
        self, prompt: tuple[str, ...], *, max_digits: int, timeout: float, terminator: str = "#"
    ) -> str | None:
        """Play `prompt` (a key stops it), then collect digits until `terminator`, `max_digits`,
        or `timeout` seconds without a key. None when nothing at all was keyed."""
        await self.play(*prompt)
        digits = ""
        while len(digits) < max_digits:
            key = await self.read_key(timeout)
            if key is None:
                break
            if key == terminator:
                return digits
            if key.isdigit():
                digits += key
        return digits or None

    # --- recording
    async def record(
        self,
        name: str,
        *,
        max_seconds: int,
        max_silence_seconds: int,
        terminate_on: str = "#",
        beep: bool = True,
    ) -> dict[str, Any] | None:
        """Record the caller into stored recording `name` (wav) until `terminate_on`, silence,
        the maximum or a hang-up. Returns the recording object of RecordingFinished, or None
        when Asterisk reported a failure or never finished."""
        self._check()
        await self._call(
            "POST",
            f"/channels/{self.id}/record",
            name=name,
            format="wav",
            maxDurationSeconds=max_seconds,
            maxSilenceSeconds=max_silence_seconds,
            ifExists="overwrite",
            beep=beep,
            terminateOn=terminate_on,
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max_seconds + 30
        gone_at: float | None = None
        while name not in self._recordings:
            now = loop.time()
            if self.gone and gone_at is None:
                gone_at = now
            # after a hang-up Asterisk finishes the recording at once; do not wait for ever
            limit = min(deadline, gone_at + 5) if gone_at is not None else deadline
            if now >= limit:
                return None
            await self._next(limit - now)
        event = self._recordings.pop(name)
        # the '#' that ended the recording is not a key for what follows
        if terminate_on in self._keys:
            self._keys.remove(terminate_on)
        if event.get("type") == "RecordingFailed":
            log.warning(
                "recording failed",
                extra={
                    "channel": self.id,
                    "recording": name,
                    "cause": (event.get("recording") or {}).get("cause"),
                },
            )
            return None
        return event.get("recording") or {}


class LineRouter:
    """Routes ARI events to the Line of their channel; subscribes (when asked) once for the
    whole app."""

    def __init__(self, ari: ARIClient):
        self.ari = ari
        self.lines: dict[str, Line] = {}
        self._subscribed = False

    def subscribe(self) -> None:
        if self._subscribed:
            return
        for kind in EVENTS:
            self.ari.on(kind, self._route)
        self.ari.on("ClientConnected", self._on_connected)
        self._subscribed = True

    def unsubscribe(self) -> None:
        for kind in EVENTS:
            self.ari.off(kind, self._route)
        self.ari.off("ClientConnected", self._on_connected)
        self._subscribed = False

    def open(self, channel: dict[str, Any]) -> Line:
        line = Line(self.ari, channel)
        self.lines[line.id] = line
        return line

    def close(self, line: Line) -> None:
        self.lines.pop(line.id, None)

    def feed(self, event: dict[str, Any]) -> bool:
        """Hand the event to the Line of its channel; False when no open Line has it."""
        channel_id = _channel_of(event)
        line = self.lines.get(channel_id) if channel_id else None
        if line is None:
            return False
        line.feed(event)
        return True

    async def _route(self, event: dict[str, Any]) -> None:
        self.feed(event)

    async def _on_connected(self, event: dict[str, Any]) -> None:
        """After a reconnect, channels may be gone without their events (Asterisk restarted):
        ask ARI about each line and end the ones it no longer knows."""
        for line in list(self.lines.values()):
            try:
                await self.ari.get(f"/channels/{line.id}")
            except ARIError as exc:
                if exc.status == 404:
                    line.feed(
                        {
                            "type": "ChannelDestroyed",
                            "channel": {"id": line.id},
                            "synthetic": "lost after reconnect",
                        }
                    )


async def hang_up(ari: ARIClient, channel_id: str) -> None:
    """Hang up a channel, whether or not a Line holds it; one already gone is fine."""
    try:
        await ari.delete(f"/channels/{channel_id}")
    except ARIError:
        pass


def _is_finished(event: dict[str, Any], playback_id: str) -> bool:
    return event.get("type") == "PlaybackFinished" and (event.get("playback") or {}).get("id") == playback_id


def _channel_of(event: dict[str, Any]) -> str | None:
    if "channel" in event and isinstance(event["channel"], dict):
        channel_id: str | None = event["channel"].get("id")
        return channel_id
    for key in ("playback", "recording"):
        target: str = (event.get(key) or {}).get("target_uri", "")
        if target.startswith("channel:"):
            return target[len("channel:") :]
    return None
