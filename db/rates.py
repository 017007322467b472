"""Rate deck import. A deck is imported whole and then made active in one transaction, so
calls are never rated against a half-loaded deck."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import TextIO

from sqlalchemy import update
from sqlalchemy.orm import Session

from db.audit import audit
from db.errors import ServiceError
from db.models import RateDeck

COLUMNS = (
    "prefix",
    "destination",
    "country",
    "rate_per_minute",
    "connect_fee",
    "min_seconds",
    "increment_seconds",
)


def parse_deck(stream: TextIO) -> list[tuple]:
    """CSV with a header naming at least prefix and rate_per_minute. Every error names its line."""
    reader = csv.DictReader(stream)
    if not reader.fieldnames or not {"prefix", "rate_per_minute"} <= set(reader.fieldnames):
        raise ServiceError("The rate deck needs a header with at least prefix and rate_per_minute.")
    rows, seen = [], set()
    for lineno, row in enumerate(reader, start=2):
        prefix = (row.get("prefix") or "").strip()
        if not prefix.isdigit() or len(prefix) > 15:
            raise ServiceError(f"Line {lineno}: prefix {prefix!r} is not 1 to 15 digits.")
        if prefix in seen:
            raise ServiceError(f"Line {lineno}: prefix {prefix} appears twice.")
        seen.add(prefix)
        try:
            rate = Decimal((row.get("rate_per_minute") or "").strip())
            fee = Decimal((row.get("connect_fee") or "0").strip() or "0")
            min_s = int((row.get("min_seconds") or "60").strip() or 60)
            inc_s = int((row.get("increment_seconds") or "60").strip() or 60)
        except (InvalidOperation, ValueError):
            raise ServiceError(f"Line {lineno}: rate, fee or increments are not numbers.") from None
        if rate < 0 or fee < 0 or min_s < 0 or inc_s < 1 or not rate.is_finite():
            raise ServiceError(f"Line {lineno}: rates are >= 0 and the increment at least 1 s.")
        country = (row.get("country") or "").strip().upper()[:2]
        rows.append((prefix, (row.get("destination") or "").strip()[:120], country, rate, fee, min_s, inc_s))
    if not rows:
        raise ServiceError("The rate deck is empty.")
    return rows


def import_deck(session: Session, name: str, rows: Iterable[tuple], activate: bool = True) -> RateDeck:
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
    audit(session, "rates.import", obj=deck, details={"name": name})
    return deck
