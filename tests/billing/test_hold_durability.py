"""Issue 13, item 10: a hold, once committed, survives a PostgreSQL crash. The hot path's
commits wait for the WAL flush: none of its pooled connections turns synchronous_commit off
(a hold lost in a crash would let the next call after the restart hold the same money)."""

from __future__ import annotations

from db import hotpath


async def test_every_hot_path_connection_commits_durably(billing_db):
    db = hotpath.HotDB(billing_db, min_size=3, max_size=3)
    await db.open()
    try:
        async with db.connection() as a, db.connection() as b, db.connection() as c:
            for conn in (a, b, c):
                assert await conn.fetchval("SHOW synchronous_commit") == "on"
                assert await conn.fetchval("SHOW fsync") == "on"
    finally:
        await db.close()
