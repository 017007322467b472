"""Call History latency: 100,000 CDRs (with their charges) for one account, the panel served by
`python -m webpanel`, 20 concurrent clients with the member's session cookie on loopback.

Target: p95 < 50 ms for the Call History page. Runs in a scratch database (created, migrated,
dropped at the end). The load tool is `wrk` (Debian package wrk) when installed, else a Python
thread pool of keep-alive http.client connections (closed loop, like wrk):

    .venv/bin/python -m bench.panel_call_history [--cdrs 100000] [--clients 20] [--seconds 20]

Measured pages: the page a member opens (the last 30 local days), the next page of it (a
keyset cursor), and a whole year (the widest range a report allows); and, as a baseline, the
Notepad page (the same layout, session and navigation, no report), which shows what any panel
page costs on the machine. Each page is measured with 1 client (its service time) and with
--clients clients; `--server both` runs Werkzeug and gunicorn (production's server) in turn.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import http.client
import os
import platform
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from decimal import Decimal
from pathlib import Path


from controller.settings import load
from db import accounts, migrate
from db.session import make_engine, session_factory, transaction

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "Bench-pass-2026"
TIME_ZONE = "America/New_York"
TARGET_P95_MS = 50.0
WRK_REPORT = """
done = function(summary, latency, requests)
  io.write(string.format("BENCH requests=%d errors=%d p50=%.3f p95=%.3f p99=%.3f max=%.3f\\n",
    summary.requests, summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.status + summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000))
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- seeding --------------------------------------------------------------------------------

