"""What the conference app's parts share: settings, database, ARI, the clock, the callers still
keying their PIN, the playbacks, the running rooms (each conference with its lock), the timers
and the background tasks. Built once by the app."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from ari_apps.conference.media import Playbacks
from ari_apps.line import LineRouter
from controller.rules.conference import Role
from controller.services.ari import ARIClient
from controller.services.conference.service import ConferenceInfo
from controller.settings import Settings

log = logging.getLogger("ari_apps.conference")


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


@dataclass
class ConferenceContext:
    settings: Settings
    db: Any  # async_sessionmaker
    ari: ARIClient
    now: Callable[[], dt.datetime]
    callers: LineRouter  # the callers keying their PIN; in a room they are Participants
    playbacks: Playbacks
    rooms: dict[int, Room] = field(default_factory=dict)
    # one conference's room is created, joined, ended and re-adopted one at a time
    locks: defaultdict[int, asyncio.Lock] = field(default_factory=lambda: defaultdict(asyncio.Lock))
    languages: dict[int, str] = field(default_factory=dict)  # conference id -> owner's prompt language
    timers: dict[int, asyncio.Task[None]] = field(default_factory=dict)
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    recovering: asyncio.Lock = field(default_factory=asyncio.Lock)
    stats: dict[str, int] = field(default_factory=lambda: {"joined": 0, "refused": 0, "ended": 0})

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """A task kept referenced until done; its failure is logged."""
        task = asyncio.create_task(coro, name=name)
        self.tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("conference task failed", exc_info=task.exception(), extra={"task": task.get_name()})

    def participant(self, channel_id: str) -> tuple[Room, Participant] | None:
        for room in self.rooms.values():
            p = room.participants.get(channel_id)
            if p is not None:
                return room, p
        return None

    def language(self, room: Room) -> str | None:
        """The owner's language for the room's announcements (None: Asterisk's default)."""
        return self.languages.get(room.conference.id)
