"""The operator's Reports page (issue 15): a 90-day report's latency at 20 concurrent clients.

Target: p95 < 100 ms for a 90-day report at 20 concurrent closed-loop clients, against the real
panel served by a real WSGI server (gunicorn with docker/compose.yaml's 4 sync workers, else
Werkzeug), on the back office's benchmark database (bench/backoffice_seed.py: 10,000 accounts,
10,000,000 rated CDRs over 90 days, cdr_rollup_daily filled by aggregate), logged in as its
`benchadmin`. Run it by hand; it is not a test:

    .venv/bin/python -m bench.admin_reports [--db voip_bench_backoffice] [--clients 20]
        [--seconds 20] [--server gunicorn|werkzeug] [--workers 4]
        [--rollup-only]  # build voip_bench_rollup instead: rollup rows only, same shape

--rollup-only (or when the back office database is not there): a database of its own with only
cdr_rollup_daily filled, 10,000 accounts x 90 days x 3 countries (US D, GB I, MX I) across 3
carriers: 2,700,000 rows, the shape 10,000,000 CDRs give.

Printed, for each page (all accounts, one account, one carrier; 90 days):
- cold: the report computed (db.reports.report, the rollup's one GROUPING SETS statement) in
  this process, 5 times: what a page costs when its figures are not kept;
- the page at 1 client and at --clients clients, closed loop (bench/panel_call_history.py's
  load generator and CPU accounting): the panel keeps a rendered report for a minute
  (webpanel/admin/reports_views.py), so after each worker's first request this is the cost of
  serving a kept report with the panel's session, layout and navigation;
- the machine's load average and busy share during the run (2 cores shared with PostgreSQL,
  the load generator and whatever else runs).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import importlib.util
import os
import platform
import shutil
import statistics
import time

import psycopg
from sqlalchemy import text

from bench.panel_call_history import (
    Server,
    Usage,
    _line,
    fetch,
    free_port,
    log_in,
    start_panel,
    stop_panel,
    with_threads,
    with_wrk,
)
from controller.settings import load
from db import accounts, migrate, reports
from db.session import make_engine, session_factory, transaction

TARGET_P95_MS = 100.0
ADMIN = "benchadmin"
PASSWORD = "Bench-pass-2026"  # bench.panel_call_history.log_in's

ROLLUP_SQL = """
INSERT INTO cdr_rollup_daily (day, account_id, country, call_type, carrier_id, calls, answered, billsec,
                              billable_seconds, revenue, cost, margin)
SELECT d::date, a, c.country, c.call_type, c.carrier, 3 + (a + c.carrier) %% 5, 2 + (a %% 2),
       (2 + (a %% 2)) * (90 + a %% 120), (2 + (a %% 2)) * (90 + a %% 120),
       ((2 + (a %% 2)) * (90 + a %% 120) / 60.0 * c.rate)::numeric(16,4),
       ((2 + (a %% 2)) * (90 + a %% 120) / 60.0 * c.rate * 0.6)::numeric(16,4),
       ((2 + (a %% 2)) * (90 + a %% 120) / 60.0 * c.rate * 0.4)::numeric(16,4)
  FROM generate_series(%(first)s::date, %(last)s::date, interval '1 day') d,
       generate_series(1, %(accounts)s) a,
       (VALUES ('US', 'D', 1, 0.015), ('GB', 'I', 2, 0.03), ('MX', 'I', 3, 0.04))
           AS c(country, call_type, carrier, rate)
