"""Call setups per second through the real Asterisk, with and without our AGI in the path.

    .venv/bin/python bench/call_setup.py [--calls 300] [--concurrency 20]

Starts its own sandbox instance (`bench`, free ports) and a scratch database, runs the
controller as production does (`python -m controller`, its own process), and from this process
originates Local channels over AMI that reach the simulated PSTN:
  direct: voip-test `direct<number>` -> Dial(Local/<number>@sim-pstn)   (no controller)
  agi:    fwd-out `<number>` -> route outbound (member lookup, LD check, credit hold) -> Dial
  null:   the same fwd-out dialplan, but AGI_URL points at a FastAGI responder that answers
          the same session (the arguments in, one MSet out) with a fixed decision at once (no database, no controller work): the
          floor of any FastAGI decision on this Asterisk (`--modes direct,null,agi` to see it)
A setup counts when Asterisk reports the originated call answered (OriginateResponse Success).
Prints setups/s for each mode and the ratios. The controller's rater runs as in production
(`VOIP_RATER=off` in the environment leaves the CDRs unrated: the call setup alone; the bench
then settles each hold 2 s after its decision, as the rater would).
Run by hand; not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def free_port(kind):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


os.environ.update(
    {
        "VOIP_DB_NAME": f"voip_bench_setup_{os.getpid()}",
        "VOIP_SIP_PORT": str(free_port(socket.SOCK_DGRAM)),
        "VOIP_AMI_PORT": str(free_port(socket.SOCK_STREAM)),
        "VOIP_ARI_PORT": str(free_port(socket.SOCK_STREAM)),
        "VOIP_AGI_PORT": str(free_port(socket.SOCK_STREAM)),
        "VOIP_HEALTH_PORT": str(free_port(socket.SOCK_STREAM)),
        "VOIP_RTP_START": "30000",
        "VOIP_RTP_END": "30999",
        "VOIP_ASTERISK_INSTANCE_DIR": "/instances/bench",
    }
)

from controller.services.ami import AMILink  # noqa: E402
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
            result = await ami.originate(
                channel_for(i),
                application="Wait",
                data="0",
                variables=variables_for(i) if variables_for else None,
                timeout_ms=10000,
                wait=30,
            )
            events = result if isinstance(result, list) else [result]
            if not any(
                e.get("Event") == "OriginateResponse" and e.get("Response") == "Success" for e in events
            ):
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


NULL_AGI = r"""
import asyncio, os, sys, uvloop
PAIRS = sys.argv[2]
async def session(reader, writer):
    try:
        head = await reader.readuntil(b"\n\n")
        vnum = head.split(b"agi_arg_1: ", 1)[1].split(b"\n", 1)[0].decode()
        writer.write(('EXEC MSet "' + PAIRS.replace("VNUM", vnum) + '"\n').encode())
        while not (await reader.readline()).startswith((b"200", b"5")):
            pass
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    writer.close()
async def main():
    server = await asyncio.start_server(session, "127.0.0.1", int(sys.argv[1]), backlog=512)
    print("ready", flush=True)
    await asyncio.get_running_loop().connect_read_pipe(asyncio.Protocol, sys.stdin)
    await asyncio.sleep(1e9)
