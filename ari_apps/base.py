"""How Stasis applications plug into the controller.

Every channel enters our one ARI application (settings.ari_app) with `Stasis(app, <name>, ...)`;
the dispatcher hands the StasisStart to the app whose `name` is the first argument. Each app
subscribes to the other ARI events it needs itself (client.on(...)) and ignores channels it
does not own. Apps get their dependencies (Deps: settings, db, ami, ari) in the constructor."""

from __future__ import annotations

import logging
from typing import Any, Protocol

from controller.services.deps import Deps

log = logging.getLogger("ari_apps")


class StasisApp(Protocol):
    name: str

    async def start(self) -> None:
        """After the controller started: subscribe to events, recover state."""

    async def on_stasis_start(self, event: dict[str, Any], args: list[str]) -> None:
        """A channel entered Stasis with args[0] == self.name (args without the name)."""

    async def stop(self) -> None:
        """Controller shutdown."""


class Dispatcher:
    def __init__(self, deps: Deps, apps: list[StasisApp]):
        self.deps = deps
        self.apps = {app.name: app for app in apps}
        deps.ari.on("StasisStart", self._on_start)

    async def start(self) -> None:
        for app in self.apps.values():
            await app.start()

    async def stop(self) -> None:
        for app in self.apps.values():
            try:
                await app.stop()
            except Exception:
                log.exception("stasis app stop failed", extra={"app": app.name})

    async def _on_start(self, event: dict[str, Any]) -> None:
        args = list(event.get("args") or [])
        if not args:
            return
        app = self.apps.get(args[0])
        if app is None:
            return  # "test" and other args are for whoever listens (the test-suite)
        await app.on_stasis_start(event, args[1:])
