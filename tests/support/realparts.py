"""Helpers for tests that need the real parts (PostgreSQL, Asterisk, SIPp, SMTP)."""

from __future__ import annotations

import itertools
import os

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(what: str) -> None:
    """A real part is missing: fail on CI, skip elsewhere (a developer without root)."""
    if IN_CI:
        pytest.fail(f"{what} is required on CI and could not be had", pytrace=False)
    pytest.skip(f"{what} is not available here")


_numbers = itertools.count(1)


def unique_number(prefix: str = "1700") -> str:
    """An 11-digit number no other test in this run uses."""
    return f"{prefix}{os.getpid() % 1000:03d}{next(_numbers):04d}"[:15]
