"""The back office's benchmark database: 10,000 accounts and 10,000,000 rated CDRs over 90 days.

Shared by the back-office benchmarks (bench/admin_records.py, the reports' and the API's). Run
it once by hand; it is not a test and the database is kept (it takes minutes to build):

    .venv/bin/python -m bench.backoffice_seed [--db voip_bench_backoffice] [--accounts 10000]
        [--cdrs 10000000] [--days 90] [--rebuild]

Idempotent: a database already built with the same sizes is left as it is (and only migrated
to head); --rebuild drops and builds it again (do that after a migration that changes cdr,
cdr_charges, member_calls or cdr_rollup_daily was edited in place).

What it holds (the usual connection settings, VOIP_DB_HOST etc., database name --db):

- accounts 1..N (id = i), each with one virtual number `2120000000 + i` (virtual_numbers.id = i)
  and its primary user (login = the number), all with the password `Bench-pass-2026`; an admin
  user `benchadmin` with the same password; carriers `cheap`, `backup` and `premium`;
- cdr: --cdrs rows, ids 1..M in order of start (as Asterisk writes them), start spread evenly
  over the --days days before the build (whole seconds, so many share a start), account
  1 + (id * 7919) % N. 90% placed by the member (accountcode = the account id, vnum = src =
  the number, a call_class: D 55%, I 15%, R 10%, N 5%, T 3%, E 2%; D and I calls carried by
  a carrier, 1 in 20 of them after a failed attempt on another: carrier_attempts
  "cheap:503;backup"), 10% received (no class, vnum = dst = the number, src a PSTN caller).
  Outcome: ANSWERED 70%, NO ANSWER 15%, BUSY 10%, FAILED 5%; one leg per call
  (linkedid = uniqueid = 'bench-<id>');
- cdr_charges: one per classed CDR (the rater's one per CDR), account_id and
  virtual_number_id set, cost from a per-class rate, and for carried calls carrier_id,
  buy_cost (60% of cost) and margin;
- member_calls: what the trigger of migration 0012 would have written (its own function);
- cdr_rollup_daily: what migration 0023's trigger keeps (UTC day, account, country, call
  type, carrier 0 when none; calls, answered, billsec, billable seconds, revenue = cost,
  cost = buy_cost, margin).

Fast: the rows come from generate_series INSERT ... SELECT with session_replication_role =
replica (no per-row triggers: the rating queue, member_calls, the rollup and the day-spend
counters are filled in bulk instead), the secondary indexes of the big tables dropped while
loading and rebuilt afterwards from their own definitions.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from controller.rules import secrets as sec
from controller.settings import Settings, load
from db import migrate

DEFAULT_DB = "voip_bench_backoffice"
PASSWORD = "Bench-pass-2026"
ADMIN_LOGIN = "benchadmin"
NUMBER_BASE = 2120000000
CARRIERS = ("cheap", "backup", "premium")
BIG_TABLES = ("cdr", "cdr_charges", "member_calls")
CHUNK = 1_000_000


def bench_settings(db_name: str = DEFAULT_DB) -> Settings:
    return dataclasses.replace(load(), db_name=db_name)


def conninfo(settings: Settings) -> str:
    return settings.database_url.replace("postgresql+psycopg", "postgresql")


def marker(accounts: int, cdrs: int, days: int) -> str:
    return f"bench backoffice seed v1: accounts={accounts} cdrs={cdrs} days={days}"


def migrations_digest() -> str:
    """What the migration files say now: a build made under other migrations is warned about."""
    digest = hashlib.sha256()
    for path in sorted((Path(migrate.__file__).parent / "migrations" / "versions").glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def built_marker(settings: Settings) -> str | None:
    with psycopg.connect(conninfo(settings)) as conn:
        row = conn.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = current_database()"
        ).fetchone()
    return row[0] if row else None


@contextmanager
def step(what: str) -> Iterator[None]:
    t0 = time.monotonic()
    print(f"  {what} ...", end="", flush=True)
    yield
    print(f" {time.monotonic() - t0:.1f} s", flush=True)


def _drop_secondary_indexes(conn: psycopg.Connection) -> list[str]:
    """Drops the big tables' indexes and unique constraints (not primary keys); returns the
    statements that put them back."""
    restore: list[str] = []
    for table in BIG_TABLES:
        for name, definition in conn.execute(
            """SELECT con.conname, pg_get_constraintdef(con.oid) FROM pg_constraint con
                WHERE con.conrelid = %s::regclass AND con.contype = 'u'""",
            (table,),
        ).fetchall():
            restore.append(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
            conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        for name, definition in conn.execute(
            """SELECT i.relname, pg_get_indexdef(x.indexrelid) FROM pg_index x
                 JOIN pg_class i ON i.oid = x.indexrelid
                WHERE x.indrelid = %s::regclass AND NOT x.indisprimary
                  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)""",
            (table,),
        ).fetchall():
            restore.append(definition)
            conn.execute(f'DROP INDEX "{name}"')
    return restore


CDR_SQL = """
INSERT INTO cdr (id, accountcode, src, dst, dcontext, clid, channel, dstchannel, lastapp, lastdata,
                 start, answer, "end", duration, billsec, disposition, amaflags, userfield, uniqueid,
                 linkedid, peeraccount, sequence, vnum, call_class, dialed, auth_id, carrier, attempts,
                 carrier_attempts)
