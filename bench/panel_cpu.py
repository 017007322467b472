"""The panel's own CPU per request (issues 15 and 16), page by page, in one process.

Run it by hand (it is not a test) after bench/backoffice_seed.py has built its database:

    .venv/bin/python -m bench.panel_cpu [--db voip_bench_backoffice] [-n 200]
        [--page password] [--profile password]

The real app (`create_app`) on the bench database, driven by Flask's test client in this
process, logged in through the real login form (an operator, benchadmin, and member
2120001001) and with a `member` API token made for the run and deleted after it. For each
page: --rounds rounds of N requests one after the other (after a warm-up), and the least of this process's CPU time
(time.process_time: user + system, the panel's Python, Jinja, SQLAlchemy and psycopg's
client side; PostgreSQL's backends are other processes and not counted) divided by N (the
least round: the one the machine's other work disturbed least).
The test client's own work (building the WSGI environ, reading the body) is counted too:
about 0.2 ms a request, the same before and after a change, so ratios are fair.

On a loaded machine the CPU time of a request grows with the load (caches, frequency):
compare figures taken at similar loads (printed), or count instructions, reproducibly
whatever the load, in the measured requests only (each runs inside operator.methodcaller's C
function):

    valgrind --tool=callgrind --toggle-collect=methodcaller_call --callgrind-out-file=/tmp/cg.out \
        .venv/bin/python -m bench.panel_cpu --page api -n 20 --rounds 1
    callgrind_annotate /tmp/cg.out | grep "PROGRAM TOTALS"    # / 20: instructions a request

Pages:
- password: /password/ (a minimal member page: the layout, its navigation, the session);
- records: /admin/records (the operator's Call Records, newest first, first page);
- records-deep: /admin/records?after=<cursor> (page 10,000 by keyset, as bench/admin_records.py);
- records-account: /admin/records?account=<a number> (one account's first page, its merge);
- records-carrier: /admin/records?carrier=premium (one carrier's first page);
- reports: /admin/reports/ over the last 90 days of rollups (after the first request, served
  from the report cache);
- api: /api/v1/me/call-records?limit=50 (a member's REST API page, bearer token).
"""

from __future__ import annotations

import argparse
import datetime as dt
import operator
import os
import pstats
import re
import sys
import time
from urllib.parse import urlencode

from sqlalchemy import delete, select, text

from bench import backoffice_seed as seed
from db import api_tokens
from db.models import ApiToken, User
from db.session import make_engine, session_factory, transaction

MEMBER = str(seed.NUMBER_BASE + 1001)
TOKEN_NAME = "bench.panel_cpu"
PAGES = ("password", "records", "records-deep", "records-account", "records-carrier", "reports", "api")


def log_in(client, login: str) -> None:
    html = client.get("/login").get_data(as_text=True)
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert match is not None, "no CSRF token on the login page"
    response = client.post(
        "/login", data={"csrf_token": match.group(1), "login": login, "password": seed.PASSWORD}
    )
    if response.status_code != 302:
        raise SystemExit(f"login {login} failed: {response.status_code}")


def make_token(settings) -> str:
    factory = session_factory(make_engine(settings))
    with transaction(factory) as s:
        user = s.scalar(select(User).where(User.login == MEMBER))
        if user is None:
            raise SystemExit(f"no user {MEMBER}: is {settings.db_name} built by bench/backoffice_seed.py?")
        # the seed dates its numbers after their calls (see bench/api_call_records.py)
        s.execute(
            text(
                "UPDATE virtual_numbers v SET created_at = m.first FROM"
                " (SELECT vnum, min(start) AS first FROM member_calls WHERE vnum = :n GROUP BY vnum) m"
                " WHERE v.number = m.vnum AND v.created_at > m.first"
            ),
            {"n": MEMBER},
        )
        _row, secret = api_tokens.create(s, user, name=TOKEN_NAME, scope="member")
    return secret


