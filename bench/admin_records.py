"""The operator's Call Records at 10,000,000 CDRs (issue 15): the search's first page, page
10,000 reached by keyset, and the streamed CSV export of 1,000,000 rows, served by the real
panel (gunicorn, production's server) to clients logged in as an operator.

Run it by hand (it is not a test) after bench/backoffice_seed.py has built its database (it
runs that first: a no-op when the database is built):

    .venv/bin/python -m bench.admin_records [--db voip_bench_backoffice] [--clients 20]
        [--seconds 15] [--workers 4] [--page 10000] [--export-rows 1000000]

Target (issue 15): p95 < 100 ms at 20 concurrent clients for each search page. Printed for
each page: its service time (1 client, one request after the other), then --clients
closed-loop clients (each sends its next request when the last is answered) for --seconds:
requests per second, p50/p95/p99, the panel's and its PostgreSQL backends' CPU per request,
and the machine's load and busy share during the run (the bench shares the CPUs with
PostgreSQL, the load generator and whatever else runs there).

Page 10,000's cursor is found once in SQL (the key of the last row of page 9,999, newest
first), then every request asks the panel for the page after it, as the "Older" link does.

The export: one client downloads the CSV of the newest --export-rows rows (a "From" filter
at the start of the --export-rows-th newest row), reading it as it arrives; printed: time to
the first byte, the whole download, rows, bytes, and the serving worker's resident memory
(VmRSS sampled every 50 ms during the download, and the kernel's peak VmHWM before and after).
It is served by a gunicorn gthread worker: a sync worker (docker/compose.yaml's) is killed by
gunicorn's --timeout (30 s by default) in the middle of any download that takes longer, and
a million rows take longer than that on a loaded 2-CPU machine.
"""

from __future__ import annotations

import argparse
import http.client
import os
import statistics
import sys
import threading
import time
import urllib.parse
from pathlib import Path

import psycopg

from bench import backoffice_seed as seed
from bench.panel_call_history import (
    Server,
    Usage,
    log_in,
    start_panel,
    stop_panel,
    with_threads,
)
from db import records

TARGET_P95_MS = 100.0


def page_cursor(settings, page: int, size: int = records.PAGE_SIZE) -> str:
    """The cursor of the "Older" link that leads to `page` (1-based) of the unfiltered search."""
    with psycopg.connect(seed.conninfo(settings)) as conn:
        row = conn.execute(
            "SELECT start, id FROM cdr WHERE start IS NOT NULL ORDER BY start DESC, id DESC OFFSET %s LIMIT 1",
            ((page - 1) * size - 1,),
        ).fetchone()
    if row is None:
        raise SystemExit(f"the database has fewer than {page} pages of records")
    return records.encode_cursor(row[0], row[1])


def export_since(settings, rows: int) -> tuple[str, int]:
    """A "From" value (UTC, to the second) whose search holds about `rows` records, and how many."""
    with psycopg.connect(seed.conninfo(settings)) as conn:
        row = conn.execute(
            "SELECT start FROM cdr WHERE start IS NOT NULL ORDER BY start DESC, id DESC OFFSET %s LIMIT 1",
            (rows - 1,),
        ).fetchone()
        assert row is not None
        since = row[0].astimezone(records.UTC).replace(microsecond=0)
        count = conn.execute("SELECT count(*) FROM cdr WHERE start >= %s", (since,)).fetchone()
    return since.strftime("%Y-%m-%d %H:%M:%S"), int(count[0]) if count else 0


