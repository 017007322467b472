"""Our thin ARI client: REST over httpx, events over websockets, reconnecting by itself.

After an Asterisk restart the websocket drops; we retry with a capped backoff, and on every
(re)connect emit a synthetic `ClientConnected` event so apps can resynchronise their state.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import httpx
import websockets

log = logging.getLogger("controller.services.ari")

Handler = Callable[[dict[str, Any]], Awaitable[None]]


class ARIError(Exception):
    """An ARI request failed; `status` is the HTTP status (0 when Asterisk was unreachable)."""

    def __init__(self, status: int, message: str):
        super().__init__(f"ARI {status}: {message}")
        self.status = status


class ARIClient:
    def __init__(
        self,
        base_url: str,
        user: str,
        password: str,
        app: str,
        *,
        max_backoff: float = 5.0,
        timeout: float = 10.0,
    ):
        self.base_url = base_url.rstrip("/")
        self.app = app
        self._auth = (user, password)
        self._http = httpx.AsyncClient(base_url=self.base_url, auth=self._auth, timeout=timeout)
        self._handlers: dict[str, list[Handler]] = defaultdict(list)
        self._task: asyncio.Task[None] | None = None
        self._max_backoff = max_backoff
        self.connected = asyncio.Event()
        self.connects = 0
        self._closing = False

    # --- REST
    async def request(self, method: str, path: str, **params: Any) -> Any:
        json_body = params.pop("json", None)
        query = {k: _param(v) for k, v in params.items() if v is not None}
        try:
            r = await self._http.request(method, path, params=query, json=json_body)
        except httpx.HTTPError as exc:
            raise ARIError(0, f"{method} {path}: {exc.__class__.__name__}") from exc
        if r.status_code >= 400:
            raise ARIError(r.status_code, f"{method} {path}: {r.text[:200]}")
        if not r.content:
            return None
        if r.headers.get("content-type", "").startswith("application/json"):
            return r.json()
        return r.content

    async def get(self, path: str, **params: Any) -> Any:
        return await self.request("GET", path, **params)

    async def post(self, path: str, **params: Any) -> Any:
        return await self.request("POST", path, **params)

    async def delete(self, path: str, **params: Any) -> Any:
        return await self.request("DELETE", path, **params)

    # --- events
    def on(self, event_type: str, handler: Handler) -> None:
        self._handlers[event_type].append(handler)

    def off(self, event_type: str, handler: Handler) -> None:
        if handler in self._handlers.get(event_type, []):
            self._handlers[event_type].remove(handler)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="ari-events")

    async def close(self) -> None:
        self._closing = True
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
        await self._http.aclose()

    def _ws_url(self) -> str:
        ws = self.base_url.replace("http://", "ws://", 1).replace("https://", "wss://", 1)
        user, password = self._auth
        return f"{ws}/events?app={quote(self.app)}&subscribeAll=false&api_key={quote(user)}:{quote(password)}"

    async def _run(self) -> None:
        backoff = 0.2
        while not self._closing:
            try:
                async with websockets.connect(
                    self._ws_url(), open_timeout=5, ping_interval=10, ping_timeout=10, max_size=2**22
                ) as ws:
                    self.connects += 1
                    self.connected.set()
                    backoff = 0.2
                    log.info("ari connected", extra={"app": self.app, "connects": self.connects})
                    await self._dispatch({"type": "ClientConnected", "connects": self.connects})
                    async for message in ws:
                        try:
                            event = json.loads(message)
                        except ValueError:
                            log.warning("ari sent non-JSON event")
                            continue
                        await self._dispatch(event)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # refused, reset, 401 during startup, ...
                if self.connected.is_set():
                    log.warning("ari disconnected", extra={"error": f"{exc.__class__.__name__}: {exc}"})
                self.connected.clear()
            else:
                self.connected.clear()
                log.warning("ari websocket closed")
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self._max_backoff)

    async def _dispatch(self, event: dict[str, Any]) -> None:
        for handler in list(self._handlers.get(event.get("type", ""), [])) + list(
            self._handlers.get("*", [])
        ):
            try:
                await handler(event)
            except Exception:
                log.exception("ari handler failed", extra={"event": event.get("type")})


def _param(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return value
