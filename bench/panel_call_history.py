"""Call History latency: 100,000 CDRs (with their charges) for one account, the panel served on
loopback, clients with the member's session cookie.

Target (issue 5): p95 < 50 ms for the Call History page at 20 concurrent clients. Runs in a
scratch database (created, migrated, dropped at the end). Run it by hand; it is not a test:

    .venv/bin/python -m bench.panel_call_history [--cdrs 100000] [--clients 20] [--seconds 15]
        [--server gunicorn|werkzeug|both] [--workers 4] [--worker-class sync|gthread]

The server is production's by default: gunicorn (the `prod` extra) with docker/compose.yaml's
settings (VOIP_PANEL_WORKERS=4 sync workers), else `python -m webpanel` (Werkzeug, threaded).

Measured pages: the page a member opens (the last 30 local days), the next page of it (a keyset
cursor), a whole year (the widest range a report allows), and, as a baseline, the Notepad page
(the same layout, session and navigation, no report): what any panel page costs here. For each:

- service time: 1 client, closed loop (one request after the other);
- closed loop, --clients connections each sending its next request as soon as the last one is
  answered (`wrk` from Debian's package when installed, else Python threads): the throughput
  ceiling, and a latency that is --clients / throughput once the CPU is saturated;
- open loop, --clients members each clicking every --think seconds (uniform, 1-2 s): arrivals
  do not wait for answers, and a request's latency counts from when it was due (a late send is
  latency too, no coordinated omission). This is the load 20 members using the page make;
- CPU per request: the panel's processes' and their PostgreSQL backends' user+system time over
  the requests served, which depends much less on what else the machine runs than latency does
  (contention still inflates it somewhat). The machine's load average and busy share during
  each run are printed with it: the bench shares the CPUs with PostgreSQL, the load generator
  and whatever else runs there.

Each run repeats one URL, as a member paging back and forth would: the closed days' totals and
the chart of that range are then cached (as they are when paging through a report); the rows
are read and written for every request.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import http.client
import importlib.util
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
            s,
            login_number="17005550100",
            password=PASSWORD,
            first_name="Bench",
            last_name="Member",
            realm=settings.sip_realm,
            time_zone=TIME_ZONE,
        )
        second = accounts.add_virtual_number(s, account, "17005550101", realm=settings.sip_realm)
        other, _, other_vn = accounts.create_account(
            s, login_number="17005550200", password=PASSWORD, realm=settings.sip_realm
        )
        numbers = [vn.number, second.number]
        ids = {
            "account": account.id,
            "vn": vn.id,
            "second": second.id,
            "other": other.id,
            "other_vn": other_vn.id,
        }
    now = dt.datetime.now(dt.UTC)
    destinations = [
        ("R", "1700555", "US", Decimal("0.0100")),
        ("D", "1415555", "US", Decimal("0.0200")),
        ("I", "44207946", "GB", Decimal("0.0450")),
    ]

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
                yield (
                    vnum,
                    start,
                    f"1312555{rng.randint(0, 9999):04d}",
                    vnum,
                    None,
                    None,
                    billsec,
                    disposition,
                )

    raw_engine = engine.raw_connection()
    try:
        cur = raw_engine.cursor()
        cur.execute("ALTER TABLE cdr DISABLE TRIGGER cdr_queue_for_rating")  # no rater here
        with cur.copy(
            "COPY cdr (vnum, start, src, dst, dialed, call_class, billsec, disposition,"
            " duration, uniqueid, linkedid, dcontext) FROM STDIN"
        ) as copy:
            merged = sorted([*rows(n_cdrs, numbers), *rows(n_cdrs // 5, ["17005550200"])], key=lambda r: r[1])
            for k, r in enumerate(merged):
                copy.write_row((*r, r[6] + 7, f"bench-{k}", f"bench-{k}", "bench"))
        # the numbers were the account's for the whole year of calls
        cur.execute("UPDATE virtual_numbers SET created_at = now() - interval '400 days'")
        cur.execute("ALTER TABLE cdr ENABLE TRIGGER cdr_queue_for_rating")
        # what the rater would have written: one charge per placed call
        cur.execute(
            """
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
            FROM cdr c WHERE c.call_class IS NOT NULL""",
            ids,
        )
        raw_engine.commit()
        raw_engine.driver_connection.autocommit = True
        cur.execute("VACUUM ANALYZE cdr")
        cur.execute("VACUUM ANALYZE cdr_charges")
    finally:
        raw_engine.close()
    engine.dispose()
    return "17005550100", numbers


# --- the panel ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Server:
    kind: str  # "gunicorn" or "werkzeug"
    workers: int = 4
    worker_class: str = "sync"
    threads: int = 1

    @property
    def label(self) -> str:
        if self.kind == "werkzeug":
            return "python -m webpanel (Werkzeug, threaded)"
        threads = f" x {self.threads} threads" if self.worker_class == "gthread" else ""
        return f"gunicorn, {self.workers} {self.worker_class} workers{threads}"


def start_panel(settings, port: int, server: Server) -> subprocess.Popen:
    env = dict(
        os.environ,
        VOIP_DB_NAME=settings.db_name,
        VOIP_PANEL_HOST="127.0.0.1",
        VOIP_PANEL_PORT=str(port),
        VOIP_LOG_LEVEL="WARNING",
    )
    if server.kind == "gunicorn":  # production's server (docker/compose.yaml): the same app factory
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(server.workers),
            "--worker-class",
            server.worker_class,
            "--threads",
            str(server.threads),
            "--log-level",
            "warning",
            "webpanel:create_app()",
        ]
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


def stop_panel(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def log_in(port: int, login: str) -> str:
    """The session cookie after a real login through the form (CSRF token included)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/login")
    response = conn.getresponse()
    html = response.read().decode()
    cookie = response.getheader("Set-Cookie").split(";", 1)[0]
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)
    body = urllib.parse.urlencode({"csrf_token": token, "login": login, "password": PASSWORD})
    conn.request(
        "POST",
        "/login",
        body=body,
        headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie},
    )
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


