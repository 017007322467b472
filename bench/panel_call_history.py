"""Call History under load: 100,000 CDRs (with their charges) for one member, the panel served
as production serves it, 20 closed-loop clients each logged in with its own session.

Target (issues 5 and 16): p95 < 50 ms for Call History at 20 closed-loop clients, and pages/s
and CPU per page beside the figures of an earlier commit, same machine, same run. Run it by
hand; it is not a test:

    .venv/bin/python -m bench.panel_call_history [--baseline-ref c32ec99] [--clients 20]
        [--seconds 20] [--cdrs 100000] [--db voip_bench_call_history] [--fresh] [--drop]
        [--workers 4] [--worker-class gthread] [--threads 4]

The database (default voip_bench_call_history) is created, migrated with this checkout's
migrations and seeded through the project's own code (db.accounts for the member, COPY into
cdr, whose trigger keeps member_calls, the charges the rater would write) the first time, and
reused afterwards (--fresh rebuilds it, --drop drops it at the end). The member: two virtual
numbers, 100,000 CDRs over the last year, 70 % placed (regional, domestic, international; some
absorbed by a plan) and 30 % received, a quarter unanswered (no answer, busy); another
account's 20,000 CDRs around them.

The panel as docker/compose.yaml serves it: granian (issue 16), VOIP_PANEL_WORKERS=2 worker
processes of VOIP_PANEL_THREADS=1 thread, `webpanel:create_app` (--server gunicorn: gunicorn's
4 gthread workers of 4 threads, production's server before issue 16). With --baseline-ref, the tree of that
ref is copied to /tmp/voip-bench-baseline-<sha> by `git archive` (this repository's refs,
index and working tree are not touched; the copy is reused), its catalogs compiled, and its
panel measured first, on the same database, under --baseline-server (gunicorn: that commit's
production server), then this checkout's.

The clients: --clients threads (Python's http.client, one connection each), each logged in
through the real login form (its own session row and CSRF token), each sending its next
request when the last one is answered (a closed loop: the throughput ceiling, and a latency of
clients / throughput once the CPUs are saturated). Each walks the pages members open on Call
History, from its own position in the list: the default report (last 30 days) first page
(3 of 8), its next page (keyset cursor), its last page, one of the member's numbers, the calls
with one other party, a 90-day range. First 1 client (the service time), then --clients.

Printed for each checkout: pages/s, p50/p95/p99, p95 per kind of page, and CPU per page: the
panel's processes (gunicorn's master and workers, /proc/<pid>/stat utime + stime), their
PostgreSQL backends (the same, for the backends of the bench database) and this load
generator's own process. The machine's load average and busy share are printed beside them:
on a shared machine p95 is inflated by the other work; CPU per page much less so.
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
CHARGE_SLICE = 2000
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
        # the charges' triggers (rollup, day spend, webhooks) look CDRs up: with the new rows'
        # statistics, not an empty table's (a sequential scan per charge took many minutes)
        cur.execute("ANALYZE cdr")
        cur.execute("ANALYZE member_calls")
        raw_engine.commit()
        # what the rater would have written: one charge per placed call, committed in slices as
        # the rater commits: the charges' triggers update summary rows (rollups, day spend), and
        # a row updated tens of thousands of times in one transaction makes each update slower
        last = cur.execute("SELECT coalesce(max(id), 0) FROM cdr").fetchone()[0]
        for lo in range(0, last + 1, CHARGE_SLICE):
            cur.execute(
                """
            INSERT INTO cdr_charges (cdr_id, account_id, virtual_number_id, call_type, country, prefix,
                                     billable_seconds, plan_seconds, cost, rated_at)
            SELECT c.id, CASE WHEN c.vnum = '17005550200' THEN %(other)s ELSE %(account)s END,
                   CASE c.vnum WHEN '17005550100' THEN %(vn)s WHEN '17005550101' THEN %(second)s
                               ELSE %(other_vn)s END,
                   CASE WHEN c.call_class = 'R' AND c.id %% 3 = 0 THEN 'PR' ELSE c.call_class END,
                   CASE WHEN c.call_class = 'I' THEN 'GB' ELSE 'US' END, left(c.dialed, 4),
                   c.billsec, 0,
                   CASE WHEN c.call_class = 'R' AND c.id %% 3 = 0 THEN 0
                        ELSE round(c.billsec / 60.0 * CASE c.call_class WHEN 'R' THEN 0.01
                             WHEN 'D' THEN 0.02 ELSE 0.045 END, 4) END,
                   -- rated as the call ended (not all now: one day's spend row updated
                   -- 80,000 times in one transaction made each update slower than the last)
                   c.start + make_interval(secs => c.duration + 5)
            FROM cdr c WHERE c.call_class IS NOT NULL AND c.id > %(lo)s AND c.id <= %(hi)s""",
                {**ids, "lo": lo, "hi": lo + CHARGE_SLICE},
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
    kind: str  # "gunicorn", "granian" or "werkzeug"
    workers: int = 4
    worker_class: str = "sync"
    threads: int = 1

    @property
    def label(self) -> str:
        if self.kind == "werkzeug":
            return "python -m webpanel (Werkzeug, threaded)"
        if self.kind == "granian":
            return f"granian (WSGI), {self.workers} workers x {self.threads} blocking threads"
        threads = f" x {self.threads} threads" if self.worker_class == "gthread" else ""
        return f"gunicorn, {self.workers} {self.worker_class} workers{threads}"


def start_panel(settings, port: int, server: Server, root: Path = ROOT) -> subprocess.Popen:
    """The panel of the checkout at `root` (this one, or --baseline-ref's copy) on `port`."""
    env = dict(
        os.environ,
        VOIP_DB_NAME=settings.db_name,
        VOIP_PANEL_HOST="127.0.0.1",
        VOIP_PANEL_PORT=str(port),
        VOIP_LOG_LEVEL="WARNING",
        # the checkout's own packages first (the venv's editable install points at this one)
        PYTHONPATH=os.pathsep.join(filter(None, (str(root), os.environ.get("PYTHONPATH")))),
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
    elif server.kind == "granian":
        command = [
            sys.executable,
            "-m",
            "granian",
            "--interface",
            "wsgi",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(server.workers),
            "--blocking-threads",
            str(server.threads),
            "--log-level",
            "warning",
            "--no-access-log",
            "webpanel:create_app",
        ]
    else:
        command = [sys.executable, "-m", "webpanel"]
    # a file, not a pipe: a pipe nobody reads would block the server once it fills
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(command, cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=log)
    proc.log = log
    deadline = time.monotonic() + 120  # 4 workers importing the app on a loaded machine
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
    raise RuntimeError("the panel did not answer /healthz within 120 s")


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
    # every cookie set (the session's, and a remembered device's since issue 16), as a browser
    # sends them back
    jar = dict(
        value.split(";", 1)[0].split("=", 1)
        for name, value in response.getheaders()
        if name.lower() == "set-cookie"
    )
    if "voip_panel" not in jar:
        raise RuntimeError("login set no session cookie")
    return "; ".join(f"{k}={v}" for k, v in jar.items())


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


# --- the run -------------------------------------------------------------------------------


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


DEFAULT_DB = "voip_bench_call_history"
LOGIN, SECOND, OTHER = "17005550100", "17005550101", "17005550200"


def built(settings, n_cdrs: int) -> bool:
    """Whether `settings.db_name` holds this bench's data set (the member and its CDRs)."""
    try:
        engine = make_engine(settings)
        with engine.connect() as conn:
            n = conn.exec_driver_sql(
                "SELECT count(*) FROM cdr WHERE vnum IN (%(a)s, %(b)s)", {"a": LOGIN, "b": SECOND}
            )
            return n.scalar() == n_cdrs
    except Exception:  # noqa: BLE001 - no such database, or not migrated
        return False
    finally:
        engine.dispose()


def ensure_database(settings, n_cdrs: int, fresh: bool = False) -> None:
    """The bench database: created, migrated (this checkout's migrations) and seeded, or
    reused as it is when it already holds the data set (upgraded to this checkout's head)."""
    if not fresh and built(settings, n_cdrs):
        try:
            migrate.upgrade(settings)
        except Exception as e:  # noqa: BLE001 - an older checkout (--baseline-ref) on a newer schema
            print(f"{settings.db_name} not upgraded ({type(e).__name__}): used as it is", flush=True)
        print(f"reusing {settings.db_name} ({n_cdrs:,} CDRs of member {LOGIN})", flush=True)
        return
    migrate.create_database(settings, drop_first=True)
    migrate.upgrade(settings)
    t = time.perf_counter()
    seed(settings, n_cdrs, random.Random(20260301))
    print(
        f"seeded {settings.db_name}: {n_cdrs:,} CDRs (+{n_cdrs // 5:,} of another account) and their "
        f"charges in {time.perf_counter() - t:.1f} s",
        flush=True,
    )


def baseline_checkout(ref: str) -> tuple[Path, str]:
    """A copy of the tree at `ref` in /tmp (`git archive`: this repository's refs, index and
    working tree are left as they are), its catalogs compiled. Reused when already there."""
    sha = subprocess.run(
        ["git", "rev-parse", "--verify", f"{ref}^{{commit}}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    target = Path(tempfile.gettempdir()) / f"voip-bench-baseline-{sha[:12]}"
    if not (target / ".complete").exists():
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        archive = subprocess.Popen(["git", "archive", sha], cwd=ROOT, stdout=subprocess.PIPE)
        subprocess.run(["tar", "-x", "-C", str(target)], stdin=archive.stdout, check=True)
        if archive.wait() != 0:
            raise RuntimeError(f"git archive {sha} failed")
        pybabel = Path(sys.executable).with_name("pybabel")
        subprocess.run([str(pybabel), "-q", "compile", "-d", "webpanel/translations"], cwd=target, check=True)
        (target / ".complete").write_text(sha + "\n")
    subject = subprocess.run(
        ["git", "log", "-1", "--format=%h %s", sha], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    return target, subject[:100]


def member_urls(settings) -> list[tuple[str, str]]:
    """What members open on Call History, as (kind, URL): the default report's first page (most
    often), its next page (keyset), its last page, one of the member's numbers, the calls with
    one other party, and a 90-day range."""
    today = dt.datetime.now(dt.UTC).date()
    engine = make_engine(settings)
    try:
        with engine.connect() as conn:
            party = conn.exec_driver_sql(
                "SELECT src FROM cdr WHERE vnum = %(n)s AND src LIKE '1312555%%'"
                " GROUP BY src ORDER BY count(*) DESC, src LIMIT 1",
                {"n": LOGIN},
            ).scalar()
    finally:
        engine.dispose()
    quarter = f"start={(today - dt.timedelta(days=89)).isoformat()}&end={today.isoformat()}"
    return [
        ("first page", "/call-history/"),
        ("next page", "NEXT"),  # the first page's "Older" link, found per client after login
        ("first page", "/call-history/"),
        ("one own number", f"/call-history/?number={SECOND}"),
        ("last page", "/call-history/?page=last"),
        ("with a party", f"/call-history/?number={party}"),
        ("first page", "/call-history/"),
        ("90 days", f"/call-history/?{quarter}"),
    ]


def _next_link(html: str) -> str:
    return re.search(r'href="([^"]+)" rel="next"', html).group(1).replace("&amp;", "&")


def mix_clients(port: int, cookies: list[str], urls: list[tuple[str, str]], seconds: float) -> dict:
    """Closed loop: client i (its own session, its own connection) walks the URL mix from
    position i, sending its next request when the last one is answered."""
    by_kind: dict[str, list[float]] = {}
    errors = 0
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client(i: int) -> None:
        nonlocal errors
        cookie = cookies[i]
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine: list[tuple[str, float]] = []
        failed, k = 0, i
        while time.monotonic() < stop:
            kind, path = urls[k % len(urls)]
            k += 1
            t = time.perf_counter()
            try:
                if not _get(conn, path, cookie):
                    failed += 1
            except (OSError, http.client.HTTPException):
                failed += 1
                conn.close()
                continue
            mine.append((kind, (time.perf_counter() - t) * 1000))
        with lock:
            for kind, ms in mine:
                by_kind.setdefault(kind, []).append(ms)
            errors += failed

    cpu = time.process_time()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(cookies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    everything = [ms for v in by_kind.values() for ms in v]
    result = _percentiles(everything, seconds, errors, "python http.client threads, closed loop")
    result["client_ms"] = (time.process_time() - cpu) * 1000 / max(1, len(everything))
    result["kinds"] = {
        kind: statistics.quantiles(v, n=100, method="inclusive")[94] if len(v) > 1 else v[0]
        for kind, v in by_kind.items()
    }
    return result


def server_for(kind: str, args) -> Server:
    """`kind` with --workers/--threads, or the production settings of the commit that ran it:
    granian 2 x 1 (VOIP_PANEL_WORKERS, VOIP_PANEL_THREADS), gunicorn 4 gthread x 4."""
    if kind == "granian":
        workers = args.workers or int(os.environ.get("VOIP_PANEL_WORKERS") or 2)
        return Server(kind, workers, "", args.threads or int(os.environ.get("VOIP_PANEL_THREADS") or 1))
    return Server(kind, args.workers or 4, args.worker_class, args.threads or 4)


def measure(settings, root: Path, label: str, args, urls, kind: str) -> dict:
    """One checkout's panel under `kind`: the mix at 1 client (service time), then at
    --clients closed-loop clients, each logged in with its own session."""
    server = server_for(kind, args)
    port = free_port()
    proc = start_panel(settings, port, server, root)
    try:
        cookies = [log_in(port, LOGIN) for _ in range(args.clients)]
        first = fetch(port, "/call-history/", cookies[0])
        next_path = _next_link(first)
        mix = [(kind, next_path if path == "NEXT" else path) for kind, path in urls]
        for _ in range(4 * server.workers):  # warm up every worker (templates, caches)
            for _kind, path in mix:
                fetch(port, path, cookies[0])
        print(f"--- {label}: {server.label}", flush=True)
        usage = Usage(proc.pid, settings)
        alone = usage.done(mix_clients(port, cookies[:1], mix, max(3, args.seconds / 3)))
        print(f"  1 client:    {_line(alone)}", flush=True)
        usage = Usage(proc.pid, settings)
        loaded = usage.done(mix_clients(port, cookies, mix, args.seconds))
        print(f"  {args.clients} clients:  {_line(loaded)}  target: {_verdict(loaded)}", flush=True)
        print(
            "  p95 by page at "
            f"{args.clients} clients: " + ", ".join(f"{k} {v:.0f} ms" for k, v in loaded["kinds"].items()),
            flush=True,
        )
        return {"label": label, "alone": alone, "loaded": loaded}
    finally:
        stop_panel(proc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cdrs", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=20, help="per checkout at --clients clients")
    parser.add_argument("--db", default=DEFAULT_DB, help=f"the bench database (default {DEFAULT_DB}, reused)")
    parser.add_argument("--fresh", action="store_true", help="rebuild the bench database")
    parser.add_argument("--drop", action="store_true", help="drop the bench database at the end")
    parser.add_argument(
        "--baseline-ref",
        help="also measure this git ref (e.g. c32ec99) the same way in the same run, from a copy in /tmp",
    )
    parser.add_argument(
        "--server",
        choices=("granian", "gunicorn"),
        default="granian",
        help="this checkout's server (docker/compose.yaml: granian since issue 16)",
    )
    parser.add_argument(
        "--baseline-server",
        choices=("granian", "gunicorn"),
        default="gunicorn",
        help="--baseline-ref's server (gunicorn, 4 gthread workers x 4 threads, before issue 16)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        help="worker processes (granian: VOIP_PANEL_WORKERS, default 2; gunicorn: 4)",
    )
    parser.add_argument(
        "--worker-class", choices=("sync", "gthread"), default="gthread", help="gunicorn's (gthread)"
    )
    parser.add_argument(
        "--threads",
        type=int,
        help="threads per worker (granian: VOIP_PANEL_THREADS, default 1; gunicorn gthread: 4)",
    )
    args = parser.parse_args()
    for kind in {args.server, args.baseline_server if args.baseline_ref else args.server}:
        if importlib.util.find_spec(kind) is None:
            parser.error(f"{kind} is not installed: pip install -e '.[prod,bench]'")

    settings = dataclasses.replace(load(), db_name=args.db)
    ensure_database(settings, args.cdrs, args.fresh)
    checkouts = [(ROOT, "this checkout")]
    if args.baseline_ref:
        base, subject = baseline_checkout(args.baseline_ref)
        checkouts.insert(0, (base, f"baseline {subject}"))
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load average "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}; {args.clients} clients, {args.seconds:g} s",
        flush=True,
    )
    urls = member_urls(settings)
    results = []
    try:
        for root, label in checkouts:
            kind = args.server if root == ROOT else args.baseline_server
            results.append(measure(settings, root, label, args, urls, kind))
    finally:
        if args.drop:
            migrate.drop_database(settings)
    print(
        f"\nsummary, Call History over {args.cdrs:,} CDRs (target: p95 < {TARGET_P95_MS:.0f} ms at "
        f"{args.clients} closed-loop clients). CPU per page: the panel's processes, their PostgreSQL "
        "backends, and this load generator:"
    )
    print(
        f"  {'':52s} {'pages/s':>8s} {'p50':>7s} {'p95':>7s} {'p99':>7s} {'panel':>7s} {'pg':>6s} {'client':>7s}"
    )
    for r in results:
        for name, x in (("1 client", r["alone"]), (f"{args.clients} clients", r["loaded"])):
            print(
                f"  {(r['label'][:40] + ' ' + name):52s} {x['rps']:8.0f} {x['p50']:6.1f}ms {x['p95']:6.1f}ms "
                f"{x['p99']:6.1f}ms {x['cpu_ms']:5.2f}ms {x['db_ms']:4.2f}ms {x['client_ms']:5.2f}ms"
            )
    print(
        f"  load average now {' '.join(f'{x:.2f}' for x in os.getloadavg())} (p95 is only real on a quiet machine)"
    )


if __name__ == "__main__":
    main()