def drop_token(settings) -> None:
    factory = session_factory(make_engine(settings))
    with transaction(factory) as s:
        s.execute(delete(ApiToken).where(ApiToken.name == TOKEN_NAME))


def report_path(settings) -> str:
    factory = session_factory(make_engine(settings))
    with transaction(factory) as s:
        last = s.scalar(text("SELECT max(day) FROM cdr_rollup_daily")) or dt.date.today()
    first = last - dt.timedelta(days=89)
    return f"/admin/reports/?start={first.isoformat()}&end={last.isoformat()}"


def deep_cursor(settings, page: int = 10_000) -> str:
    """The "Older" link's cursor that leads to `page` of the unfiltered search."""
    from bench.admin_records import page_cursor

    return page_cursor(settings, page)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default=seed.DEFAULT_DB)
    parser.add_argument("-n", type=int, default=200, help="requests per page (default 200)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of N; the least CPU is printed")
    parser.add_argument("--page", action="append", choices=PAGES)
    parser.add_argument("--profile", choices=PAGES)
    args = parser.parse_args(argv)
    os.environ.setdefault("VOIP_API_RATE_PER_MINUTE", "100000000")
    os.environ.setdefault("VOIP_API_RATE_BURST", "100000000")
    settings = seed.bench_settings(args.db)

    from webpanel import create_app

    app = create_app({"VOIP_SETTINGS": settings, "TESTING": True})
    admin = app.test_client()
    member = app.test_client()
    log_in(admin, seed.ADMIN_LOGIN)
    log_in(member, MEMBER)
    token = make_token(settings)
    bearer = {"Authorization": f"Bearer {token}"}
    pages = {
        "password": (member, "/password/", {}),
        "records": (admin, "/admin/records", {}),
        "records-deep": (admin, "/admin/records?" + urlencode({"after": deep_cursor(settings)}), {}),
        "records-account": (
            admin,
            "/admin/records?" + urlencode({"account": str(seed.NUMBER_BASE + 4242)}),
            {},
        ),
        "records-carrier": (admin, "/admin/records?carrier=premium", {}),
        "reports": (admin, report_path(settings), {}),
        "api": (app.test_client(), "/api/v1/me/call-records?limit=50", bearer),  # a script: no cookie
    }
    chosen = [args.profile] if args.profile else (args.page or list(pages))
    try:
        print(f"load {os.getloadavg()[0]:.2f}, {args.n} requests a page", flush=True)
        for name in chosen:
            client, path, headers = pages[name]
            for _ in range(5):  # warm-up: caches, compiled templates, the report cache
                response = client.get(path, headers=headers)
                if response.status_code != 200:
                    raise SystemExit(f"GET {path}: {response.status_code}")
            if args.profile:
                import cProfile

                profiler = cProfile.Profile(time.process_time)  # CPU, not waits
                profiler.enable()
            best = (float("inf"), 0.0)
            for _ in range(1 if args.profile else args.rounds):
                wall, cpu = time.perf_counter(), time.process_time()
                for _ in range(args.n):
                    # through operator.methodcaller: its C function (methodcaller_call) brackets
                    # each request for `valgrind --tool=callgrind --toggle-collect=methodcaller_call`
                    operator.methodcaller("get", path, headers=headers)(client).close()
                best = min(best, (time.process_time() - cpu, time.perf_counter() - wall))
            cpu, wall = best
            if args.profile:
                profiler.disable()
                pstats.Stats(profiler).sort_stats("tottime").print_stats(40)
                pstats.Stats(profiler).sort_stats("cumulative").print_stats(80)
            print(
                f"{name:15s} {path[:60]:60s} CPU {cpu / max(args.n, 1) * 1000:6.2f} ms/request"
                f"  (wall {wall / max(args.n, 1) * 1000:6.2f} ms)  load {os.getloadavg()[0]:.2f}",
                flush=True,
            )
    finally:
        drop_token(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
