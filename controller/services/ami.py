"""The AMI link: panoramisk's Manager, which logs in again by itself after an Asterisk
restart, behind a small interface of the actions we use."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from panoramisk import Manager

from controller.settings import Settings

log = logging.getLogger("controller.services.ami")


class AMIError(Exception):
    pass


class _Manager(Manager):
    """panoramisk's Manager, except that close() means closed (its connection_lost would
    otherwise reconnect after a deliberate close) and a lost link is not `authenticated`."""

    closing = False

    def connection_lost(self, exc):
        self.authenticated = False
        if self.closing:
            self._connected = False
            return
        super().connection_lost(exc)


class AMILink:
    def __init__(self, settings: Settings):
        self.logins = 0
        self.logged_in = asyncio.Event()
        self.manager = _Manager(
            host=settings.asterisk_host,
            port=settings.ami_port,
            username=settings.ami_user,
            secret=settings.ami_secret,
            ping_delay=2,
            ping_interval=5,
            reconnect_timeout=1,
            on_login=self._on_login,
            on_disconnect=self._on_disconnect,
            log=log,
        )

    def _on_login(self, manager: Manager) -> None:
        self.logins += 1
        self.logged_in.set()
        log.info("ami logged in", extra={"logins": self.logins})

    def _on_disconnect(self, manager: Manager, exc: Exception | None) -> None:
        self.logged_in.clear()
        log.warning("ami disconnected")

    def connect(self) -> None:
        """Start connecting; panoramisk retries every second until Asterisk answers."""
        self.manager.loop = asyncio.get_running_loop()
        self.manager.connect()

    async def wait_connected(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self.logged_in.wait(), timeout)
            return True
        except TimeoutError:
            return False

    def close(self) -> None:
        self.manager.closing = True
        self.manager.close()

    @property
    def connected(self) -> bool:
        return bool(self.manager.protocol and self.manager._connected and self.manager.authenticated)

    def on(self, event: str, callback: Callable) -> None:
        self.manager.register_event(event, callback)

    async def action(self, action: dict[str, Any], timeout: float = 10.0) -> Any:
        if not self.connected:
            raise AMIError("AMI not connected")
        result = self.manager.send_action(action)
        try:
            return await asyncio.wait_for(result, timeout)
        except TimeoutError as exc:
            raise AMIError(f"AMI {action.get('Action')} timed out") from exc

    async def originate(
        self,
        channel: str,
        *,
        context: str | None = None,
        exten: str | None = None,
        priority: int = 1,
        application: str | None = None,
        data: str = "",
        variables: dict[str, str] | None = None,
        caller_id: str | None = None,
        timeout_ms: int = 30000,
        wait: float = 10.0,
    ) -> Any:
        """Async Originate; waits up to `wait` s for Asterisk's OriginateResponse (which comes
        when the channel answers or fails)."""
        action: dict[str, Any] = {
            "Action": "Originate",
            "Channel": channel,
            "Async": "true",
            "Timeout": str(timeout_ms),
        }
        if application:
            action.update({"Application": application, "Data": data})
        else:
            action.update({"Context": context, "Exten": exten, "Priority": str(priority)})
        if caller_id:
            action["CallerID"] = caller_id
        if variables:
            action["Variable"] = [f"{k}={v}" for k, v in variables.items()]
        return await self.action(action, timeout=wait)

    async def command(self, command: str) -> str:
        r = await self.action({"Action": "Command", "Command": command})
        msgs = r if isinstance(r, list) else [r]
        out = []
        for m in msgs:
            output = m.get("Output") if hasattr(m, "get") else None
            if isinstance(output, list):
                out.extend(output)
            elif output:
                out.append(output)
        return "\n".join(out)
