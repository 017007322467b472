"""Shared fixtures: a fresh PostgreSQL database per run, the Asterisk sandbox, SMTP.

Real parts only. With CI=true a test whose PostgreSQL or Asterisk cannot be had FAILS
instead of skipping (an unrun real-Asterisk test proves nothing).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


# The test run uses its own database, its own Asterisk instance and its own free ports, so
# it can run beside `make up` and beside another test run. Set before anything reads settings.
def _free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


ASTERISK_INSTANCE = f"t{os.getpid()}"
_rtp = 20000 + (os.getpid() % 90) * 100
TEST_ENV = {
    "VOIP_DB_NAME": f"voip_test_{os.getpid()}",
    "VOIP_SIP_PORT": str(_free_port(socket.SOCK_DGRAM)),
    "VOIP_AMI_PORT": str(_free_port(socket.SOCK_STREAM)),
    "VOIP_ARI_PORT": str(_free_port(socket.SOCK_STREAM)),
    "VOIP_AGI_PORT": str(_free_port(socket.SOCK_STREAM)),
    "VOIP_HEALTH_PORT": str(_free_port(socket.SOCK_STREAM)),
    "VOIP_METRICS_PORT": str(_free_port(socket.SOCK_STREAM)),  # issue 17: /metrics served
    "VOIP_RTP_START": str(_rtp),
    "VOIP_RTP_END": str(_rtp + 99),
    "VOIP_SMTP_PORT": str(_free_port(socket.SOCK_STREAM)),
    "VOIP_PANEL_PORT": str(_free_port(socket.SOCK_STREAM)),
    "VOIP_SECRET_KEY": "test-secret-key",
    "VOIP_PIN_KEY": "test-pin-key",
    "VOIP_ASTERISK_INSTANCE_DIR": f"/instances/{ASTERISK_INSTANCE}",
    # the sandbox instance's spool/fax as the controller on the host sees it (inside the chroot)
    "VOIP_FAX_LOCAL_DIR": os.path.join(
        os.environ.get("VOIP_SANDBOX_DIR", "/var/cache/voip-sandbox/sid"),
        "instances",
        ASTERISK_INSTANCE,
        "spool",
        "fax",
    ),
    "VOIP_SMTP_RETRY_DELAY": "0.2",
    # issue 15: the controller fixture runs no invoice round (it would email the invoices other
    # tests issue to whichever test's SMTP server is up); tests/billing/test_invoices.py runs one
    "VOIP_INVOICE_CHECK_S": "0",
    # issue 16: nor a notifications round (tests/notifications drive rounds directly)
    "VOIP_NOTIFY_CHECK_S": "0",
}
os.environ.update(TEST_ENV)

from controller.settings import Settings, load  # noqa: E402
from tests.support.realparts import IN_CI, unavailable, unique_number  # noqa: E402,F401


@pytest.fixture(scope="session")
def settings() -> Settings:
    return load()


@pytest.fixture(scope="session")
def database(settings: Settings):
    """A fresh database for this run, migrated to head (realtime views included)."""
    from db import migrate

    try:
        migrate.create_database(settings, drop_first=True)
    except Exception as exc:  # psycopg.OperationalError and friends
        unavailable(f"PostgreSQL ({exc.__class__.__name__}: {exc})")
    migrate.upgrade(settings)
    yield settings
    if not os.environ.get("VOIP_KEEP_TEST_DB"):
        migrate.drop_database(settings)


@pytest.fixture(scope="session")
def engine(database: Settings):
    from db.session import make_engine

    eng = make_engine(database)
    yield eng
    eng.dispose()


@pytest.fixture(scope="session")
def factory(engine, database: Settings):
    """Sessions as the panel's: a committed change to a number expires what Asterisk cached of
    it (controller/services/realtime_cache.py), when this run's Asterisk is up."""
    from controller.services import realtime_cache
    from db.session import session_factory

    made = session_factory(engine)
    realtime_cache.expire_on_commit(made, database)
    return made


