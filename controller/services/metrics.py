"""The controller's Prometheus metrics (issue 17 part 5), with prometheus_client.

What an operator watches: FastAGI decisions per route and outcome (a counter) and how long each
route held its FastAGI session (a histogram per route), calls up on Asterisk, open credit holds
and the credit they hold, the ARI and AMI links (1 up, 0 down), the FastAGI sessions in
progress, and the backlogs of work the controller owes (webhook deliveries not yet delivered or
given up, CDRs waiting to be rated).

The counters live in prometheus_client's default registry (with its process and Python
collectors); what is read from the controller's links at scrape time, or from the database and
Asterisk every `poll_s` seconds, is a collector registered while the controller runs. They are
served by a small asyncio HTTP handler on Settings.metrics_bind:metrics_port (0: off), its own
port, loopback by default: /metrics is for the operator's Prometheus, never the public.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import text

from controller.services.plain_http import serve_one

if TYPE_CHECKING:
    from controller.services.deps import Deps

log = logging.getLogger("controller.services.metrics")

disable_created_metrics()  # type: ignore[no-untyped-call]  # no *_created series: a start time per label set says nothing here

POLL_S = 5.0  # how often the database counts and Asterisk's call count are read

AGI_DECISIONS = Counter(
    "voip_agi_decisions",
    "FastAGI sessions handled, by route and outcome (ok, refused, hangup, error)",
    ["route", "outcome"],
)
AGI_SECONDS = Histogram(
    "voip_agi_decision_seconds",
    "How long a FastAGI route held its session (headers read to route done), by route",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)
AGI_REJECTED = Counter(
    "voip_agi_rejected",
    "FastAGI connections refused before any route ran (garbage, bad token, unknown route)",
    ["reason"],
)

# one SELECT a round: open holds (as db.billing.open_holds_all counts them) and the backlogs
_COUNTS = text(
    "SELECT (SELECT count(*) FROM call_authorizations"
    "         WHERE settled_at IS NULL AND expires_at > now()) AS holds,"
    " (SELECT coalesce(sum(held_credit), 0) FROM call_authorizations"
    "   WHERE settled_at IS NULL AND expires_at > now()) AS held,"
    " (SELECT count(*) FROM webhook_deliveries"
    "   WHERE delivered_at IS NULL AND failed_at IS NULL) AS webhooks,"
    " (SELECT count(*) FROM cdr_rating_queue) AS rating"
)
_ACTIVE_CALLS = re.compile(r"(\d+) active calls?")


_children: dict[tuple[str, str], tuple[Any, Any]] = {}  # labels() looked up once per route and outcome


def observe_decision(route: str, outcome: str, seconds: float) -> None:
    """One decision of a known route (the caller checked `route`: labels are never a peer's text)."""
    child = _children.get((route, outcome))
    if child is None:
        child = _children[(route, outcome)] = (
            AGI_DECISIONS.labels(route, outcome),
            AGI_SECONDS.labels(route),
        )
    child[0].inc()
    child[1].observe(seconds)


class ControllerCollector(Collector):
    """The controller's live state, read when Prometheus scrapes: the links from the objects
    themselves, the rest from the last poll (absent until a poll succeeded, and the database
    values absent again while the database does not answer)."""

    def __init__(self, deps: Deps, agi_active: Callable[[], int]):
        self.deps = deps
        self.agi_active = agi_active
        self.polled: dict[str, float] = {}

    def describe(self) -> Iterable[Metric]:
        return []  # no fixed description: the polled values come and go

    def collect(self) -> Iterable[Metric]:
        ami, ari = self.deps.ami, self.deps.ari
        yield _gauge("voip_ami_up", "The controller's AMI link is logged in (1) or not (0)", ami.connected)
        yield _gauge(
            "voip_ari_up",
            "The controller's ARI events websocket is connected (1) or not (0)",
            ari.connected.is_set(),
        )
        yield _gauge("voip_agi_sessions_active", "FastAGI sessions in progress", self.agi_active())
        for name, doc in (
            ("voip_calls_up", "Calls up on Asterisk (core show channels count)"),
            ("voip_holds_open", "Open credit holds (call_authorizations not settled nor expired)"),
            ("voip_holds_open_credit", "Credit held by the open holds, in the account currency"),
            ("voip_webhook_backlog", "Webhook deliveries neither delivered nor given up"),
            ("voip_rating_backlog", "CDRs waiting to be rated (cdr_rating_queue)"),
        ):
            if name in self.polled:
                yield _gauge(name, doc, self.polled[name])
        if "last_poll" in self.polled:
            yield _gauge(
                "voip_metrics_last_poll_timestamp_seconds",
                "When the polled values were last read (Unix time)",
                self.polled["last_poll"],
            )

    async def poll(self) -> None:
        """One round: the database counts, then Asterisk's call count."""
        try:
            async with self.deps.db() as s:
                row = (await asyncio.wait_for(s.execute(_COUNTS), 5)).one()
            self.polled.update(
                voip_holds_open=float(row.holds),
                voip_holds_open_credit=float(row.held),
                voip_webhook_backlog=float(row.webhooks),
                voip_rating_backlog=float(row.rating),
            )
        except Exception as exc:
            for key in (
                "voip_holds_open",
                "voip_holds_open_credit",
                "voip_webhook_backlog",
                "voip_rating_backlog",
            ):
                self.polled.pop(key, None)
            log.debug("metrics: database counts unavailable", extra={"error": exc.__class__.__name__})
        calls = None
        if self.deps.ami.connected:
            try:
                found = _ACTIVE_CALLS.search(
                    await self.deps.ami.command("core show channels count", timeout=5)
                )
                calls = float(found.group(1)) if found else None
            except Exception as exc:
                log.debug("metrics: call count unavailable", extra={"error": exc.__class__.__name__})
        if calls is None:
            self.polled.pop("voip_calls_up", None)
        else:
            self.polled["voip_calls_up"] = calls
        self.polled["last_poll"] = time.time()


def _gauge(name: str, doc: str, value: Any) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=float(value))


class MetricsServer:
    """/metrics over HTTP on its own port, and the poll that feeds the collector."""

    def __init__(self, deps: Deps, agi_active: Callable[[], int], *, poll_s: float = POLL_S):
        self.collector = ControllerCollector(deps, agi_active)
        self.poll_s = poll_s
        self.port = 0
        self._server: asyncio.AbstractServer | None = None
        self._poller: asyncio.Task[None] | None = None

    async def start(self, host: str, port: int) -> None:
        REGISTRY.register(self.collector)
        self._server = await asyncio.start_server(self._handle, host, port)
        self.port = self._server.sockets[0].getsockname()[1]
        self._poller = asyncio.create_task(self._poll_loop(), name="metrics-poll")
        log.info("metrics listening", extra={"host": host, "port": self.port})

    async def stop(self) -> None:
        if self._poller:
            self._poller.cancel()
            try:
                await self._poller
            except (asyncio.CancelledError, Exception):
                pass
        if self._server:
            self._server.close()
            await self._server.wait_closed()
            REGISTRY.unregister(self.collector)
            self._server = None

    async def _poll_loop(self) -> None:
        while True:
            await self.collector.poll()
            await asyncio.sleep(self.poll_s)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await serve_one(reader, writer, self._answer)

    async def _answer(self, path: bytes) -> tuple[str, str, bytes]:
        if path not in (b"/metrics", b"/"):
            return "404 Not Found", "text/plain", b"not found\n"
        return "200 OK", CONTENT_TYPE_LATEST, generate_latest(REGISTRY)
