"""FastAGI decision rate: a protocol-level load generator acting as Asterisk against the real
controller's FastAGI server, with real database decisions (route `outbound`: member lookup,
classification, LD permission, credit hold).

    .venv/bin/python bench/agi_decisions.py [--sessions 200] [--calls 4000] [--members 200]
        [--rate 800] [--charges 0]

It makes a scratch database (dropped at the end), seeds members with credit and a rate deck,
starts the controller's FastAGI server (built as controller.app builds it: the hot-path pool
and the SQLAlchemy sessions) in a child process pinned to ONE core (the issue's "on one core"),
plays Asterisk's side of the protocol from this process pinned to the other core(s), and prints
decisions per second and p50/p95/p99 latency (connect -> decision -> socket closed), plus the
server process's CPU seconds per decision. PostgreSQL runs wherever the OS puts it.
BENCH_TAIL=1 also prints when in the run the calls over 10 ms began.
Run it by hand; it is not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import os
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agi.routes import ROUTES  # noqa: E402
from agi.server import FastAGIServer  # noqa: E402
from controller import logs  # noqa: E402
from controller.app import warm_up  # noqa: E402
from controller.services.deps import Deps  # noqa: E402
from controller.settings import load  # noqa: E402
from db import accounts, migrate  # noqa: E402
from db.hotpath import HotDB  # noqa: E402
from db.models import CreditLot  # noqa: E402
from db.rates import import_deck  # noqa: E402
from db.session import async_session_factory, make_async_engine, make_engine, session_factory  # noqa: E402

# every FastAGI request carries the controller's token (Settings.agi_token), as Asterisk's do
AGI_TOKEN = load().agi_token


def seed(settings, members: int) -> list[str]:
    engine = make_engine(settings)
    factory = session_factory(engine)
    numbers = []
    with factory() as s, s.begin():
        import_deck(s, "bench", [("1", "US/Canada", "US", Decimal("0.01"), Decimal("0"), 6, 6)])
        for i in range(members):
            number = f"1700{9000000 + i:07d}"
            acc, _, vn = accounts.create_account(
                s, login_number=number, password="x" * 12, realm=settings.sip_realm
            )
            vn.allow_us_canada_ld = True
            s.add(
                CreditLot(
                    account_id=acc.id, original=Decimal("100000"), remaining=Decimal("100000"), source="admin"
                )
            )
            numbers.append(number)
    engine.dispose()
    return numbers


class AsteriskSide(asyncio.Protocol):
    """Asterisk's side of one FastAGI session: the environment (with the dialplan's arguments,
    as extensions.conf passes them), then an answer to each command until the server closes.
    A Protocol, not streams: the generator shares a core with PostgreSQL, and every
    microsecond it spends is one the database does not get."""

    def __init__(self, vnum: str, dialed: str, i: int, done: asyncio.Future):
        self.env = (
            "".join(
                f"{k}: {v}\n"
                for k, v in {
                    "agi_network": "yes",
                    "agi_network_script": f"{AGI_TOKEN}/outbound",
                    "agi_channel": f"PJSIP/{vnum}-{i:08x}",
                    "agi_uniqueid": f"1800000000.{i}",
                    "agi_context": "members",
                    "agi_extension": dialed,
                    "agi_callerid": vnum,
                    "agi_arg_1": vnum,
                    "agi_arg_2": f"1800000000.{i}",
                }.items()
            )
            + "\n"
        ).encode()
        self.vnum, self.i, self.done = vnum, i, done
        self.buffer = b""
        self.decided = False

    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.write(self.env)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\n" in self.buffer:
            line, self.buffer = self.buffer.split(b"\n", 1)
            if line.startswith(b'GET VARIABLE "CHANNEL(endpoint)"'):
                self.transport.write(f"200 result=1 ({self.vnum})\n".encode())
            elif line.startswith(b"GET FULL VARIABLE"):
                self.transport.write(f"200 result=1 ({self.vnum}^~^1800000000.{self.i})\n".encode())
            elif line.startswith(b"GET VARIABLE"):
                self.transport.write(b"200 result=0\n")
            else:
                self.decided = self.decided or b"VOIP_DECISION" in line
                self.transport.write(b"200 result=1\n")

    def connection_lost(self, exc) -> None:
        if not self.done.done():
            self.done.set_result(self.decided)


async def one_session(port: int, vnum: str, dialed: str, i: int) -> float:
    started = time.perf_counter()
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    transport, _ = await loop.create_connection(
        lambda: AsteriskSide(vnum, dialed, i, done), "127.0.0.1", port
    )
    if not await done:
        raise RuntimeError("no decision")
    transport.close()
    return time.perf_counter() - started


SETTLE_ENDED = """UPDATE call_authorizations SET settled_at = now()
                   WHERE settled_at IS NULL AND created_at < now() - make_interval(secs => %s)"""


async def calls_end(settings, call_seconds: float) -> None:
    """The calls end: every hold older than `call_seconds` is settled, twice a second, as the
    rater (answered calls) and route release (unanswered ones) settle them in production.
    Without this every hold of the run stays open and each decision's money state sums more
    of them: by the end of 30,000 calls, 150 per member, and PostgreSQL's CPU per decision
    had grown by a third. This UPDATE's own CPU counts in the PostgreSQL figure."""
    import psycopg

    from db.hotpath import HotDB

    async with await psycopg.AsyncConnection.connect(HotDB(settings).conninfo, autocommit=True) as conn:
        while True:
            await conn.execute(SETTLE_ENDED, (call_seconds,))
            await asyncio.sleep(0.5)


