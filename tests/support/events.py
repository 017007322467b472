"""Record AMI and ARI events during a test and wait for the ones that matter."""

from __future__ import annotations

import asyncio
import time
from typing import Any


class AmiRecorder:
    def __init__(self, ami, *patterns: str):
        self._ami = ami
        self.events: list[dict[str, Any]] = []
        self._registered = []
        for p in patterns:
            self._ami.on(p, self._record)
            self._registered.append(p)

    def _record(self, manager, event) -> None:
        self.events.append(dict(event))

    def matching(self, **fields: str) -> list[dict]:
        out = []
        for e in self.events:
            if all((v(e.get(k, "")) if callable(v) else e.get(k) == v) for k, v in fields.items()):
                out.append(e)
        return out

    async def wait_for(self, timeout: float = 15, **fields) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.matching(**fields)
            if found:
                return found[0]
            await asyncio.sleep(0.05)
        raise AssertionError(
            f"no AMI event matching {fields} within {timeout} s; saw "
            f"{[(e.get('Event'), e.get('UserEvent'), e.get('Channel')) for e in self.events][-15:]}"
        )

    def close(self) -> None:
        for p in self._registered:
            try:
                self._ami.manager.callbacks[p].remove(self._record)
            except ValueError:
                pass


class StasisRecorder:
    """StasisStart events of our ARI app; optionally hangs each channel up (so nothing lingers
    in an app nobody runs), except channels whose first Stasis argument names an app in
    `leave` (e.g. `controller.stasis.apps`): a real app owns those and ends them itself."""

    def __init__(self, ari, hang_up: bool = True, leave=()):
        self._ari, self._hang_up = ari, hang_up
        self._leave = set(leave)
        self.events: list[dict] = []
        ari.on("StasisStart", self._on)

    async def _on(self, event: dict) -> None:
        self.events.append(event)
        if self._hang_up and (event.get("args") or [""])[0] not in self._leave:
            try:
                await self._ari.delete(f"/channels/{event['channel']['id']}")
            except Exception:
                pass

    async def wait_for_args(self, args: list[str], timeout: float = 15) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for e in self.events:
                if e.get("args") == args:
                    return e
            await asyncio.sleep(0.05)
        raise AssertionError(f"no StasisStart with args {args}; saw {[e.get('args') for e in self.events]}")

    def close(self) -> None:
        self._ari.off("StasisStart", self._on)
