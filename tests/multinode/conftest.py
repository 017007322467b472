"""The multi-node stack (docker/multinode.yaml) as the tests drive it: containers on their own
addresses, SIPp phones and a SIPp carrier on the host (the network's gateway, 172.30.58.1).

The stack is brought up once per run from scratch (`scripts/docker-images multinode down -v`, then
`up`: images cached by what they are built from), unless VOIP_MN_REUSE=1 says to use the running
one (a developer's loop). Tests that stop a container start it again before they end.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from controller.services import realtime_cache
from controller.settings import Settings
from db.models import Carrier
from db.session import make_engine, transaction
from tests.support.carriers import SimCarrier, add_carrier
from tests.support.realparts import unavailable
from tests.support.sipp import free_udp_port, place_call, sipp_binary
from tests.support.wait import until_sync

ROOT = Path(__file__).resolve().parents[2]
HOST_IP = "172.30.58.1"  # the host on the stack's network: the phones and the carrier
EDGE = ("172.30.58.5", 5060)  # Kamailio
NODES = {"ast-a": "172.30.58.21", "ast-b": "172.30.58.22"}
CONTROLLERS = {"ctl-a": "172.30.58.31", "ctl-b": "172.30.58.32"}
PRIMARY = "172.30.58.10"
PANEL = "http://172.30.58.40:8080"
PROMETHEUS = "http://172.30.58.90:9090"
PROJECT = "voipmn"
CARRIER = "mn-pstn"  # the simulated PSTN's carrier row


def container(service: str) -> str:
    return f"{PROJECT}_{service}_1"


def docker(*args: str, timeout: float = 120) -> str:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)}: {proc.stderr.strip()[-800:]}")
    return proc.stdout


def images_script(*args: str, timeout: float = 1500) -> None:
    # without this run's VOIP_* settings (its test database, the sandbox's ports): compose would
    # take them over the stack's env file (docker/.env)
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOIP_")}
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts/docker-images"), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env=env,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"scripts/docker-images {' '.join(args)} failed:\n{proc.stderr[-3000:]}")


def env_value(name: str, default: str = "") -> str:
    env = ROOT / "docker" / ".env"
    for line in env.read_text().splitlines():
        if line.startswith(name + "="):
            return line.split("=", 1)[1].strip()
    return default


def healthz(ip: str) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"http://{ip}:8090/healthz", timeout=3) as r:
            return json.load(r)
    except Exception:
        return None


def dispatcher_active() -> dict[str, set[str]]:
    """Kamailio's dispatcher: per set id, the destinations it would send to now (flag A)."""
    out = docker(
        "exec", container("kamailio"), "kamcmd", "-s", "unix:/run/kamailio/kamailio_ctl", "dispatcher.list"
    )
    sets: dict[str, set[str]] = {}
    current = ""
    uri = ""
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("ID:"):
            current = line.split(":", 1)[1].strip()
            sets.setdefault(current, set())
        elif line.startswith("URI:"):
            uri = line.split("URI:", 1)[1].strip()
        elif line.startswith("FLAGS:") and line.split(":", 1)[1].strip().startswith("A"):
            sets[current].add(uri.removeprefix("sip:").split(":")[0])
    return sets


def prometheus(query: str) -> list[dict[str, Any]]:
    url = f"{PROMETHEUS}/api/v1/query?" + urllib.parse.urlencode({"query": query})
    with urllib.request.urlopen(url, timeout=5) as r:
        body = json.load(r)
    assert body["status"] == "success", body
    return body["data"]["result"]


def wait_whole(timeout: float = 180) -> None:
    """Both controllers healthy (database, AMI, ARI) and both nodes active at the edge."""
    for name, ip in CONTROLLERS.items():
        until_sync(lambda ip=ip: (h := healthz(ip)) and h.get("ok"), timeout, 1.0, f"{name} healthy")
    both = set(NODES.values())
    until_sync(lambda: dispatcher_active().get("1") == both, timeout, 1.0, "both nodes active at the edge")