def postgres_cpu(db_name: str) -> float:
    """CPU seconds so far of the PostgreSQL backends serving `db_name`."""
    tick, total = os.sysconf("SC_CLK_TCK"), 0.0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            if not (cmd.startswith("postgres") and f" {db_name} " in cmd):
                continue
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


SEED_CHARGES = """
    WITH m AS (SELECT v.id AS vn, v.account_id, row_number() OVER (ORDER BY v.id) - 1 AS k
                 FROM virtual_numbers v),
         c AS (INSERT INTO cdr (uniqueid) SELECT 'bench-' || g FROM generate_series(1, %(n)s) g
               RETURNING id)
    INSERT INTO cdr_charges (cdr_id, account_id, virtual_number_id, call_type, country, prefix,
                             billable_seconds, cost, rated_at)
    SELECT c.id, m.account_id, m.vn, 'D', 'US', '1', 60, 0.001,
           now() - make_interval(secs => mod(c.id, 3600))
      FROM c JOIN m ON m.k = mod(c.id, (SELECT count(*) FROM m))
"""


def seed_charges(settings, per_member: int, members: int) -> None:
    """`per_member` charges rated in the last hour for every member (as the rater leaves them:
    the spending limits read what the account was charged today and in the velocity window)."""
    import psycopg

    from db.hotpath import HotDB

    with psycopg.connect(HotDB(settings).conninfo, autocommit=True) as conn:
        conn.execute(SEED_CHARGES, {"n": per_member * members})
        # the charges' statistics, and their day counters vacuumed as autovacuum would
        conn.execute("ANALYZE cdr_charges")
        if conn.execute("SELECT to_regclass('account_day_spend')").fetchone()[0]:
            conn.execute("VACUUM ANALYZE account_day_spend")


def outcomes(settings) -> str:
    """How the run's decisions ended: the holds taken (allowed billable calls) and the refusals
    the spending limits recorded (issue 13: the bench's members must stay within their caps,
    or the run measures refusals, not decisions)."""
    import psycopg

    from db.hotpath import HotDB

    with psycopg.connect(HotDB(settings).conninfo, autocommit=True) as conn:
        holds = conn.execute("SELECT count(*) FROM call_authorizations").fetchone()[0]
        refusals = conn.execute("SELECT count(*) FROM fraud_events").fetchone()[0]
    return f"{holds} holds taken, {refusals} refused by the spending limits"


GC_PAUSES: list[float] = []


