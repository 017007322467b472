"""A member's REST API call-record page at 10,000,000 CDRs (issue 15): GET
/api/v1/me/call-records (the newest 50 of the last 30 days, and the page after it by its keyset
cursor), served by the real panel (gunicorn, production's server), 20 members' tokens at once.

Run it by hand (it is not a test) after bench/backoffice_seed.py has built its database:

    .venv/bin/python -m bench.api_call_records [--db voip_bench_backoffice] [--clients 20]
        [--seconds 15] [--workers 4] [--limit 50]

Target (issue 15): p95 < 100 ms at 20 concurrent closed-loop clients. Each client is another
member (accounts 1001, 1002, ...: about 1,000 CDRs each over 90 days) with its own `member`
token, made for the run and deleted after it; their numbers are dated back to their first
call (the seed dates them from its run, after their calls, which Call History's ownership rule
would then hide). The per-token rate limit (60 a minute) is lifted
for the run (VOIP_API_RATE_PER_MINUTE): a closed loop sends far more than a member's script may.
Printed for each page: the service time (1 client), then --clients closed-loop clients for
--seconds: requests per second, p50/p95/p99, the panel's and PostgreSQL's CPU per request, and
the machine's load and busy share (the bench shares the CPUs with PostgreSQL, the load
generator and whatever else runs there).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import sys
import threading
import time
import urllib.parse

from sqlalchemy import delete, select, text

from bench import backoffice_seed as seed
from bench.panel_call_history import Server, Usage, _percentiles, free_port, start_panel, stop_panel
from db import api_tokens
from db.models import ApiToken, User
from db.session import make_engine, session_factory, transaction

TARGET_P95_MS = 100.0
FIRST_ACCOUNT = 1001


def make_tokens(settings, n: int) -> list[str]:
    factory = session_factory(make_engine(settings))
    secrets = []
    with transaction(factory) as s:
        # the seed dates its numbers from its own run, after their calls: a member's calls are
        # those from the time their number joined the account (Call History's rule), so the
        # bench's numbers are dated back to their first call (as tests/web/cdrs.py does)
        s.execute(
            text(
                "UPDATE virtual_numbers v SET created_at = m.first FROM"
                " (SELECT vnum, min(start) AS first FROM member_calls WHERE vnum = ANY(:nums) GROUP BY vnum) m"
                " WHERE v.number = m.vnum AND v.created_at > m.first"
            ),
            {"nums": [str(seed.NUMBER_BASE + FIRST_ACCOUNT + i) for i in range(n)]},
        )
        for i in range(n):
            login = str(seed.NUMBER_BASE + FIRST_ACCOUNT + i)
            user = s.scalar(select(User).where(User.login == login))
            if user is None:
                raise SystemExit(f"no user {login}: is {settings.db_name} built by bench/backoffice_seed.py?")
            _row, secret = api_tokens.create(s, user, name="bench.api_call_records", scope="member")
            secrets.append(secret)
    return secrets


def drop_tokens(settings) -> None:
    factory = session_factory(make_engine(settings))
    with transaction(factory) as s:
        s.execute(delete(ApiToken).where(ApiToken.name == "bench.api_call_records"))


def _get(conn: http.client.HTTPConnection, path: str, token: str) -> bytes | None:
    conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
    response = conn.getresponse()
    body = response.read()
    return body if response.status == 200 else None


def closed_loop(port: int, paths: list[str], tokens: list[str], seconds: int) -> dict:
    """Each client (its own token and path) sends its next request when the last is answered."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client(path: str, token: str) -> None:
        nonlocal errors
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        mine, failed = [], 0
        while time.monotonic() < stop:
            t = time.perf_counter()
            try:
                if _get(conn, path, token) is None:
                    failed += 1
            except (OSError, http.client.HTTPException):
                failed += 1
                conn.close()
                continue
            mine.append((time.perf_counter() - t) * 1000)
        with lock:
            latencies.extend(mine)
            errors += failed

    threads = [threading.Thread(target=client, args=(p, t)) for p, t in zip(paths, tokens, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return _percentiles(latencies, seconds, errors, "python http.client threads, closed loop")


def service_time(port: int, path: str, token: str, n: int = 30) -> tuple[float, int]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    times, items = [], 0
    for _ in range(n):
        t = time.perf_counter()
        body = _get(conn, path, token)
        if body is None:
            raise RuntimeError(f"GET {path}: refused")
        times.append((time.perf_counter() - t) * 1000)
        items = len(json.loads(body)["items"])
    return statistics.median(times), items


def measure(label: str, port: int, paths: list[str], tokens: list[str], args, proc, settings) -> dict:
    service, items = service_time(port, paths[0], tokens[0])
    usage = Usage(proc.pid, settings)
    r = usage.done(closed_loop(port, paths, tokens, args.seconds))
    verdict = "OK" if r["p95"] < TARGET_P95_MS else "OVER TARGET"
    print(
        f"{label}\n"
        f"  service time (1 client): {service:.1f} ms median ({items} calls a page)\n"
        f"  {args.clients} clients closed loop, {args.seconds} s: {r['requests']} requests,"
        f" {r['errors']} errors, {r['rps']:.0f} req/s\n"
        f"  p50 {r['p50']:.1f} ms  p95 {r['p95']:.1f} ms  p99 {r['p99']:.1f} ms  max {r['max']:.1f} ms"
        f"   [target p95 < {TARGET_P95_MS:.0f} ms: {verdict}]\n"
        f"  CPU per request: panel {r['cpu_ms']:.1f} ms, PostgreSQL {r['db_ms']:.1f} ms;"
        f" machine load {r['load']:.1f}, busy {r['busy'] * 100:.0f}%",
        flush=True,
    )
    return r


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--db", default=seed.DEFAULT_DB)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--limit", type=int, default=50)
    args = parser.parse_args(argv)

    settings = seed.bench_settings(args.db)
    have = seed.built_marker(settings)
    if have is None:
        print(f"{args.db} is not built: run .venv/bin/python -m bench.backoffice_seed first", file=sys.stderr)
        return 2
    os.environ["VOIP_API_RATE_PER_MINUTE"] = "100000000"  # inherited by the panel's processes
    os.environ["VOIP_API_RATE_BURST"] = "100000000"
    drop_tokens(settings)  # a run stopped half-way left its tokens
    tokens = make_tokens(settings, args.clients)
    port = free_port()
    server = Server("gunicorn", workers=args.workers)
    print(
        f"API call records on {args.db} ({have}); panel: {server.label};"
        f" {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f} before",
        flush=True,
    )
    proc = start_panel(settings, port, server)
    try:
        first = f"/api/v1/me/call-records?limit={args.limit}"
        measure(
            f"first page (newest {args.limit}, last 30 days)",
            port,
            [first] * args.clients,
            tokens,
            args,
            proc,
            settings,
        )
        # each member's second page: the `next` cursor of their first
        seconds = []
        for token in tokens:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            body = _get(conn, first, token)
            cursor = json.loads(body or b"{}").get("next")
            if not cursor:
                raise RuntimeError("a bench member has no second page")
            seconds.append(first + "&" + urllib.parse.urlencode({"after": cursor}))
        measure("next page (?after=<cursor>)", port, seconds, tokens, args, proc, settings)
    finally:
        stop_panel(proc)
        drop_tokens(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
