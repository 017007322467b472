"""The one AMI client: panoramisk's Manager behind a small interface of the actions we use.

The controller keeps one long-lived link (`AMILink.connect`), which logs in again by itself
after an Asterisk restart. A process without an event loop (the panel, which applies its
dialplan with `dialplan reload` now and then) opens a short synchronous session on the same
client (`AMISession`): one login, a few actions, logoff.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from types import TracebackType
from typing import Any

from panoramisk import Manager

from controller.settings import Settings

log = logging.getLogger("controller.services.ami")


class AMIError(Exception):
    """Asterisk could not be reached, refused the login, or did not answer or refused an action."""


class _Manager(Manager):  # type: ignore[misc]  # panoramisk has no type hints
    """panoramisk's Manager, except that close() means closed (its connection_lost would
    otherwise reconnect after a deliberate close) and a lost link is not `authenticated`."""

    closing = False

    def connection_lost(self, exc: Exception | None) -> None:
        self.authenticated = False
        if self.closing:
            self._connected = False
            # nothing will send them again (a short session the peer closed): they fail now
            while self.awaiting_actions:
                action = self.awaiting_actions.popleft()
                if not action.future.done():
                    action.future.set_exception(AMIError("Asterisk closed the AMI connection."))
            return
        super().connection_lost(exc)


def one_line(action: dict[str, Any]) -> None:
    """AMIError when a header of `action` (a name, a value, an item of a list value) holds a
    line break: it would end the header there and start another, an action of the caller's
    choosing (a channel name from a form, `PJSIP/x\\r\\nAction: Originate...`)."""
    for name, value in action.items():
        for item in value if isinstance(value, (list, tuple)) else (value,):
            if "\r" in f"{name}{item}" or "\n" in f"{name}{item}":
                raise AMIError(f"An AMI header is one line ({name!s:.40}).")


class AMILink:
    def __init__(self, settings: Settings, *, events: bool = True):
        self.logins = 0
        self.logged_in = asyncio.Event()
        self.manager = _Manager(
            host=settings.asterisk_host,
            port=settings.ami_port,
            username=settings.ami_user,
            secret=settings.ami_secret,
            events="on" if events else "off",
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

    async def open(self, timeout: float = 10.0) -> None:
        """Connect and log in once, with no retry and no reconnect (a short session): AMIError
        when Asterisk does not answer or refuses the login."""
        manager = self.manager
        manager.closing = True  # a lost session stays lost
        loop = asyncio.get_running_loop()
        manager.loop = loop
        host, port = manager.config["host"], manager.config["port"]
        try:
            connection = await asyncio.wait_for(
                loop.create_connection(manager.config["protocol_factory"], host, port), timeout
            )
        except (OSError, TimeoutError) as exc:
            raise AMIError(
                f"Asterisk's AMI at {host}:{port} did not answer ({exc.__class__.__name__})."
            ) from None
        connected: asyncio.Future[Any] = loop.create_future()
        connected.set_result(connection)
        manager.connection_made(connected)  # panoramisk's own set-up, which sends the Login
        try:
            reply = await asyncio.wait_for(asyncio.shield(manager.authenticated_future), timeout)
        except TimeoutError:
            raise AMIError("Asterisk did not answer the AMI login in time.") from None
        if not reply.success:
            raise AMIError(f"Asterisk refused the AMI login: {reply.message}")

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

    def on(self, event: str, callback: Callable[..., Any]) -> None:
        self.manager.register_event(event, callback)

    async def action(self, action: dict[str, Any], timeout: float = 10.0) -> Any:
        one_line(action)
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

    async def command(self, command: str, *, check: bool = False, timeout: float = 10.0) -> str:
        """Run an Asterisk CLI command; its output. With `check`, AMIError when Asterisk refuses
        it; without, the output of a command that failed too (`dialplan show` of a context that
        does not exist answers Error)."""
        if "\r" in command or "\n" in command:
            raise AMIError("An AMI command is one line.")  # a line break would start another header
        r = await self.action({"Action": "Command", "Command": command}, timeout=timeout)
        msgs = r if isinstance(r, list) else [r]
        out = []
        for m in msgs:
            output = m.get("Output") if hasattr(m, "get") else None
            if isinstance(output, list):
                out.extend(output)
            elif output:
                out.append(output)
        text = "\n".join(out)
        if check and msgs and getattr(msgs[0], "response", "") != "Success":
            raise AMIError(f"Asterisk refused '{command}': {getattr(msgs[0], 'message', '') or text}")
        return text

    async def logoff(self, timeout: float = 10.0) -> None:
        await self.action({"Action": "Logoff"}, timeout=timeout)


class AMISession:
    """A short synchronous session on the AMI client, for a process without an event loop:

        with AMISession(settings) as ami:
            ami.command("dialplan reload")

    logs in with events off (AMIError if Asterisk does not answer or refuses), runs each action
    on an event loop of its own in the calling thread, and logs off at the end."""

    def __init__(self, settings: Settings, timeout: float = 10.0):
        self._settings, self._timeout = settings, timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._link: AMILink | None = None

    def __enter__(self) -> AMISession:
        self._loop = asyncio.new_event_loop()
        self._link = AMILink(self._settings, events=False)
        try:
            self._loop.run_until_complete(self._link.open(self._timeout))
        except BaseException:
            self._end()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if self._loop is not None and self._link is not None and self._link.connected:
                self._loop.run_until_complete(self._link.logoff(self._timeout))
        except AMIError:
            pass  # Asterisk went away meanwhile: nothing to log off from
        finally:
            self._end()

    def command(self, cli: str, *, check: bool = True) -> str:
        """Run an Asterisk CLI command; see AMILink.command (here `check` is on by default)."""
        if self._loop is None or self._link is None:
            raise AMIError("The AMI session is not open.")
        return self._loop.run_until_complete(self._link.command(cli, check=check, timeout=self._timeout))

    def action(self, action: dict[str, Any]) -> list[Any]:
        """Run one AMI action: its response, then the events of its list when it answers with
        one (CoreShowChannels: a CoreShowChannel each, then CoreShowChannelsComplete)."""
        one_line(action)
        if self._loop is None or self._link is None:
            raise AMIError("The AMI session is not open.")
        reply = self._loop.run_until_complete(self._link.action(action, timeout=self._timeout))
        return list(reply) if isinstance(reply, list) else [reply]

    def _end(self) -> None:
        if self._link is not None:
            self._link.close()
        if self._loop is not None:
            # the closed transport releases its socket on the loop's next turn
            self._loop.run_until_complete(asyncio.sleep(0))
            self._loop.close()
        self._loop = self._link = None