def _time_full_collections() -> None:
    """Record how long each full (generation 2) garbage collection stops the server."""
    started = [0.0]

    def callback(phase: str, info: dict) -> None:
        if info["generation"] == 2:
            if phase == "start":
                started[0] = time.perf_counter()
            else:
                GC_PAUSES.append(time.perf_counter() - started[0])

    gc.callbacks.append(callback)


async def serve(args) -> None:
    """The child: the FastAGI server alone on core `--core`, until stdin closes."""
    os.sched_setaffinity(0, {args.core})
    _time_full_collections()
    settings = dataclasses.replace(load(), db_name=args.db)
    logs.setup(settings.log_level)  # as production: one JSON line per decision (to /dev/null)
    engine = make_async_engine(settings, pool_size=10, max_overflow=20)
    pg = HotDB(settings, max_size=args.pool)
    await pg.open()
    deps = Deps(settings=settings, db=async_session_factory(engine), pg=pg)
    server = FastAGIServer(ROUTES, deps)
    await server.start("127.0.0.1", 0)
    warm_up()  # as Controller.start ends
    print(server._server.sockets[0].getsockname()[1], flush=True)
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    while True:
        line = await stdin.readline()
        if not line:
            break
        if line.strip() == b"stats":
            cpu = os.times()
            print(
                f"{server.handled} {server.failed} {cpu.user + cpu.system:.3f} "
                f"{len(GC_PAUSES)} {max(GC_PAUSES, default=0) * 1000:.1f}",
                flush=True,
            )
            GC_PAUSES.clear()
    await server.stop()
    await pg.close()
    await engine.dispose()