uvloop.run(main())
"""


def null_agi_pairs(number: str) -> str:
    """What route outbound sets for an allowed US call (agi/outbound.py decide_and_apply),
    with a fixed decision; VNUM is the caller, filled in per call."""
    from controller.rules import channel_vars as cv
    from controller.settings import load as load_settings

    pairs = [
        (f"CDR({cv.CDR_VNUM})", "VNUM"),
        (f"CDR({cv.CDR_CALL_CLASS})", "D"),
        (f"CDR({cv.CDR_DIALED})", number),
        ("CALLERID(num)", "VNUM"),
        (cv.VAR_MAX_SECONDS, 7200),
        (f"CDR({cv.CDR_AUTH_ID})", 1),
        (cv.VAR_DIAL_TARGET, load_settings().pstn_dial.format(number=number)),
        (cv.VAR_DIAL_TIMEOUT, 60),
        (cv.VAR_DIAL_OPTIONS, "S(7200)"),
        (cv.VAR_DECISION, cv.DECISION_DIAL),
    ]
    return ",".join(f"{k}={v}" for k, v in pairs)


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
    try:  # the scratch database goes, whatever fails (the sandbox instance busy, say)
        await _run(args, settings)
    finally:
        migrate.drop_database(settings)


async def _run(args, settings):
    migrate.upgrade(settings)
    engine = make_engine(settings)
    with session_factory(engine)() as s, s.begin():
        import_deck(s, "bench", [("1", "US", "US", Decimal("0.01"), Decimal("0"), 6, 6)])
        members = [f"1700999{9000 + n:04d}" for n in range(args.members)]
        for number in members:  # calls of many members, as real traffic (one member's calls
            acc, _, vn = accounts.create_account(
                s, login_number=number, password="x" * 12, realm=settings.sip_realm
            )  # queue on its money)
            vn.allow_us_canada_ld = True
            s.add(
                CreditLot(
                    account_id=acc.id, original=Decimal("100000"), remaining=Decimal("100000"), source="admin"
                )
            )
    engine.dispose()
    # the `direct` baseline dials from the test suite's voip-test context
    sandbox_env = dict(os.environ, VOIP_PYTHON=sys.executable, VOIP_SANDBOX_TEST_DIALPLAN="1")
    subprocess.run([*SANDBOX, "start", "bench"], check=True, env=sandbox_env)
    controller = subprocess.Popen(
        [sys.executable, "-m", "controller"], cwd=ROOT, env=dict(os.environ, VOIP_LOG_LEVEL="WARNING")
    )
    CONTROLLER_PID[0] = controller.pid
    ami = AMILink(settings)
    try:
        await _wait_healthy(settings.health_port)
        ami.connect()
        await ami.wait_connected(20)
        number = "12125550100"
        modes = [m.strip() for m in args.modes.split(",")]
        agi_url = f"agi://127.0.0.1:{settings.agi_port}"
        null_port = free_port(socket.SOCK_STREAM)
        if "null" in modes:
            null_server = subprocess.Popen(
                [sys.executable, "-c", NULL_AGI, str(null_port), null_agi_pairs(number)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
            )
            null_server.stdout.readline()
        ending = None
        if os.environ.get("VOIP_RATER", "on").lower() in ("off", "no", "0", "false"):
            # no rater to settle the holds of answered calls: settle them as it would, or each
            # decision's money state sums every hold of the run (bench/agi_decisions.py)
            from agi_decisions import calls_end

            ending = asyncio.create_task(calls_end(settings, 2.0))
        if "null" in modes and ending is None:
            print(
                "  (null mode with the rater on: the rater works on the null decision's made-up "
                "holds; run it with VOIP_RATER=off)"
            )
        results: dict[str, tuple[float, dict]] = {}
        for _warm_run in (True, False):  # the first round warms the caches
            for mode in modes:
                if mode == "direct":
                    rate = await measure(
                        ami, lambda i: f"Local/direct{number}@voip-test", args.calls, args.concurrency
                    )
                else:
                    url = f"agi://127.0.0.1:{null_port}" if mode == "null" else agi_url
                    await ami.action({"Action": "Setvar", "Variable": "AGI_URL", "Value": url})
                    rate = await measure(
                        ami,
                        lambda i: f"Local/{number}@fwd-out",
                        args.calls,
                        args.concurrency,
                        variables_for=lambda i: {"VOIP_FWD_VNUM": members[i % len(members)]},
                    )
                results[mode] = (rate, dict(LAST_CPU))
        await ami.action({"Action": "Setvar", "Variable": "AGI_URL", "Value": agi_url})
        if ending is not None:
            ending.cancel()
        print(
            f"Call setups through Asterisk 22 (Local channels -> simulated PSTN), {args.calls} calls, "
            f"{args.concurrency} in flight, {args.members} members, rater "
            f"{os.environ.get('VOIP_RATER', 'on')}, {os.cpu_count()} cores, "
            f"load average {os.getloadavg()[0]:.1f}:"
        )
        cpu = lambda c: ", ".join(f"{k} {v:.2f}" for k, v in c.items())  # noqa: E731
        label = {
            "direct": "without AGI",
            "null": "with a null FastAGI (fixed answer, same protocol)",
            "agi": "with our AGI decision (route outbound)",
        }
        for mode, (rate, used) in results.items():
            print(f"  {label[mode]}: {rate:,.1f} setups/s (ms CPU per call: {cpu(used)})")
        if "direct" in results:
            for mode in ("null", "agi"):
                if mode in results:
                    ratio = results[mode][0] / results["direct"][0]
                    print(
                        f"  {label[mode]}: {(1 - ratio) * 100:.1f}% fewer setups/s than without AGI "
                        f"(ratio {ratio:.2f})"
                    )
    finally:
        if "null" in args.modes:
            null_server.kill()
        ami.close()
        controller.terminate()
        controller.wait(15)
        subprocess.run([*SANDBOX, "remove", "bench"], env=dict(os.environ, VOIP_PYTHON=sys.executable))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--calls", type=int, default=300)
    p.add_argument("--concurrency", type=int, default=20)
    p.add_argument("--members", type=int, default=50)
    p.add_argument("--modes", default="direct,agi", help="any of direct,null,agi, measured in this order")
    asyncio.run(run(p.parse_args()))


if __name__ == "__main__":
    main()
