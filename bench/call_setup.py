"""Call setups per second through the real Asterisk, with and without our AGI in the path.

    .venv/bin/python bench/call_setup.py [--calls 300] [--concurrency 20]

Starts its own sandbox instance (`bench`, free ports) and a scratch database, runs the
controller in this process, then originates Local channels that reach the simulated PSTN:
  direct: voip-test `direct<number>` -> Dial(Local/<number>@sim-pstn)   (no controller)
  agi:    fwd-out `<number>` -> route outbound (member lookup, LD check, credit hold) -> Dial
A setup counts when Asterisk reports the originated call answered (OriginateResponse Success).
Prints setups/s for both and the ratio. Run by hand; not a test.
"""
from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import socket
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def free_port(kind):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


os.environ.update({
    "VOIP_DB_NAME": f"voip_bench_setup_{os.getpid()}",
    "VOIP_SIP_PORT": str(free_port(socket.SOCK_DGRAM)), "VOIP_AMI_PORT": str(free_port(socket.SOCK_STREAM)),
    "VOIP_ARI_PORT": str(free_port(socket.SOCK_STREAM)), "VOIP_AGI_PORT": str(free_port(socket.SOCK_STREAM)),
    "VOIP_HEALTH_PORT": str(free_port(socket.SOCK_STREAM)), "VOIP_RTP_START": "30000", "VOIP_RTP_END": "30999",
    "VOIP_ASTERISK_INSTANCE_DIR": "/instances/bench",
})

from controller.app import Controller  # noqa: E402
from controller.settings import load  # noqa: E402
from db import accounts, migrate  # noqa: E402
from db.models import CreditLot  # noqa: E402
from db.rates import import_deck  # noqa: E402
from db.session import make_engine, session_factory  # noqa: E402

SANDBOX = [str(ROOT / "scripts" / "asterisk-sandbox")]


async def measure(ctl: Controller, channel_for, calls: int, concurrency: int, variables=None) -> float:
    sem = asyncio.Semaphore(concurrency)
    failures = 0

    async def one(i: int):
        nonlocal failures
        async with sem:
            result = await ctl.ami.originate(channel_for(i), application="Wait", data="0",
                                             variables=variables, timeout_ms=10000, wait=30)
            events = result if isinstance(result, list) else [result]
            if not any(e.get("Event") == "OriginateResponse" and e.get("Response") == "Success"
                       for e in events):
                failures += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(calls)))
    elapsed = time.perf_counter() - t0
    if failures:
        print(f"  ({failures} setups failed)")
    return calls / elapsed


async def run(args):
    settings = load()
    migrate.create_database(settings, drop_first=True)
    migrate.upgrade(settings)
    engine = make_engine(settings)
    with session_factory(engine)() as s, s.begin():
        import_deck(s, "bench", [("1", "US", "US", Decimal("0.01"), Decimal("0"), 6, 6)])
        acc, _, vn = accounts.create_account(s, login_number="17009999001", password="x" * 12,
                                             realm=settings.sip_realm)
        vn.allow_us_canada_ld = True
        s.add(CreditLot(account_id=acc.id, original=Decimal("100000"), remaining=Decimal("100000"),
                        source="admin"))
    engine.dispose()
    subprocess.run([*SANDBOX, "start", "bench"], check=True, env=dict(os.environ, VOIP_PYTHON=sys.executable))
    ctl = Controller(settings)
    try:
        await ctl.start()
        await ctl.ami.wait_connected(20)
        number = "12125550100"
        for warm in (True, False):
            direct = await measure(ctl, lambda i: f"Local/direct{number}@voip-test", args.calls, args.concurrency)
            agi = await measure(ctl, lambda i: f"Local/{number}@fwd-out", args.calls, args.concurrency,
                                variables={"VOIP_FWD_VNUM": "17009999001"})
        print(f"Call setups through Asterisk 22 (Local channels -> simulated PSTN), {args.calls} calls, "
              f"{args.concurrency} in flight, {os.cpu_count()} cores:")
        print(f"  without AGI: {direct:,.1f} setups/s")
        print(f"  with our AGI decision (route outbound): {agi:,.1f} setups/s")
        print(f"  AGI cost: {(1 - agi / direct) * 100:.1f}% fewer setups/s (ratio {agi / direct:.2f})")
    finally:
        await ctl.stop()
        subprocess.run([*SANDBOX, "remove", "bench"], env=dict(os.environ, VOIP_PYTHON=sys.executable))
        migrate.drop_database(settings)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--calls", type=int, default=300)
    p.add_argument("--concurrency", type=int, default=20)
    asyncio.run(run(p.parse_args()))


if __name__ == "__main__":
    main()
