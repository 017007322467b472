"""Helpers for tests that need the real parts (PostgreSQL, Asterisk, SIPp, SMTP)."""

from __future__ import annotations

import dataclasses
import itertools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(what: str) -> None:
    """A real part is missing: fail on CI, skip elsewhere (a developer without root)."""
    if IN_CI:
        pytest.fail(f"{what} is required on CI and could not be had", pytrace=False)
    pytest.skip(f"{what} is not available here")


@contextmanager
def scratch_database(settings: Any, suffix: str) -> Iterator[Any]:
    """A database of its own beside the run's (its name + `suffix`), migrated to head, for tests
    that need rows nobody else adds (rates, carriers); dropped afterwards unless
    VOIP_KEEP_TEST_DB is set. Yields its settings."""
    from db import migrate

    scratch = dataclasses.replace(settings, db_name=settings.db_name + suffix)
    try:
        migrate.create_database(scratch, drop_first=True)
    except Exception as exc:
        unavailable(f"PostgreSQL ({exc.__class__.__name__}: {exc})")
    migrate.upgrade(scratch)
    yield scratch
    if not os.environ.get("VOIP_KEEP_TEST_DB"):
        migrate.drop_database(scratch)


_numbers = itertools.count(1)


def unique_number(prefix: str = "1700") -> str:
    """An 11-digit number no other test in this run uses. After a four-digit prefix (1 and an
    area code) the next three digits are a North American exchange, which never starts with 0
    or 1: the run's pid chooses one of 200-999, so a number is valid whatever the pid."""
    return f"{prefix}{200 + os.getpid() % 800:03d}{next(_numbers):04d}"[:15]