# --- what the machine did meanwhile ---------------------------------------------------------


def _cpu_ticks(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total


def _tree(root: int) -> list[int]:
    """`root` and its children (gunicorn's workers)."""
    pids = [root]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == root:
                    pids.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                pass
    return pids


def _machine_busy() -> tuple[int, int]:
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def _backends(settings) -> list[int]:
    """PostgreSQL's backend processes serving the bench database (the server's connections),
    when PostgreSQL runs on this machine (else their CPU is not counted)."""
    engine = make_engine(settings)
    try:
        with engine.connect() as conn:
            pids = (
                conn.exec_driver_sql(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                    " AND pid <> pg_backend_pid()"
                )
                .scalars()
                .all()
            )
    finally:
        engine.dispose()
    return [pid for pid in pids if Path(f"/proc/{pid}/stat").exists()]


class Usage:
    """The server's and its PostgreSQL backends' CPU time, and the machine's busy share, over
    one run."""

    def __init__(self, server_pid: int, settings):
        self.pids = _tree(server_pid)
        self.settings = settings
        self.backends = {pid: _cpu_ticks([pid]) for pid in _backends(settings)}  # the pool's
        self.ticks = _cpu_ticks(self.pids)
        self.busy = _machine_busy()
        self.load = os.getloadavg()[0]

    def done(self, result: dict) -> dict:
        hz = os.sysconf("SC_CLK_TCK")
        n = max(1, result["requests"])
        cpu_ms = (_cpu_ticks(self.pids) - self.ticks) * 1000 / hz
        # connections opened during the run count whole; those closed during it are lost
        # (a server whose pool is smaller than its concurrency opens and closes connections:
        # counted in `churn`, and then the PostgreSQL figure is a lower bound)
        now = {pid: _cpu_ticks([pid]) for pid in _backends(self.settings)}
        db_ticks = sum(t - self.backends.get(pid, 0) for pid, t in now.items())
        churn = len(now.keys() ^ self.backends.keys())
        busy, total = _machine_busy()
        share = (busy - self.busy[0]) / max(1, total - self.busy[1])
        return {
            **result,
            "cpu_ms": cpu_ms / n,
            "db_ms": db_ticks * 1000 / hz / n,
            "churn": churn,
            "busy": share,
            "load": max(self.load, os.getloadavg()[0]),
        }


# --- load -----------------------------------------------------------------------------------


def _percentiles(latencies: list[float], seconds: float, errors: int, tool: str) -> dict:
    if len(latencies) < 2:
        raise RuntimeError("fewer than 2 requests completed: run longer (--seconds)")
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    return {
        "tool": tool,
        "requests": len(latencies),
        "errors": errors,
        "rps": len(latencies) / seconds,
        "p50": q[49],
        "p95": q[94],
        "p99": q[98],
        "max": max(latencies),
    }


def with_wrk(port: int, path: str, cookie: str, clients: int, seconds: int) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_REPORT)
    try:
        # one thread: wrk needs little CPU, and the server and PostgreSQL share the machine's
        out = subprocess.run(
            [
                "wrk",
                "-t",
                "1",
                "-c",
                str(clients),
                "-d",
                f"{seconds}s",
                "--timeout",
                "10s",
                "-H",
                f"Cookie: {cookie}",
                "-s",
                script.name,
                f"http://127.0.0.1:{port}{path}",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
    finally:
        os.unlink(script.name)
    match = re.search(
        r"BENCH requests=(\d+) errors=(\d+) p50=([\d.]+) p95=([\d.]+) p99=([\d.]+) max=([\d.]+)", out.stdout
    )
    if not match:
        raise RuntimeError(f"unexpected wrk output: {out.stdout}\n{out.stderr}")
    n, errors, p50, p95, p99, worst = match.groups()
    return {
        "tool": "wrk",
        "requests": int(n),
        "errors": int(errors),
        "rps": int(n) / seconds,
        "p50": float(p50),
        "p95": float(p95),
        "p99": float(p99),
        "max": float(worst),
    }


def _get(conn: http.client.HTTPConnection, path: str, cookie: str) -> bool:
    conn.request("GET", path, headers={"Cookie": cookie})
    response = conn.getresponse()
    response.read()
    return response.status == 200


def with_threads(port: int, path: str, cookie: str, clients: int, seconds: int) -> dict:
    """Closed loop: each client sends its next request when the last one is answered."""
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
                if not _get(conn, path, cookie):
                    failed += 1
            except (OSError, http.client.HTTPException):
                failed += 1
                conn.close()
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
    return _percentiles(latencies, seconds, errors, "python http.client threads, closed loop")


def open_loop(
    port: int,
    path: str,
    cookie: str,
    clients: int,
    seconds: int,
    think: tuple[float, float],
    rng: random.Random,
) -> dict:
    """Open loop: `clients` members, each due to click every uniform(*think) seconds whatever
    the server does; a request's latency counts from when it was due, so a request sent late
    (its member still waiting on the previous answer) shows the queueing too."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    begin = time.perf_counter() + 0.2
    stop = begin + seconds
    seeds = [rng.random() for _ in range(clients)]

    def member(seed: float) -> None:
        nonlocal errors
        mine_rng = random.Random(seed)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        mine, failed = [], 0
        due = begin + mine_rng.uniform(0, think[1])  # members do not click in step
        while due < stop:
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            try:
                if not _get(conn, path, cookie):
                    failed += 1
            except (OSError, http.client.HTTPException):
                failed += 1
                conn.close()
            else:
                mine.append((time.perf_counter() - due) * 1000)
            due += mine_rng.uniform(*think)
        with lock:
            latencies.extend(mine)
            errors += failed

    threads = [threading.Thread(target=member, args=(s,)) for s in seeds]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return _percentiles(
        latencies, seconds, errors, f"open loop, a click every {think[0]:g}-{think[1]:g} s per member"
    )


# --- the run --------------------------------------------------------------------------------


def _line(r: dict) -> str:
    db = f"{r['db_ms']:.1f} ms"
    if r["churn"]:
        db = f">= {db} ({r['churn']} connections opened/closed)"
    return (
        f"{r['requests']:,} requests ({r['rps']:.0f}/s, {r['errors']} errors)  p50 {r['p50']:.1f}  "
        f"p95 {r['p95']:.1f}  p99 {r['p99']:.1f}  max {r['max']:.1f} ms;  CPU/request: panel "
        f"{r['cpu_ms']:.1f} ms, PostgreSQL {db}; machine {r['busy']:.0%} busy, load {r['load']:.1f}"
    )


def _verdict(r: dict) -> str:
    return "met" if r["p95"] < TARGET_P95_MS and not r["errors"] else "NOT met"


def measure(
    settings, port: int, proc: subprocess.Popen, login: str, server: Server, args, closed
) -> list[tuple]:
    cookie = log_in(port, login)
    today = dt.datetime.now(dt.UTC).date()
    first = fetch(port, "/call-history/", cookie)
    records = " ".join(
        re.search(r'<p class="records">[^<]*?([\d,]+\s*–\s*[\d,]+[^<·]*)', first).group(1).split()
    )
    next_link = re.search(r'href="([^"]+)" rel="next"', first).group(1).replace("&amp;", "&")
    pages = [
        ("baseline: Notepad, a panel page without a report (the stack's floor)", "/notepad/"),
        ("last 30 days, first page (what a member opens)", "/call-history/"),
        ("last 30 days, next page (keyset cursor)", next_link),
        (
            "a whole year, first page",
            f"/call-history/?start={(today - dt.timedelta(days=365)).isoformat()}&end={today.isoformat()}",
        ),
    ]
    print(f"--- {server.label}; the default report: records {records}", flush=True)
    rng = random.Random(7)
    summary = []
    for name, path in pages:
        for _ in range(3 * max(1, server.workers)):
            fetch(port, path, cookie)  # warm up every worker (and its closed-day cache)
        print(f"{name}:", flush=True)
        usage = Usage(proc.pid, settings)
        alone = usage.done(closed(port, path, cookie, 1, max(3, args.seconds // 3)))
        print(f"  1 client, closed loop:          {_line(alone)}", flush=True)
        usage = Usage(proc.pid, settings)
        loaded = usage.done(closed(port, path, cookie, args.clients, args.seconds))
        print(
            f"  {args.clients} clients, closed loop [{loaded['tool']}]: {_line(loaded)}  "
            f"target: {_verdict(loaded)}",
            flush=True,
        )
        usage = Usage(proc.pid, settings)
        members = usage.done(open_loop(port, path, cookie, args.clients, args.seconds, args.think, rng))
        print(
            f"  {args.clients} members, {members['tool']}: {_line(members)}  target: {_verdict(members)}",
            flush=True,
        )
        summary.append((server.label, name, alone, loaded, members))
    return summary


def _think(raw: str) -> tuple[float, float]:
    lo, _, hi = raw.partition(",")
    lo, hi = float(lo), float(hi or lo)
    if not 0 < lo <= hi:
        raise argparse.ArgumentTypeError("--think is LOW,HIGH seconds, 0 < LOW <= HIGH")
    return lo, hi


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cdrs", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=15, help="per page and load model")
    parser.add_argument(
        "--think",
        type=_think,
        default=(1.0, 2.0),
        help="open loop: seconds between a member's clicks, LOW,HIGH (default 1,2)",
    )
    parser.add_argument(
        "--tool", choices=("auto", "wrk", "python"), default="auto", help="closed-loop load generator"
    )
    has_gunicorn = importlib.util.find_spec("gunicorn") is not None
    parser.add_argument(
        "--server",
        choices=("werkzeug", "gunicorn", "both"),
        default="gunicorn" if has_gunicorn else "werkzeug",
        help="gunicorn (production's, the default when installed), python -m webpanel "
        "(Werkzeug, threaded), or both",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=int(os.environ.get("VOIP_PANEL_WORKERS", 4)),
        help="gunicorn workers (docker/compose.yaml: VOIP_PANEL_WORKERS, 4)",
    )
    parser.add_argument(
        "--worker-class",
        choices=("sync", "gthread"),
        default="sync",
        help="gunicorn worker class (docker/compose.yaml: sync)",
    )
    parser.add_argument("--threads", type=int, default=1, help="threads per gthread worker")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()
    if args.server != "werkzeug" and not has_gunicorn:
        parser.error("gunicorn is not installed: pip install -e '.[prod]'")

    settings = dataclasses.replace(load(), db_name=f"voip_bench_panel_{os.getpid()}")
    migrate.create_database(settings, drop_first=True)
    proc = None
    summary = []
    try:
        migrate.upgrade(settings)
        t = time.perf_counter()
        login, _ = seed(settings, args.cdrs, random.Random(20260301))
        print(
            f"seeded {args.cdrs:,} CDRs (+{args.cdrs // 5:,} of another account) and their charges "
            f"in {time.perf_counter() - t:.1f} s"
        )
        kinds = ["werkzeug", "gunicorn"] if args.server == "both" else [args.server]
        use_wrk = args.tool == "wrk" or (args.tool == "auto" and shutil.which("wrk"))
        closed = with_wrk if use_wrk else with_threads
        if not use_wrk:
            print("wrk not found (apt-get install wrk): closed loop with the Python client")
        print(
            f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load average "
            f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}; {args.clients} clients, "
            f"{args.seconds} s a run"
        )
        for kind in kinds:
            server = Server(kind, args.workers, args.worker_class, args.threads)
            port = free_port()
            proc = start_panel(settings, port, server)
            try:
                summary += measure(settings, port, proc, login, server, args, closed)
            finally:
                stop_panel(proc)
                proc = None
    finally:
        if proc is not None:
            stop_panel(proc)
        if not args.keep:
            migrate.drop_database(settings)
    print(
        f"\nsummary (p95, target < {TARGET_P95_MS:.0f} ms). CPU/request is the panel's and its "
        f"PostgreSQL backends' under the {args.clients}-client closed loop; 'CPU-bound ceiling' is "
        f"{os.cpu_count()} CPUs / that, the most the machine could serve with nothing else running:"
    )
    for label, name, alone, loaded, members in summary:
        cpu = loaded["cpu_ms"] + loaded["db_ms"]
        print(
            f"  {label} | {name.split(' (')[0]}: 1 client p50 {alone['p50']:.1f} ms; "
            f"{args.clients} closed-loop p95 {loaded['p95']:.0f} ms at {loaded['rps']:.0f}/s "
            f"({_verdict(loaded)}); {args.clients} members open-loop p95 {members['p95']:.1f} ms "
            f"({_verdict(members)}); CPU/request {cpu:.1f} ms (ceiling ~{os.cpu_count() * 1000 / cpu:.0f}/s)"
        )


if __name__ == "__main__":
    main()
