"""The controller's in-memory rate deck (agi/ratedeck.py): loaded on the first call, and a
newly activated deck is picked up by the background check while calls keep being rated on
the deck they had."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from sqlalchemy import text

from agi.ratedeck import RateDeckCache
from db import hotpath
from db.rates import import_deck
from db.session import transaction


@pytest.fixture()
async def pg(billing_db):
    db = hotpath.HotDB(billing_db, max_size=2)
    await db.open()
    yield db
    await db.close()


async def test_a_newly_activated_deck_replaces_the_cached_one_without_blocking_a_call(pg, bfactory):
    cache = RateDeckCache(pg, check_seconds=0.0)
    first = await cache.lookup("447700900123")
    assert first is not None and first.prefix == "447"
    with transaction(bfactory) as s:
        import_deck(s, "replacement", [("44", "UK", "GB", Decimal("0.5"), Decimal("0"), 60, 60)])
    try:
        # the check runs in the background: this call is rated on the deck it had
        during = await cache.lookup("447700900123")
        assert during is not None and during.prefix == "447"
        await asyncio.wait_for(cache._refresh, 10)
        after = await cache.lookup("447700900123")
        assert (after.prefix, after.rate_per_minute) == ("44", Decimal("0.5"))
    finally:
        with transaction(bfactory) as s:  # the shared billing deck active again
            s.execute(text("UPDATE rate_decks SET active = false WHERE active"))
            s.execute(text("UPDATE rate_decks SET active = true WHERE name = 'billing tests'"))
