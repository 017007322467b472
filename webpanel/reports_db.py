"""The reports' database (issue 17 part 2, docs/scaling.md section 3): the panel's read-only
report pages (Call History, Missed Calls, White Pages, the operator's call records and traffic
reports) read a PostgreSQL streaming replica when VOIP_DB_REPORTS_HOST names one, it answers,
and it is at most VOIP_DB_REPORTS_MAX_LAG seconds behind; otherwise the primary. Every write,
and everything that is not a report (the session check, forms), stays on the primary.

The replica's health is checked at most every CHECK_EVERY_S seconds per process, with a
CONNECT_TIMEOUT_S connect and statement timeout: a stopped or unreachable replica costs one
page at most that long per interval, the other requests meanwhile use the last verdict. A
connection to the replica lost in a request marks it down at once (the next request reads the
primary). The replica's sessions are read-only (default_transaction_read_only, and a standby
refuses writes anyway): a write sent there by mistake fails loudly.

Lag: none when the replica has replayed all the WAL the primary had written when the check
began (pg_current_wal_lsn() read on the primary first): an idle primary commits nothing, so
the replica's last replayed commit grows old while it is fully up to date. Otherwise the age of
the last replayed commit (now() - pg_last_xact_replay_timestamp(), the two servers' clocks
assumed in step). Comparing with the primary, not only the replica's received and replayed
positions, also catches a replica cut off from its primary: it has replayed all it received,
and is falling behind all the same.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app, g
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from controller.settings import Settings
from webpanel import metrics
from webpanel.i18n import _

log = logging.getLogger(__name__)

EXTENSION = "voip_reports_db"
CHECK_EVERY_S = 5.0
CONNECT_TIMEOUT_S = 2

# the replica's own view of its replay; `primary_lsn` is NULL when the primary's could not be
# read: then a replica that replayed all it received counts as up to date
_LAG = text(
    """
    SELECT pg_is_in_recovery() AS standby,
           CASE
             WHEN pg_last_wal_replay_lsn() >= CAST(:primary_lsn AS pg_lsn) THEN 0.0
             WHEN CAST(:primary_lsn AS pg_lsn) IS NULL
                  AND pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0.0
             ELSE extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp())
           END AS lag
    """
)


@dataclass(frozen=True)
class ReplicaState:
    """One health check's verdict. `lag_s` is None when unknown (unreachable, nothing replayed
    yet); `standby` is False for a server that answers but is not in recovery (promoted, or a
    primary named by mistake: its data is not ours to trust)."""

    host: str
    up: bool
    standby: bool
    lag_s: float | None
    bound_s: float
    checked_at: float

    @property
    def used(self) -> bool:
        return self.up and self.standby and self.lag_s is not None and self.lag_s <= self.bound_s


class Replica:
    """The replica's engine, its read-only sessions and the cached health verdict."""

    def __init__(
        self,
        engine: Engine,
        primary: Engine,
        host: str,
        bound_s: float,
        every_s: float = CHECK_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.engine, self.primary, self.host, self.bound_s = engine, primary, host, bound_s
        self.every_s, self.clock = every_s, clock
        self.factory = sessionmaker(engine, expire_on_commit=False)
        self._state: ReplicaState | None = None
        self._lock = threading.Lock()
        event.listen(engine, "handle_error", self._on_error)

    def state(self) -> ReplicaState:
        """The verdict, checked again when older than every_s; while another thread checks,
        the previous verdict (no request waits on another's check)."""
        state = self._state
        if state is not None and self.clock() - state.checked_at < self.every_s:
            return state
        if not self._lock.acquire(blocking=state is None):
            assert state is not None
            return state
        try:
            state = self._state
            if state is None or self.clock() - state.checked_at >= self.every_s:
                state = self._state = self._check()
                _publish(state)
            return state
        finally:
            self._lock.release()

    def forget(self) -> None:
        """Check again on the next request (tests, after starting or stopping the replica)."""
        self._state = None

    def mark_down(self) -> None:
        """The replica was lost: reports read the primary until the next check."""
        self._state = self._down()
        _publish(self._state)

    def _down(self) -> ReplicaState:
        return ReplicaState(self.host, False, False, None, self.bound_s, self.clock())

    def _check(self) -> ReplicaState:
        try:
            with self.primary.connect() as conn:
                primary_lsn = conn.execute(text("SELECT pg_current_wal_lsn()::text")).scalar()
        except SQLAlchemyError:
            primary_lsn = None
        try:
            with self.engine.connect() as conn:
                conn.execute(text(f"SET LOCAL statement_timeout = {CONNECT_TIMEOUT_S * 1000}"))
                row = conn.execute(_LAG, {"primary_lsn": primary_lsn}).one()
        except SQLAlchemyError as exc:
            log.warning("reports replica %s unreachable (%s)", self.host, exc.__class__.__name__)
            return self._down()
        lag = None if row.lag is None else max(0.0, float(row.lag))
        state = ReplicaState(self.host, True, bool(row.standby), lag, self.bound_s, self.clock())
        if not state.used:
            log.warning(
                "reports replica %s not used (standby %s, lag %s s, bound %s s)",
                self.host,
                state.standby,
                lag,
                self.bound_s,
            )
        return state

    def _on_error(self, context: Any) -> None:
        if context.is_disconnect:  # a request lost the replica: the next ones read the primary
            self.mark_down()


def _publish(state: ReplicaState) -> None:
    metrics.REPORTS_REPLICA_UP.set(1 if state.up and state.standby else 0)
    metrics.REPORTS_REPLICA_LAG.set(math.nan if state.lag_s is None else state.lag_s)


def init_app(
    app: Flask,
    settings: Settings,
    primary: Engine,
    primary_factory: sessionmaker[Session],
    primary_session: Callable[[], Session],
    on_checkout: Callable[..., None] | None = None,
) -> None:
    """A replica engine when VOIP_DB_REPORTS_HOST is set (database.init_app calls this)."""
    app.extensions[EXTENSION] = None
    app.extensions[EXTENSION + ".primary"] = (primary_factory, primary_session)
    url = settings.database_reports_url
    if url:
        engine = create_engine(
            url,
            pool_pre_ping=False,
            connect_args={
                "connect_timeout": CONNECT_TIMEOUT_S,
                "options": "-c default_transaction_read_only=on",
                "application_name": "voip-panel-reports",
            },
        )
        if on_checkout is not None:
            event.listen(engine, "checkout", on_checkout)
        host = f"{settings.db_reports_host.strip()}:{settings.db_reports_port}"
        found = Replica(engine, primary, host, settings.db_reports_max_lag_s)
        app.extensions[EXTENSION] = found
        app.extensions.get(metrics.BEFORE_SCRAPE, []).append(found.state)
    app.teardown_appcontext(_close_session)


def replica(app: Flask | None = None) -> Replica | None:
    return (app or current_app).extensions.get(EXTENSION)


def state(app: Flask | None = None) -> ReplicaState | None:
    """The replica's verdict (checked if due), or None when no replica is set."""
    found = replica(app)
    return None if found is None else found.state()


def describe(found: ReplicaState | None) -> str:
    """The operator's status line: which database the reports read, and why."""
    if found is None:
        return _("Reports database: primary (no replica set).")
    lag = None if found.lag_s is None else f"{found.lag_s:.0f}"
    bound = f"{found.bound_s:g}"
    if found.used:
        return _("Reports database: replica %(host)s, %(lag)s s behind.", host=found.host, lag=lag)
    if not found.up:
        return _("Reports database: primary (replica %(host)s unreachable).", host=found.host)
    if not found.standby:
        return _("Reports database: primary (replica %(host)s is not a standby).", host=found.host)
    if lag is None:
        return _("Reports database: primary (replica %(host)s, replay lag unknown).", host=found.host)
    return _(
        "Reports database: primary (replica %(host)s %(lag)s s behind, over the %(bound)s s bound).",
        host=found.host,
        lag=lag,
        bound=bound,
    )


def reports_session() -> Session:
    """The request's Session for a report: the replica's (read-only) while it is up to date,
    else the request's primary Session. Never for a write."""
    if "reports_session" not in g:
        found = replica()
        session = None
        if found is not None and found.state().used:
            session = found.factory()
            try:  # connected now: a replica gone since its last check sends this page to the primary
                session.connection()
            except SQLAlchemyError:
                session.close()
                found.mark_down()
                session = None
        g.reports_session = session or current_app.extensions[EXTENSION + ".primary"][1]()
    return g.reports_session


def reports_factory(app: Flask | None = None) -> sessionmaker[Session]:
    """Sessions for a report computed outside a request (a refreshing thread): the replica's
    while it is up to date, else the primary's, chosen at each call."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    found = replica(app)
    if found is not None and found.state().used:
        return found.factory
    return app.extensions[EXTENSION + ".primary"][0]


def _close_session(exc: BaseException | None) -> None:
    session = g.pop("reports_session", None)
    if session is not None:
        session.close()
