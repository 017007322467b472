"""The webhook sender: delivers what the outbox triggers queued (migration 0026), signed, and
retries failures with backoff. Never on a call's path: the events are rows written in the event's
own transaction; this loop only reads them.

It waits for pg_notify('webhook_new') (LISTEN on its own psycopg connection) or its polling
interval, whichever comes first, then claims the due deliveries (db.webhooks.claim: FOR UPDATE
SKIP LOCKED and a lease, so several controllers share the work and none holds a transaction
open while it waits on HTTP), POSTs them concurrently and records each outcome.

A delivery is a POST of JSON {"id", "event", "created_at", "data"} with the headers
X-Voip-Event, X-Voip-Delivery (the event's id), X-Voip-Timestamp (Unix seconds) and
X-Voip-Signature: v1=<hex HMAC-SHA256(secret, f"{timestamp}." + body)>; how to verify it is in
controller/rules/webhooks.py. A 2xx answer delivers it; anything else (another status, a
timeout, a refused connection, a redirect: redirects are not followed) is retried after
VOIP_WEBHOOK_BACKOFF's next delay, and given up (failed_at) after the last.

SSRF: a member's webhook is refused (at registration, and here at each delivery after resolving
its host name) when it targets a private, loopback, link-local or otherwise non-public address,
unless VOIP_WEBHOOK_ALLOW_PRIVATE; the operator's may target any address.
The connection goes to the address resolved and checked (pinned(): no second resolution, so no
DNS rebinding); an attempt is bounded as a whole (deadline()), and of an answer only the status
and, for a failure, its first ANSWER_READ bytes are read.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import json
import logging
import socket
import time
from contextlib import aclosing
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from controller.rules import webhooks as rules
from controller.settings import Settings
from db import webhooks as data

log = logging.getLogger("controller.services.webhooks")

USER_AGENT = "voip-webhooks/1"
# the bytes of a failed answer kept for the log (never more is read)
ANSWER_READ = 1024
# an attempt ends this many seconds before its lease does
LEASE_MARGIN = 10


def pinned(url: str, address: str) -> tuple[str, dict[str, str], dict[str, Any]]:
    """The URL to POST to so the connection goes to `address` (the one resolved and checked),
    with the headers and httpx extensions that keep it the URL's host for the receiver: the Host
    header, TLS's SNI and certificate check (sni_hostname), and no connection reused for
    another host (Connection: close; the pool is keyed by the address)."""
    original = httpx.URL(url)
    host = original.host
    headers = {"Host": original.netloc.decode("ascii"), "Connection": "close"}
    extensions: dict[str, Any] = {}
    if original.scheme == "https" and not _is_ip(host):
        extensions["sni_hostname"] = host
    return str(original.copy_with(host=address.split("%")[0])), headers, extensions


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def parse_backoff(value: str) -> tuple[float, ...]:
    out = tuple(float(v) for v in value.replace(" ", "").split(",") if v)
    return out or rules.BACKOFF


def body_of(due: data.Due) -> bytes:
    created = due.created_at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    envelope = {"id": due.event_id, "event": due.event, "created_at": created, "data": due.payload}
    return json.dumps(envelope, separators=(",", ":"), default=str).encode()


class WebhookSender:
    def __init__(self, engine: AsyncEngine, settings: Settings, *, batch: int = 20, concurrency: int = 8):
        self.factory = async_sessionmaker(engine, expire_on_commit=False)
        self.conninfo = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        # plain attributes, read at each round (a test may shorten them on a running sender)
        self.allow_private = settings.webhook_allow_private
        self.backoff = parse_backoff(settings.webhook_backoff)
        self.timeout = settings.webhook_timeout_s
        self.poll_seconds = settings.webhook_poll_s
        self.batch = batch
        self.concurrency = concurrency
        self.sent = 0
        self.failed = 0
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._stop.clear()
        self._task = asyncio.create_task(self.run(), name="webhooks")

    async def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, 10)
            except TimeoutError:
                self._task.cancel()
            self._task = None

    def wake(self) -> None:
        """Look for due deliveries now (a test after shortening the backoff)."""
        self._wake.set()

    def http_client(self) -> httpx.AsyncClient:
        """The sender's HTTP client: no redirect followed, every step under the timeout (and the
        whole attempt under deadline())."""
        return httpx.AsyncClient(
            timeout=self.timeout, follow_redirects=False, headers={"User-Agent": USER_AGENT}
        )

    async def run(self) -> None:
        listener: psycopg.AsyncConnection | None = None
        try:
            async with self.http_client() as client:
                while not self._stop.is_set():
                    if listener is None or listener.closed:
                        listener = await self._listen()
                    try:
                        while await self.deliver_due(client) and not self._stop.is_set():
                            pass
                    except Exception as exc:
                        log.error("webhook round failed", extra={"error": repr(exc)[:300]})
                    listener = await self._wait(listener)
        finally:
            if listener is not None:
                await listener.close()

    async def deliver_due(self, client: httpx.AsyncClient) -> int:
        """Claim and send one batch of due deliveries; how many were claimed."""
        async with self.factory() as s, s.begin():
            due = await data.claim(s, self.batch)
        if not due:
            return 0
        gate = asyncio.Semaphore(self.concurrency)

        async def one(d: data.Due) -> None:
            async with gate:
                await self.deliver(client, d)

        await asyncio.gather(*(one(d) for d in due))
        return len(due)

    def deadline(self) -> float:
        """Seconds one attempt may take in all (resolving, connecting, sending, the answer):
        VOIP_WEBHOOK_TIMEOUT, cut so a whole batch (ceil(batch / concurrency) rounds) ends within
        its lease (another controller would claim and send them again after it)."""
        rounds = -(-self.batch // max(1, self.concurrency))
        return max(0.1, min(float(self.timeout), (data.LEASE_SECONDS - LEASE_MARGIN) / rounds))

    async def deliver(self, client: httpx.AsyncClient, due: data.Due) -> None:
        status: int | None = None
        error = ""
        ok = False
        limit = self.deadline()
        try:
            async with asyncio.timeout(limit):
                status, error = await self._attempt(client, due)
            ok = status is not None and 200 <= status < 300
        except TimeoutError:
            error = f"timed out after {limit:g} s"
        except httpx.HTTPError as exc:
            error = f"{exc.__class__.__name__}: {exc}"[:300]
        except Exception as exc:  # a bad URL httpx refuses, and the like: retried like the rest
            error = f"{exc.__class__.__name__}: {exc}"[:300]
        retry = None if ok else rules.next_delay(due.attempts + 1, self.backoff)
        async with self.factory() as s, s.begin():
            await data.record_result(s, due.id, status=status, error=error, delivered=ok, retry_in=retry)
        if ok:
            self.sent += 1
        else:
            self.failed += 1
            log.info(
                "webhook delivery failed",
                extra={"delivery": due.id, "attempt": due.attempts + 1, "error": error[:200], "retry": retry},
            )

    async def _attempt(self, client: httpx.AsyncClient, due: data.Due) -> tuple[int | None, str]:
        """One POST: (its status, the error to log; None and why when it was not sent)."""
        problem = rules.url_problem(due.url, allow_private=True)
        if problem is not None:
            return None, f"refused URL: {problem}"
        check = due.account_id is not None and not self.allow_private
        address, problem = await self._resolve(due.url, check_private=check)
        if address is None:
            return None, f"refused URL: {problem}"
        url, headers, extensions = pinned(due.url, address)
        body = body_of(due)
        stamp = str(int(time.time()))
        headers.update(
            {
                "Content-Type": "application/json",
                "Accept-Encoding": "identity",
                "X-Voip-Event": due.event,
                "X-Voip-Delivery": due.event_id,
                "X-Voip-Timestamp": stamp,
                "X-Voip-Signature": rules.signature_header(due.secret, stamp, body),
            }
        )
        async with client.stream("POST", url, content=body, headers=headers, extensions=extensions) as resp:
            status = resp.status_code
            if 200 <= status < 300:
                return status, ""
            # the start of the answer only: a receiver's huge (or compressed) body is never read
            head = b""
            async for chunk in resp.aiter_raw():
                head += chunk
                if len(head) >= ANSWER_READ:
                    break
            return status, f"HTTP {status}: {head[:ANSWER_READ].decode('utf-8', 'replace')[:200]}"

    @staticmethod
    async def _resolve(url: str, *, check_private: bool) -> tuple[str | None, str]:
        """The address to connect to (the URL's host resolved once: the connection goes to the
        address checked, so a name that resolves to a public address for the check and to a
        private one for the connection, DNS rebinding, gets nowhere), or None and why.
        check_private: refused when the host is, or resolves to, a non-public address."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        if check_private and rules.url_problem(url, allow_private=False) is not None:
            return None, "private"
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, parts.port or (443 if parts.scheme == "https" else 80), type=socket.SOCK_STREAM
            )
        except OSError as exc:
            return None, f"unresolvable ({exc.__class__.__name__})"
        addresses = [str(info[4][0]) for info in infos]
        if not addresses:
            return None, "unresolvable"
        if check_private and any(rules.private_address(a) for a in addresses):
            return None, "private"
        return addresses[0], ""

    async def _listen(self) -> psycopg.AsyncConnection | None:
        try:
            conn = await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True, connect_timeout=5)
            await conn.execute(f"LISTEN {data.NOTIFY_CHANNEL}")
            return conn
        except Exception as exc:
            log.warning("webhook LISTEN unavailable: polling", extra={"error": repr(exc)[:300]})
            return None

    async def _wait(self, listener: psycopg.AsyncConnection | None) -> psycopg.AsyncConnection | None:
        """Until a notification, a wake(), the poll interval, or stop. Returns the listener
        (None once it broke)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.poll_seconds
        while not self._stop.is_set():
            if self._wake.is_set():
                self._wake.clear()
                return listener
            left = deadline - loop.time()
            if left <= 0:
                return listener
            if listener is None:
                try:
                    await asyncio.wait_for(self._wake.wait(), min(left, 0.5))
                except TimeoutError:
                    pass
                continue
            try:
                async with aclosing(listener.notifies(timeout=min(left, 0.5), stop_after=1)) as notes:
                    async for _ in notes:
                        return listener
            except Exception as exc:
                log.warning("webhook LISTEN connection lost", extra={"error": repr(exc)[:300]})
                try:
                    await listener.close()
                except Exception:
                    pass
                return None
        return listener
