"""Who is in a running conference and what they may do there.

Joining: the caller's channel takes the PIN's role as mute directions (normal talks and hears,
listen only is muted `in`, talk only muted `out`, admin talks and hears) and the channel
variables VOIP_CONF_ID / VOIP_CONF_ROLE (recovery reads the role back), then enters the
room's bridge. Not quiet mode: `conf-hasjoin` / `conf-hasleft` played to the bridge on each
join/leave.

Admin keys (while in the conference):
  1      mute all normal participants ("listeners"); the bridge hears `conf-now-muted`
  2      unmute them; the bridge hears `conf-now-unmuted`
  9 9    (twice within 3 s) end the conference now, as at the end of its duration
"""

from __future__ import annotations

import logging
import time

from ari_apps.conference import lifecycle
from ari_apps.conference.context import ConferenceContext, Participant, Room
from ari_apps.conference.media import SOUND_JOINED, SOUND_LEFT, SOUND_MUTED_ALL, SOUND_UNMUTED_ALL
from ari_apps.line import CallerGone, Line
from controller.rules import channel_vars as cv
from controller.rules import conference as rules
from controller.rules.conference import AdminAction, Role
from controller.services.ari import ARIError
from controller.services.conference.service import PinMatch

log = logging.getLogger("ari_apps.conference")


async def join(ctx: ConferenceContext, line: Line, match: PinMatch) -> bool:
    """Into the conference's room (started if need be); False when it ended meanwhile."""
    room = await lifecycle.ensure_room(ctx, match.conference)
    if room is None:
        return False
    role = match.role
    await line.set_variable(cv.VAR_CONF_ID, str(room.conference.id))
    await line.set_variable(cv.VAR_CONF_ROLE, role.value)
    for direction in sorted(rules.mute_directions(role, listeners_muted=room.listeners_muted)):
        await line.mute(direction)
    ctx.callers.close(line)  # from here on its keys are a participant's (admin keys)
    async with ctx.locks[room.conference.id]:  # not while recover() rereads the bridge
        room.participants[line.id] = Participant(line.id, role)
        try:
            await line.join_bridge(room.bridge_id)
        except CallerGone:
            room.participants.pop(line.id, None)
            raise
    ctx.stats["joined"] += 1
    log.info(
        "conference: joined",
        extra={
            "channel": line.id,
            "conference": room.conference.id,
            "role": role.value,
            "bridge": room.bridge_id,
        },
    )
    if not room.conference.quiet_mode:
        await announce(ctx, room, [SOUND_JOINED])
    return True


def leave(ctx: ConferenceContext, channel_id: str) -> None:
    """A participant's channel left Stasis (hung up, or hung up by us)."""
    found = ctx.participant(channel_id)
    if found is None:
        return
    room, _ = found
    room.participants.pop(channel_id, None)
    log.info("conference: left", extra={"channel": channel_id, "conference": room.conference.id})
    if not room.conference.quiet_mode and not room.ending and room.participants:
        ctx.spawn(announce(ctx, room, [SOUND_LEFT]), "conference-left")


def key(ctx: ConferenceContext, channel_id: str, digit: str) -> None:
    """A participant pressed a key: only the admin's count (rules.admin_action)."""
    found = ctx.participant(channel_id)
    if found is None:
        return
    room, who = found
    if who.role is not Role.ADMIN or room.ending:
        return
    now = time.monotonic()
    action = rules.admin_action(digit, end_armed_at=who.end_armed_at, now=now)
    who.end_armed_at = now if action is AdminAction.ARM_END else None
    if action is AdminAction.MUTE_ALL:
        ctx.spawn(mute_listeners(ctx, room, True), "conference-mute-all")
    elif action is AdminAction.UNMUTE_ALL:
        ctx.spawn(mute_listeners(ctx, room, False), "conference-unmute-all")
    elif action is AdminAction.END:
        log.info("conference ended by admin", extra={"conference": room.conference.id})
        ctx.spawn(lifecycle.end(ctx, room.conference.id, "admin"), "conference-end")


async def mute_listeners(ctx: ConferenceContext, room: Room, mute: bool) -> None:
    room.listeners_muted = mute
    for p in list(room.participants.values()):
        if p.role is not Role.NORMAL:
            continue
        try:
            await ctx.ari.request(
                "POST" if mute else "DELETE", f"/channels/{p.channel_id}/mute", direction="in"
            )
        except ARIError:
            pass  # gone meanwhile
    await announce(ctx, room, [SOUND_MUTED_ALL if mute else SOUND_UNMUTED_ALL])


async def announce(ctx: ConferenceContext, room: Room, sounds: list[str]) -> None:
    await ctx.playbacks.announce(room.bridge_id, sounds, ctx.language(room))
