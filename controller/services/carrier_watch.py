"""The carriers' setup watchdog (issue 14): a carrier that says nothing is given up on.

A call routed through carriers (context carrier-out) tries them in order. Dial's own timeout
cannot tell a silent carrier from a called party who is ringing (it counts both), and PJSIP's
INVITE timer (timer_b, 32 s) is global, not per carrier. So each carrier channel announces
itself, from Dial's pre-dial handler, with a UserEvent VoipCarrierDial naming the channel, its
caller (the channel that dials) and the carrier's `setup_timeout` (headers Leg, Caller, Timeout:
the event's own Channel header is the carrier channel too). When that time is up this
watchdog asks Asterisk over AMI whether the attempt got anywhere: Dial sets RINGTIME on the
caller when the first ringing arrives and PROGRESSTIME at the first progress (183), and clears
both when it starts; an answered carrier channel is Up. If none of that happened, the carrier
channel is hung up with Q.850 cause 102 (recovery on timer expiry): Dial then ends with
CHANUNAVAIL and the dialplan tries the next carrier.

A channel that is gone by then (answered and hung up, refused, the caller gone) answers the
AMI Getvar with an error: nothing to do. Only the variables of the channels named in the event
are read, so the cost is two or three AMI actions per attempt, after its setup time.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from controller.rules import channel_vars as cv
from controller.services.ami import AMIError, AMILink

log = logging.getLogger("controller.services.carrier_watch")

CAUSE_TIMER_EXPIRED = 102  # Q.850 "recovery on timer expiry"
MAX_SETUP_SECONDS = 120  # carriers.setup_timeout's upper bound


def _field(event: Any, name: str) -> str:
    """One header of the event (a header sent twice arrives as a list: its first)."""
    value = event.get(name, "")
    if isinstance(value, list):
        value = value[0] if value else ""
    return str(value)


class CarrierWatch:
    def __init__(self, ami: AMILink):
        self.ami = ami
        self.watching = 0
        self.hung_up = 0  # carrier channels given up on (tests and the health page read it)
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        self.ami.on("UserEvent", self._on_event)

    async def stop(self) -> None:
        try:
            self.ami.manager.callbacks["UserEvent"].remove(self._on_event)
        except (KeyError, ValueError):
            pass
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _on_event(self, manager: Any, event: Any) -> None:
        if event.get("UserEvent") != cv.EVENT_CARRIER_DIAL:
            return
        channel, caller = _field(event, "Leg"), _field(event, "Caller")
        # only what [carrier-out]'s pre-dial handler sends: the event comes from the carrier
        # channel itself (Asterisk's own Channel header), and that is a carrier's. Another
        # UserEvent of this name (an admin dialplan context) cannot name some other channel
        if channel != _field(event, "Channel") or not channel.startswith("PJSIP/carrier-"):
            return
        try:
            timeout = float(_field(event, "Timeout"))
        except ValueError:
            return
        if not channel or not caller or not 0 < timeout <= MAX_SETUP_SECONDS:
            return
        task = asyncio.get_running_loop().create_task(
            self._watch(channel, caller, timeout), name=f"carrier-watch {channel}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _getvar(self, channel: str, variable: str) -> str | None:
        """A variable of a live channel; None when the channel is gone (or AMI is)."""
        reply = await self.ami.action({"Action": "Getvar", "Channel": channel, "Variable": variable})
        if not getattr(reply, "success", False):
            return None
        value = str(reply.get("Value") or "")
        return "" if value == "(null)" else value

    async def _watch(self, channel: str, caller: str, timeout: float) -> None:
        self.watching += 1
        try:
            await asyncio.sleep(timeout)
            state = await self._getvar(channel, "CHANNEL(state)")
            if state is None or state in ("Up", "Ringing"):
                return  # gone, answered, or ringing: the carrier did its part
            ring = await self._getvar(caller, "RINGTIME")
            progress = await self._getvar(caller, "PROGRESSTIME")
            if ring is None or progress is None or ring or progress:
                return
            reply = await self.ami.action(
                {"Action": "Hangup", "Channel": channel, "Cause": str(CAUSE_TIMER_EXPIRED)}
            )
            self.hung_up += 1
            log.warning(
                "carrier silent past its setup time: attempt given up",
                extra={"channel": channel, "timeout": timeout, "reply": str(reply.get("Message", ""))[:80]},
            )
        except AMIError as exc:
            log.info("carrier watch: AMI unavailable", extra={"channel": channel, "error": str(exc)[:200]})
        except Exception as exc:  # never let one watch take the AMI callbacks down
            log.warning("carrier watch failed", extra={"channel": channel, "error": repr(exc)[:200]})
        finally:
            self.watching -= 1