async def run(args) -> None:
    base = load()
    settings = dataclasses.replace(base, db_name=f"voip_bench_agi_{os.getpid()}")
    migrate.create_database(settings, drop_first=True)
    child = None
    try:
        migrate.upgrade(settings)
        numbers = seed(settings, args.members)
        if args.charges:
            seed_charges(settings, args.charges, args.members)
        cores = sorted(os.sched_getaffinity(0))
        server_core = cores[0]
        if len(cores) > 1:
            os.sched_setaffinity(0, set(cores[1:]))
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--serve",
            "--db",
            settings.db_name,
            "--core",
            str(server_core),
            "--pool",
            str(args.pool),
            *(["--stock-loop"] if args.stock_loop else []),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        port = int((await child.stdout.readline()).decode())

        gc_pauses = []

        async def stats() -> tuple[int, int, float]:
            child.stdin.write(b"stats\n")
            await child.stdin.drain()
            handled, failed, cpu, collections, longest = (await child.stdout.readline()).decode().split()
            gc_pauses[:] = [int(collections), float(longest)]
            return int(handled), int(failed), float(cpu)

        sem = asyncio.Semaphore(args.sessions)
        latencies: list[float] = []
        starts: list[float] = []  # starts[k] is when the call of latencies[k] began

        async def worker(i: int) -> None:
            async with sem:
                began = time.perf_counter()
                took = await one_session(port, numbers[i % len(numbers)], f"1212555{i % 10000:04d}", i)
                starts.append(began)
                latencies.append(took)

        async def paced() -> None:
            """One new call every 1/rate s, started as its time comes (creating them all up
            front would stall the generator itself for the first second)."""
            tasks = []
            for i in range(args.calls):
                delay = t0 + i / args.rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(worker(i)))
            await asyncio.gather(*tasks)

        ending = asyncio.create_task(calls_end(settings, args.call_seconds))
        await asyncio.gather(*(worker(i) for i in range(min(200, args.calls))))  # warm-up
        latencies.clear()
        starts.clear()
        handled0, failed0, cpu0 = await stats()
        pg0 = postgres_cpu(settings.db_name)
        if not os.environ.get("BENCH_GENERATOR_GC"):
            # the load generator's own full collections (12,000 tasks alive) would stop it
            # for tens of ms and show up as the server's latency
            gc.collect()
            gc.disable()
        t0 = time.perf_counter()
        gen0 = sum(os.times()[:2])
        if args.rate:  # open loop: a new call every 1/rate s, at most --sessions at once
            await paced()
        else:  # closed loop: --sessions calls in flight all the time
            await asyncio.gather(*(worker(i) for i in range(args.calls)))
        elapsed = time.perf_counter() - t0
        ending.cancel()
        generator_ms = (sum(os.times()[:2]) - gen0) / args.calls * 1000
        gc.enable()
        handled1, failed1, cpu1 = await stats()
        pg1 = postgres_cpu(settings.db_name)
        if os.environ.get("BENCH_TAIL"):  # when do the slow ones happen? (seconds into the run)
            import collections

            slow = [at - t0 for at, took in zip(starts, latencies, strict=False) if took > 0.010]
            windows = collections.Counter(int(x * 10) / 10 for x in slow)
            print(
                f"  calls over 10 ms: {len(slow)}; per second of the run: "
                f"{sorted(collections.Counter(int(x) for x in slow).items())}; "
                f"busiest 100 ms windows: {windows.most_common(5)}"
            )
        lat = sorted(latencies)
        q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] * 1000  # noqa: E731
        mode = f"open loop at {args.rate}/s offered" if args.rate else "closed loop"
        print(
            f"FastAGI outbound decisions ({mode}): {args.calls} calls, at most {args.sessions} concurrent sessions, "
            f"{args.members} members, calls ending {args.call_seconds:g} s after their decision, "
            f"pool {args.pool}; server pinned to core {server_core}, "
            f"load generator on {sorted(os.sched_getaffinity(0))}"
        )
        print(
            f"  {args.calls / elapsed:,.0f} decisions/s; latency p50 {q(0.50):.1f} ms, "
            f"p95 {q(0.95):.1f} ms, p99 {q(0.99):.1f} ms, mean {statistics.mean(lat) * 1000:.1f} ms"
        )
        print(
            f"  server: handled {handled1 - handled0}, failed {failed1 - failed0}; "
            f"{(cpu1 - cpu0) / args.calls * 1000:.2f} ms CPU per decision "
            f"(= {args.calls / max(cpu1 - cpu0, 1e-9):,.0f} decisions per CPU-second); PostgreSQL "
            f"{(pg1 - pg0) / args.calls * 1000:.2f} ms CPU per decision; "
            f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}"
        )
        print(f"  load generator: {generator_ms:.2f} ms CPU per call")
        print(f"  outcomes: {outcomes(settings)}")
        print(
            f"  server's full garbage collections during the run: {gc_pauses[0]}, "
            f"longest {gc_pauses[1]:.1f} ms"
        )
    finally:
        if child is not None and child.returncode is None:
            child.stdin.close()
            try:
                await asyncio.wait_for(child.wait(), 10)
            except TimeoutError:
                child.kill()
        migrate.drop_database(settings)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--sessions", type=int, default=200)
    p.add_argument("--calls", type=int, default=4000)
    p.add_argument("--members", type=int, default=200)
    p.add_argument("--pool", type=int, default=20)
    p.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="offered calls per second (open loop); 0: closed loop, --sessions always busy",
    )
    p.add_argument(
        "--call-seconds",
        type=float,
        default=2.0,
        help="a call's hold is settled this long after its decision (the call ended)",
    )
    p.add_argument(
        "--charges",
        type=int,
        default=0,
        help="charges per member rated in the last hour before the run (the limits' day and window)",
    )
    p.add_argument("--stock-loop", action="store_true", help="serve on asyncio's own loop, not uvloop")
    p.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--db", help=argparse.SUPPRESS)
    p.add_argument("--core", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.serve and os.environ.get("BENCH_PROFILE"):
        import cProfile

        cProfile.runctx("asyncio.run(serve(args))", globals(), {"args": args}, os.environ["BENCH_PROFILE"])
        return
    if args.serve and not args.stock_loop:
        import uvloop  # as controller.__main__ runs the controller

        uvloop.run(serve(args))
        return
    if not args.serve:
        import uvloop  # the load generator must not be the bottleneck

        uvloop.run(run(args))
        return
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