SELECT g.id,
       CASE WHEN k.inbound THEN '' ELSE k.acct::text END,
       CASE WHEN k.inbound THEN k.pstn ELSE k.num END,
       CASE WHEN k.inbound THEN k.num ELSE k.dialed END,
       CASE WHEN k.inbound THEN 'from-pstn' ELSE 'from-member' END,
       '"' || k.num || '" <' || k.num || '>',
       'PJSIP/' || k.num || '-' || lpad(to_hex(g.id::int), 8, '0'),
       CASE WHEN k.disp = 'ANSWERED' THEN
            CASE WHEN k.carrier IS NOT NULL THEN 'PJSIP/carrier-' || k.carrier ELSE 'PJSIP/' || k.num END
            || '-' || lpad(to_hex(g.id::int + 1), 8, '0') ELSE '' END,
       'Dial', '', k.start,
       CASE WHEN k.disp = 'ANSWERED' THEN k.start + make_interval(secs => k.ring) END,
       k.start + make_interval(secs => k.ring + k.billsec),
       k.ring + k.billsec, k.billsec, k.disp, 'DOCUMENTATION', '', 'bench-' || g.id, 'bench-' || g.id,
       '', g.id::int, k.num,
       k.class, CASE WHEN k.inbound THEN NULL ELSE k.dialed END, NULL,
       k.carrier, CASE WHEN k.carrier IS NULL THEN NULL WHEN k.retried THEN 2 ELSE 1 END,
       CASE WHEN k.carrier IS NULL THEN NULL WHEN k.retried THEN (CASE k.carrier WHEN 'cheap' THEN 'premium' ELSE 'cheap' END) || ':503;' || k.carrier
            ELSE k.carrier END
  FROM generate_series(%(lo)s::bigint, %(hi)s::bigint) AS g(id)
  CROSS JOIN LATERAL (SELECT
        1 + (g.id * 7919) %% %(accounts)s AS acct,
        (g.id * 2654435761) %% 1000 AS r1,   -- class
        (g.id * 40503 + 17) %% 100 AS r2,    -- outcome
        (g.id * 97 + 3) %% 1000 AS r3        -- length, destination, carrier
  ) AS h
  CROSS JOIN LATERAL (SELECT
        h.acct,
        h.r1 < 100 AS inbound,
        (%(base)s + h.acct)::text AS num,
        '1' || (2000000000 + (g.id * 7 %% 7999999999))::text AS pstn,
        date_trunc('second', %(t0)s::timestamptz
                   + make_interval(secs => (g.id - 1) * %(span)s::float8 / %(cdrs)s)) AS start,
        CASE WHEN h.r1 < 100 THEN NULL WHEN h.r1 < 650 THEN 'D' WHEN h.r1 < 800 THEN 'I'
             WHEN h.r1 < 900 THEN 'R' WHEN h.r1 < 950 THEN 'N' WHEN h.r1 < 980 THEN 'T' ELSE 'E' END AS class,
        CASE WHEN h.r2 < 70 THEN 'ANSWERED' WHEN h.r2 < 85 THEN 'NO ANSWER' WHEN h.r2 < 95 THEN 'BUSY'
             ELSE 'FAILED' END AS disp,
        h.r3 %% 31 AS ring,
        CASE WHEN h.r2 < 70 THEN 1 + (h.r3 * h.r3) %% 900 ELSE 0 END AS billsec,
        (h.r3 %% 20 = 0) AS retried,
        CASE WHEN h.r1 BETWEEN 100 AND 799 THEN
             (ARRAY['cheap', 'backup', 'premium'])[1 + h.r3 %% 3] END AS carrier,
        CASE WHEN h.r1 < 100 THEN NULL
             WHEN h.r1 < 650 THEN '1' || (2000000000 + (g.id * 2654435761 %% 7999999999))::text
             WHEN h.r1 < 800 THEN (ARRAY['44', '33', '49', '52', '91', '63', '81', '61', '34', '39'])
                                  [1 + h.r3 %% 10] || lpad(((g.id * 31) %% 1000000000)::text, 9, '0')
             WHEN h.r1 < 900 THEN '1212' || lpad(((g.id * 11) %% 10000000)::text, 7, '0')
             WHEN h.r1 < 950 THEN (%(base)s + 1 + (g.id * 389) %% %(accounts)s)::text
             WHEN h.r1 < 980 THEN '1800' || lpad(((g.id * 5) %% 10000000)::text, 7, '0')
             ELSE '911' END AS dialed
  ) AS k