@pytest.fixture()
def session(factory):
    """A session whose work is committed by the test when Asterisk must see it."""
    with factory() as s:
        yield s


@pytest.fixture(scope="session")
def asterisk_db_proxy(database: Settings):
    """Asterisk's way to this run's database (realtime, CDR): a proxy a test can cut to make the
    database unreachable for Asterisk (the controller's is `db_proxy`)."""
    from tests.support.threaded_proxy import ThreadedTcpProxy

    proxy = ThreadedTcpProxy(database.db_host, database.db_port)
    proxy.start()
    yield proxy
    proxy.stop()


@pytest.fixture(scope="session")
def asterisk(database: Settings, asterisk_db_proxy):
    """This run's Asterisk 22 sandbox instance, pointed at this run's database (through
    `asterisk_db_proxy`) and controller, with the test suite's own dialplan contexts
    (asterisk_conf/templates/test/) besides production's."""
    script = ROOT / "scripts" / "asterisk-sandbox"
    env = dict(
        os.environ,
        VOIP_PYTHON=sys.executable,
        VOIP_SANDBOX_TEST_DIALPLAN="1",
        VOIP_DB_HOST="127.0.0.1",
        VOIP_DB_PORT=str(asterisk_db_proxy.port),
    )
    subprocess.run([str(script), "stop", ASTERISK_INSTANCE], env=env, capture_output=True)
    proc = subprocess.run([str(script), "start", ASTERISK_INSTANCE], env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        unavailable(f"the Asterisk sandbox (exit {proc.returncode}: {proc.stderr[-2000:]})")
    yield Sandbox(script, env)
    subprocess.run([str(script), "stop", ASTERISK_INSTANCE], env=env, capture_output=True)
    subprocess.run([str(script), "remove", ASTERISK_INSTANCE], env=env, capture_output=True)


class Sandbox:
    def __init__(self, script: Path, env: dict):
        self.script, self.env = script, env

    def run(self, *args: str, check: bool = True) -> str:
        proc = subprocess.run([str(self.script), *args], env=self.env, capture_output=True, text=True)
        if check and proc.returncode != 0:
            raise RuntimeError(f"asterisk-sandbox {' '.join(args)} failed: {proc.stderr[-2000:]}")
        return proc.stdout

    def cli(self, command: str) -> str:
        return self.run("cli", ASTERISK_INSTANCE, command)

    def restart(self) -> None:
        self.run("restart", ASTERISK_INSTANCE)

    @property
    def log_path(self) -> Path:
        root = self.run("root").strip()
        return Path(root) / "instances" / ASTERISK_INSTANCE / "log" / "console.log"


import pytest_asyncio  # noqa: E402


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def db_proxy(database):
    from tests.support.tcpproxy import TcpProxy

    proxy = TcpProxy(database.db_host, database.db_port)
    await proxy.start()
    yield proxy
    await proxy.stop()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def controller(asterisk, database, db_proxy):
    """The real controller process parts (FastAGI, ARI, AMI, database, rater) in this event
    loop, connected to the sandbox Asterisk instance of this run. One per run (a second copy
    would start a second controller on the same AGI port). Its database connections go
    through `db_proxy`, which a test can cut to make the database unreachable."""
    import dataclasses

    from controller.app import Controller

    ctl = Controller(dataclasses.replace(database, db_host="127.0.0.1", db_port=db_proxy.port))
    await ctl.start()
    assert await ctl.ami.wait_connected(20), "AMI link did not log in"
    await ctl.ari.connected.wait()
    yield ctl
    await ctl.stop()


@pytest.fixture()
def need_sipp():
    from tests.support.sipp import sipp_binary

    if sipp_binary() is None:
        unavailable("sipp (Debian package sip-tester)")


@pytest.fixture()
def ami_events(controller):
    """UserEvent and Hangup events seen on the controller's AMI link during one test."""
    from tests.support.events import AmiRecorder

    rec = AmiRecorder(controller.ami, "UserEvent", "Hangup")
    yield rec
    rec.close()
