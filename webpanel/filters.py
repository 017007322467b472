"""Jinja filters shared by every section."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Flask

UTC = dt.timezone.utc


def init_app(app: Flask) -> None:
    app.add_template_filter(unix_datetime)
    app.add_template_filter(unix_iso)


def zone(name: str | None) -> dt.tzinfo:
    """An account's time zone (IANA name), UTC when unset or unknown."""
    if not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def unix_datetime(seconds: int | None, tz_name: str | None = None) -> str:
    """Unix seconds (Asterisk's ps_contacts.expiration_time) as a local date-time."""
    if seconds is None:
        return ""
    when = dt.datetime.fromtimestamp(int(seconds), tz=zone(tz_name))
    return when.strftime("%Y-%m-%d %H:%M:%S %Z")


def unix_iso(seconds: int | None) -> str:
    """Unix seconds as ISO 8601 UTC, for <time datetime="...">."""
    if seconds is None:
        return ""
    return dt.datetime.fromtimestamp(int(seconds), tz=UTC).isoformat()
