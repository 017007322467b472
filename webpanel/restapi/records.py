"""What the API reads about calls and money, on top of the panel's own queries.

- A member's call records are the panel's Call History rows (webpanel.call_history.queries):
  the same calls, the same ownership rule (the numbers the token's user may see, each from the
  time it joined the account), the same keyset page on member_calls (vnum, start, id); one
  more row is read than the page holds, to know whether there is a next page.
- An operator's call records are db.records' search (the admin's Call Records page): CDRs with
  their rating, filtered by account, number, DID, destination, carrier, outcome and time,
  newest first, keyset-paged with its cursors.
- A balance is db.billing.available_balance (credit less what open holds reserve).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal
from typing import Any

from flask import Response, g, jsonify
from sqlalchemy import func, select

from db import billing
from db import records as db_records
from db.models import Account, CreditLot, VirtualNumber
from webpanel import access
from webpanel.call_history import queries
from webpanel.call_history.calls import CallRow
from webpanel.database import db
from webpanel.filters import zone
from webpanel.reports import DEFAULT_DAYS, MAX_DAYS, DateRange, decode_cursor, encode_cursor, local_today
from webpanel.restapi.auth import ApiError


def _range(start: dt.date | None, end: dt.date | None, tz_name: str) -> DateRange:
    for name, day in (("start", start), ("end", end)):  # before any arithmetic: 9999-12-31 + 1 day fails
        if day is not None and not 2000 <= day.year <= 2099:
            raise ApiError(400, "invalid", "Choose dates between 2000-01-01 and 2099-12-31.", field=name)
    today = local_today(zone(tz_name))
    if end is None:
        end = today if start is None else start + dt.timedelta(days=DEFAULT_DAYS - 1)
    if start is None:
        start = end - dt.timedelta(days=DEFAULT_DAYS - 1)
    if end < start:
        raise ApiError(400, "invalid", "`end` is before `start`.", field="end")
    if (end - start).days + 1 > MAX_DAYS:
        raise ApiError(400, "invalid", f"Choose a range of at most {MAX_DAYS} days.", field="start")
    if start.year < 2000 or end.year > 2099:
        raise ApiError(400, "invalid", "Choose dates between 2000-01-01 and 2099-12-31.", field="start")
    return DateRange(start, end, tz_name)


def _cursor(after: str | None) -> tuple[dt.datetime, int] | None:
    if after is None:
        return None
    key = decode_cursor(after)
    if key is None:
        raise ApiError(400, "invalid", "That `after` cursor is not valid.", field="after")
    return key


def _plain(value: Any) -> Any:
    """A value as the page's schema writes it (ISO 8601 times, decimal strings)."""
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def page_response(page: dict[str, Any]) -> Response:
    """A page of records as JSON, written directly: the same document as the schema's dump
    (tests/web/test_restapi.py compares them), without marshmallow's cost per field (6 ms of a
    50-row page, a third of the request)."""
    # _plain inlined: 50 rows of 11 fields, a function call each was measurable
    items = [
        {
            k: v.isoformat() if isinstance(v, dt.datetime) else str(v) if isinstance(v, Decimal) else v
            for k, v in item.items()
        }
        for item in page["items"]
    ]
    response = jsonify({"items": items, "next": page["next"]})
    return response


def _row(r: CallRow) -> dict[str, Any]:
    return {
        "id": r.id,
        "start": r.start,
        "number": r.number,
        "direction": "out" if r.outbound else "in",
        "calling": r.calling,
        "called": r.called,
        "country": r.country,
        "outcome": r.outcome,
        "type": r.type,
        "billsec": r.billsec,
        "cost": r.cost,
    }


def member_scope(number: str) -> queries.Scope:
    """The token user's numbers (access.number_scope), narrowed like Call History's ?number=."""
    rows = (
        db()
        .execute(
            select(VirtualNumber.number, VirtualNumber.created_at)
            .where(access.number_scope(g.user))
            .order_by(VirtualNumber.number)
        )
        .all()
    )
    scope = queries.Scope(tuple((n, since) for n, since in rows))
    if not number:
        return scope
    own = queries.own_number(scope.vnums, number)
    if own is not None:
        return scope.only(own)
    forms = queries.party_forms(number)
    if forms is None:
        raise ApiError(400, "invalid", "`number` is not a phone number.", field="number")
    return queries.Scope(scope.numbers, forms)


def member_page(
    number: str, start: dt.date | None, end: dt.date | None, *, after: str | None, limit: int
) -> dict[str, Any]:
    account = g.user.account
    tz_name = account.time_zone if account is not None and account.time_zone else "UTC"
    rng = _range(start, end, tz_name)
    key = _cursor(after)
    scope = member_scope(number)
    rows = queries._page(db(), scope, rng, limit=limit + 1, newest_first=True, key=key)
    more = len(rows) > limit
    rows = rows[:limit]
    return {
        "items": [_row(r) for r in rows],
        "next": encode_cursor(rows[-1].start, rows[-1].id) if more and rows else None,
    }


def operator_page(
    account_id: int | None, args: dict[str, Any], *, after: str | None, limit: int
) -> dict[str, Any]:
    """The operator's Call Records search (db.records, helper of the admin's Call Records page):
    the same filters, the same keyset order and cursors."""
    raw = {k: str(args.get(k) or "") for k in db_records.FILTER_KEYS if k != "account"}
    raw["account"] = f"#{account_id}" if account_id is not None else ""
    filters = db_records.parse_filters(db(), raw)  # FilterError (a ServiceError): 400
    key = None
    if after is not None:
        key = db_records.decode_cursor(after)
        if key is None:
            raise ApiError(400, "invalid", "That `after` cursor is not valid.", field="after")
    page = db_records.search(db(), filters, after=key, page_size=limit)
    return {"items": [dataclasses.asdict(r) for r in page.rows], "next": page.older}


def balance(account_id: int) -> dict[str, Any]:
    available = billing.available_balance(db(), account_id, None)
    credit = db().scalar(
        select(func.coalesce(func.sum(CreditLot.remaining), 0)).where(CreditLot.account_id == account_id)
    )
    account = db().get(Account, account_id)
    return {
        "account_id": account_id,
        "currency": "USD",
        "available": available.credit,
        "credit": Decimal(credit or 0),
        "status": account.status if account else "",
    }
