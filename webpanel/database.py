"""One engine and sessionmaker per app; one Session per request, closed at teardown.

A view that changes data calls a service function (which flushes) and then `db().commit()`;
anything not committed is rolled back when the request ends.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app, g
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from controller.settings import Settings
from db.session import make_engine, session_factory

EXTENSION = "voip_db"


@dataclass(frozen=True)
class Database:
    engine: Engine
    factory: sessionmaker[Session]


def init_app(app: Flask, settings: Settings, engine: Engine | None = None) -> None:
    if engine is None:
        # a dead database must give a quick 503, not a request stuck for minutes
        engine = make_engine(settings, connect_args={"connect_timeout": 5})
    app.extensions[EXTENSION] = Database(engine, session_factory(engine))
    app.teardown_appcontext(_close_session)


def db() -> Session:
    """The current request's Session (opened on first use)."""
    if "db_session" not in g:
        g.db_session = current_app.extensions[EXTENSION].factory()
    return g.db_session


def _close_session(exc: BaseException | None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()
