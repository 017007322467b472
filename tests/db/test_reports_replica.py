"""Issue 17 part 2: the panel's reports read a REAL PostgreSQL streaming replica
(webpanel/reports_db.py) while it answers and is within VOIP_DB_REPORTS_MAX_LAG of the primary;
otherwise the primary, and the operator's overview says which and why. Writes stay on the primary.

The replica is made once per run with pg_basebackup -R -X stream and started with PostgreSQL 15's
own binaries as the postgres user. Its primary is the test PostgreSQL (127.0.0.1:5432) when that
cluster accepts replication connections; when its pg_hba.conf has no `replication` line (this
sandbox's), a primary of the run's own, made with initdb (replication allowed), stands in, with
this run's database migrated on it: the same PostgreSQL, streaming for real either way.
"""

from __future__ import annotations

import dataclasses
import math
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from html import unescape
from pathlib import Path

import psycopg
import pytest
from flask import Flask
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError

from controller.settings import Settings
from db import accounts
from db.models import Note
from db.session import make_engine, session_factory, transaction
from tests.support.members import new_member
from tests.support.panel import sign_in_user
from tests.support.wait import until_sync
from tests.web.cdrs import add_cdrs, at, cdr_values
from webpanel import create_app, metrics, reports_db

BIN = Path("/usr/lib/postgresql/15/bin")
DAY = "2026-05-04"
BOUND_S = 30.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["runuser", "-u", "postgres", "--", *args], capture_output=True, text=True, timeout=timeout
    )


def _conninfo(port: int, dbname: str = "postgres") -> str:
    return f"host=127.0.0.1 port={port} user=postgres dbname={dbname} connect_timeout=5"


