"""Call setups per second through the multi-node stack's SIP edge, in four shapes (issue 17).

    .venv/bin/python bench/multinode_calls.py [--rates 10] [--seconds 20] [--shapes all]

Needs the stack of docker/multinode.yaml running (`scripts/docker-images multinode up`, project
voipmn) and SIPp on this host, which is 172.30.58.1 on the stack's network. Each call is a
member's phone (SIPp, as Alice, digest auth) calling a PSTN number through Kamailio
(172.30.58.5); Kamailio's dispatcher hashes it to an Asterisk node, the node asks a controller
over FastAGI (hagi:// SRV: each node prefers its own controller) and dials the carrier, a SIPp
UAS on this host (tests/sipp/carrier_answer.xml) that answers at once; the phone hangs up 3 s
after the answer (tests/sipp/uac_call_bye.xml; --talk-ms shortens it: each call holds 300 s of
Alice's plan seconds or credit while it lasts, and with too many at once her calls are refused,
which Asterisk answers to say so: the CDRs column counts those refused apart).

The shapes, {1, 2} Asterisk nodes x {1, 2} controllers, in this order (the fewest restarts):
  2n2c  everything up
  2n1c  `docker stop voipmn_ctl-b_1`: node B's AGI falls back to ctl-a (its SRV's second target)
  1n1c  and `docker stop voipmn_ast-b_1`: the dispatcher stops sending to it (2 s probe)
  1n2c  `docker start voipmn_ctl-b_1` (node A still prefers ctl-a: ctl-b is its fallback)
At the end, even on error or Ctrl-C, both are started again and the bench waits until both
controllers' /healthz answer 200 and the dispatcher has both nodes active.

For each shape and each rate of --rates, one SIPp UAC places calls at that rate (-r) for
--seconds. Reported: calls attempted, answered (SIPp's successful calls: answered and hung up
cleanly), failed; the setup rate achieved (the answered calls' CDRs over the span from the
first call's start to the last one's answer, as the nodes saw them) and the setup time (CDR start
to answer, INVITE at the node to 200 OK); which controller handled the AGI (/healthz agi.handled);
each container's CPU per answered call (its cgroup's CPU time over the shape, less what it used
idle in the 5 s before); and the billing check: the run's CDRs and their charges (the rater's
cdr_charges rows), one each per answered call.

The bench carrier (`bench-mn`, this host, prefix 1 at a buy rate below every other carrier's)
is added when missing and enabled for the run; the demo carriers (127.0.0.x, unreachable from
the containers) are disabled. The bench carrier is disabled again at the end (a carrier no SIPp
answers would fail other people's calls). Run by hand; not a test.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

HOST_IP = "172.30.58.1"  # this host on the stack's network (SIPp binds it)
EDGE = "172.30.58.5:5060"
NODES = {"ast-a": "172.30.58.21", "ast-b": "172.30.58.22"}
CONTROLLERS = {"ctl-a": "172.30.58.31", "ctl-b": "172.30.58.32"}
PG_PRIMARY = "172.30.58.10"
CONTAINERS = ("kamailio", "ast-a", "ast-b", "ctl-a", "ctl-b", "pg-primary")
PROJECT = "voipmn"
KAMCMD = ["kamcmd", "-s", "unix:/run/kamailio/kamailio_ctl", "dispatcher.list"]
CALLER = ("17005550101", "AliceSip2026x")  # the demo's Alice (controller/demo.py)
BENCH_CARRIER = "bench-mn"
BENCH_CARRIER_PORT = 5098
BENCH_BUY_RATE = Decimal("0.0010")  # below the demo carriers' and tests' rates: routing picks it
IDLE_SECONDS = 5.0
CHECK_SECONDS = 10.0  # agi.routing_table.CHECK_SECONDS
# shape -> (containers stopped during it); the order is the one they are measured in
SHAPES = {
    "2n2c": (),
    "2n1c": ("ctl-b",),
    "1n1c": ("ctl-b", "ast-b"),
    "1n2c": ("ast-b",),
}
SHAPE_LABEL = {
    "2n2c": "2 nodes, 2 controllers",
    "2n1c": "2 nodes, 1 controller",
    "1n1c": "1 node, 1 controller",
    "1n2c": "1 node, 2 controllers",
}


def container(service: str) -> str:
    return f"{PROJECT}_{service}_1"


# --- the stack's settings and database ---------------------------------------------------------


def stack_env() -> dict[str, str]:
    """docker/.env's VOIP_* settings, with the addresses as the host reaches them."""
    env: dict[str, str] = {}
    for line in (ROOT / "docker" / ".env").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            if key.startswith("VOIP_"):
                env[key] = value.strip().strip("'\"")
    env.update(
        {
            "VOIP_DB_HOST": PG_PRIMARY,
            "VOIP_DB_PORT": "5432",
            "VOIP_DB_NAME": env.get("VOIP_DB_NAME", "voip"),
            "VOIP_DB_USER": env.get("VOIP_DB_USER", "voip"),
            "VOIP_ASTERISK_HOST": NODES["ast-a"],
            "VOIP_ASTERISK_NODES": "",  # each node is told below, one at a time
            "VOIP_AMI_PORT": "5038",
            "VOIP_AMI_USER": env.get("VOIP_AMI_USER", "controller"),
        }
    )
    return env


