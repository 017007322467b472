"""The conference Stasis app: PIN, one ARI mixing bridge per running conference, roles by mute
direction, join/leave announcements, admin keys, and the conference lifecycle.

Caller's journey (channels enter with `Stasis(<ari_app>,conference[,tollfree])`):
  answer -> `conf-getpin` ("Please enter the conference pin number"), digits until `#`
  (`*` clears, keying stops the prompt, silence times out) -> at most
  settings.conference_pin_tries tries:
    unknown PIN              `conf-invalidpin`, ask again; after the last try
                             `confbridge-pin-bad` + `goodbye`, hang up (failures also count
                             per caller ID, like the calling card)
    conference over/expired  `confbridge-conf-end` ("the conference has ended") + `goodbye`
    before the window opens  `please-try-call-later` + `goodbye`
    toll-free, 800 not allowed `feature-not-avail-line` + `goodbye`
  -> joined to the conference's bridge with the PIN's role:
    normal (talks and hears), listen only (muted `in`), talk only (muted `out`), admin.
  Not quiet mode: `conf-hasjoin` / `conf-hasleft` played to the bridge on each join/leave.

Admin keys (while in the conference):
  1      mute all normal participants ("listeners"); the bridge hears `conf-now-muted`
  2      unmute them; the bridge hears `conf-now-unmuted`
  9 9    (twice within 3 s) end the conference now, as at the end of its duration

Language: prompts before the PIN are in the channel's default language; once the PIN names a
conference, the caller's channel takes the conference owner's Account.language
(CHANNEL(language)), and the bridge announcements are played with it (`lang`).

End of the duration (an asyncio timer per running conference, plus a periodic sweep): the
bridge hears `confbridge-conf-end` + `goodbye`, every participant is hung up, the bridge is
destroyed, and the status becomes Expired.

Restarts: on start and on every ARI (re)connect the app reads Started conferences from the
database and the bridges from GET /bridges: live bridges are re-adopted (participants' roles
are read back from the channel variable VOIP_CONF_ROLE), vanished ones (Asterisk restarted)
are forgotten and re-created by the next caller, overdue conferences are ended.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from controller.rules import channel_vars as cv
from controller.rules import conference as rules
from controller.rules.conference import AdminAction, Entry, Role
from controller.services.ari import ARIError
from controller.services.conference import service
from controller.services.conference.service import ConferenceInfo, PinMatch
from controller.services.deps import Deps
from db import lockouts

log = logging.getLogger("ari_apps.conference")

KIND_CALLER = "conf_caller"  # lockouts kind: wrong conference PINs per caller ID

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


class CallerGone(Exception):
    """The caller hung up (or the channel vanished) while we were talking to it."""


@dataclass
class Participant:
    channel_id: str
    role: Role
    end_armed_at: float | None = None


@dataclass
class Room:
    """A running conference: its bridge and who is in it."""

    conference: ConferenceInfo
    bridge_id: str
    participants: dict[str, Participant] = field(default_factory=dict)
    listeners_muted: bool = False
    ending: bool = False


class ConferenceApp:
    name = cv.APP_CONFERENCE

    def __init__(self, deps: Deps, *, clock: Callable[[], dt.datetime] | None = None):
        self.deps = deps
        self.settings = deps.settings
        self.ari = deps.ari
        self.db = deps.db
        self._now = clock or (lambda: dt.datetime.now(dt.UTC))
        self.rooms: dict[int, Room] = {}
        self._locks: dict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._digits: dict[str, asyncio.Queue] = {}  # channels keying their PIN
        self._playbacks: dict[str, asyncio.Future] = {}
        self._languages: dict[int, str] = {}  # conference id -> owner's prompt language
        self._timers: dict[int, asyncio.Task] = {}
        self._tasks: set[asyncio.Task] = set()
        self._sweeper: asyncio.Task | None = None
        self._recovering = asyncio.Lock()
        self.stats = {"joined": 0, "refused": 0, "ended": 0}

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        # the events this app acts on, declared in one place
        self.ari.on("ChannelDtmfReceived", self._on_dtmf)
        self.ari.on("StasisEnd", self._on_stasis_end)
        self.ari.on("PlaybackFinished", self._on_playback_finished)
        self.ari.on("ClientConnected", self._on_connected)
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="conference-sweep")
        if self.ari.connected.is_set():
            self._spawn(self.recover(), "conference-recover")

    async def stop(self) -> None:
        for ev, handler in (
            ("ChannelDtmfReceived", self._on_dtmf),
            ("StasisEnd", self._on_stasis_end),
            ("PlaybackFinished", self._on_playback_finished),
            ("ClientConnected", self._on_connected),
        ):
            self.ari.off(ev, handler)
        tasks = [t for t in [self._sweeper, *self._timers.values(), *self._tasks] if t]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._timers.clear()
        # calls and bridges stay up in Asterisk: the next controller re-adopts them

    def _spawn(self, coro: Awaitable, name: str) -> asyncio.Task:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("conference task failed", exc_info=task.exception(), extra={"task": task.get_name()})

    # ------------------------------------------------------------------ a caller arrives
    async def on_stasis_start(self, event: dict[str, Any], args: list[str]) -> None:
        channel = event["channel"]
        if event.get("replace_channel"):
            return
        self._digits[channel["id"]] = asyncio.Queue()
        tollfree = cv.CONF_ARG_TOLLFREE in args
        caller = (channel.get("caller") or {}).get("number") or "anonymous"
        self._spawn(self._call(channel["id"], caller, tollfree), f"conference-call-{channel['id']}")

    async def _call(self, channel_id: str, caller: str, tollfree: bool) -> None:
        try:
            await self._chan("POST", f"/channels/{channel_id}/answer")
            match = await self._ask_pin(channel_id, caller, tollfree)
            if match is not None:
                await self._join(channel_id, match)
        except CallerGone:
            log.info("conference caller gone", extra={"channel": channel_id})
            await self._hangup(channel_id)  # in case only the bridge was gone
        except Exception:
            log.exception("conference call failed", extra={"channel": channel_id})
            await self._hangup(channel_id)
        finally:
            self._digits.pop(channel_id, None)

    async def _ask_pin(self, channel_id: str, caller: str, tollfree: bool) -> PinMatch | None:
        s = self.settings
        caller_key = lockouts.key_for(caller)
        async with self.db() as session:
            locked = await lockouts.is_locked(session, KIND_CALLER, caller_key)
        if locked:
            log.warning("conference caller locked out", extra={"channel": channel_id})
            await self._refuse(channel_id, SOUND_TOO_MANY, "caller locked out")
            return None
        keyed_any = False
        for attempt in range(1, max(1, s.conference_pin_tries) + 1):
            digits = await self._collect_digits(channel_id, SOUND_GET_PIN, s.conference_pin_timeout)
            if not digits:
                continue
            keyed_any = True
            async with self.db() as session, session.begin():
                admission = await service.admit(
                    session, digits, self._now(), tollfree=tollfree, early_minutes=s.conference_early_minutes
                )
                locked_now, language = False, None
                if admission.match is None:
                    locked_now = await lockouts.record_failure(
                        session,
                        KIND_CALLER,
                        caller_key,
                        max_failures=s.pin_max_failures,
                        window=dt.timedelta(seconds=s.pin_failure_window_s),
                        lock_for=dt.timedelta(seconds=s.pin_lock_s),
                    )
                else:
                    await lockouts.clear(session, KIND_CALLER, caller_key)
                    language = cv.prompt_language(
                        await service.owner_language(session, admission.match.conference.id)
                    )
            if admission.match is not None and language:
                # from here on (refusal or conference) the owner's language
                self._languages[admission.match.conference.id] = language
                await self._chan(
                    "POST", f"/channels/{channel_id}/variable", variable=cv.VAR_LANGUAGE, value=language
                )
            if admission.match is None:
                log.info("conference: unknown PIN", extra={"channel": channel_id, "attempt": attempt})
                if locked_now:
                    await self._refuse(channel_id, SOUND_TOO_MANY, "caller locked out")
                    return None
                if attempt < s.conference_pin_tries:
                    await self._play_channel(channel_id, [SOUND_INVALID_PIN])
                continue
            if admission.entry is Entry.OK:
                return admission.match
            log.info(
                "conference: entry refused",
                extra={
                    "channel": channel_id,
                    "conference": admission.match.conference.id,
                    "reason": admission.entry.value,
                },
            )
            await self._refuse(channel_id, REFUSAL_SOUNDS[admission.entry], admission.entry.value)
            return None
        await self._refuse(channel_id, SOUND_TOO_MANY if keyed_any else SOUND_GOODBYE, "no valid PIN")
        return None

    async def _collect_digits(self, channel_id: str, prompt: str, timeout: float) -> str:
        """Play `prompt` and gather keys until `#`, the longest PIN, or `timeout` seconds
        without a key. The first key stops the prompt."""
        queue = self._digits[channel_id]
        playback = await self._start_playback(f"/channels/{channel_id}/play", [prompt])
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        digits = ""
        try:
            while len(digits) < rules.PIN_MAX_DIGITS:
                try:
                    digit = await asyncio.wait_for(queue.get(), max(0.0, deadline - loop.time()))
                except TimeoutError:
                    break
                if digit is None:
                    raise CallerGone(channel_id)
                await self._stop_playback(playback)
                if digit == "#":
                    break
                if digit == "*":
                    digits = ""
                elif digit.isdigit():
                    digits += digit
                deadline = loop.time() + timeout
        finally:
            await self._stop_playback(playback)
        return digits

    async def _refuse(self, channel_id: str, sounds: tuple[str, ...], why: str) -> None:
        self.stats["refused"] += 1
        await self._play_channel(channel_id, list(sounds))
        await self._hangup(channel_id)

    # ------------------------------------------------------------------ joining
    async def _join(self, channel_id: str, match: PinMatch) -> None:
        room = await self._ensure_room(match.conference)
        if room is None:
            await self._refuse(channel_id, SOUND_ENDED, "expired while joining")
            return
        role = match.role
        await self._chan(
            "POST", f"/channels/{channel_id}/variable", variable=cv.VAR_CONF_ID, value=str(room.conference.id)
        )
        await self._chan(
            "POST", f"/channels/{channel_id}/variable", variable=cv.VAR_CONF_ROLE, value=role.value
        )
        for direction in sorted(rules.mute_directions(role, listeners_muted=room.listeners_muted)):
            await self._chan("POST", f"/channels/{channel_id}/mute", direction=direction)
        self._digits.pop(channel_id, None)
        async with self._locks[room.conference.id]:  # not while recover() rereads the bridge
            room.participants[channel_id] = Participant(channel_id, role)
            try:
                await self._chan(
                    "POST", f"/bridges/{room.bridge_id}/addChannel", channel=channel_id, absorbDTMF=True
                )
            except CallerGone:
                room.participants.pop(channel_id, None)
                raise
        self.stats["joined"] += 1
        log.info(
            "conference: joined",
            extra={
                "channel": channel_id,
                "conference": room.conference.id,
                "role": role.value,
                "bridge": room.bridge_id,
            },
        )
        if not room.conference.quiet_mode:
            await self._announce(room, [SOUND_JOINED])

    async def _ensure_room(self, conf: ConferenceInfo) -> Room | None:
        """The conference's running bridge: the one we know, the one the database names (after
        a controller restart), or a new one (first caller, or Asterisk restarted)."""
        async with self._locks[conf.id]:
            room = self.rooms.get(conf.id)
            if room is not None and not room.ending and await self._bridge_exists(room.bridge_id):
                return room
            if room is not None and room.ending:
                return None
            adopted = None
            if conf.bridge_id and await self._bridge_exists(conf.bridge_id):
                adopted = conf.bridge_id
            bridge_id = adopted or f"conf-{conf.id}-{uuid.uuid4().hex[:12]}"
            if adopted is None:
                kinds = "mixing,dtmf_events" + (",video_sfu" if conf.video else "")
                await self.ari.post(
                    "/bridges", type=kinds, bridgeId=bridge_id, name=f"{cv.CONF_BRIDGE_PREFIX}{conf.id}"
                )
            async with self.db() as session, session.begin():
                info = await service.mark_started(session, conf.id, bridge_id)
            if info is None:  # expired meanwhile
                await self._destroy_bridge(bridge_id)
                self.rooms.pop(conf.id, None)
                return None
            room = Room(info, bridge_id)
            if adopted:
                await self._adopt_channels(room)
            self.rooms[conf.id] = room
            log.info(
                "conference started", extra={"conference": conf.id, "bridge": bridge_id, "video": conf.video}
            )
            self._ensure_timer(conf.id)
            return room

    async def _announce(self, room: Room, sounds: list[str]) -> None:
        try:
            await self._start_playback(
                f"/bridges/{room.bridge_id}/play", sounds, lang=self._languages.get(room.conference.id)
            )
        except ARIError as exc:
            log.warning("conference announcement failed", extra={"bridge": room.bridge_id, "error": str(exc)})

    # ------------------------------------------------------------------ events
    async def _on_dtmf(self, event: dict[str, Any]) -> None:
        channel_id = event.get("channel", {}).get("id", "")
        digit = event.get("digit", "")
        queue = self._digits.get(channel_id)
        if queue is not None:
            queue.put_nowait(digit)
            return
        found = self._participant(channel_id)
        if found is None:
            return
        room, who = found
        if who.role is not Role.ADMIN or room.ending:
            return
        now = time.monotonic()
        action = rules.admin_action(digit, end_armed_at=who.end_armed_at, now=now)
        who.end_armed_at = now if action is AdminAction.ARM_END else None
        if action is AdminAction.MUTE_ALL:
            self._spawn(self._mute_listeners(room, True), "conference-mute-all")
        elif action is AdminAction.UNMUTE_ALL:
            self._spawn(self._mute_listeners(room, False), "conference-unmute-all")
        elif action is AdminAction.END:
            log.info("conference ended by admin", extra={"conference": room.conference.id})
            self._spawn(self.end(room.conference.id, "admin"), "conference-end")

    async def _mute_listeners(self, room: Room, mute: bool) -> None:
        room.listeners_muted = mute
        for p in list(room.participants.values()):
            if p.role is not Role.NORMAL:
                continue
            try:
                await self.ari.request(
                    "POST" if mute else "DELETE", f"/channels/{p.channel_id}/mute", direction="in"
                )
            except ARIError:
                pass  # gone meanwhile
        await self._announce(room, [SOUND_MUTED_ALL if mute else SOUND_UNMUTED_ALL])

    async def _on_stasis_end(self, event: dict[str, Any]) -> None:
        channel_id = event.get("channel", {}).get("id", "")
        queue = self._digits.get(channel_id)
        if queue is not None:
            queue.put_nowait(None)
        found = self._participant(channel_id)
        if found is None:
            return
        room, _ = found
        room.participants.pop(channel_id, None)
        log.info("conference: left", extra={"channel": channel_id, "conference": room.conference.id})
        if not room.conference.quiet_mode and not room.ending and room.participants:
            self._spawn(self._announce(room, [SOUND_LEFT]), "conference-left")

    async def _on_playback_finished(self, event: dict[str, Any]) -> None:
        fut = self._playbacks.pop(event.get("playback", {}).get("id", ""), None)
        if fut is not None and not fut.done():
            fut.set_result(event["playback"].get("state"))

    async def _on_connected(self, event: dict[str, Any]) -> None:
        self._spawn(self.recover(), "conference-recover")

    def _participant(self, channel_id: str) -> tuple[Room, Participant] | None:
        for room in self.rooms.values():
            p = room.participants.get(channel_id)
            if p is not None:
                return room, p
        return None

    # ------------------------------------------------------------------ the end
    def _ensure_timer(self, conference_id: int) -> None:
        task = self._timers.get(conference_id)
        if task is None or task.done():
            self._timers[conference_id] = asyncio.create_task(
                self._timer(conference_id), name=f"conference-timer-{conference_id}"
            )

    async def _timer(self, conference_id: int) -> None:
        """Sleep until the scheduled end (re-read each time: the panel may change it), then end."""
        while True:
            try:
                async with self.db() as session:
                    info = await service.get_conference(session, conference_id)
            except Exception as exc:
                log.warning("conference timer: database unavailable", extra={"error": str(exc)[:200]})
                await asyncio.sleep(5)
                continue
            if info is None or info.status == rules.Status.EXPIRED.value:
                if conference_id in self.rooms:
                    await self.end(conference_id, "expired elsewhere", from_timer=True)
                return
            left = rules.seconds_left(self._now(), info.starts_at, info.duration_minutes)
            if left <= 0:
                await self.end(conference_id, "duration over", from_timer=True)
                return
            await asyncio.sleep(min(left, 300))

    async def end(self, conference_id: int, reason: str, *, from_timer: bool = False) -> None:
        """Expire the conference: announce to the bridge, hang everyone up, destroy the bridge."""
        async with self._locks[conference_id]:
            async with self.db() as session, session.begin():
                changed = await service.mark_expired(session, conference_id)
            room = self.rooms.get(conference_id)
            if room is not None:
                if room.ending:
                    return
                room.ending = True
        timer = self._timers.pop(conference_id, None)
        if timer is not None and not from_timer:
            timer.cancel()
        if not changed and room is None:
            return
        self.stats["ended"] += 1
        log.info("conference expired", extra={"conference": conference_id, "reason": reason})
        if room is None:
            return
        try:
            if room.participants:
                await self._play_and_wait(
                    f"/bridges/{room.bridge_id}/play",
                    list(SOUND_ENDED),
                    lang=self._languages.get(room.conference.id),
                )
            channels = set(room.participants)
            try:
                bridge = await self.ari.get(f"/bridges/{room.bridge_id}")
                channels.update(bridge.get("channels", []))
            except ARIError:
                pass
            for channel_id in channels:
                await self._hangup(channel_id)
            await self._destroy_bridge(room.bridge_id)
        finally:
            if self.rooms.get(conference_id) is room:
                del self.rooms[conference_id]

    async def sweep(self) -> None:
        """Expire overdue conferences and keep a timer on every Started one."""
        async with self.db() as session:
            due = await service.overdue(session, self._now())
            running = await service.started(session)
        for conf in due:
            await self.end(conf.id, "overdue")
        for conf in running:
            if conf.id not in {c.id for c in due}:
                self._ensure_timer(conf.id)

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(max(1.0, self.settings.conference_sweep_s))
            try:
                await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning(
                    "conference sweep failed", extra={"error": f"{exc.__class__.__name__}: {exc}"[:300]}
                )

    # ------------------------------------------------------------------ recovery
    async def recover(self) -> None:
        """Rebuild the rooms from the database and Asterisk's bridges (after a controller start
        or an ARI reconnect)."""
        async with self._recovering:
            try:
                bridges = await self.ari.get("/bridges") or []
            except ARIError as exc:
                log.warning("conference recovery: no bridge list", extra={"error": str(exc)})
                return
            async with self.db() as session:
                running = {c.id: c for c in await service.started(session)}
            ours = {b["id"]: b for b in bridges if str(b.get("name", "")).startswith(cv.CONF_BRIDGE_PREFIX)}
            for conf in running.values():
                async with self._locks[conf.id]:
                    room = self.rooms.get(conf.id)
                    bridge = ours.get(room.bridge_id if room else "") or ours.get(conf.bridge_id or "")
                    if bridge is None:
                        # Asterisk lost it (restart): the next caller creates a new one
                        if room is not None and not room.ending:
                            self.rooms.pop(conf.id, None)
                            log.info("conference bridge gone", extra={"conference": conf.id})
                    else:
                        if room is None or room.bridge_id != bridge["id"]:
                            room = Room(conf, bridge["id"])
                            self.rooms[conf.id] = room
                        await self._subscribe_bridge(bridge["id"])
                        await self._adopt_channels(room, bridge.get("channels", []))
                        log.info(
                            "conference bridge adopted",
                            extra={
                                "conference": conf.id,
                                "bridge": bridge["id"],
                                "participants": len(room.participants),
                            },
                        )
                self._ensure_timer(conf.id)
            # bridges of conferences that are no longer running (expired while we were away)
            live = {r.bridge_id for r in self.rooms.values()}
            for bridge_id, bridge in ours.items():
                if bridge_id in live:
                    continue
                for channel_id in bridge.get("channels", []):
                    await self._hangup(channel_id)
                await self._destroy_bridge(bridge_id)
            for conf_id in [cid for cid, r in self.rooms.items() if cid not in running and not r.ending]:
                self.rooms.pop(conf_id, None)
        try:
            await self.sweep()
        except Exception as exc:
            log.warning("conference sweep failed", extra={"error": str(exc)[:300]})

    async def _adopt_channels(self, room: Room, channels: list[str] | None = None) -> None:
        if channels is None:
            try:
                channels = (await self.ari.get(f"/bridges/{room.bridge_id}")).get("channels", [])
            except ARIError:
                channels = []
        for channel_id in list(room.participants):
            if channel_id not in channels:
                room.participants.pop(channel_id)
        for channel_id in channels:
            if channel_id in room.participants:
                continue
            try:
                value = (
                    await self.ari.get(f"/channels/{channel_id}/variable", variable=cv.VAR_CONF_ROLE)
                ).get("value", "")
            except ARIError:
                continue  # not a channel of ours (a recorder, a playback) or gone
            role = Role(value) if value in Role._value2member_map_ else Role.NORMAL
            room.participants[channel_id] = Participant(channel_id, role)

    async def _subscribe_bridge(self, bridge_id: str) -> None:
        try:
            await self.ari.post(
                f"/applications/{self.settings.ari_app}/subscribe", eventSource=f"bridge:{bridge_id}"
            )
        except ARIError:
            pass

    # ------------------------------------------------------------------ ARI helpers
    async def _chan(self, method: str, path: str, **params: Any) -> Any:
        """An ARI request about a caller's channel: 404 means the caller is gone."""
        try:
            return await self.ari.request(method, path, **params)
        except ARIError as exc:
            if exc.status in (404, 409):
                raise CallerGone(path) from exc
            raise

    async def _bridge_exists(self, bridge_id: str) -> bool:
        try:
            await self.ari.get(f"/bridges/{bridge_id}")
            return True
        except ARIError as exc:
            if exc.status == 404:
                return False
            raise

    async def _destroy_bridge(self, bridge_id: str) -> None:
        try:
            await self.ari.delete(f"/bridges/{bridge_id}")
        except ARIError:
            pass

    async def _hangup(self, channel_id: str) -> None:
        try:
            await self.ari.delete(f"/channels/{channel_id}")
        except ARIError:
            pass

    async def _start_playback(self, path: str, media: list[str], lang: str | None = None) -> str:
        """`lang`: for a bridge (no language of its own); a channel's play uses the channel's."""
        playback_id = uuid.uuid4().hex
        self._playbacks[playback_id] = asyncio.get_running_loop().create_future()
        params = {"lang": lang} if lang else {}
        try:
            await self._chan("POST", path, media=media, playbackId=playback_id, **params)
        except BaseException:
            self._playbacks.pop(playback_id, None)
            raise
        return playback_id

    async def _stop_playback(self, playback_id: str) -> None:
        fut = self._playbacks.get(playback_id)
        if fut is None or fut.done():
            return
        try:
            await self.ari.delete(f"/playbacks/{playback_id}")
        except ARIError:
            pass
        self._playbacks.pop(playback_id, None)

    async def _play_and_wait(
        self, path: str, media: list[str], timeout: float = PLAYBACK_WAIT, lang: str | None = None
    ) -> None:
        playback_id = await self._start_playback(path, media, lang)
        fut = self._playbacks.get(playback_id)
        if fut is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(fut), timeout)
        except TimeoutError:
            await self._stop_playback(playback_id)
        finally:
            self._playbacks.pop(playback_id, None)

    async def _play_channel(self, channel_id: str, media: list[str]) -> None:
        """Play to a caller and wait for the end; a key pressed meanwhile stays queued."""
        await self._play_and_wait(f"/channels/{channel_id}/play", media)
