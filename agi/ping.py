"""Route `ping`: proves the wiring (the dialplan reads back what we set)."""

from __future__ import annotations

from agi.channel import Channel
from controller.rules import channel_vars as cv
from controller.services.deps import Deps


async def ping(channel: Channel, deps: Deps) -> None:
    tag = channel.args()[0] if channel.args() else channel.uniqueid
    await channel.set_variable(cv.VAR_PING_REPLY, f"pong:{tag}")