ON CONFLICT DO NOTHING
"""


def rollup_only(base, n_accounts: int, days: int):
    """voip_bench_rollup: migrated, the carriers, the admin, and the rollup rows (built once)."""
    settings = dataclasses.replace(base, db_name="voip_bench_rollup")
    created = migrate.create_database(settings)
    migrate.upgrade(settings)
    engine = make_engine(settings, pool_size=1, max_overflow=0)
    factory = session_factory(engine)
    with factory() as s:
        rows = s.scalar(text("SELECT count(*) FROM cdr_rollup_daily"))
    if created or rows < n_accounts * days * 3:
        print(f"building voip_bench_rollup: {n_accounts} accounts x {days} days x 3 ...", flush=True)
        t0 = time.monotonic()
        last = dt.datetime.now(dt.UTC).date()
        with transaction(factory) as s:
            for name in ("cheap", "backup", "premium"):
                s.execute(
                    text(
                        "INSERT INTO carriers (name, host, enabled) VALUES (:n, '127.0.0.9', false) ON CONFLICT DO NOTHING"
                    ),
                    {"n": name},
                )
            if s.scalar(text("SELECT count(*) FROM users WHERE login = :l"), {"l": ADMIN}) == 0:
                accounts.create_admin(s, ADMIN, PASSWORD)
        conninfo = f"host={settings.db_host} port={settings.db_port} user={settings.db_user} dbname={settings.db_name}"
        if settings.db_password:
            conninfo += f" password={settings.db_password}"
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(
                ROLLUP_SQL,
                {"first": last - dt.timedelta(days=days - 1), "last": last, "accounts": n_accounts},
                prepare=False,
            )
            conn.execute("VACUUM ANALYZE cdr_rollup_daily")
        print(f"  built in {time.monotonic() - t0:.0f} s", flush=True)
    engine.dispose()
    return settings


def backoffice_ready(settings) -> bool:
    try:
        engine = make_engine(settings, pool_size=1, max_overflow=0)
        with engine.connect() as c:
            admin = c.scalar(text("SELECT count(*) FROM users WHERE login = :l"), {"l": ADMIN})
            some = c.scalar(text("SELECT EXISTS (SELECT 1 FROM cdr_rollup_daily)"))
            busy = c.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND state = 'active' AND pid <> pg_backend_pid()"
                )
            )
        engine.dispose()
        return bool(admin and some and not busy)
    except Exception as exc:  # not there yet
        print(f"{settings.db_name}: {exc.__class__.__name__}", flush=True)
        return False


def _verdict(r: dict) -> str:
    return "met" if r["p95"] < TARGET_P95_MS and not r["errors"] else "NOT met"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", default="voip_bench_backoffice")
    parser.add_argument("--rollup-only", action="store_true")
    parser.add_argument("--accounts", type=int, default=10_000, help="--rollup-only's accounts")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=20)
    has_gunicorn = importlib.util.find_spec("gunicorn") is not None
    parser.add_argument(
        "--server", choices=("werkzeug", "gunicorn"), default="gunicorn" if has_gunicorn else "werkzeug"
    )
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()

    base = load()
    settings = dataclasses.replace(base, db_name=args.db)
    if args.rollup_only or not backoffice_ready(settings):
        if not args.rollup_only:
            print(f"{args.db} is not ready (no benchadmin or rollup, or still being built): --rollup-only")
        settings = rollup_only(base, args.accounts, 90)

    engine = make_engine(settings, pool_size=1, max_overflow=0)
    factory = session_factory(engine)
    with factory() as s:
        last = s.scalar(text("SELECT max(day) FROM cdr_rollup_daily"))
        first = last - dt.timedelta(days=89)
        n_rows = s.scalar(text("SELECT count(*) FROM cdr_rollup_daily WHERE day >= :a"), {"a": first})
        account = s.scalar(text("SELECT min(account_id) FROM cdr_rollup_daily WHERE account_id > 0"))
        carrier = s.scalar(text("SELECT min(carrier_id) FROM cdr_rollup_daily WHERE carrier_id > 0"))
    print(
        f"{settings.db_name}: {n_rows:,} rollup rows in the 90 days {first} .. {last}; "
        f"{platform.node()}, {os.cpu_count()} CPUs, load {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
        flush=True,
    )
    pages = [
        ("90 days, all accounts", None, None),
        (f"90 days, account {account}", account, None),
        (f"90 days, carrier {carrier}", None, carrier),
    ]
    print("cold (the report computed from the rollup, no kept figures), 5 times each:", flush=True)
    for name, acc, car in pages:
        times = []
        for _ in range(5):
            with factory() as s:
                t0 = time.perf_counter()
                rep = reports.report(s, first, last, account_id=acc, carrier_id=car)
                times.append((time.perf_counter() - t0) * 1000)
        print(
            f"  {name}: median {statistics.median(times):.0f} ms, max {max(times):.0f} ms "
            f"({rep.totals.calls:,} calls, {rep.accounts:,} accounts); load {os.getloadavg()[0]:.2f}",
            flush=True,
        )
    engine.dispose()

    server = Server(args.server, workers=args.workers)
    port = free_port()
    proc = start_panel(settings, port, server)
    closed = with_wrk if shutil.which("wrk") else with_threads
    try:
        cookie = log_in(port, ADMIN)
        print(f"--- {server.label}", flush=True)
        results = []
        for name, acc, car in pages:
            path = f"/admin/reports/?start={first.isoformat()}&end={last.isoformat()}"
            path += f"&account={acc}" if acc is not None else ""
            path += f"&carrier={car}" if car is not None else ""
            t0 = time.perf_counter()
            html = fetch(port, path, cookie)
            print(
                f"{name}: first request {(time.perf_counter() - t0) * 1000:.0f} ms ({len(html):,} bytes)",
                flush=True,
            )
            assert 'id="chart-minutes"' in html
            for _ in range(3 * max(1, server.workers)):
                fetch(port, path, cookie)  # every worker computes its kept report once
            usage = Usage(proc.pid, settings)
            alone = usage.done(closed(port, path, cookie, 1, max(3, args.seconds // 3)))
            print(f"  1 client, closed loop:  {_line(alone)}", flush=True)
            usage = Usage(proc.pid, settings)
            loaded = usage.done(closed(port, path, cookie, args.clients, args.seconds))
            print(
                f"  {args.clients} clients, closed loop [{loaded['tool']}]: {_line(loaded)}  "
                f"target p95 < {TARGET_P95_MS:.0f} ms: {_verdict(loaded)}",
                flush=True,
            )
            results.append((name, loaded))
        print("summary:")
        for name, r in results:
            print(
                f"  {name}: p95 {r['p95']:.1f} ms at {args.clients} clients ({_verdict(r)}), load {r['load']:.1f}"
            )
    finally:
        stop_panel(proc)


if __name__ == "__main__":
    main()
