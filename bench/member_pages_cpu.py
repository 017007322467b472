"""The panel's own CPU per request for every member page (issue 16: at most 4 ms each).

Run it by hand (it is not a test); it uses bench/panel_call_history.py's database (built by it
when missing: one member with 100,000 CDRs over a year, their charges):

    .venv/bin/python -m bench.member_pages_cpu [--db voip_bench_call_history] [-n 100]
        [--rounds 3] [--page /call-history/] [--profile /call-history/]

The pages are found, not listed: every GET route of the real app (`create_app`) without URL
arguments whose blueprint's access policy admits a primary holder (webpanel.access), so the
pages other parts add appear by themselves; exports (CSV, PDF, zip) are left out, and
Call History is measured also on its next page, a 90-day range and a number filter. Each is
requested by Flask's test client in this process, logged in through the real login form as
the bench's member. For each page: --rounds rounds of N requests one after the other (after a
warm-up), and the least of this process's CPU time (time.process_time: the panel's Python,
Jinja, SQLAlchemy, psycopg's client side; PostgreSQL's backends are other processes) divided
by N. The test client's own work (about 0.2 ms a request) is counted too. Pages above
TARGET_MS are flagged.

On a loaded machine the CPU time of a request grows with the load (caches, frequency);
instructions do not. Count them in the measured requests only (each runs inside
operator.methodcaller's C function):

    valgrind --tool=callgrind --toggle-collect=methodcaller_call --callgrind-out-file=/tmp/cg.out \
        .venv/bin/python -m bench.member_pages_cpu --page /password/ -n 20 --rounds 1
    callgrind_annotate /tmp/cg.out | grep "PROGRAM TOTALS"    # / 20: instructions a request
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import operator
import os
import pstats
import re
import sys
import time

from bench import panel_call_history as pch
from controller.settings import load

TARGET_MS = 4.0
SKIP_SUFFIXES = (".csv", ".pdf", ".zip", ".wav", ".mp3", ".png", ".svg", ".json")


def member_pages(app) -> list[str]:
    """Every member GET page without URL arguments (the role's policy allows a primary holder)."""
    from webpanel import access

    paths = set()
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            if "GET" not in (rule.methods or ()) or rule.arguments or rule.endpoint == "static":
                continue
            blueprint = rule.endpoint.rpartition(".")[0]
            bp = app.blueprints.get(blueprint)
            policy = getattr(bp, access._POLICY_ATTR, None)
            if policy is None or policy.public or access.PRIMARY not in policy.roles:
                continue
            path = rule.rule
            if path.startswith("/api/") or path.endswith(SKIP_SUFFIXES) or "export" in rule.endpoint:
                continue
            paths.add(path)
    return sorted(paths)


def log_in(client, login: str) -> None:
    html = client.get("/login").get_data(as_text=True)
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert match is not None, "no CSRF token on the login page"
    response = client.post(
        "/login", data={"csrf_token": match.group(1), "login": login, "password": pch.PASSWORD}
    )
    if response.status_code != 302:
        raise SystemExit(f"login {login} failed: {response.status_code}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default=pch.DEFAULT_DB)
    parser.add_argument(
        "--cdrs", type=int, default=100_000, help="the bench database's CDRs (built if missing)"
    )
    parser.add_argument("-n", type=int, default=100, help="requests per page (default 100)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of N; the least CPU is printed")
    parser.add_argument("--page", action="append", help="only these paths (repeatable)")
    parser.add_argument("--profile", help="cProfile this path (CPU time) instead of measuring")
    args = parser.parse_args(argv)
    settings = dataclasses.replace(load(), db_name=args.db)
    pch.ensure_database(settings, args.cdrs)

    from webpanel import create_app

    app = create_app({"VOIP_SETTINGS": settings, "TESTING": True})
    client = app.test_client()
    log_in(client, pch.LOGIN)
    first = client.get("/call-history/").get_data(as_text=True)
    today = dt.date.today()
    extra = [
        pch._next_link(first),
        f"/call-history/?start={(today - dt.timedelta(days=89)).isoformat()}&end={today.isoformat()}",
        f"/call-history/?number={pch.SECOND}",
    ]
    pages = [args.profile] if args.profile else (args.page or member_pages(app) + extra)
    print(f"load {os.getloadavg()[0]:.2f}, {args.n} requests a page, {len(pages)} pages", flush=True)
    over = []
    for path in pages:
        status = 0
        for _ in range(5):  # warm-up: caches, compiled templates
            response = client.get(path)
            status = response.status_code
            response.close()
        if status != 200:
            print(f"{path[:70]:70s} answers {status}: not measured", flush=True)
            continue
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
                operator.methodcaller("get", path)(client).close()
            best = min(best, (time.process_time() - cpu, time.perf_counter() - wall))
        cpu, wall = best
        if args.profile:
            profiler.disable()
            pstats.Stats(profiler).sort_stats("tottime").print_stats(40)
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(80)
        ms = cpu / max(args.n, 1) * 1000
        flag = "" if ms <= TARGET_MS else f"  ABOVE {TARGET_MS:g} ms"
        if flag:
            over.append(path)
        print(
            f"{path[:70]:70s} CPU {ms:6.2f} ms/request  (wall {wall / max(args.n, 1) * 1000:6.2f} ms)"
            f"  load {os.getloadavg()[0]:.2f}{flag}",
            flush=True,
        )
    print(f"{len(over)} page(s) above {TARGET_MS:g} ms" + (": " + ", ".join(over) if over else ""))
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
