"""Holds never orphaned (issue 13): the hold sweeper.

A billable call's hold (call_authorizations) is given back by the call's own hangup handler
(agi/release.py) when the call was not answered, and settled by the rater when its CDR is
charged. What those miss (a caller who hung up while the decision was being made, a controller
or Asterisk restart, a lost FastAGI connection) the sweeper frees: every `interval` seconds it
reads the open holds, then asks Asterisk over AMI which channels live (CoreShowChannels: their
uniqueids and linkedids), and releases a hold whose channel and whose call's tree (call_group,
the linkedid) are both gone, once they have been gone `grace` seconds, unless an answered
call's CDR names it.

Why the CDR: an answered call that ended has a CDR with its auth_id, and the rater settles the
hold in the transaction that charges it. Releasing the hold before that would let the money be
held by another call meanwhile and spent twice (the rater's debit would then stop at zero, a
shortfall). So such a hold stays until it is rated; if the rater is off or the CDR is
quarantined, the hold's own expiry (max length + grace, db.billing.HOLD_GRACE_SECONDS) still
ends it. `grace` covers the moment between a channel's end and its CDR's insert (cdr_pgsql
writes it when the channel is destroyed, batch = no).

The holds are read before the channels: a hold's channel exists before its hold is inserted,
so a hold read at t0 whose channel is alive at t1 > t0 is in the channel list. A round whose
channel list is incomplete (AMI down, no CoreShowChannelsComplete, fewer channels
than its ListItems) releases nothing. The sweeper
remembers only since when it saw each hold's call gone, so a restarted controller frees the
leftovers of the previous one after one grace.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from controller.services.ami import AMIError, AMILink
from controller.settings import Settings
from db import billing, hotpath

log = logging.getLogger("controller.services.holds")


@dataclass(frozen=True)
class LiveChannel:
    name: str
    uniqueid: str
    linkedid: str


async def channel_list(ami: AMILink, timeout: float = 5.0) -> list[LiveChannel]:
    """Every channel Asterisk has now (CoreShowChannels). AMIError when the list cannot be had
    complete."""
    reply = await ami.action({"Action": "CoreShowChannels"}, timeout=timeout)
    messages = reply if isinstance(reply, list) else [reply]
    if not messages or getattr(messages[-1], "event", "") != "CoreShowChannelsComplete":
        raise AMIError("CoreShowChannels gave no complete list")
    channels = [
        LiveChannel(str(m.get("Channel", "")), str(m.get("Uniqueid", "")), str(m.get("Linkedid", "")))
        for m in messages
        if getattr(m, "event", "") == "CoreShowChannel"
    ]
    # the Complete event counts what Asterisk sent: fewer here is a partial list, not "gone"
    items = str(messages[-1].get("ListItems", "")).strip()
    if items.isdigit() and int(items) != len(channels):
        raise AMIError(f"CoreShowChannels listed {len(channels)} of {items} channels")
    return channels


async def live_channels(ami: AMILink, timeout: float = 5.0) -> set[str]:
    """The uniqueids and linkedids of every channel Asterisk has now. AMIError when the list
    cannot be had complete."""
    live: set[str] = set()
    for c in await channel_list(ami, timeout):
        live.update(v for v in (c.uniqueid, c.linkedid) if v)
    return live


def next_timeout(left: float, elapsed: float, granted: int) -> int | None:
    """The channel's new TIMEOUT(absolute) once `granted` more seconds are held: what was left
    when read, less the time since, plus the slice, rounded down (never more than granted).
    None when that is under one second: Asterisk takes 0 or less as "no limit" (func_timeout:
    a zero time cancels the channel's hangup), so writing it would let the call run unpaid; the
    channel then keeps its current end."""
    new_left = math.floor(left - elapsed + granted)
    return new_left if new_left >= 1 else None


class HoldSweeper:
    def __init__(
        self,
        ami: AMILink,
        db: Callable[[], AsyncSession],
        *,
        interval: float = 3.0,
        grace: float = 6.0,
        pg: hotpath.HotDB | None = None,
        slice_seconds: int = 0,
        extend_before: float = 45.0,
        settings: Settings | None = None,
    ):
        self.ami, self.db = ami, db
        self.interval, self.grace = interval, grace
        # the extender: with `pg` and a slice, a live call's hold gets one more slice once its
        # channel has `extend_before` seconds left or less
        self.pg, self.slice_seconds, self.extend_before = pg, slice_seconds, extend_before
        self.settings = settings
        self.extended = 0
        self._gone_since: dict[int, float] = {}
        self._stop = asyncio.Event()
        self._task: asyncio.Task[Any] | None = None
        self.rounds = 0
        self.released = 0

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._stop.clear()
            self._task = asyncio.create_task(self._run(), name="hold-sweeper")

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, 10)
            except TimeoutError:
                self._task.cancel()
            self._task = None

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                await self.sweep()
            except Exception as exc:
                log.warning("hold sweep failed", extra={"error": repr(exc)[:300]})
            try:
                await asyncio.wait_for(self._stop.wait(), self.interval)
            except TimeoutError:
                pass

    def own(self, holds: list[billing.OpenHold]) -> list[billing.OpenHold]:
        """The holds of calls on this controller's Asterisk node. With several nodes
        (VOIP_ASTERISK_SYSTEM_NAME set) a channel's uniqueid is `<systemname>-<epoch>.<n>`, and this
        controller's AMI lists only its own node's channels: a hold of a call on another node
        would look gone here and be released while its call goes on. So only the holds whose
        uniqueid carries this node's prefix are judged (the other node's controller judges the
        rest). With no name set (one node), every hold is this node's."""
        name = self.settings.asterisk_system_name.strip() if self.settings is not None else ""
        if not name:
            return holds
        # the whole uniqueid, not a prefix: node `ast` must not take node `ast-b`'s holds
        mine = re.compile(re.escape(name) + r"-\d+\.\d+")
        return [h for h in holds if mine.fullmatch(h.uniqueid or "")]

    async def sweep(self) -> list[int]:
        """One round; the ids of the holds it released."""
        async with self.db() as session:
            holds = await session.run_sync(billing.open_holds_all)
        self.rounds += 1
        holds = self.own(holds)
        if not holds:
            self._gone_since.clear()
            return []
        try:
            channels = await channel_list(self.ami)
        except AMIError as exc:
            log.info("hold sweep skipped: no channel list", extra={"error": str(exc)[:200]})
            return []
        live = {v for c in channels for v in (c.uniqueid, c.linkedid) if v}
        now = time.monotonic()
        gone_since: dict[int, float] = {}
        due: list[int] = []
        alive: list[billing.OpenHold] = []
        for h in holds:
            if h.uniqueid in live or (h.call_group is not None and h.call_group in live):
                alive.append(h)
                continue
            since = gone_since[h.id] = self._gone_since.get(h.id, now)
            if now - since >= self.grace:
                due.append(h.id)
        self._gone_since = gone_since
        if self.pg is not None and self.slice_seconds > 0:
            await self._extend(alive, channels)
        if not due:
            return []
        async with self.db() as session:
            released = await session.run_sync(billing.release_orphans, due)
            await session.commit()
        for auth_id in released:
            self._gone_since.pop(auth_id, None)
        if released:
            self.released += len(released)
            log.info("orphaned holds released", extra={"auth_ids": released})
        return released

    # --- the extender (sliced holds, RFC 4006-like: a first slice, re-authorized before it
    # runs out while the call lasts)

    async def _extend(self, holds: list[billing.OpenHold], channels: list[LiveChannel]) -> None:
        tree_holds: dict[str, int] = {}
        for h in holds:
            tree_holds[h.call_group or h.uniqueid] = tree_holds.get(h.call_group or h.uniqueid, 0) + 1
        for h in holds:
            if h.earliest_end > self.extend_before:
                continue  # its granted time cannot run out before the next rounds
            try:
                await self._extend_one(h, channels, alone=tree_holds[h.call_group or h.uniqueid] == 1)
            except Exception as exc:
                log.warning("hold extension failed", extra={"auth_id": h.id, "error": repr(exc)[:300]})

    async def _limited(self, names: list[str]) -> list[tuple[str, float]]:
        """The channels among `names` with an absolute timeout, and the seconds it leaves."""
        out = []
        for name in names:
            r = await self.ami.action({"Action": "Getvar", "Channel": name, "Variable": "TIMEOUT(absolute)"})
            try:
                left = float(r.get("Value") or 0)
            except ValueError:
                continue
            if left > 0:
                out.append((name, left))
        return out

    async def _extend_one(self, h: billing.OpenHold, channels: list[LiveChannel], alone: bool) -> None:
        """Dial's S(n) limits the call on the peer channel of the Dial (its whentohangup,
        docs/asterisk-facts.md): TIMEOUT(absolute) reads the seconds it leaves and, set over AMI,
        moves it (seconds from now). The limited channel is found in the call's tree (its
        linkedid), or as the bridge peer of the hold's channel when several holds share the tree
        (forwarding legs)."""
        if alone:
            names = [
                c.name for c in channels if c.linkedid == (h.call_group or "") or c.uniqueid == h.uniqueid
            ]
        else:
            own = [c.name for c in channels if c.uniqueid == h.uniqueid]
            names = []
            for name in own:
                r = await self.ami.action({"Action": "Getvar", "Channel": name, "Variable": "BRIDGEPEER"})
                if r.get("Value"):
                    names.append(str(r.get("Value")))
        read_at = time.monotonic()
        limited = await self._limited(names)
        if not limited:
            return  # not answered yet: the slice counts from the answer
        left = min(v for _, v in limited)
        if left > self.extend_before:
            return
        assert self.pg is not None
        async with self.pg.connection() as conn:
            ext = await hotpath.extend_hold(
                conn, h.id, slice_seconds=self.slice_seconds, remaining_seconds=left, settings=self.settings
            )
        if ext.seconds <= 0:
            log.info("hold not extended: nothing more to grant", extra={"auth_id": h.id})
            return
        new_left = next_timeout(left, time.monotonic() - read_at, ext.seconds)
        if new_left is None:
            log.info("hold extended too late: the call ends on its current limit", extra={"auth_id": h.id})
            return
        for name, _ in limited:
            await self.ami.action(
                {"Action": "Setvar", "Channel": name, "Variable": "TIMEOUT(absolute)", "Value": str(new_left)}
            )
        self.extended += 1
        log.info(
            "hold extended",
            extra={"auth_id": h.id, "seconds": ext.seconds, "total": ext.total_seconds, "left": new_left},
        )