@dataclass
class Stack:
    settings: Settings  # the primary, as the host reaches it
    factory: sessionmaker[Session]
    carrier: SimCarrier
    work: Path

    def sql(self, query: str, *args: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(
            host=PRIMARY,
            user=self.settings.db_user,
            password=self.settings.db_password,
            dbname=self.settings.db_name,
            connect_timeout=5,
        ) as conn:
            return conn.execute(query, args).fetchall()

    def call(
        self,
        number: str,
        password: str,
        dialed: str,
        *,
        scenario: str = "uac_call_bye.xml",
        timeout: int = 40,
    ):
        return place_call(
            number,
            password,
            dialed,
            host=EDGE[0],
            port=EDGE[1],
            cwd=self.work,
            timeout=timeout,
            scenario=scenario,
            local_ip=HOST_IP,
        )

    def cdrs(self, src: str) -> list[tuple[Any, ...]]:
        """The member's CDRs: id, uniqueid, the number dialled (dst when none), disposition,
        billsec, dstchannel."""
        return self.sql(
            "SELECT id, uniqueid, coalesce(nullif(dialed, ''), dst), disposition, billsec, dstchannel FROM cdr"
            " WHERE src = %s ORDER BY id",
            src,
        )


@pytest.fixture(scope="session")
def stack(tmp_path_factory) -> Iterator[Stack]:
    if sipp_binary() is None:
        unavailable("sipp (Debian package sip-tester)")
    if shutil.which("docker") is None or shutil.which("dockerd") is None:
        unavailable("Docker (Debian package docker.io)")
    if os.environ.get("VOIP_MN_REUSE") != "1":
        try:
            images_script("multinode", "down", "-v", timeout=300)
        except RuntimeError:
            pass  # nothing to take down on a fresh machine
        try:
            images_script("multinode", "up")
        except RuntimeError as exc:
            pytest.fail(str(exc), pytrace=False)
    settings = replace(
        Settings(),
        db_host=PRIMARY,
        db_port=5432,
        db_name=env_value("VOIP_DB_NAME", "voip"),
        db_user=env_value("VOIP_DB_USER", "voip"),
        db_password=env_value("VOIP_DB_PASSWORD"),
        sip_realm=env_value("VOIP_SIP_REALM", "voip.local"),
        asterisk_host=NODES["ast-a"],
        asterisk_nodes=",".join(NODES.values()),
        ami_port=5038,
        ami_user=env_value("VOIP_AMI_USER", "controller"),
        ami_secret=env_value("VOIP_AMI_SECRET"),
    )
    engine = make_engine(settings)
    factory = sessionmaker(engine, expire_on_commit=False)
    work = tmp_path_factory.mktemp("multinode")
    # the simulated PSTN: a carrier on the host that answers every call, the only one enabled
    carrier = SimCarrier("answer", HOST_IP, free_udp_port(HOST_IP), work / "carrier").start()
    try:
        yield from _set_up(settings, engine, factory, carrier, work)
    finally:
        carrier.stop()
        engine.dispose()
        if os.environ.get("VOIP_MN_REUSE") != "1":
            # the rest of the run does not share its two cores with an idle cluster
            images_script("multinode", "down", "-v", timeout=300)


def _set_up(
    settings: Settings, engine: Any, factory: sessionmaker[Session], carrier: SimCarrier, work: Path
) -> Iterator[Stack]:
    # every change below is expired from both nodes' caches of the realtime tables
    realtime_cache.expire_on_commit(factory, settings)
    with transaction(factory) as s:
        # the PSTN is one carrier, always named the same: a decision made on a routing table
        # read before this run still names it (agi/routing_table.py refreshes in the background)
        found = s.scalars(select(Carrier).where(Carrier.name == CARRIER)).first()
        if found is not None:
            found.host, found.port, found.enabled, found.qualify_seconds = carrier.ip, carrier.port, True, 0
    with transaction(factory) as s:  # any other carrier carries nothing
        for other in s.scalars(select(Carrier).where(Carrier.name != CARRIER, Carrier.enabled)):
            other.enabled = False
    if found is None:
        add_carrier(factory, CARRIER, carrier, "0.0100", prefix="1", qualify_seconds=0)
    # what both nodes cached of the carriers (the contact's address) read again
    assert realtime_cache.refresh_carriers(settings, [CARRIER], registrations=False)
    # a controller's routing table is refreshed in the background, after the first decision that
    # finds it older than agi.routing_table.CHECK_SECONDS: restarted, they start with this one
    docker("restart", container("ctl-a"), container("ctl-b"), timeout=120)
    wait_whole()
    yield Stack(settings, factory, carrier, work)


def start_again(service: str) -> None:
    docker("start", container(service))


def running(service: str) -> bool:
    try:
        return docker("inspect", "-f", "{{.State.Running}}", container(service)).strip() == "true"
    except RuntimeError:
        return False


def wait_gone_from_edge(ip: str, timeout: float = 10) -> float:
    start = time.monotonic()
    until_sync(
        lambda: ip not in dispatcher_active().get("1", set()), timeout, 0.2, f"{ip} inactive at the edge"
    )
    return time.monotonic() - start