"""

CHARGES_SQL = """
INSERT INTO cdr_charges (id, cdr_id, account_id, virtual_number_id, call_type, country, prefix,
                         billable_seconds, plan_seconds, cost, rated_at, carrier_id, buy_cost, margin)
SELECT c.id, c.id, p.acct, p.acct, c.call_class, p.country, p.prefix, p.secs, 0,
       p.cost, c."end" + interval '2 seconds', car.id,
       CASE WHEN car.id IS NOT NULL THEN round(p.cost * 0.6, 4) END,
       CASE WHEN car.id IS NOT NULL THEN p.cost - round(p.cost * 0.6, 4) END
  FROM cdr c
  CROSS JOIN LATERAL (SELECT
        c.accountcode::int AS acct,
        CASE c.call_class WHEN 'I' THEN
             CASE left(c.dialed, 2) WHEN '44' THEN 'GB' WHEN '33' THEN 'FR' WHEN '49' THEN 'DE'
                  WHEN '52' THEN 'MX' WHEN '91' THEN 'IN' WHEN '63' THEN 'PH' WHEN '81' THEN 'JP'
                  WHEN '61' THEN 'AU' WHEN '34' THEN 'ES' ELSE 'IT' END
             ELSE 'US' END AS country,
        CASE WHEN c.call_class IN ('D', 'R', 'T') THEN left(c.dialed, 4)
             WHEN c.call_class = 'I' THEN left(c.dialed, 2) END AS prefix,
        CASE WHEN c.call_class IN ('D', 'R', 'I') THEN ((c.billsec + 59) / 60) * 60 ELSE 0 END AS secs,
        CASE c.call_class
             WHEN 'D' THEN round(((c.billsec + 59) / 60) * 0.0120, 4)
             WHEN 'R' THEN round(((c.billsec + 59) / 60) * 0.0080, 4)
             WHEN 'I' THEN round(((c.billsec + 59) / 60) * (0.05 + (c.id %% 10) * 0.02), 4)
             ELSE 0 END AS cost,
        c.carrier
  ) AS p
  LEFT JOIN carriers car ON car.name = p.carrier
 WHERE c.id BETWEEN %(lo)s AND %(hi)s AND c.call_class IS NOT NULL
"""

MEMBER_CALLS_SQL = """
INSERT INTO member_calls (vnum, linkedid, start, inbound, answered, seconds)
SELECT s.vnum, s.linkedid, min(s.start), bool_or(s.inbound), bool_or(s.answered), max(s.seconds)
  FROM cdr c CROSS JOIN LATERAL voip_call_sides(c) s
 GROUP BY s.vnum, s.linkedid
"""

ROLLUP_SQL = """
INSERT INTO cdr_rollup_daily (day, account_id, country, call_type, carrier_id, calls, answered, billsec,
                              billable_seconds, revenue, cost, margin)
SELECT (c.start AT TIME ZONE 'UTC')::date, ch.account_id, ch.country, ch.call_type,
       coalesce(ch.carrier_id, 0), count(*), count(*) FILTER (WHERE c.disposition = 'ANSWERED'),
       coalesce(sum(c.billsec), 0), sum(ch.billable_seconds), sum(ch.cost),
       coalesce(sum(ch.buy_cost), 0), coalesce(sum(ch.margin), 0)
  FROM cdr_charges ch JOIN cdr c ON c.id = ch.cdr_id
 WHERE ch.account_id IS NOT NULL AND c.start IS NOT NULL
 GROUP BY 1, 2, 3, 4, 5
