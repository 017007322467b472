"""Rate lookup benchmark: a 200,000-prefix synthetic rate deck, longest-prefix lookups in
process (controller.rules.rating.RateDeck.lookup) and in SQL (db.billing.sql_lookup, one query each).

Targets: >= 100,000 lookups/s in process; < 0.2 ms per lookup in SQL.
Runs in a scratch database (created, migrated, dropped at the end):

    .venv/bin/python -m bench.rate_lookup [--prefixes 200000] [--lookups 25000]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import random
import time
from decimal import Decimal

from sqlalchemy import text

from controller.settings import load
from db import migrate
from db.billing import load_rate_deck, sql_lookup
from db.rates import import_deck
from db.session import make_engine, session_factory, transaction


def synthetic_deck(n: int, rng: random.Random) -> list[tuple]:
    """n unique prefixes shaped like a real deck: country codes, then ever longer
    area-code / mobile-range prefixes below them (2 to 9 digits)."""
    prefixes: set[str] = {str(d) for d in range(1, 10)}
    while len(prefixes) < n:
        length = rng.choice((2, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 9))
        prefixes.add(str(rng.randint(1, 9)) + "".join(rng.choice("0123456789") for _ in range(length - 1)))
    return [
        (
            p,
            f"Destination {p}",
            "",
            Decimal(rng.randint(1, 50000)) / Decimal(100000),
            Decimal("0"),
            rng.choice((1, 6, 30, 60)),
            rng.choice((1, 6, 60)),
        )
        for p in sorted(prefixes)
    ]


def numbers(deck: list[tuple], count: int, rng: random.Random) -> list[str]:
    """Half extend a deck prefix (a hit at that depth or deeper), half are random digits."""
    out = []
    for i in range(count):
        if i % 2:
            base = rng.choice(deck)[0]
        else:
            base = str(rng.randint(1, 9))
        out.append(base + "".join(rng.choice("0123456789") for _ in range(12 - len(base))))
    return out


def _round_trip(session, n: int) -> float:
    """Seconds per trivial query on the session's connection: what any SQL lookup pays."""
    dbapi = session.connection().connection.dbapi_connection
    t = time.perf_counter()
    for _ in range(n):
        cur = dbapi.cursor()
        cur.execute("SELECT 1")
        cur.fetchone()
        cur.close()
    return (time.perf_counter() - t) / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prefixes", type=int, default=200_000)
    ap.add_argument("--lookups", type=int, default=25_000)
    args = ap.parse_args()
    rng = random.Random(20261127)
    settings = dataclasses.replace(load(), db_name=f"voip_bench_rates_{os.getpid()}")

    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}"
    )
    migrate.create_database(settings, drop_first=True)
    engine = make_engine(settings)
    try:
        migrate.upgrade(settings)
        factory = session_factory(engine)
        deck_rows = synthetic_deck(args.prefixes, rng)
        t = time.perf_counter()
        with transaction(factory) as s:
            import_deck(s, "bench", deck_rows)
        print(f"import {len(deck_rows):,} prefixes (COPY): {time.perf_counter() - t:.2f} s")
        # what autovacuum does after a bulk load: statistics, and the visibility map that lets
        # the lookup be an index-only scan (no heap visit per probe)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE rates"))

        with factory() as s:
            t = time.perf_counter()
            deck = load_rate_deck(s)
            print(f"load_rate_deck: {len(deck):,} rates in {time.perf_counter() - t:.2f} s")
        queries = numbers(deck_rows, args.lookups, rng)

        t = time.perf_counter()
        in_process = [deck.lookup(q) for q in queries]
        elapsed = time.perf_counter() - t
        print(
            f"in process: {len(queries):,} lookups in {elapsed * 1000:.1f} ms = "
            f"{len(queries) / elapsed:,.0f} lookups/s (target >= 100,000)"
        )

        with factory() as s:
            plan = (
                s.execute(
                    text(
                        "EXPLAIN SELECT prefix FROM rates WHERE deck_id = (SELECT id FROM"
                        " rate_decks WHERE active) AND prefix = ANY(:p)"
                        " ORDER BY length(prefix) DESC LIMIT 1"
                    ),
                    {"p": ["4", "44", "447"]},
                )
                .scalars()
                .all()
            )
            print("SQL plan: " + " | ".join(line.strip() for line in plan if "Index" in line))
            for q in queries[:200]:  # warm-up (psycopg prepares after 5 executions)
                sql_lookup(s, q)
            floor = _round_trip(s, len(queries) // 5)
            print(f"floor: SELECT 1 through the same cursor path = {floor * 1000:.3f} ms per query")
            # five chunks: the machine may be shared, so the best chunk is printed beside the mean
            in_sql, chunks, size = [], [], max(1, len(queries) // 5)
            for i in range(0, len(queries), size):
                t = time.perf_counter()
                in_sql.extend(sql_lookup(s, q) for q in queries[i : i + size])
                chunks.append((time.perf_counter() - t) / len(queries[i : i + size]))
            elapsed = sum(c * size for c in chunks)
        print(
            f"in SQL: {len(queries):,} lookups (one query each) in {elapsed:.2f} s = "
            f"{elapsed / len(queries) * 1000:.3f} ms per lookup, best chunk "
            f"{min(chunks) * 1000:.3f} ms (target < 0.2 ms), {len(queries) / elapsed:,.0f} lookups/s"
        )
        # the same statement's time inside PostgreSQL (planning + execution, from EXPLAIN
        # ANALYZE): what a lookup costs the database, without the client's round trip
        with factory() as s:
            from db.billing import _LOOKUP, _dbapi, prefixes_of

            cur = _dbapi(s).cursor()
            spent = []
            for q in queries[:2000]:
                cur.execute("EXPLAIN (ANALYZE, TIMING OFF, SUMMARY ON) " + _LOOKUP, (prefixes_of(q),))
                lines = [r[0] for r in cur.fetchall()]
                spent.append(
                    sum(
                        float(line.split(":")[1].split()[0])
                        for line in lines
                        if line.startswith(("Planning Time", "Execution Time"))
                    )
                )
            cur.close()
        spent.sort()
        print(
            f"in SQL, inside PostgreSQL: {sum(spent) / len(spent):.3f} ms per lookup on average, "
            f"p99 {spent[int(len(spent) * 0.99)]:.3f} ms (planning + execution, {len(spent):,} lookups)"
        )
        agree = sum(a == b for a, b in zip(in_process, in_sql, strict=False))
        hits = sum(r is not None for r in in_process)
        print(f"agreement: {agree:,}/{len(queries):,} identical results ({hits:,} hits)")
        if agree != len(queries):
            raise SystemExit("in-process and SQL lookups disagree")
    finally:
        engine.dispose()
        migrate.drop_database(settings)


if __name__ == "__main__":
    main()