def psql(sql: str) -> list[list[str]]:
    """Rows of one query on the primary (psql in its container, unaligned, tab-separated)."""
    # fmt: off
    command = [
        "docker", "exec", container("pg-primary"), "psql", "-U", "voip", "-d", "voip", "-AtF", "\t", "-c", sql,
    ]
    # fmt: on
    out = subprocess.run(
        command,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [line.split("\t") for line in out.splitlines() if line]


class Stack:
    """The carrier rows, through the stack's primary (the ORM, so the right defaults)."""

    def __init__(self) -> None:
        os.environ.update(stack_env())
        from controller.settings import load
        from db.session import make_engine, session_factory

        self.settings = load()
        self.engine = make_engine(self.settings)
        self.factory = session_factory(self.engine)

    def tell_nodes(self, names: list[str]) -> None:
        """Expire the carriers' cached objects on every running node (a host or port change,
        or an enabled carrier, is live on its next call)."""
        from controller.services import realtime_cache

        for service, ip in NODES.items():
            if running(service):
                node = dataclasses.replace(self.settings, asterisk_host=ip)
                realtime_cache.refresh_carriers(node, names, registrations=False)

    def prepare_carriers(self, port: int) -> int:
        """The bench carrier (added once, then updated to this run's port and enabled), the
        demo carriers disabled. Its id."""
        from sqlalchemy import select

        from db.models import Carrier, CarrierRate
        from db.session import transaction
        from tests.support.carriers import add_carrier, disable_demo_carriers

        disable_demo_carriers(self.factory)
        with transaction(self.factory) as s:
            carrier = s.scalars(select(Carrier).where(Carrier.name == BENCH_CARRIER)).one_or_none()
            carrier_id = carrier.id if carrier is not None else None
            if carrier is not None:
                carrier.host, carrier.port, carrier.enabled, carrier.qualify_seconds = HOST_IP, port, True, 0
                rate = s.scalars(select(CarrierRate).where(CarrierRate.carrier_id == carrier.id)).first()
                if rate is not None:
                    rate.prefix, rate.rate_per_minute = "1", BENCH_BUY_RATE
        if carrier_id is None:
            carrier_id = add_carrier(
                self.factory,
                BENCH_CARRIER,
                (HOST_IP, port),
                str(BENCH_BUY_RATE),
                prefix="1",
                description="bench/multinode_calls.py (SIPp on the host)",
                qualify_seconds=0,
            )
        self.tell_nodes([BENCH_CARRIER])
        return carrier_id

    def retire_carrier(self) -> None:
        from sqlalchemy import update

        from db.models import Carrier
        from db.session import transaction

        with transaction(self.factory) as s:
            s.execute(update(Carrier).where(Carrier.name == BENCH_CARRIER).values(enabled=False))
        self.tell_nodes([BENCH_CARRIER])

    def close(self) -> None:
        self.engine.dispose()


# --- containers: state, CPU, controllers, dispatcher ---------------------------------------------


def running(service: str) -> bool:
    out = subprocess.run(
        ["docker", "inspect", "-f", "{{.State.Running}}", container(service)], capture_output=True, text=True
    )
    return out.stdout.strip() == "true"


def container_id(service: str) -> str:
    return subprocess.run(
        ["docker", "inspect", "-f", "{{.Id}}", container(service)], check=True, capture_output=True, text=True
    ).stdout.strip()


def cpu_seconds(full_id: str) -> float:
    """CPU seconds the container has used (its cgroup; 0 when it is not running)."""
    for path in (
        f"/sys/fs/cgroup/system.slice/docker-{full_id}.scope/cpu.stat",  # cgroup v2, systemd driver
        f"/sys/fs/cgroup/docker/{full_id}/cpu.stat",  # cgroup v2, cgroupfs driver
        f"/sys/fs/cgroup/unified/docker/{full_id}/cpu.stat",  # hybrid hierarchy
    ):
        with contextlib.suppress(OSError):
            for line in Path(path).read_text().splitlines():
                if line.startswith("usage_usec "):
                    return int(line.split()[1]) / 1e6
    for path in (f"/sys/fs/cgroup/cpuacct/docker/{full_id}/cpuacct.usage",):  # cgroup v1
        with contextlib.suppress(OSError):
            return int(Path(path).read_text()) / 1e9
    return 0.0


def cpu_all(ids: dict[str, str]) -> dict[str, float]:
    return {service: cpu_seconds(full_id) for service, full_id in ids.items()}


def proc_cpu(pid: int) -> float:
    """CPU seconds of one host process (SIPp)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def health(service: str) -> tuple[int, dict]:
    """A controller's /healthz: (HTTP status, body); (0, {}) when it does not answer."""
    try:
        with urllib.request.urlopen(f"http://{CONTROLLERS[service]}:8090/healthz", timeout=3) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        with contextlib.suppress(ValueError):
            return exc.code, json.loads(exc.read())
        return exc.code, {}
    except (OSError, ValueError):
        return 0, {}


def agi_handled() -> dict[str, int | None]:
    out: dict[str, int | None] = {}
    for service in CONTROLLERS:
        _, body = health(service)
        out[service] = body.get("agi", {}).get("handled") if body else None
    return out


def dispatcher_set1() -> dict[str, str]:
    """Node address -> dispatcher flags in set 1 ("AP" active and probed, "IP" inactive)."""
    out = subprocess.run(["docker", "exec", container("kamailio"), *KAMCMD], capture_output=True, text=True)
    flags: dict[str, str] = {}
    for block in re.split(r"\bSET:\s*\{", out.stdout)[1:]:
        m = re.search(r"ID:\s*(\d+)", block)
        if not m or m[1] != "1":
            continue
        for uri, flag in re.findall(r"URI:\s*sip:([\d.]+):\d+\s+FLAGS:\s*(\S+)", block):
            flags[uri] = flag
    return flags


def wait_for(what: str, check, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")


def node_active(service: str) -> bool:
    return dispatcher_set1().get(NODES[service], "").startswith("A")


def agi_listening(service: str) -> bool:
    import socket

    with contextlib.suppress(OSError), socket.create_connection((CONTROLLERS[service], 4573), timeout=1):
        return True
    return False


def apply_shape(stopped: tuple[str, ...]) -> None:
    """Stop what the shape has down and start what it has up; wait until the edge and the
    controllers agree."""
    for service in ("ctl-b", "ast-b"):
        if service in stopped and running(service):
            print(f"  docker stop {container(service)}", flush=True)
            subprocess.run(["docker", "stop", container(service)], check=True, capture_output=True)
    for service in ("ast-b", "ctl-b"):
        if service not in stopped and not running(service):
            print(f"  docker start {container(service)}", flush=True)
            subprocess.run(["docker", "start", container(service)], check=True, capture_output=True)
    if "ast-b" in stopped:
        wait_for("the dispatcher to mark ast-b inactive", lambda: not node_active("ast-b"), 30)
    else:
        wait_for("the dispatcher to show ast-b active", lambda: node_active("ast-b"), 180)
    wait_for("ast-a active at the edge", lambda: node_active("ast-a"), 60)
    wait_for("ctl-a healthy", lambda: health("ctl-a")[0] == 200, 120)
    if "ctl-b" not in stopped:
        if "ast-b" in stopped:  # its node is down: its /healthz says 503 (no AMI), its AGI serves
            wait_for("ctl-b's FastAGI port", lambda: agi_listening("ctl-b") and health("ctl-b")[0], 120)
        else:
            wait_for("ctl-b healthy", lambda: health("ctl-b")[0] == 200, 180)
    time.sleep(2)  # a moment for the SRV answers (dnsmasq TTL 5 s) and the probes to settle


def restore() -> None:
    """Both nodes and both controllers running, healthy, and active at the edge."""
    for service in ("ast-b", "ctl-b"):
        if not running(service):
            print(f"  restore: docker start {container(service)}", flush=True)
            subprocess.run(["docker", "start", container(service)], capture_output=True)
    wait_for("both controllers' /healthz 200", lambda: all(health(c)[0] == 200 for c in CONTROLLERS), 240)
    wait_for("both nodes active at the edge", lambda: all(node_active(n) for n in NODES), 120)
    print("  restored: both nodes active at the edge, both controllers healthy", flush=True)


# --- one measurement ---------------------------------------------------------------------------


@dataclasses.dataclass
class Row:
    shape: str
    rate: int
    attempted: int
    answered: int
    failed: int
    setups_per_s: float
    setup_p50_ms: float
    setup_p95_ms: float
    agi: dict[str, int | None]
    cpu_ms: dict[str, float]  # per answered call, net of idle
    idle_pct: dict[str, float]  # CPU % used idle, in the 5 s before
    sipp_ms: float  # both SIPp processes on the host, per answered call
    cdrs: int
    cdrs_answered: int
    refused: int  # answered by Asterisk to say why the call was refused (dcontext refused)
    charges: int
    charged: str


def sipp_stats(stat_file: Path) -> dict[str, str]:
    """The last row of SIPp's statistics file (-trace_stat), by column."""
    lines = [line for line in stat_file.read_text(errors="replace").splitlines() if line.strip()]
    header = lines[0].rstrip(";").split(";")
    last = lines[-1].rstrip(";").split(";")
    return dict(zip(header, last, strict=False))


def timed_scenario(work: Path, talk_ms: int = 3000) -> Path:
    """tests/sipp/uac_call_bye.xml with a response-time measure (SIPp's rtd) from the first
    INVITE (before the digest challenge) to the 200 OK: each call's setup as the phone sees it;
    the phone hangs up `talk_ms` after the answer (the scenario's own 3 s by default)."""
    from tests.support.sipp import SCENARIOS

    path = work / f"uac_call_bye_timed_{talk_ms}.xml"
    if not path.exists():
        text = (SCENARIOS / "uac_call_bye.xml").read_text(encoding="iso-8859-1")
        first_invite = '<send retrans="500">'
        answer = '<recv response="200" rrs="true" timeout="30000">'
        talk = '<recv request="INVITE" timeout="3000" ontimeout="bye"/>'
        assert all(t in text for t in (first_invite, answer, talk)), (
            "uac_call_bye.xml changed: update the bench"
        )
        text = text.replace(first_invite, '<send retrans="500" start_rtd="1">', 1)
        text = text.replace(answer, '<recv response="200" rrs="true" timeout="30000" rtd="1">', 1)
        text = text.replace(talk, f'<recv request="INVITE" timeout="{talk_ms}" ontimeout="bye"/>', 1)
        path.write_text(text, encoding="iso-8859-1")
    return path


def warm_up(work: Path, number: str) -> None:
    """A few calls, not measured: each controller's routing table checks for a change when a
    call comes after CHECK_SECONDS, and that call is still routed on the table it had."""
    from tests.support.sipp import free_udp_port

    run = work / "warm-up"
    run.mkdir(parents=True, exist_ok=True)
    (run / "caller.csv").write_text(f"SEQUENTIAL\n{CALLER[0]};\n")
    # fmt: off
    subprocess.run([
        shutil.which("sipp") or "sipp", EDGE, "-sf", str(timed_scenario(work, 500)),
        "-i", HOST_IP, "-p", str(free_udp_port(HOST_IP)), "-mp", str(free_udp_port(HOST_IP)),
        "-s", number, "-au", CALLER[0], "-ap", CALLER[1], "-inf", str(run / "caller.csv"),
        "-r", "4", "-m", "8", "-timeout", "20s", "-nostdin",
    ], cwd=run, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # fmt: on
    time.sleep(3)


def setups(run: Path) -> list[tuple[float, float]]:
    """Each answered call's (answer time, setup seconds), from SIPp's rtt file (-trace_rtt)."""
    out = []
    for rtt in run.glob("*_rtt.csv"):
        for line in rtt.read_text(errors="replace").splitlines()[1:]:
            fields = line.strip().rstrip(";").split(";")
            with contextlib.suppress(ValueError, IndexError):
                out.append((float(fields[0]) / 1000, float(fields[1]) / 1000))
    return sorted(out)


def measure(
    shape: str, rate: int, seconds: int, number: str, carrier_id: int, work: Path, talk_ms: int
) -> Row:
    ids = {service: container_id(service) for service in CONTAINERS}
    first_cdr = int(psql("SELECT coalesce(max(id), 0) FROM cdr")[0][0])
    agi0 = agi_handled()
    idle0, t_idle0 = cpu_all(ids), time.monotonic()
    time.sleep(IDLE_SECONDS)
    idle1, t_idle1 = cpu_all(ids), time.monotonic()
    idle_rate = {k: (idle1[k] - idle0[k]) / (t_idle1 - t_idle0) for k in ids}

    run = work / f"{shape}-r{rate}"
    run.mkdir(parents=True)
    (run / "caller.csv").write_text(f"SEQUENTIAL\n{CALLER[0]};\n")
    from tests.support.sipp import free_udp_port

    calls = rate * seconds
    # fmt: off
    command = [
        shutil.which("sipp") or "sipp", EDGE, "-sf", str(timed_scenario(work, talk_ms)),
        "-i", HOST_IP, "-p", str(free_udp_port(HOST_IP)), "-mp", str(free_udp_port(HOST_IP)),
        "-s", number, "-au", CALLER[0], "-ap", CALLER[1], "-inf", str(run / "caller.csv"),
        "-r", str(rate), "-rp", "1000", "-m", str(calls), "-l", "2000",
        "-timeout", f"{seconds + 90}s", "-nostdin",
        "-trace_stat", "-stf", str(run / "stat.csv"), "-fd", "1",
        "-trace_err", "-error_file", str(run / "errors.log"),
        "-trace_rtt", "-rtt_freq", "1",
    ]
    # fmt: on
    cpu0, t0 = cpu_all(ids), time.monotonic()
    uac = subprocess.Popen(command, cwd=run, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    uac_cpu = 0.0
    while uac.poll() is None:
        uac_cpu = max(uac_cpu, proc_cpu(uac.pid))
        time.sleep(0.2)
    if uac.returncode not in (0, 1):  # 1: some calls failed, which the table says
        err = uac.stderr.read() if uac.stderr else ""
        raise RuntimeError(f"SIPp UAC exited {uac.returncode}: {err[-1500:]}")
    stats = sipp_stats(run / "stat.csv")
    attempted = int(stats.get("TotalCallCreated", 0))
    answered = int(stats.get("SuccessfulCall(C)", 0))
    failed = int(stats.get("FailedCall(C)", 0))

    # the run's CDRs (Alice to the bench number), and the rater's charges for them
    billing_sql = (
        "SELECT count(*), count(*) FILTER (WHERE c.disposition = 'ANSWERED'),"
        " count(h.id) FILTER (WHERE c.disposition = 'ANSWERED'),"
        " count(DISTINCT h.cdr_id) FILTER (WHERE c.disposition = 'ANSWERED'),"
        " count(h.id), coalesce(sum(h.cost), 0), coalesce(sum(h.plan_seconds), 0),"
        f" coalesce(sum(h.buy_cost), 0), count(h.id) FILTER (WHERE h.carrier_id = {carrier_id}),"
        # refused by the decision (no credit, say): Asterisk answers to play why, no carrier
        " count(*) FILTER (WHERE c.disposition = 'ANSWERED' AND c.dcontext = 'refused')"
        " FROM cdr c LEFT JOIN cdr_charges h ON h.cdr_id = c.id"
        f" WHERE c.id > {first_cdr} AND c.vnum = '{CALLER[0]}' AND c.dialed = '{number}'"
    )
    deadline = time.monotonic() + 60
    while True:
        billed = psql(billing_sql)[0]
        cdrs, cdrs_answered, charges, charged_cdrs = (int(v) for v in billed[:4])
        refused = int(billed[9])
        if (
            charged_cdrs >= cdrs_answered - refused and cdrs_answered >= answered
        ) or time.monotonic() > deadline:
            break
        time.sleep(1)
    cpu1, t1 = cpu_all(ids), time.monotonic()
    agi1 = agi_handled()

    window = t1 - t0
    per_call = max(answered, 1)
    cpu_ms = {
        k: max(0.0, (cpu1[k] - cpu0[k]) - idle_rate[k] * window) / per_call * 1000
        for k in ids
        if cpu1[k] or cpu0[k]
    }
    timed = setups(run)
    if timed:
        first = min(at - took for at, took in timed)
        last = max(at for at, _ in timed)
        setups_per_s = len(timed) / (last - first) if last > first else 0.0
        took = sorted(t for _, t in timed)
        p50, p95 = took[len(took) // 2], took[min(len(took) - 1, int(len(took) * 0.95))]
    else:
        setups_per_s = p50 = p95 = 0.0
    agi: dict[str, int | None] = {}
    for c in CONTROLLERS:
        before, after = agi0[c], agi1[c]
        agi[c] = after - before if after is not None and before is not None else None
    return Row(
        shape=shape,
        rate=rate,
        attempted=attempted,
        answered=answered,
        failed=failed,
        setups_per_s=setups_per_s,
        setup_p50_ms=p50 * 1000,
        setup_p95_ms=p95 * 1000,
        agi=agi,
        cpu_ms=cpu_ms,
        idle_pct={k: v * 100 for k, v in idle_rate.items()},
        sipp_ms=(uac_cpu + CARRIER_CPU()) / per_call * 1000,
        cdrs=cdrs,
        cdrs_answered=cdrs_answered,
        refused=refused,
        charges=charges,
        charged=(
            f"{billed[4]} charges in all, {Decimal(billed[5]):.4f} sold + {billed[6]} plan seconds, "
            f"{Decimal(billed[7]):.4f} bought, {billed[8]} via {BENCH_CARRIER}"
        ),
    )


CARRIER_PID = [0]
CARRIER_BASE = [0.0]


def CARRIER_CPU() -> float:  # noqa: N802
    """The carrier SIPp's CPU since the last call (so per shape)."""
    now = proc_cpu(CARRIER_PID[0])
    used, CARRIER_BASE[0] = now - CARRIER_BASE[0], now
    return used


# --- the table -----------------------------------------------------------------------------------


def print_table(
    rows: list[Row], seconds: int, load_at_start: tuple[float, float, float], talk_ms: int = 3000
) -> None:
    print()
    print(
        f"Call setups through the edge (Kamailio) of the multi-node stack: {seconds} s per shape, "
        f"{os.cpu_count()} cores, load average at start "
        f"{load_at_start[0]:.2f} {load_at_start[1]:.2f} {load_at_start[2]:.2f}; the phone hangs up "
        f"{talk_ms} ms after the answer (uac_call_bye.xml), carrier answering at once (carrier_answer.xml)"
    )
    head = (
        "| shape | offered/s | attempted | answered | failed | setups/s | setup p50 / p95 | AGI ctl-a / ctl-b |"
        " kamailio | ast-a | ast-b | ctl-a | ctl-b | pg-primary | SIPp (host) | CDRs (answered, refused) | charges of answered |"
    )
    print(head)
    print("|" + " --- |" * (head.count("|") - 1))
    for r in rows:
        cpu = [f"{r.cpu_ms[c]:.1f}" if c in r.cpu_ms else "stopped" for c in CONTAINERS]
        agi = " / ".join("-" if r.agi[c] is None else str(r.agi[c]) for c in CONTROLLERS)
        print(
            f"| {SHAPE_LABEL[r.shape]} | {r.rate} | {r.attempted} | {r.answered} | {r.failed} | "
            f"{r.setups_per_s:.1f} | {r.setup_p50_ms:.0f} / {r.setup_p95_ms:.0f} ms | {agi} | "
            + " | ".join(cpu)
            + f" | {r.sipp_ms:.1f} | {r.cdrs} ({r.cdrs_answered}, {r.refused}) | {r.charges} |"
        )
    print("(CPU columns: ms of CPU per answered call, net of the container's idle use in the 5 s before)")
    for r in rows:
        idle = ", ".join(f"{k} {v:.1f}" for k, v in r.idle_pct.items())
        print(f"  {r.shape} r{r.rate}: billing: {r.charged}; idle CPU %: {idle}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--rates", default="10", help="calls per second offered, comma separated (each a run)")
    p.add_argument("--seconds", type=int, default=20, help="seconds of calls per shape and rate")
    p.add_argument("--shapes", default="all", help="any of 2n2c,2n1c,1n1c,1n2c (all: the four)")
    p.add_argument("--number", default="12125550147", help="the PSTN number called")
    p.add_argument("--talk-ms", type=int, default=3000, help="the phone hangs up this long after the answer")
    p.add_argument("--keep", action="store_true", help="keep SIPp's logs (printed directory)")
    args = p.parse_args()
    rates = [int(r) for r in args.rates.split(",")]
    shapes = list(SHAPES) if args.shapes == "all" else [s.strip() for s in args.shapes.split(",")]
    unknown = [s for s in shapes if s not in SHAPES]
    if unknown:
        p.error(f"unknown shapes {unknown}")
    shapes = [s for s in SHAPES if s in shapes]
    if shutil.which("sipp") is None:
        sys.exit("sipp is not installed (Debian package sip-tester)")
    down = [s for s in CONTAINERS if not running(s)]
    if down:
        sys.exit(f"not running: {down} (scripts/docker-images multinode up)")

    load_at_start = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="bench-multinode-"))
    stack = Stack()
    from tests.support.carriers import SimCarrier

    carrier = SimCarrier("answer", HOST_IP, BENCH_CARRIER_PORT, work / "carrier")
    rows: list[Row] = []
    destructive = any(SHAPES[s] for s in shapes)
    try:
        carrier.start()
        assert carrier.proc is not None
        CARRIER_PID[0] = carrier.proc.pid
        carrier_id = stack.prepare_carriers(BENCH_CARRIER_PORT)
        # each controller reloads its routing table when the table's version changed, checked
        # every agi.routing_table.CHECK_SECONDS: before that its calls may leave by another carrier
        time.sleep(CHECK_SECONDS + 3)
        # and the check is started by a call: a few calls first, so the measured ones find it done
        warm_up(work, args.number)
        for shape in shapes:
            print(f"{SHAPE_LABEL[shape]}:", flush=True)
            apply_shape(SHAPES[shape])
            others = psql(
                f"SELECT string_agg(name, ', ') FROM carriers WHERE enabled AND name <> '{BENCH_CARRIER}'"
            )
            if others and others[0][0]:
                print(
                    f"  warning: other carriers enabled ({others[0][0]}): someone else is testing", flush=True
                )
            if psql(f"SELECT enabled FROM carriers WHERE name = '{BENCH_CARRIER}'") != [["t"]]:
                print(f"  {BENCH_CARRIER} was disabled meanwhile: enabled again", flush=True)
                stack.prepare_carriers(BENCH_CARRIER_PORT)
                time.sleep(CHECK_SECONDS + 3)
            for rate in rates:
                CARRIER_CPU()
                row = measure(shape, rate, args.seconds, args.number, carrier_id, work, args.talk_ms)
                rows.append(row)
                print(
                    f"  {rate}/s offered: {row.attempted} attempted, {row.answered} answered, "
                    f"{row.failed} failed, {row.setups_per_s:.1f} setups/s, "
                    f"p50 {row.setup_p50_ms:.0f} ms, CDRs {row.cdrs} ({row.cdrs_answered} answered), "
                    f"charges {row.charges}",
                    flush=True,
                )
    except BaseException:
        if rows:  # what was measured before the failure
            print_table(rows, args.seconds, load_at_start, args.talk_ms)
        raise
    finally:
        carrier.stop()
        try:
            stack.retire_carrier()
        finally:
            stack.close()
            if destructive:
                restore()
        if args.keep:
            print(f"SIPp logs: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print_table(rows, args.seconds, load_at_start, args.talk_ms)
    answered = sum(r.answered for r in rows)
    cdrs = sum(r.cdrs_answered for r in rows)
    charges = sum(r.charges for r in rows)
    cdrs -= sum(r.refused for r in rows)
    print(
        f"Billing: {answered} calls answered by SIPp's count, {cdrs} answered CDRs (not refused), {charges} charges of "
        f"them ({'each answered CDR charged once' if cdrs == charges else 'MISMATCH'}; a call SIPp failed "
        "after its answer, a lost BYE say, still has its answered CDR)"
    )


if __name__ == "__main__":
    main()
