"""Call setups per second through the real Asterisk, with and without our AGI in the path.

    .venv/bin/python bench/call_setup.py [--calls 300] [--concurrency 20]

Starts its own sandbox instance (`bench`, free ports) and a scratch database, runs the
controller as production does (`python -m controller`, its own process), and from this process
originates Local channels over AMI that reach the simulated PSTN:
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

from controller.ami import AMILink  # noqa: E402
from controller.settings import load  # noqa: E402
from db import accounts, migrate  # noqa: E402
from db.models import CreditLot  # noqa: E402
from db.rates import import_deck  # noqa: E402
from db.session import make_engine, session_factory  # noqa: E402

SANDBOX = [str(ROOT / "scripts" / "asterisk-sandbox")]


async def measure(ami: AMILink, channel_for, calls: int, concurrency: int, variables_for=None) -> float:
    sem = asyncio.Semaphore(concurrency)
    failures = 0

    async def one(i: int):
        nonlocal failures
        async with sem:
            result = await ami.originate(channel_for(i), application="Wait", data="0",
                                             variables=variables_for(i) if variables_for else None,
                                             timeout_ms=10000, wait=30)
            events = result if isinstance(result, list) else [result]
            if not any(e.get("Event") == "OriginateResponse" and e.get("Response") == "Success"
                       for e in events):
                failures += 1

    cpu0 = _cpu_seconds()
    t0 = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(calls)))
    elapsed = time.perf_counter() - t0
    cpu1 = _cpu_seconds()
    if failures:
        print(f"  ({failures} setups failed)")
    LAST_CPU.clear()
    LAST_CPU.update({k: (cpu1[k] - cpu0[k]) / calls * 1000 for k in cpu0})
    return calls / elapsed


LAST_CPU: dict[str, float] = {}


def _cpu_seconds() -> dict[str, float]:
    """CPU seconds so far of Asterisk, the controller and PostgreSQL (the backends serving the
    bench's database: other work on the machine is left out)."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {"asterisk": 0.0, "controller": 0.0, "postgres": 0.0}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        cpu = (int(fields[11]) + int(fields[12])) / tick
        if cmd.startswith("postgres") and f" {os.environ['VOIP_DB_NAME']} " in cmd:
            out["postgres"] += cpu
        elif "asterisk" in cmd.split(" ")[0] and "/instances/bench" in cmd:
            out["asterisk"] += cpu
        elif " -m controller" in cmd and int(pid) == CONTROLLER_PID[0]:
            out["controller"] += cpu
    return out


CONTROLLER_PID = [0]


async def _wait_healthy(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /healthz HTTP/1.0\r\n\r\n")
            await writer.drain()
            body = await reader.read()
            writer.close()
            if b" 200 " in body.split(b"\r\n", 1)[0] + b" ":
                return
        except OSError:
            pass
        await asyncio.sleep(0.3)
    raise RuntimeError("the controller did not become healthy")


async def run(args):
    settings = load()
    migrate.create_database(settings, drop_first=True)
    migrate.upgrade(settings)
    engine = make_engine(settings)
    with session_factory(engine)() as s, s.begin():
        import_deck(s, "bench", [("1", "US", "US", Decimal("0.01"), Decimal("0"), 6, 6)])
        members = [f"1700999{9000 + n:04d}" for n in range(args.members)]
        for number in members:   # calls of many members, as real traffic (one member's calls
            acc, _, vn = accounts.create_account(s, login_number=number, password="x" * 12,
                                                 realm=settings.sip_realm)   # queue on its money)
            vn.allow_us_canada_ld = True
            s.add(CreditLot(account_id=acc.id, original=Decimal("100000"), remaining=Decimal("100000"),
                            source="admin"))
    engine.dispose()
    subprocess.run([*SANDBOX, "start", "bench"], check=True, env=dict(os.environ, VOIP_PYTHON=sys.executable))
    controller = subprocess.Popen([sys.executable, "-m", "controller"], cwd=ROOT,
                                  env=dict(os.environ, VOIP_LOG_LEVEL="WARNING"))
    CONTROLLER_PID[0] = controller.pid
    ami = AMILink(settings)
    try:
        await _wait_healthy(settings.health_port)
        ami.connect()
        await ami.wait_connected(20)
        number = "12125550100"
        for warm in (True, False):
            direct = await measure(ami, lambda i: f"Local/direct{number}@voip-test", args.calls, args.concurrency)
            direct_cpu = dict(LAST_CPU)
            agi = await measure(ami, lambda i: f"Local/{number}@fwd-out", args.calls, args.concurrency,
                                variables_for=lambda i: {"VOIP_FWD_VNUM": members[i % len(members)]})
        print(f"Call setups through Asterisk 22 (Local channels -> simulated PSTN), {args.calls} calls, "
              f"{args.concurrency} in flight, {args.members} members, {os.cpu_count()} cores, "
              f"load average {os.getloadavg()[0]:.1f}:")
        cpu = lambda c: ", ".join(f"{k} {v:.2f}" for k, v in c.items())  # noqa: E731
        print(f"  without AGI: {direct:,.1f} setups/s (ms CPU per call: {cpu(direct_cpu)})")
        print(f"  with our AGI decision (route outbound): {agi:,.1f} setups/s "
              f"(ms CPU per call: {cpu(LAST_CPU)})")
        print(f"  AGI cost: {(1 - agi / direct) * 100:.1f}% fewer setups/s (ratio {agi / direct:.2f})")
    finally:
        ami.close()
        controller.terminate()
        controller.wait(15)
        subprocess.run([*SANDBOX, "remove", "bench"], env=dict(os.environ, VOIP_PYTHON=sys.executable))
        migrate.drop_database(settings)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--calls", type=int, default=300)
    p.add_argument("--concurrency", type=int, default=20)
    p.add_argument("--members", type=int, default=50)
    asyncio.run(run(p.parse_args()))


if __name__ == "__main__":
    main()