def _status(pid: int, field: str) -> int:
    """A /proc/<pid>/status memory figure (kB)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _workers(root: int) -> list[int]:
    from bench.panel_call_history import _tree

    return [pid for pid in _tree(root) if pid != root] or [root]


def service_time(port: int, path: str, cookie: str, n: int = 30) -> float:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    times = []
    for _ in range(n):
        t = time.perf_counter()
        conn.request("GET", path, headers={"Cookie": cookie})
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"GET {path}: {response.status}")
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def measure(label: str, port: int, path: str, cookie: str, args, proc, settings) -> dict:
    service = service_time(port, path, cookie)
    usage = Usage(proc.pid, settings)
    result = usage.done(with_threads(port, path, cookie, args.clients, args.seconds))
    verdict = "OK" if result["p95"] < TARGET_P95_MS else "OVER TARGET"
    print(
        f"{label}\n"
        f"  service time (1 client): {service:.1f} ms median\n"
        f"  {args.clients} clients closed loop, {args.seconds} s: {result['requests']} requests,"
        f" {result['errors']} errors, {result['rps']:.0f} req/s\n"
        f"  p50 {result['p50']:.1f} ms  p95 {result['p95']:.1f} ms  p99 {result['p99']:.1f} ms"
        f"  max {result['max']:.1f} ms   [target p95 < {TARGET_P95_MS:.0f} ms: {verdict}]\n"
        f"  CPU per request: panel {result['cpu_ms']:.1f} ms, PostgreSQL {result['db_ms']:.1f} ms;"
        f" machine load {result['load']:.1f}, busy {result['busy'] * 100:.0f}%",
        flush=True,
    )
    return result


def export(port: int, path: str, cookie: str, proc) -> dict:
    workers = _workers(proc.pid)
    hwm_before = {pid: _status(pid, "VmHWM") for pid in workers}
    rss_before = {pid: _status(pid, "VmRSS") for pid in workers}
    samples: dict[int, list[int]] = {pid: [] for pid in workers}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            for pid in workers:
                samples[pid].append(_status(pid, "VmRSS"))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    t0 = time.perf_counter()
    conn.request("GET", path, headers={"Cookie": cookie})
    response = conn.getresponse()
    if response.status != 200:
        raise RuntimeError(f"GET {path}: {response.status}")
    first = None
    size = lines = 0
    while True:
        chunk = response.read1(1 << 16)
        if not chunk:
            break
        if first is None:
            first = time.perf_counter() - t0
        size += len(chunk)
        lines += chunk.count(b"\n")
    total = time.perf_counter() - t0
    done.set()
    sampler.join()
    # the worker that served it: the one whose RSS moved most
    served = max(workers, key=lambda pid: max(samples[pid] or [0]) - rss_before[pid])
    return {
        "ttfb": (first or total) * 1000,
        "seconds": total,
        "rows": lines - 1,
        "bytes": size,
        "rss_before": rss_before[served],
        "rss_peak": max(samples[served] or [0]),
        "rss_after": _status(served, "VmRSS"),
        "hwm_before": hwm_before[served],
        "hwm_after": _status(served, "VmHWM"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--db", default=seed.DEFAULT_DB)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--page", type=int, default=10_000)
    parser.add_argument("--export-rows", type=int, default=1_000_000)
    parser.add_argument("--skip-export", action="store_true")
    args = parser.parse_args(argv)

    seed.main(["--db", args.db])
    settings = seed.bench_settings(args.db)
    with psycopg.connect(seed.conninfo(settings)) as conn:
        n = conn.execute("SELECT count(*) FROM cdr").fetchone()
    cursor = page_cursor(settings, args.page)
    since, export_count = export_since(settings, args.export_rows)
    port = seed_port()
    server = Server("gunicorn", workers=args.workers)
    print(
        f"Call Records on {args.db}: {n[0] if n else 0:,} CDRs; panel: {server.label};"
        f" {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f} before",
        flush=True,
    )
    proc = start_panel(settings, port, server)
    try:
        cookie = log_in(port, seed.ADMIN_LOGIN)
        first = "/admin/records"
        deep = "/admin/records?" + urllib.parse.urlencode({"after": cursor})
        measure("first page (no filter, newest 50)", port, first, cookie, args, proc, settings)
        measure(f"page {args.page:,} by keyset (?after=<cursor>)", port, deep, cookie, args, proc, settings)
        account = "/admin/records?" + urllib.parse.urlencode({"account": str(seed.NUMBER_BASE + 4242)})
        measure("one account's first page (by its number)", port, account, cookie, args, proc, settings)
        carrier = "/admin/records?" + urllib.parse.urlencode({"carrier": "premium"})
        measure("one carrier's first page", port, carrier, cookie, args, proc, settings)
    finally:
        stop_panel(proc)
    if args.skip_export:
        return 0
    # gunicorn's sync worker is killed (and the download cut with a 500) when one request runs
    # past --timeout (30 s): a long streamed download needs a gthread worker, whose heartbeat
    # does not wait for the request
    export_server = Server("gunicorn", workers=1, worker_class="gthread", threads=2)
    proc = start_panel(settings, port, export_server)
    try:
        cookie = log_in(port, seed.ADMIN_LOGIN)
        path = "/admin/records/export.csv?" + urllib.parse.urlencode({"since": since})
        r = export(port, path, cookie, proc)
        rate = r["rows"] / r["seconds"] if r["seconds"] else 0
        print(
            f"CSV export of the newest {export_count:,} records (since {since} UTC), {export_server.label}\n"
            f"  first byte after {r['ttfb']:.0f} ms; {r['rows']:,} rows, {r['bytes'] / 1e6:.0f} MB"
            f" in {r['seconds']:.1f} s ({rate:,.0f} rows/s)\n"
            f"  serving worker RSS: {r['rss_before'] / 1024:.0f} MB before,"
            f" {r['rss_peak'] / 1024:.0f} MB peak during, {r['rss_after'] / 1024:.0f} MB after;"
            f" kernel peak (VmHWM) {r['hwm_before'] / 1024:.0f} -> {r['hwm_after'] / 1024:.0f} MB;"
            f" machine load {os.getloadavg()[0]:.1f}",
            flush=True,
        )
    finally:
        stop_panel(proc)
    return 0


def seed_port() -> int:
    from bench.panel_call_history import free_port

    return free_port()


if __name__ == "__main__":
    sys.exit(main())