def seed(settings, n_cdrs: int, rng: random.Random) -> tuple[str, list[str]]:
    """One account with two virtual numbers and `n_cdrs` CDRs over the last 365 days (70%
    placed and rated, 30% received), plus another account's CDRs around them."""
    engine = make_engine(settings)
    factory = session_factory(engine)
    with transaction(factory) as s:
        account, _, vn = accounts.create_account(
            s, login_number="17005550100", password=PASSWORD, first_name="Bench", last_name="Member",
            realm=settings.sip_realm, time_zone=TIME_ZONE)
        second = accounts.add_virtual_number(s, account, "17005550101", realm=settings.sip_realm)
        other, _, other_vn = accounts.create_account(
            s, login_number="17005550200", password=PASSWORD, realm=settings.sip_realm)
        numbers = [vn.number, second.number]
        ids = {"account": account.id, "vn": vn.id, "second": second.id, "other": other.id,
               "other_vn": other_vn.id}
    now = dt.datetime.now(dt.UTC)
    destinations = [("R", "1700555", "US", Decimal("0.0100")), ("D", "1415555", "US", Decimal("0.0200")),
                    ("I", "44207946", "GB", Decimal("0.0450"))]

    def rows(count: int, vnums: list[str]):
        # in time order, as Asterisk appends them
        for start in sorted(now - dt.timedelta(seconds=rng.randint(0, 365 * 86400)) for _ in range(count)):
            vnum = vnums[0] if rng.random() < 0.8 else vnums[-1]
            answered = rng.random() < 0.75
            billsec = rng.randint(5, 1800) if answered else 0
            disposition = "ANSWERED" if answered else rng.choice(("NO ANSWER", "BUSY"))
            if rng.random() < 0.7:
                cls, prefix, _, _ = rng.choice(destinations)
                digits = prefix + f"{rng.randint(0, 9999):04d}"
                dst = digits if cls != "I" else "011" + digits
                yield (vnum, start, vnum, dst, digits, cls, billsec, disposition)
            else:
                yield (vnum, start, f"1312555{rng.randint(0, 9999):04d}", vnum, None, None, billsec,
                       disposition)

    raw_engine = engine.raw_connection()
    try:
        cur = raw_engine.cursor()
        cur.execute("ALTER TABLE cdr DISABLE TRIGGER cdr_queue_for_rating")  # no rater here
        with cur.copy("COPY cdr (vnum, start, src, dst, dialed, call_class, billsec, disposition,"
                      " duration, uniqueid, linkedid, dcontext) FROM STDIN") as copy:
            merged = sorted([*rows(n_cdrs, numbers), *rows(n_cdrs // 5, ["17005550200"])], key=lambda r: r[1])
            for k, r in enumerate(merged):
                copy.write_row((*r, r[6] + 7, f"bench-{k}", f"bench-{k}", "bench"))
        # the numbers were the account's for the whole year of calls
        cur.execute("UPDATE virtual_numbers SET created_at = now() - interval '400 days'")
        cur.execute("ALTER TABLE cdr ENABLE TRIGGER cdr_queue_for_rating")
        # what the rater would have written: one charge per placed call
        cur.execute("""
            INSERT INTO cdr_charges (cdr_id, account_id, virtual_number_id, call_type, country, prefix,
                                     billable_seconds, plan_seconds, cost)
            SELECT c.id, CASE WHEN c.vnum = '17005550200' THEN %(other)s ELSE %(account)s END,
                   CASE c.vnum WHEN '17005550100' THEN %(vn)s WHEN '17005550101' THEN %(second)s
                               ELSE %(other_vn)s END,
                   CASE WHEN c.call_class = 'R' AND c.id %% 3 = 0 THEN 'PR' ELSE c.call_class END,
                   CASE WHEN c.call_class = 'I' THEN 'GB' ELSE 'US' END, left(c.dialed, 4),
                   c.billsec, 0,
                   CASE WHEN c.call_class = 'R' AND c.id %% 3 = 0 THEN 0
                        ELSE round(c.billsec / 60.0 * CASE c.call_class WHEN 'R' THEN 0.01
                             WHEN 'D' THEN 0.02 ELSE 0.045 END, 4) END
            FROM cdr c WHERE c.call_class IS NOT NULL""", ids)
        raw_engine.commit()
        raw_engine.driver_connection.autocommit = True
        cur.execute("VACUUM ANALYZE cdr")
        cur.execute("VACUUM ANALYZE cdr_charges")
    finally:
        raw_engine.close()
    engine.dispose()
    return "17005550100", numbers


# --- the panel ------------------------------------------------------------------------------

def start_panel(settings, port: int, server: str, workers: int) -> subprocess.Popen:
    env = dict(os.environ, VOIP_DB_NAME=settings.db_name, VOIP_PANEL_HOST="127.0.0.1",
               VOIP_PANEL_PORT=str(port), VOIP_LOG_LEVEL="WARNING")
    if server == "gunicorn":  # production's server (DESIGN.md): the same app factory
        command = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
                   "--worker-class", "gthread", "--threads", "8", "--log-level", "warning",
                   "webpanel:create_app()"]
    else:
        command = [sys.executable, "-m", "webpanel"]
    # a file, not a pipe: a pipe nobody reads would block the server once it fills
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log)
    proc.log = log
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"the panel exited: {log.read().decode()[-2000:]}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return proc
        except OSError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError("the panel did not answer /healthz within 30 s")


def log_in(port: int, login: str) -> str:
    """The session cookie after a real login through the form (CSRF token included)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/login")
    response = conn.getresponse()
    html = response.read().decode()
    cookie = response.getheader("Set-Cookie").split(";", 1)[0]
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)
    body = urllib.parse.urlencode({"csrf_token": token, "login": login, "password": PASSWORD})
    conn.request("POST", "/login", body=body, headers={
        "Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie})
    response = conn.getresponse()
    response.read()
    if response.status != 302:
        raise RuntimeError(f"login failed: {response.status}")
    return response.getheader("Set-Cookie").split(";", 1)[0]


def fetch(port: int, path: str, cookie: str) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path, headers={"Cookie": cookie})
    response = conn.getresponse()
    html = response.read().decode()
    if response.status != 200:
        raise RuntimeError(f"GET {path}: {response.status}")
    return html


# --- load -----------------------------------------------------------------------------------

def with_wrk(port: int, path: str, cookie: str, clients: int, seconds: int) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_REPORT)
    try:
        out = subprocess.run(["wrk", "-t", str(min(2, clients)), "-c", str(clients), "-d", f"{seconds}s", "--timeout", "10s",
                              "-H", f"Cookie: {cookie}", "-s", script.name,
                              f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True, check=True)
    finally:
        os.unlink(script.name)
    match = re.search(r"BENCH requests=(\d+) errors=(\d+) p50=([\d.]+) p95=([\d.]+) p99=([\d.]+) max=([\d.]+)",
                      out.stdout)
    if not match:
        raise RuntimeError(f"unexpected wrk output: {out.stdout}\n{out.stderr}")
    n, errors, p50, p95, p99, worst = match.groups()
    return {"tool": "wrk", "requests": int(n), "errors": int(errors), "rps": int(n) / seconds,
            "p50": float(p50), "p95": float(p95), "p99": float(p99), "max": float(worst)}


def with_threads(port: int, path: str, cookie: str, clients: int, seconds: int) -> dict:
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client() -> None:
        nonlocal errors
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        mine, failed = [], 0
        while time.monotonic() < stop:
            t = time.perf_counter()
            try:
                conn.request("GET", path, headers={"Cookie": cookie})
                response = conn.getresponse()
                response.read()
                if response.status != 200:
                    failed += 1
            except (OSError, http.client.HTTPException):
                failed += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                continue
            mine.append((time.perf_counter() - t) * 1000)
        with lock:
            latencies.extend(mine)
            errors += failed

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if len(latencies) < 2:
        raise RuntimeError("fewer than 2 requests completed: run longer (--seconds)")
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    return {"tool": "python http.client threads", "requests": len(latencies), "errors": errors,
            "rps": len(latencies) / seconds, "p50": q[49], "p95": q[94], "p99": q[98], "max": max(latencies)}


def measure(port: int, login: str, server: str, args, run) -> None:
    cookie = log_in(port, login)
    today = dt.datetime.now(dt.UTC).date()
    first = fetch(port, "/call-history/", cookie)
    records = " ".join(re.search(r'<p class="records">Records ([^<·]*)', first).group(1).split())
    next_link = re.search(r'href="([^"]+)" rel="next"', first).group(1).replace("&amp;", "&")
    pages = [("baseline: Notepad, a panel page without a report (the stack's floor)", "/notepad/"),
             ("last 30 days, first page (what a member opens)", "/call-history/"),
             ("last 30 days, next page (keyset cursor)", next_link),
             ("a whole year, first page",
              f"/call-history/?start={(today - dt.timedelta(days=365)).isoformat()}&end={today.isoformat()}")]
    label = "python -m webpanel (Werkzeug, threaded)" if server == "werkzeug" else \
        f"gunicorn, {args.workers} gthread workers x 8 threads"
    print(f"--- {label}; the default report: records {records}")
    for name, path in pages:
        for _ in range(3):
            fetch(port, path, cookie)  # warm up (every worker's closed-day cache too)
        alone = run(port, path, cookie, 1, max(2, args.seconds // 4))
        r = run(port, path, cookie, args.clients, args.seconds)
        verdict = "met" if r["p95"] < TARGET_P95_MS else "NOT met"
        print(f"{name}:\n  1 client: p50 {alone['p50']:.1f} ms ({alone['rps']:.0f}/s)\n"
              f"  {args.clients} clients: {r['requests']:,} requests ({r['rps']:.0f}/s, {r['errors']} errors) "
              f"p50 {r['p50']:.1f} ms  p95 {r['p95']:.1f} ms  p99 {r['p99']:.1f} ms  max {r['max']:.1f} ms"
              f"  [{r['tool']}]  target p95 < {TARGET_P95_MS:.0f} ms: {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cdrs", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--tool", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--server", choices=("werkzeug", "gunicorn", "both"), default="werkzeug",
                        help="python -m webpanel (Werkzeug, threaded), gunicorn (gthread), or both")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="gunicorn workers")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()

    settings = dataclasses.replace(load(), db_name=f"voip_bench_panel_{os.getpid()}")
    migrate.create_database(settings, drop_first=True)
    proc = None
    try:
        migrate.upgrade(settings)
        t = time.perf_counter()
        login, _ = seed(settings, args.cdrs, random.Random(20260301))
        print(f"seeded {args.cdrs:,} CDRs (+{args.cdrs // 5:,} of another account) and their charges "
              f"in {time.perf_counter() - t:.1f} s")
        servers = ["werkzeug", "gunicorn"] if args.server == "both" else [args.server]
        use_wrk = args.tool == "wrk" or (args.tool == "auto" and shutil.which("wrk"))
        run = with_wrk if use_wrk else with_threads
        if not use_wrk:
            print("wrk not found (apt-get install wrk): using the Python client")
        print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load average "
              f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}; {args.clients} clients, {args.seconds} s a page")
        for server in servers:
            port = free_port()
            proc = start_panel(settings, port, server, args.workers)
            try:
                measure(port, login, server, args, run)
            finally:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                proc = None
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        if not args.keep:
            migrate.drop_database(settings)


if __name__ == "__main__":
    main()