"""


def build(settings: Settings, accounts: int, cdrs: int, days: int) -> None:
    password_hash = sec.hash_password(PASSWORD)
    with psycopg.connect(conninfo(settings), autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute("SET maintenance_work_mem = '1GB'")
        conn.execute("SET work_mem = '256MB'")
        conn.execute("SET synchronous_commit = off")
        t0 = conn.execute("SELECT date_trunc('hour', now()) - make_interval(days => %s)", (days,)).fetchone()
        assert t0 is not None
        with step(f"{accounts} accounts, numbers, users"):
            conn.execute(
                """INSERT INTO accounts (id, first_name, last_name, company, email, country, time_zone)
                   SELECT g, 'Bench', 'Member ' || g, 'Company ' || (g %% 500), 'member' || g || '@bench.test',
                          'US', 'America/New_York' FROM generate_series(1, %s) g""",
                (accounts,),
            )
            conn.execute(
                """INSERT INTO virtual_numbers (id, account_id, number, display_name)
                   SELECT g, g, (%s + g)::text, 'Member ' || g FROM generate_series(1, %s) g""",
                (NUMBER_BASE, accounts),
            )
            conn.execute(
                """INSERT INTO users (account_id, role, login, password_hash, email)
                   SELECT g, 'primary', (%s + g)::text, %s, 'member' || g || '@bench.test'
                     FROM generate_series(1, %s) g""",
                (NUMBER_BASE, password_hash, accounts),
            )
            conn.execute(
                "INSERT INTO users (role, login, password_hash) VALUES ('admin', %s, %s)",
                (ADMIN_LOGIN, password_hash),
            )
            for table in ("accounts", "virtual_numbers"):
                conn.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
                )
            for i, name in enumerate(CARRIERS):
                conn.execute(
                    "INSERT INTO carriers (name, host, priority) VALUES (%s, %s, %s)",
                    (name, f"{name}.carrier.bench.test", i),
                )
        with step("dropping the big tables' secondary indexes"):
            restore = _drop_secondary_indexes(conn)
        for lo in range(1, cdrs + 1, CHUNK):
            hi = min(lo + CHUNK - 1, cdrs)
            params = {
                "lo": lo,
                "hi": hi,
                "accounts": accounts,
                "cdrs": cdrs,
                "base": NUMBER_BASE,
                "t0": t0[0],
                "span": days * 86400,
            }
            with step(f"cdr {lo:,}..{hi:,} and their charges"):
                conn.execute(CDR_SQL, params)
                conn.execute(CHARGES_SQL, {"lo": lo, "hi": hi})
        conn.execute("SELECT setval(pg_get_serial_sequence('cdr', 'id'), (SELECT max(id) FROM cdr))")
        conn.execute(
            "SELECT setval(pg_get_serial_sequence('cdr_charges', 'id'), (SELECT max(id) FROM cdr_charges))"
        )
        with step("member_calls (migration 0012's voip_call_sides)"):
            conn.execute(MEMBER_CALLS_SQL)
        with step("cdr_rollup_daily"):
            conn.execute(ROLLUP_SQL)
        for statement in restore:
            with step(statement[:110]):
                conn.execute(statement)
        with step("VACUUM ANALYZE"):
            for table in (*BIG_TABLES, "cdr_rollup_daily", "accounts", "virtual_numbers", "users"):
                conn.execute(f"VACUUM (ANALYZE) {table}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--db", default=DEFAULT_DB)
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--cdrs", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args(argv)
    settings = bench_settings(args.db)
    want = marker(args.accounts, args.cdrs, args.days)
    started = time.monotonic()
    migrate.create_database(settings, drop_first=args.rebuild)
    migrate.upgrade(settings)
    have = built_marker(settings)
    built, _, digest = (have or "").partition("; migrations=")
    if built == want:
        print(f"{args.db}: already built ({built}); --rebuild to build it again")
        if digest != migrations_digest():
            print(
                f"  warning: db/migrations changed since this build ({digest or '?'} -> {migrations_digest()}):"
                " new revisions were applied, but a revision edited in place was not; --rebuild if that matters"
            )
        return 0
    if have is not None or _has_rows(settings):
        print(f"{args.db}: holds another build ({have}); rebuilding")
        migrate.create_database(settings, drop_first=True)
        migrate.upgrade(settings)
    print(f"building {args.db}: {args.accounts:,} accounts, {args.cdrs:,} CDRs over {args.days} days")
    build(settings, args.accounts, args.cdrs, args.days)
    with psycopg.connect(conninfo(settings), autocommit=True) as conn:
        conn.execute(f"COMMENT ON DATABASE \"{args.db}\" IS '{want}; migrations={migrations_digest()}'")
        size = conn.execute("SELECT pg_size_pretty(pg_database_size(current_database()))").fetchone()
    print(f"built {args.db} in {time.monotonic() - started:.0f} s ({size[0] if size else '?'})")
    return 0


def _has_rows(settings: Settings) -> bool:
    with psycopg.connect(conninfo(settings)) as conn:
        return conn.execute("SELECT EXISTS (SELECT 1 FROM accounts)").fetchone() == (True,)


if __name__ == "__main__":
    sys.exit(main())
