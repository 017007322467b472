"""Jinja filters shared by every section.

Dates and times are shown in the account's time zone (Account.time_zone): `localtime` takes it
from the logged-in user unless a zone is given.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Flask, g

UTC = dt.timezone.utc
CENTS = Decimal("0.01")


def init_app(app: Flask) -> None:
    app.add_template_filter(unix_datetime)
    app.add_template_filter(unix_iso)
    app.add_template_filter(localtime)
    app.add_template_filter(iso)
    app.add_template_filter(usd)
    app.add_template_filter(minutes)
    app.add_template_filter(mmss)
    app.add_template_filter(rate_usd)
    app.add_template_global(account_zone)


def zone(name: str | None) -> dt.tzinfo:
    """An account's time zone (IANA name), UTC when unset or unknown."""
    if not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def account_zone() -> str:
    """The logged-in member's account time zone name ("UTC" for admins and anonymous pages)."""
    user = g.get("user")
    account = getattr(user, "account", None)
    return (account.time_zone if account is not None and account.time_zone else "UTC")


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


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)  # stored as UTC


def localtime(value: dt.datetime | None, tz_name: str | None = None,
              fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    """A stored timestamp as year-month-day hour:minute:second in the account's time zone."""
    if value is None:
        return ""
    return _aware(value).astimezone(zone(tz_name or account_zone())).strftime(fmt)


def iso(value: dt.datetime | dt.date | None) -> str:
    """For <time datetime="...">: ISO 8601 (UTC for timestamps)."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return _aware(value).astimezone(UTC).isoformat()
    return value.isoformat()


def usd(value: Decimal | int | None) -> str:
    """US dollars; cents unless the amount has finer digits (rates and credit are kept to 4)."""
    if value is None:
        return ""
    amount = Decimal(value)
    if amount != amount.quantize(CENTS):
        return f"${amount.quantize(Decimal('0.0001')):,}".rstrip("0")
    return f"${amount.quantize(CENTS):,}"


def minutes(seconds: int | None) -> str:
    """Plan time left, in whole minutes (rounded down: what a member can still count on)."""
    if seconds is None:
        return ""
    return f"{int(seconds) // 60:,}"


def mmss(seconds: int | None) -> str:
    """A call's duration as minutes:seconds (minutes past 59 keep counting: 75:04)."""
    seconds = max(0, int(seconds or 0))
    return f"{seconds // 60:02d}:{seconds % 60:02d}"


def rate_usd(value: Decimal | int | None) -> str:
    """A per-minute rate in US dollars: cents at least, the rate deck's 5 decimals at most."""
    if value is None:
        return ""
    whole, _, fraction = f"{Decimal(value).quantize(Decimal('0.00001')):.5f}".partition(".")
    return f"${int(whole):,}.{fraction.rstrip('0').ljust(2, '0')}"
