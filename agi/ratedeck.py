"""The active rate deck in the controller's memory, for the outbound decision.

A decision never waits for the deck to be refreshed: every CHECK_SECONDS one background task
asks PostgreSQL which deck is active (one indexed row) and, only when it changed, loads the new
one in a worker thread (200,000 prefixes take a few hundred ms to fetch and index; on the event
loop that would stall every call in flight). Calls meanwhile are rated on the deck they had.
Only the very first call waits, for the first load. The longest-prefix code is the panel's
(controller.rules.rating.RateDeck); the SQL is db.billing's.
"""

from __future__ import annotations

import asyncio
import logging
import time

import psycopg

from controller.rules.rating import Rate, RateDeck
from controller.services import heap
from db import billing
from db.hotpath import HotDB

log = logging.getLogger("agi.ratedeck")

CHECK_SECONDS = 10.0


class RateDeckCache:
    def __init__(self, hot: HotDB, check_seconds: float = CHECK_SECONDS):
        self._hot = hot
        self._check_seconds = check_seconds
        self._deck: RateDeck | None = None
        self._deck_id: int | None = None
        self._checked = 0.0
        self._first = asyncio.Lock()
        self._refresh: asyncio.Task | None = None

    async def lookup(self, digits: str) -> Rate | None:
        deck = self._deck
        if deck is None:
            async with self._first:  # one load, however many calls arrive at once
                deck = self._deck if self._deck is not None else await self._reload()
        elif time.monotonic() - self._checked > self._check_seconds and (
            self._refresh is None or self._refresh.done()
        ):
            self._checked = time.monotonic()
            self._refresh = asyncio.create_task(self._check(), name="rate-deck-check")
        return deck.lookup(digits)

    async def _check(self) -> None:
        try:
            async with self._hot.connection() as conn:
                deck_id = await conn.fetchval(billing.ACTIVE_DECK_ID)
            if deck_id != self._deck_id:
                await self._reload()
        except Exception as exc:  # keep rating on the deck we have; try again next time
            log.error("rate deck check failed", extra={"error": repr(exc)[:200]})

    async def _reload(self) -> RateDeck:
        deck_id, deck = await asyncio.to_thread(self._load)
        self._deck, self._deck_id, self._checked = deck, deck_id, time.monotonic()
        heap.settle()  # the deck's objects are long-lived: out of the collector's walks
        log.info("rate deck loaded", extra={"deck_id": deck_id, "prefixes": len(deck)})
        return deck

    def _load(self) -> tuple[int | None, RateDeck]:
        with psycopg.connect(self._hot.conninfo, connect_timeout=5) as conn, conn.cursor() as cur:
            return billing.read_active_deck(cur)
