"""One engine and sessionmaker per app; one Session per request, closed at teardown.

Reports (Call History, Missed Calls, the operator's records and traffic reports) read through
`reports_db.reports_session()`: a streaming replica's read-only Session while it is up to date,
else this one.

A view that changes data calls a service function (which flushes) inside `writing()`, which
commits when the block ends and rolls back when it raises; anything not committed is rolled
back when the request ends.
"""

from __future__ import annotations

import select
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app, g
from sqlalchemy import event, exc
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from controller.services import realtime_cache
from controller.settings import Settings
from db.session import make_engine, session_factory
from webpanel import reports_db

EXTENSION = "voip_db"


@dataclass(frozen=True)
class Database:
    engine: Engine
    factory: sessionmaker[Session]


def init_app(app: Flask, settings: Settings, engine: Engine | None = None) -> None:
    if engine is None:
        # a dead database must give a quick 503, not a request stuck for minutes
        engine = make_engine(settings, connect_args={"connect_timeout": 5}, pool_pre_ping=False)
        # instead of the pre-ping's round trip on every checkout (a query per page): a pooled
        # connection the server closed (restart, idle timeout, pg_terminate_backend) has its
        # socket readable (the termination message, EOF), which a zero-timeout poll sees
        event.listen(engine, "checkout", _still_connected)
    factory = session_factory(engine)
    # a committed change to a number is live in Asterisk at once (its PJSIP objects are cached)
    realtime_cache.expire_on_commit(factory, settings)
    app.extensions[EXTENSION] = Database(engine, factory)
    app.teardown_appcontext(_close_session)
    # issue 17 part 2: the read-only reports' replica, when VOIP_DB_REPORTS_HOST sets one
    reports_db.init_app(app, settings, engine, factory, db, on_checkout=_still_connected)


def _still_connected(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """Refuses (and the pool replaces) a pooled connection that is closed, or whose socket has
    anything to read while idle: nothing is owed to an idle client but an error or an EOF
    (or a rare notice: the connection is replaced all the same)."""
    if dbapi_connection.closed:
        raise exc.DisconnectionError("closed")
    poll = select.poll()  # not select.select: any descriptor number
    try:
        poll.register(dbapi_connection.fileno(), select.POLLIN)
        ready = poll.poll(0)
    except (OSError, ValueError) as e:
        raise exc.DisconnectionError(str(e)) from e
    if ready:
        raise exc.DisconnectionError("the server closed or wrote to an idle connection")


def db() -> Session:
    """The current request's Session (opened on first use)."""
    if "db_session" not in g:
        g.db_session = current_app.extensions[EXTENSION].factory()
    return g.db_session


class Write:
    """The block's handle on its transaction: `discard()` rolls back instead of committing
    when the block ends (a form's own check failed after the service had written)."""

    def __init__(self) -> None:
        self.discarded = False

    def discard(self) -> None:
        self.discarded = True


@contextmanager
def writing(*, keep: tuple[type[BaseException], ...] = ()) -> Iterator[Write]:
    """A view's write transaction on the request's Session: committed when the block ends,
    rolled back when it raises (the commit's own failure too) and the exception re-raised for
    the view to answer, so the view's messages and mails come after the outcome is stored.

    An exception listed in `keep` is a refusal whose trace must stay (a failed attempt counted
    towards a limit, written to the audit log): the block's writes are committed, then it is
    re-raised all the same."""
    session = db()
    write = Write()
    try:
        yield write
    except keep:
        _commit(session)
        raise
    except BaseException:
        session.rollback()
        raise
    if write.discarded:
        session.rollback()
    else:
        _commit(session)


def _commit(session: Session) -> None:
    try:
        session.commit()
    except BaseException:
        session.rollback()
        raise


def _close_session(exc: BaseException | None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()
