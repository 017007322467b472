"""Rate deck import. A deck is imported whole and then made active in one transaction, so
calls are never rated against a half-loaded deck."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from decimal import Decimal
from typing import TextIO

from sqlalchemy import update
from sqlalchemy.orm import Session

from controller.rules import amounts
from db.audit import audit
from db.errors import ServiceError
from db.models import RateDeck, User

COLUMNS = (
    "prefix",
    "destination",
    "country",
    "rate_per_minute",
    "connect_fee",
    "min_seconds",
    "increment_seconds",
)


_PREFIX = re.compile(r"[0-9]{1,15}", re.ASCII)
_COUNTRY = re.compile(r"[A-Z]{0,2}", re.ASCII)
SMALLINT_MAX = 32767  # rates.min_seconds, rates.increment_seconds


def _amount(lineno: int, field: str, raw: str | None, default: str | None = None) -> Decimal:
    """One rate or fee of the deck (rates.RATE column): amounts.parse_amount, worded per reason."""
    text = (raw or "").strip()
    if not text and default is not None:
        text = default
    try:
        return amounts.parse_amount(text, amounts.RATE)
    except amounts.AmountError as exc:
        shown = text[:20] + ("..." if len(text) > 20 else "")
        if exc.reason == amounts.TOO_PRECISE:
            raise ServiceError(
                f"Line {lineno}: {field} {shown!r} has more than {amounts.RATE.scale} decimals; "
                "it would be rounded (write 0 for a free destination)."
            ) from None
        if exc.reason == amounts.TOO_LARGE:
            raise ServiceError(f"Line {lineno}: {field} {shown!r} is more than {exc.largest}.") from None
        raise ServiceError(
            f"Line {lineno}: {field} {shown!r} is not an amount: write digits with at most one dot, "
            "such as 0.015 (no sign, exponent or separators)."
        ) from None


def _seconds(lineno: int, field: str, raw: str | None, default: int, smallest: int) -> int:
    text = (raw or "").strip()
    if not text:
        return default
    value = amounts.parse_whole(text, smallest=smallest, largest=SMALLINT_MAX)
    if value is None:
        shown = text[:20] + ("..." if len(text) > 20 else "")
        raise ServiceError(
            f"Line {lineno}: {field} {shown!r} is not a whole number of seconds from {smallest} to "
            f"{SMALLINT_MAX}."
        )
    return value


def parse_deck(stream: TextIO) -> list[tuple]:
    """CSV with a header naming at least prefix and rate_per_minute. Every error names its line
    and field. Amounts go through controller.rules.amounts (the one strict parser): a value
    that is not plain digits, or that the column would round or could not hold, is refused."""
    reader = csv.DictReader(stream)
    if not reader.fieldnames or not {"prefix", "rate_per_minute"} <= set(reader.fieldnames):
        raise ServiceError("The rate deck needs a header with at least prefix and rate_per_minute.")
    rows, seen = [], set()
    for lineno, row in enumerate(reader, start=2):
        prefix = (row.get("prefix") or "").strip()
        if not _PREFIX.fullmatch(prefix):
            raise ServiceError(f"Line {lineno}: prefix {prefix[:20]!r} is not 1 to 15 digits.")
        if prefix in seen:
            raise ServiceError(f"Line {lineno}: prefix {prefix} appears twice.")
        seen.add(prefix)
        rate = _amount(lineno, "rate_per_minute", row.get("rate_per_minute"))
        fee = _amount(lineno, "connect_fee", row.get("connect_fee"), default="0")
        min_s = _seconds(lineno, "min_seconds", row.get("min_seconds"), 60, 0)
        inc_s = _seconds(lineno, "increment_seconds", row.get("increment_seconds"), 60, 1)
        # not cut to two letters: AUT (Austria) would become AU (Australia), PRT (Portugal) PR
        country = (row.get("country") or "").strip().upper()
        destination = (row.get("destination") or "").strip()[:120]
        if not _COUNTRY.fullmatch(country):
            raise ServiceError(f"Line {lineno}: country {country[:20]!r} is not a two-letter code.")
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in destination):
            raise ServiceError(f"Line {lineno}: the destination contains control characters.")
        rows.append((prefix, destination, country, rate, fee, min_s, inc_s))
    if not rows:
        raise ServiceError("The rate deck is empty.")
    return rows


def import_deck(
    session: Session,
    name: str,
    rows: Iterable[tuple],
    activate: bool = True,
    *,
    actor: User | None = None,
    remote_addr: str = "",
) -> RateDeck:
    deck = RateDeck(name=name, active=False)
    session.add(deck)
    session.flush()
    # COPY: a 200,000-prefix deck loads in seconds
    raw = session.connection().connection.driver_connection
    assert raw is not None  # the psycopg connection the Session has checked out
    with raw.cursor() as cur:
        with cur.copy(
            "COPY rates (deck_id, prefix, destination, country, rate_per_minute, connect_fee,"
            " min_seconds, increment_seconds) FROM STDIN"
        ) as copy:
            for row in rows:
                copy.write_row((deck.id, *row))
    if activate:
        session.execute(update(RateDeck).where(RateDeck.active.is_(True)).values(active=False))
        session.flush()
        deck.active = True
        session.flush()
    audit(session, "rates.import", actor=actor, obj=deck, details={"name": name}, remote_addr=remote_addr)
    return deck
