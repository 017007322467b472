"""The FastAGI server: panoramisk's route registry with a hardened session handler.

panoramisk's own handler busy-loops when a peer closes before the blank line that ends the
headers and has no size or time limit; ours reads headers with both, answers unknown routes
and garbage with a refusal, and always closes the socket. Routes are `async def` only.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Awaitable, Callable

from panoramisk.fast_agi import Application

from agi.channel import Channel
from agi.errors import AGIError, AGIHangup, CallRefused
from controller.rules import channel_vars as cv
from controller.services import metrics
from controller.services.deps import Deps

log = logging.getLogger("agi.server")

Route = Callable[[Channel, Deps], Awaitable[None]]
MAX_HEADER_BYTES = 16384
HEADER_TIMEOUT = 5.0


class FastAGIServer(Application):
    def __init__(
        self,
        routes: dict[str, Route],
        deps: Deps | None = None,
        command_timeout: float = 120.0,
        token: str | None = None,
    ):
        for path, route in routes.items():  # before panoramisk's own set-up, which wants a loop
            if not asyncio.iscoroutinefunction(route):
                raise TypeError(f"route {path!r} must be an async def (panoramisk on 3.11)")
        super().__init__()
        self.deps = deps
        # the path prefix a request must carry (Settings.agi_token); "" accepts bare routes
        # (protocol tests without settings)
        self.token = token if token is not None else (deps.settings.agi_token if deps is not None else "")
        for path, route in routes.items():
            self.add_route(path, route)
        self.command_timeout = command_timeout
        self.active = 0
        self.handled = 0
        self.failed = 0
        self._server: asyncio.AbstractServer | None = None

    async def start(self, host: str, port: int) -> None:
        self._server = await asyncio.start_server(
            self.handler, host, port, limit=MAX_HEADER_BYTES, backlog=512
        )
        log.info("fastagi listening", extra={"host": host, "port": port})

    async def stop(self) -> None:
        if self._server:
            self._server.close()
            await self._server.wait_closed()

    @property
    def routes(self) -> dict[str, Route]:
        return dict(self._route)

    async def read_headers(self, reader: asyncio.StreamReader) -> dict[str, str] | None:
        """The AGI environment: `agi_*: value` lines up to a blank line, at most
        MAX_HEADER_BYTES, within HEADER_TIMEOUT (one deadline for the whole block: a timer per
        line cost a tenth of a decision's CPU)."""
        try:
            async with asyncio.timeout(HEADER_TIMEOUT):
                raw = await reader.readuntil(b"\n\n")
        except (
            TimeoutError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            ValueError,
            ConnectionError,
        ):
            return None  # closed early, too long, too slow, or not AGI at all
        headers: dict[str, str] = {}
        for line in raw.decode("utf-8", "replace").split("\n"):
            line = line.rstrip("\r")
            if line == "":
                break
            key, sep, value = line.partition(": ")
            if not sep or not key.startswith("agi_"):
                return None
            headers[key] = value
        return headers or None

    async def handler(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.active += 1
        started = time.perf_counter()
        route_name = "?"
        try:
            headers = await self.read_headers(reader)
            if headers is None:
                self.failed += 1
                metrics.AGI_REJECTED.labels("garbage").inc()
                log.warning(
                    "fastagi garbage or incomplete headers",
                    extra={"peer": str(writer.get_extra_info("peername"))},
                )
                return
            channel = Channel(reader, writer, headers, self.command_timeout)
            route_name = headers.get("agi_network_script", "").split("?", 1)[0].strip("/")
            if self.token:
                given, _, route_name = route_name.partition("/")
                if not hmac.compare_digest(given.encode(), self.token.encode()):
                    self.failed += 1
                    metrics.AGI_REJECTED.labels("token").inc()
                    log.warning(
                        "fastagi request without the controller's token: refused",
                        extra={"peer": str(writer.get_extra_info("peername")), "uniqueid": channel.uniqueid},
                    )
                    await self._refuse(channel, "error")
                    return
            route = self._route.get(route_name)
            if route is None:
                self.failed += 1
                metrics.AGI_REJECTED.labels("unknown_route").inc()
                log.error(
                    "fastagi unknown route", extra={"route": route_name[:80], "uniqueid": channel.uniqueid}
                )
                await self._refuse(channel, "error")
                return
            outcome = "ok"
            try:
                await route(channel, self.deps)
            except CallRefused as refused:
                log.info(
                    "call refused",
                    extra={
                        "route": route_name,
                        "reason": refused.reason,
                        "detail": refused.detail,
                        "uniqueid": channel.uniqueid,
                    },
                )
                outcome = "refused"
                await self._refuse(channel, refused.reason, refused.language)
            except AGIHangup:
                outcome = "hangup"
                log.info("caller hung up", extra={"route": route_name, "uniqueid": channel.uniqueid})
            except Exception:
                self.failed += 1
                outcome = "error"
                log.exception(
                    "fastagi route failed", extra={"route": route_name, "uniqueid": channel.uniqueid}
                )
                await self._refuse(channel, "error")
            self.handled += 1
            # the route's own time (not the socket close after it), one sample per decision
            metrics.observe_decision(route_name, outcome, time.perf_counter() - started)
        finally:
            self.active -= 1
            try:
                writer.close()
                async with asyncio.timeout(1.0):
                    await writer.wait_closed()
            except Exception:
                pass
            log.debug(
                "fastagi session closed",
                extra={"route": route_name, "ms": round((time.perf_counter() - started) * 1000, 2)},
            )

    @staticmethod
    async def _refuse(channel: Channel, reason: str, language: str | None = None) -> None:
        if reason not in cv.REFUSALS:
            reason = "error"
        try:
            if cv.prompt_language(language):
                # the announcement in the member's language (the route knew the member): one MSet
                await channel.set_many(
                    [
                        (cv.VAR_LANGUAGE, language),
                        (cv.VAR_REFUSE_REASON, reason),
                        (cv.VAR_DECISION, cv.DECISION_REFUSE),
                    ]
                )
                return
            await channel.set_variable(cv.VAR_REFUSE_REASON, reason)
            await channel.set_variable(cv.VAR_DECISION, cv.DECISION_REFUSE)
        except (AGIError, ValueError):
            pass  # the caller is gone or the socket is garbage: nothing left to tell
