"""A conference's life in Asterisk: its bridge (the room) started with the first caller, a timer
to its scheduled end, the end itself, and recovery after restarts.

Start: the first caller with a valid PIN creates the ARI mixing bridge (video_sfu for a video
conference; named conference-<id> so recovery can find it) and the status becomes Started.

End of the duration (an asyncio timer per running conference, plus a periodic sweep): the
bridge hears `confbridge-conf-end` + `goodbye`, every participant is hung up, the bridge is
destroyed, and the status becomes Expired. The admin's 9 9 ends it the same way.

Restarts: on start and on every ARI (re)connect the app reads Started conferences from the
database and the bridges from GET /bridges: live bridges are re-adopted (participants' roles
are read back from the channel variable VOIP_CONF_ROLE), vanished ones (Asterisk restarted)
are forgotten and re-created by the next caller, overdue conferences are ended.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

from ari_apps.conference.context import ConferenceContext, Participant, Room
from ari_apps.conference.media import SOUND_ENDED, to_bridge
from ari_apps.line import hang_up
from controller.rules import channel_vars as cv
from controller.rules import conference as rules
from controller.rules.conference import Role
from controller.services.ari import ARIClient, ARIError
from controller.services.conference import service
from controller.services.conference.service import ConferenceInfo

log = logging.getLogger("ari_apps.conference")


async def ensure_room(ctx: ConferenceContext, conf: ConferenceInfo) -> Room | None:
    """The conference's running bridge: the one we know, the one the database names (after
    a controller restart), or a new one (first caller, or Asterisk restarted)."""
    async with ctx.locks[conf.id]:
        room = ctx.rooms.get(conf.id)
        if room is not None and not room.ending and await bridge_exists(ctx.ari, room.bridge_id):
            return room
        if room is not None and room.ending:
            return None
        adopted = None
        if conf.bridge_id and await bridge_exists(ctx.ari, conf.bridge_id):
            adopted = conf.bridge_id
        bridge_id = adopted or f"conf-{conf.id}-{uuid.uuid4().hex[:12]}"
        if adopted is None:
            kinds = "mixing,dtmf_events" + (",video_sfu" if conf.video else "")
            await ctx.ari.post(
                "/bridges", type=kinds, bridgeId=bridge_id, name=f"{cv.CONF_BRIDGE_PREFIX}{conf.id}"
            )
        async with ctx.db() as session, session.begin():
            info = await service.mark_started(session, conf.id, bridge_id)
        if info is None:  # expired meanwhile
            await destroy_bridge(ctx.ari, bridge_id)
            ctx.rooms.pop(conf.id, None)
            return None
        room = Room(info, bridge_id)
        if adopted:
            await adopt_channels(ctx, room)
        ctx.rooms[conf.id] = room
        log.info(
            "conference started", extra={"conference": conf.id, "bridge": bridge_id, "video": conf.video}
        )
        ensure_timer(ctx, conf.id)
        return room


# ---------------------------------------------------------------------- the end
def ensure_timer(ctx: ConferenceContext, conference_id: int) -> None:
    task = ctx.timers.get(conference_id)
    if task is None or task.done():
        ctx.timers[conference_id] = asyncio.create_task(
            _timer(ctx, conference_id), name=f"conference-timer-{conference_id}"
        )


async def _timer(ctx: ConferenceContext, conference_id: int) -> None:
    """Sleep until the scheduled end (re-read each time: the panel may change it), then end."""
    while True:
        try:
            async with ctx.db() as session:
                info = await service.get_conference(session, conference_id)
        except Exception as exc:
            log.warning("conference timer: database unavailable", extra={"error": str(exc)[:200]})
            await asyncio.sleep(5)
            continue
        if info is None or info.status == rules.Status.EXPIRED.value:
            if conference_id in ctx.rooms:
                await end(ctx, conference_id, "expired elsewhere", from_timer=True)
            return
        left = rules.seconds_left(ctx.now(), info.starts_at, info.duration_minutes)
        if left <= 0:
            await end(ctx, conference_id, "duration over", from_timer=True)
            return
        await asyncio.sleep(min(left, 300))


async def end(ctx: ConferenceContext, conference_id: int, reason: str, *, from_timer: bool = False) -> None:
    """Expire the conference: announce to the bridge, hang everyone up, destroy the bridge."""
    async with ctx.locks[conference_id]:
        async with ctx.db() as session, session.begin():
            changed = await service.mark_expired(session, conference_id)
        room = ctx.rooms.get(conference_id)
        if room is not None:
            if room.ending:
                return
            room.ending = True
    timer = ctx.timers.pop(conference_id, None)
    if timer is not None and not from_timer:
        timer.cancel()
    if not changed and room is None:
        return
    ctx.stats["ended"] += 1
    log.info("conference expired", extra={"conference": conference_id, "reason": reason})
    if room is None:
        return
    try:
        if room.participants:
            await ctx.playbacks.play_and_wait(
                to_bridge(room.bridge_id), list(SOUND_ENDED), lang=ctx.language(room)
            )
        channels = set(room.participants)
        try:
            bridge = await ctx.ari.get(f"/bridges/{room.bridge_id}")
            channels.update(bridge.get("channels", []))
        except ARIError:
            pass
        for channel_id in channels:
            await hang_up(ctx.ari, channel_id)
        await destroy_bridge(ctx.ari, room.bridge_id)
    finally:
        if ctx.rooms.get(conference_id) is room:
            del ctx.rooms[conference_id]


async def sweep(ctx: ConferenceContext) -> None:
    """Expire overdue conferences and keep a timer on every Started one."""
    async with ctx.db() as session:
        due = await service.overdue(session, ctx.now())
        running = await service.started(session)
    for conf in due:
        await end(ctx, conf.id, "overdue")
    for conf in running:
        if conf.id not in {c.id for c in due}:
            ensure_timer(ctx, conf.id)


async def sweep_forever(ctx: ConferenceContext) -> None:
    while True:
        await asyncio.sleep(max(1.0, ctx.settings.conference_sweep_s))
        try:
            await sweep(ctx)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("conference sweep failed", extra={"error": f"{exc.__class__.__name__}: {exc}"[:300]})


# ---------------------------------------------------------------------- recovery
async def recover(ctx: ConferenceContext) -> None:
    """Rebuild the rooms from the database and Asterisk's bridges (after a controller start
    or an ARI reconnect)."""
    async with ctx.recovering:
        try:
            bridges = await ctx.ari.get("/bridges") or []
        except ARIError as exc:
            log.warning("conference recovery: no bridge list", extra={"error": str(exc)})
            return
        async with ctx.db() as session:
            running = {c.id: c for c in await service.started(session)}
        ours = {b["id"]: b for b in bridges if str(b.get("name", "")).startswith(cv.CONF_BRIDGE_PREFIX)}
        for conf in running.values():
            async with ctx.locks[conf.id]:
                room = ctx.rooms.get(conf.id)
                bridge = ours.get(room.bridge_id if room else "") or ours.get(conf.bridge_id or "")
                if bridge is None:
                    # Asterisk lost it (restart): the next caller creates a new one
                    if room is not None and not room.ending:
                        ctx.rooms.pop(conf.id, None)
                        log.info("conference bridge gone", extra={"conference": conf.id})
                else:
                    if room is None or room.bridge_id != bridge["id"]:
                        room = Room(conf, bridge["id"])
                        ctx.rooms[conf.id] = room
                    await _subscribe_bridge(ctx, bridge["id"])
                    await adopt_channels(ctx, room, bridge.get("channels", []))
                    log.info(
                        "conference bridge adopted",
                        extra={
                            "conference": conf.id,
                            "bridge": bridge["id"],
                            "participants": len(room.participants),
                        },
                    )
            ensure_timer(ctx, conf.id)
        # bridges of conferences that are no longer running (expired while we were away)
        live = {r.bridge_id for r in ctx.rooms.values()}
        for bridge_id, bridge in ours.items():
            if bridge_id in live:
                continue
            for channel_id in bridge.get("channels", []):
                await hang_up(ctx.ari, channel_id)
            await destroy_bridge(ctx.ari, bridge_id)
        for conf_id in [cid for cid, r in ctx.rooms.items() if cid not in running and not r.ending]:
            ctx.rooms.pop(conf_id, None)
    try:
        await sweep(ctx)
    except Exception as exc:
        log.warning("conference sweep failed", extra={"error": str(exc)[:300]})


async def adopt_channels(ctx: ConferenceContext, room: Room, channels: list[str] | None = None) -> None:
    """The room's participants as the bridge has them, roles read back from the channels."""
    if channels is None:
        try:
            channels = (await ctx.ari.get(f"/bridges/{room.bridge_id}")).get("channels", [])
        except ARIError:
            channels = []
    for channel_id in list(room.participants):
        if channel_id not in channels:
            room.participants.pop(channel_id)
    for channel_id in channels:
        if channel_id in room.participants:
            continue
        try:
            value = (await ctx.ari.get(f"/channels/{channel_id}/variable", variable=cv.VAR_CONF_ROLE)).get(
                "value", ""
            )
        except ARIError:
            continue  # not a channel of ours (a recorder, a playback) or gone
        role = Role(value) if value in Role._value2member_map_ else Role.NORMAL
        room.participants[channel_id] = Participant(channel_id, role)


async def _subscribe_bridge(ctx: ConferenceContext, bridge_id: str) -> None:
    try:
        await ctx.ari.post(
            f"/applications/{ctx.settings.ari_app}/subscribe", eventSource=f"bridge:{bridge_id}"
        )
    except ARIError:
        pass


async def bridge_exists(ari: ARIClient, bridge_id: str) -> bool:
    try:
        await ari.get(f"/bridges/{bridge_id}")
        return True
    except ARIError as exc:
        if exc.status == 404:
            return False
        raise


async def destroy_bridge(ari: ARIClient, bridge_id: str) -> None:
    try:
        await ari.delete(f"/bridges/{bridge_id}")
    except ARIError:
        pass