@dataclass
class Cluster:
    """A PostgreSQL server of this run's (data directory owned by postgres, mode 0700)."""

    data: Path
    port: int
    options: str

    def start(self) -> None:
        done = _as_postgres(
            str(BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.data.parent / f"{self.data.name}.log"),
            "-o", self.options, "-w", "-t", "60", "start",
        )  # fmt: skip
        if done.returncode != 0:
            log = self.data.parent / f"{self.data.name}.log"
            tail = log.read_text()[-3000:] if log.exists() else ""
            pytest.fail(f"PostgreSQL in {self.data} did not start: {done.stderr}\n{tail}", pytrace=False)

    def stop(self) -> None:
        _as_postgres(str(BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def sql(self, statement: str, dbname: str = "postgres"):
        with psycopg.connect(_conninfo(self.port, dbname), autocommit=True) as conn:
            return conn.execute(statement).fetchone()


@dataclass
class Pair:
    primary: Settings  # the app's primary (its database migrated)
    replica: Cluster

    def replayed(self, lsn: str | None = None) -> bool:
        """The replica has replayed everything the primary had written at `lsn` (now: None)."""
        lsn = lsn or self._primary_lsn()
        row = self.replica.sql(f"SELECT pg_last_wal_replay_lsn() >= '{lsn}'::pg_lsn")
        return bool(row and row[0])

    def _primary_lsn(self) -> str:
        with psycopg.connect(_conninfo(self.primary.db_port), autocommit=True) as conn:
            row = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()
        assert row is not None
        return row[0]

    def wait_replayed(self) -> None:
        """Until the replica has replayed what the primary had written when called (a busy
        primary, the shared test cluster's, keeps writing: a moving target is never reached)."""
        lsn = self._primary_lsn()
        until_sync(lambda: self.replayed(lsn), timeout=30, what="the replica to replay the primary's WAL")

    def wait_standby(self) -> None:
        def standby() -> bool:
            try:
                row = self.replica.sql("SELECT pg_is_in_recovery()")
            except psycopg.OperationalError:
                return False
            return bool(row and row[0])

        until_sync(standby, timeout=60, what="the replica to accept connections in recovery")


def _hba_refuses_replication(message: str) -> bool:
    return "no pg_hba.conf entry for replication" in message


def _basebackup(source_port: int, data: Path) -> subprocess.CompletedProcess:
    return _as_postgres(
        str(BIN / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(source_port), "-U", "postgres",
        "-D", str(data), "-R", "-X", "stream", "-c", "fast",
        timeout=600,
    )  # fmt: skip


def _standby_options(port: int, root: Path, source_port: int) -> str:
    # a hot standby needs these at least as high as its primary's
    names = (
        "max_connections",
        "max_worker_processes",
        "max_wal_senders",
        "max_prepared_transactions",
        "max_locks_per_transaction",
    )
    with psycopg.connect(_conninfo(source_port), autocommit=True) as conn:
        values = {n: conn.execute(f"SHOW {n}").fetchone()[0] for n in names}  # type: ignore[index]
    settings = " ".join(f"-c {n}={v}" for n, v in values.items())
    return (
        f"-p {port} -c listen_addresses=127.0.0.1 -k {root} -c hot_standby=on "
        f"-c shared_buffers=32MB -c logging_collector=off {settings}"
    )


@pytest.fixture(scope="session")
def pair(request, settings: Settings) -> Iterator[Pair]:
    for tool in ("pg_basebackup", "pg_ctl", "postgres", "initdb"):
        if not (BIN / tool).exists():
            pytest.fail(f"{BIN / tool} is missing: the replica tests need PostgreSQL 15's server binaries")
    root = Path(tempfile.mkdtemp(prefix="voip-replica-"))
    shutil.chown(root, "postgres", "postgres")
    root.chmod(0o700)
    own_primary: Cluster | None = None
    replica: Cluster | None = None
    try:
        data = root / "replica"
        done = _basebackup(settings.db_port, data)
        if done.returncode == 0:
            primary = request.getfixturevalue("database")
        elif _hba_refuses_replication(done.stderr):
            # the test PostgreSQL refuses replication connections (its pg_hba.conf has no
            # `host replication ...` line): a primary of our own, replication allowed
            print(
                f"\nthe test PostgreSQL refuses replication ({done.stderr.strip()}); "
                "streaming from a primary made with initdb instead"
            )
            shutil.rmtree(data, ignore_errors=True)
            own_primary = _own_primary(root)
            primary = dataclasses.replace(settings, db_host="127.0.0.1", db_port=own_primary.port)
            from db import migrate

            migrate.create_database(primary, drop_first=True)
            migrate.upgrade(primary)
            done = _basebackup(own_primary.port, data)
            if done.returncode != 0:
                pytest.fail(f"pg_basebackup from the run's own primary failed: {done.stderr}", pytrace=False)
        else:
            pytest.fail(f"pg_basebackup from the test PostgreSQL failed: {done.stderr}", pytrace=False)
        # a Debian cluster keeps its configuration in /etc: the copy has none of it
        for name, body in (
            ("postgresql.conf", ""),
            ("pg_ident.conf", ""),
            ("pg_hba.conf", "local all all trust\nhost all all 127.0.0.1/32 trust\n"),
        ):
            (data / name).write_text(body)
            shutil.chown(data / name, "postgres", "postgres")
        replica = Cluster(data, _free_port(), "")
        replica.options = _standby_options(replica.port, root, primary.db_port)
        replica.start()
        found = Pair(primary, replica)
        found.wait_standby()
        # a committed transaction replayed, so that the replica's replay time is known
        with psycopg.connect(_conninfo(primary.db_port, primary.db_name), autocommit=True) as conn:
            conn.execute("SELECT txid_current()")
        found.wait_replayed()
        yield found
    finally:
        if replica is not None:
            replica.stop()
        if own_primary is not None:
            own_primary.stop()
        shutil.rmtree(root, ignore_errors=True)


def _own_primary(root: Path) -> Cluster:
    data = root / "primary"
    done = _as_postgres(
        str(BIN / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
        "--locale=C.UTF-8",
    )  # fmt: skip
    if done.returncode != 0:
        pytest.fail(f"initdb failed: {done.stderr}", pytrace=False)
    port = _free_port()
    cluster = Cluster(
        data,
        port,
        f"-p {port} -c listen_addresses=127.0.0.1 -k {root} -c wal_level=replica -c max_wal_senders=5 "
        "-c shared_buffers=32MB -c fsync=off -c logging_collector=off",
    )
    cluster.start()
    return cluster


@pytest.fixture(scope="session")
def primary_engine(pair: Pair):
    engine = make_engine(pair.primary)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def primary_factory(primary_engine):
    return session_factory(primary_engine)


METRICS_TOKEN = "replica-test-metrics-token"


def _app(pair: Pair, primary_engine, bound_s: float = BOUND_S) -> Flask:
    settings = dataclasses.replace(
        pair.primary,
        db_reports_host="127.0.0.1",
        db_reports_port=pair.replica.port,
        db_reports_max_lag_s=bound_s,
        panel_metrics_token=METRICS_TOKEN,
    )
    return create_app({"TESTING": True, "VOIP_SETTINGS": settings, "VOIP_ENGINE": primary_engine})


@pytest.fixture()
def app(pair: Pair, primary_engine) -> Iterator[Flask]:
    made = _app(pair, primary_engine)
    yield made
    reports_db.replica(made).engine.dispose()  # type: ignore[union-attr]


class Statements:
    """The statements an engine ran (observed with SQLAlchemy's own event, nothing replaced)."""

    def __init__(self, engine) -> None:
        self.engine, self.seen = engine, []
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn, _cursor, statement, *_args) -> None:
        self.seen.append(statement)

    def reading_cdr(self) -> list[str]:
        return [s for s in self.seen if re.search(r"\bcdr\b", s)]

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._seen)


@pytest.fixture()
def on_replica(app) -> Iterator[Statements]:
    seen = Statements(reports_db.replica(app).engine)  # type: ignore[union-attr]
    yield seen
    seen.close()


def _member_with_a_call(pair: Pair, factory, note: str = "") -> tuple:
    member = new_member(factory, realm=pair.primary.sip_realm)
    dialed = "1415555" + str(time.time_ns())[-4:]
    add_cdrs(
        factory,
        [
            cdr_values(
                vnum=member.number,
                start=at(f"{DAY} 15:00:00"),
                src=member.number,
                dst=dialed,
                dialed=dialed,
                call_class="D",
                billsec=61,
            )
        ],
    )
    return member, dialed


def _history(client) -> str:
    response = client.get(f"/call-history/?start={DAY}&end={DAY}")
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def _status_line(client, factory) -> str:
    with transaction(factory) as s:
        admin = accounts.create_admin(s, f"admin-{time.time_ns()}", "Admin-pass-2026").id
    sign_in_user(client, admin)
    html = client.get("/admin/").get_data(as_text=True)
    match = re.search(r'<p id="reports-database">([^<]*)</p>', html)
    assert match, "no reports database line on the operator's overview"
    return unescape(match.group(1))


def test_a_cdr_on_the_primary_shows_on_call_history_read_from_the_replica(
    app, pair, primary_factory, on_replica
):
    member, dialed = _member_with_a_call(pair, primary_factory)
    pair.wait_replayed()
    client = app.test_client()
    sign_in_user(client, member.user_id)
    html = _history(client)
    assert dialed in html
    # the report's queries ran on the replica's engine, and that server is a standby
    assert on_replica.reading_cdr(), "Call History did not read the replica"
    assert pair.replica.sql("SELECT pg_is_in_recovery()") == (True,)
    state = reports_db.state(app)
    assert state is not None and state.used and state.lag_s is not None and state.lag_s <= BOUND_S
    line = _status_line(app.test_client(), primary_factory)
    assert line.startswith(f"Reports database: replica 127.0.0.1:{pair.replica.port}, "), line
    assert line.endswith(" s behind."), line
    scrape = app.test_client().get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert scrape.status_code == 200
    body = scrape.get_data(as_text=True)
    assert "voip_panel_reports_replica_up 1.0" in body
    assert re.search(r"^voip_panel_reports_replica_lag_seconds \d", body, re.M), body


def test_a_cdr_not_yet_replayed_is_not_shown_until_the_replica_replays_it(app, pair, primary_factory):
    member, first = _member_with_a_call(pair, primary_factory)
    pair.wait_replayed()
    client = app.test_client()
    sign_in_user(client, member.user_id)
    assert first in _history(client)
    pair.replica.sql("SELECT pg_wal_replay_pause()")
    try:
        second = "1415666" + str(time.time_ns())[-4:]
        add_cdrs(
            primary_factory,
            [
                cdr_values(
                    vnum=member.number,
                    start=at(f"{DAY} 16:00:00"),
                    src=member.number,
                    dst=second,
                    dialed=second,
                    call_class="D",
                    billsec=30,
                )
            ],
        )
        html = _history(client)  # the replica, within its bound, has not replayed it yet
        assert first in html and second not in html
    finally:
        pair.replica.sql("SELECT pg_wal_replay_resume()")
    pair.wait_replayed()
    assert second in _history(client)


def test_a_stopped_replica_sends_the_reports_to_the_primary_and_the_operator_sees_it(
    app, pair, primary_factory
):
    member, dialed = _member_with_a_call(pair, primary_factory)
    pair.wait_replayed()
    client = app.test_client()
    sign_in_user(client, member.user_id)
    assert dialed in _history(client)  # the replica, verdict kept for a few seconds
    assert reports_db.state(app).used  # type: ignore[union-attr]
    pair.replica.stop()
    try:
        started = time.monotonic()
        html = _history(client)  # the kept verdict says replica: its lost connection is noticed
        assert dialed in html
        html = _history(client)
        assert dialed in html
        assert time.monotonic() - started < 2 * reports_db.CONNECT_TIMEOUT_S
        state = reports_db.state(app)
        assert state is not None and not state.up and not state.used
        line = _status_line(app.test_client(), primary_factory)
        assert line == f"Reports database: primary (replica 127.0.0.1:{pair.replica.port} unreachable).", line
        assert metrics.REPORTS_REPLICA_UP._value.get() == 0  # type: ignore[attr-defined]
        assert math.isnan(metrics.REPORTS_REPLICA_LAG._value.get())  # type: ignore[attr-defined]
        # a check due while it is still down: refused at once, the page from the primary
        reports_db.replica(app).forget()  # type: ignore[union-attr]
        assert dialed in _history(client)
        assert not reports_db.state(app).up  # type: ignore[union-attr]
    finally:
        pair.replica.start()
        pair.wait_standby()
        pair.wait_replayed()
    reports_db.replica(app).forget()  # type: ignore[union-attr]
    assert reports_db.state(app).used  # type: ignore[union-attr]


def test_a_members_write_lands_on_the_primary_while_reports_read_the_replica(
    app, pair, primary_factory, on_replica
):
    member, dialed = _member_with_a_call(pair, primary_factory)
    pair.wait_replayed()
    client = app.test_client()
    sign_in_user(client, member.user_id)
    assert dialed in _history(client)
    assert on_replica.reading_cdr()
    page = client.get("/notepad/").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    assert token
    note = f"call the carrier back {time.time_ns()}"
    response = client.post("/notepad/", data={"csrf_token": token.group(1), "body": note, "save": "Save"})
    assert response.status_code == 302
    with primary_factory() as s:
        saved = s.get(Note, member.user_id)
        assert saved is not None and saved.body == note
    assert not [s for s in on_replica.seen if re.search(r"\bnotes\b", s, re.I) and "INSERT" in s.upper()]
    # and the replica's sessions refuse a write outright
    with app.test_request_context():
        session = reports_db.reports_session()
        assert session.get_bind() is reports_db.replica(app).engine  # type: ignore[union-attr]
        with pytest.raises(DBAPIError, match="read-only"):
            session.execute(text("UPDATE notes SET body = 'x' WHERE user_id = :u"), {"u": member.user_id})
    pair.wait_replayed()
    assert pair.replica.sql(
        f"SELECT body FROM notes WHERE user_id = {member.user_id}", dbname=pair.primary.db_name
    ) == (note,)


def test_a_replica_further_behind_than_the_bound_is_not_used(pair, primary_engine, primary_factory):
    app = _app(pair, primary_engine, bound_s=1.0)
    replica = reports_db.replica(app)
    assert replica is not None
    member, first = _member_with_a_call(pair, primary_factory)
    pair.wait_replayed()
    client = app.test_client()
    sign_in_user(client, member.user_id)
    pair.replica.sql("SELECT pg_wal_replay_pause()")
    try:
        second = "1415777" + str(time.time_ns())[-4:]
        add_cdrs(
            primary_factory,
            [
                cdr_values(
                    vnum=member.number,
                    start=at(f"{DAY} 17:00:00"),
                    src=member.number,
                    dst=second,
                    dialed=second,
                    call_class="D",
                    billsec=30,
                )
            ],
        )

        def over_the_bound() -> bool:
            replica.forget()
            state = replica.state()
            return state.up and state.lag_s is not None and state.lag_s > 1.0

        until_sync(over_the_bound, timeout=15, what="the paused replica to fall over 1 s behind")
        html = _history(client)  # from the primary: the call the replica has not replayed is there
        assert first in html and second in html
        line = _status_line(app.test_client(), primary_factory)
        assert re.fullmatch(
            rf"Reports database: primary \(replica 127\.0\.0\.1:{pair.replica.port} \d+ s behind, "
            r"over the 1 s bound\)\.",
            line,
        ), line
        assert metrics.REPORTS_REPLICA_LAG._value.get() > 1.0  # type: ignore[attr-defined]
    finally:
        pair.replica.sql("SELECT pg_wal_replay_resume()")
        replica.engine.dispose()
    pair.wait_replayed()


def test_no_replica_set_reads_the_primary(pair, primary_engine, primary_factory):
    app = create_app({"TESTING": True, "VOIP_SETTINGS": pair.primary, "VOIP_ENGINE": primary_engine})
    assert reports_db.replica(app) is None
    line = _status_line(app.test_client(), primary_factory)
    assert line == "Reports database: primary (no replica set)."
    with app.test_request_context():
        assert reports_db.reports_session().get_bind() is primary_engine
