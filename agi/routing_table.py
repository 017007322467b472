"""The routing table (every enabled carrier's buy deck) in the controller's memory, for the
outbound decision. Built like agi/ratedeck.py: a decision never waits for a refresh.

Every CHECK_SECONDS one background task asks PostgreSQL for the table's version
(db.routing.TABLE_VERSION: a few index probes) and, only when it changed, loads the new table
in a worker thread, in one REPEATABLE READ transaction so the version and the decks agree
(20 carriers x 200,000 prefixes take a few seconds: bench/routing.py). Calls meanwhile are
routed on the table they had. Only the first calls wait, for the first load (one load task,
which a waiting call's own timeout does not cancel; the controller can start it early with
preload()); if that load fails the error reaches the callers (the call path fails closed, it
does not fall back to the default trunk with nobody checking the buy price), and the next
call tries again.

The ordering and the loss rule are controller.rules.routing's; the SQL is db.routing's.
"""

from __future__ import annotations

import asyncio
import logging
import time

import psycopg

from controller.rules.rating import Rate
from controller.rules.routing import DEFAULT_MAX_ATTEMPTS, RouteDecision, RoutingTable, route
from controller.services import heap
from db import routing
from db.hotpath import HotDB

log = logging.getLogger("agi.routing_table")

CHECK_SECONDS = 10.0


class RoutingTableCache:
    def __init__(
        self, hot: HotDB, check_seconds: float = CHECK_SECONDS, max_attempts: int = DEFAULT_MAX_ATTEMPTS
    ):
        self._hot = hot
        self._check_seconds = check_seconds
        self.max_attempts = max_attempts
        self._table: RoutingTable | None = None
        self._version: str | None = None
        self._checked = 0.0
        self._first: asyncio.Task[RoutingTable] | None = None
        self._refresh: asyncio.Task[None] | None = None
        # carriers failing their OPTIONS qualify (controller/services/carrier_qualify.py)
        self._down: frozenset[str] = frozenset()

    def set_down(self, names: set[str] | frozenset[str]) -> None:
        """The carriers (by name) now failing their qualify: route() leaves them out until the
        next call of set_down without them."""
        self._down = frozenset(names)

    @property
    def down(self) -> frozenset[str]:
        return self._down

    async def table(self) -> RoutingTable:
        """The current table (loading it on the first call; starting a check when due)."""
        table = self._table
        if table is None:
            return await asyncio.shield(self.preload())
        if time.monotonic() - self._checked > self._check_seconds and (
            self._refresh is None or self._refresh.done()
        ):
            self._checked = time.monotonic()
            self._refresh = asyncio.create_task(self._check(), name="routing-table-check")
        return table

    def preload(self) -> asyncio.Task[RoutingTable]:
        """Start the first load if none is under way (the controller may call it at start),
        and return it. One task, however many calls wait for it: a call giving up waiting (its
        own timeout) does not cancel the load, and the next call does not start another."""
        if self._first is None or (
            self._first.done() and (self._first.cancelled() or self._first.exception() is not None)
        ):
            self._first = asyncio.create_task(self._reload(), name="routing-table-load")
            self._first.add_done_callback(_retrieved)
        return self._first

    async def route(
        self, digits: str, sell_rate: Rate | None, max_attempts: int | None = None
    ) -> RouteDecision | None:
        """The carriers to try for `digits` sold at `sell_rate`, in order (controller.rules.
        routing.route, with the table's loss prefixes). None when no carrier is enabled: the
        call then leaves through the default trunk (VOIP_PSTN_DIAL) as before carriers."""
        table = await self.table()
        if not table.carriers:
            return None
        return route(
            table, digits, sell_rate, max_attempts=max_attempts or self.max_attempts, down=self._down
        )

    async def check_now(self) -> None:
        """Run the change check at once (tests, and the admin after a change it made)."""
        self._checked = time.monotonic()
        await self._check()

    async def _check(self) -> None:
        try:
            async with self._hot.connection() as conn:
                version = await conn.fetchval(routing.TABLE_VERSION)
            if version != self._version:
                await self._reload()
        except Exception as exc:  # keep routing on the table we have; try again next time
            log.error("routing table check failed", extra={"error": repr(exc)[:200]})

    async def _reload(self) -> RoutingTable:
        started = time.monotonic()
        version, table = await asyncio.to_thread(self._load)
        self._table, self._version, self._checked = table, version, time.monotonic()
        heap.settle()  # the table's objects are long-lived: out of the collector's walks
        log.info(
            "routing table loaded",
            extra={
                "carriers": len(table.carriers),
                "rates": len(table),
                "prefixes": table.prefixes(),
                "seconds": round(time.monotonic() - started, 3),
            },
        )
        return table

    def _load(self) -> tuple[str, RoutingTable]:
        with psycopg.connect(self._hot.conninfo, connect_timeout=5) as conn:
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            conn.read_only = True
            with conn.cursor() as cur:
                return routing.read_table(cur)


def _retrieved(task: asyncio.Task[RoutingTable]) -> None:
    """A failed first load is reported to the calls waiting for it; with none left waiting,
    it is logged here rather than as an unretrieved task exception."""
    if not task.cancelled() and task.exception() is not None:
        log.error("routing table load failed", extra={"error": repr(task.exception())[:200]})
