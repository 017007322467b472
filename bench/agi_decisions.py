"""FastAGI decision rate: a protocol-level load generator acting as Asterisk against the real
controller's FastAGI server, with real database decisions (route `outbound`: member lookup,
classification, LD permission, credit hold).

    .venv/bin/python bench/agi_decisions.py [--sessions 200] [--calls 4000] [--members 200]

It makes a scratch database (dropped at the end), seeds members with credit and a rate deck,
starts the controller's FastAGI server in this process (no Asterisk needed: this script plays
Asterisk's side of the protocol), and prints decisions per second and p50/p95/p99 latency
(connect -> decision -> socket closed). Run it by hand; it is not a test.
"""
from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agi.deps import Deps  # noqa: E402
from agi.routes import ROUTES  # noqa: E402
from agi.server import FastAGIServer  # noqa: E402
from controller.settings import load  # noqa: E402
from db import accounts, migrate  # noqa: E402
from db.models import CreditLot  # noqa: E402
from db.rates import import_deck  # noqa: E402
from db.session import async_session_factory, make_async_engine, make_engine, session_factory  # noqa: E402


def seed(settings, members: int) -> list[str]:
    engine = make_engine(settings)
    factory = session_factory(engine)
    numbers = []
    with factory() as s, s.begin():
        import_deck(s, "bench", [("1", "US/Canada", "US", Decimal("0.01"), Decimal("0"), 6, 6)])
        for i in range(members):
            number = f"1700{9000000 + i:07d}"
            acc, _, vn = accounts.create_account(s, login_number=number, password="x" * 12,
                                                 realm=settings.sip_realm)
            vn.allow_us_canada_ld = True
            s.add(CreditLot(account_id=acc.id, original=Decimal("100000"), remaining=Decimal("100000"),
                            source="admin"))
            numbers.append(number)
    engine.dispose()
    return numbers


async def one_session(port: int, vnum: str, dialed: str, i: int) -> float:
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    headers = {"agi_network": "yes", "agi_network_script": "outbound", "agi_channel": f"PJSIP/{vnum}-{i:08x}",
               "agi_uniqueid": f"1800000000.{i}", "agi_context": "members", "agi_extension": dialed,
               "agi_callerid": vnum}
    writer.write("".join(f"{k}: {v}\n" for k, v in headers.items()).encode() + b"\n")
    await writer.drain()
    decided = False
    while True:
        line = await reader.readline()
        if not line:
            break
        cmd = line.decode()
        if cmd.startswith('GET VARIABLE "CHANNEL(endpoint)"'):
            writer.write(f"200 result=1 ({vnum})\n".encode())
        elif cmd.startswith("GET FULL VARIABLE"):
            writer.write(f"200 result=1 ({vnum}^~^1800000000.{i})\n".encode())
        elif cmd.startswith('GET VARIABLE "CHANNEL(linkedid)"'):
            writer.write(f"200 result=1 (1800000000.{i})\n".encode())
        elif cmd.startswith("GET VARIABLE"):
            writer.write(b"200 result=0\n")
        else:
            if 'VOIP_DECISION' in cmd:
                decided = True
            writer.write(b"200 result=1\n")
        await writer.drain()
    writer.close()
    if not decided:
        raise RuntimeError("no decision")
    return time.perf_counter() - started


async def run(args) -> None:
    base = load()
    settings = dataclasses.replace(base, db_name=f"voip_bench_agi_{os.getpid()}")
    migrate.create_database(settings, drop_first=True)
    try:
        migrate.upgrade(settings)
        numbers = seed(settings, args.members)
        engine = make_async_engine(settings, pool_size=args.pool, max_overflow=0)
        deps = Deps(settings=settings, db=async_session_factory(engine))
        server = FastAGIServer(ROUTES, deps)
        await server.start("127.0.0.1", 0)
        port = server._server.sockets[0].getsockname()[1]

        sem = asyncio.Semaphore(args.sessions)
        latencies: list[float] = []

        async def worker(i: int) -> None:
            async with sem:
                latencies.append(await one_session(port, numbers[i % len(numbers)], "12125550100", i))

        await asyncio.gather(*(worker(i) for i in range(min(200, args.calls))))  # warm-up
        latencies.clear()
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(args.calls)))
        elapsed = time.perf_counter() - t0
        lat = sorted(latencies)
        q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] * 1000  # noqa: E731
        print(f"FastAGI outbound decisions: {args.calls} calls, {args.sessions} concurrent sessions, "
              f"{args.members} members, pool {args.pool}")
        print(f"  {args.calls / elapsed:,.0f} decisions/s; latency p50 {q(0.50):.1f} ms, "
              f"p95 {q(0.95):.1f} ms, p99 {q(0.99):.1f} ms, mean {statistics.mean(lat) * 1000:.1f} ms")
        print(f"  server: handled {server.handled}, failed {server.failed}; machine: {os.cpu_count()} cores")
        await server.stop()
        await engine.dispose()
    finally:
        migrate.drop_database(settings)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--sessions", type=int, default=200)
    p.add_argument("--calls", type=int, default=4000)
    p.add_argument("--members", type=int, default=200)
    p.add_argument("--pool", type=int, default=20)
    asyncio.run(run(p.parse_args()))


if __name__ == "__main__":
    main()
