"""Engines and sessions (sync for the panel and CLI, async for the controller)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session, sessionmaker

from controller.settings import Settings


def make_engine(settings: Settings, **kw) -> Engine:
    kw.setdefault("pool_pre_ping", True)
    return create_engine(settings.database_url, **kw)


def make_async_engine(settings: Settings, **kw) -> AsyncEngine:
    kw.setdefault("pool_pre_ping", True)
    return create_async_engine(settings.database_url, **kw)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def async_session_factory(engine: AsyncEngine) -> async_sessionmaker:
    return async_sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    with factory() as session, session.begin():
        yield session
