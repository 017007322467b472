"""White Pages: the member directory. Only numbers whose holder checked "Include in White
Pages" on an active account are ever listed; only the directory's own columns leave here."""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import ColumnElement, exists, func, select
from sqlalchemy.orm import Session

from db.models import Account, PsContact, VirtualNumber

PAGE_SIZE = 20
# the columns a member may sort by (an allow-list: nothing typed reaches ORDER BY)
SORTS = {
    "last_name": (Account.last_name, Account.first_name),
    "first_name": (Account.first_name, Account.last_name),
    "number": (VirtualNumber.number,),
    "city": (Account.city, Account.last_name),
    "state": (Account.state, Account.city),
    "country": (Account.country, Account.last_name),
}
DEFAULT_SORT = "last_name"


@dataclass(frozen=True)
class Criteria:
    last_name: str = ""
    first_name: str = ""
    phone: str = ""
    city: str = ""
    state: str = ""
    country: str = ""
    online_only: bool = False
    sort: str = DEFAULT_SORT


@dataclass(frozen=True)
class Listing:
    first_name: str
    last_name: str
    number: str
    city: str
    state: str
    country: str


@dataclass(frozen=True)
class Page:
    rows: list[Listing]
    total: int
    page: int
    pages: int
    first_record: int  # 1-based, 0 when empty
    last_record: int


def _prefix(value: str) -> str:
    """A LIKE prefix pattern with the user's %, _ and \\ taken literally."""
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def _conditions(c: Criteria, now: int) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = [VirtualNumber.white_pages.is_(True), Account.status == "active"]
    for column, value in (
        (Account.last_name, c.last_name),
        (Account.first_name, c.first_name),
        (Account.city, c.city),
        (Account.state, c.state),
    ):
        if value:
            conds.append(column.ilike(_prefix(value), escape="\\"))
    digits = "".join(ch for ch in c.phone if ch.isdigit())
    if digits:
        conds.append(VirtualNumber.number.contains(digits, autoescape=True))
    if c.country:
        conds.append(Account.country == c.country)
    if c.online_only:
        conds.append(
            exists().where(PsContact.endpoint == VirtualNumber.number, PsContact.expiration_time > now)
        )
    return conds


def search(session: Session, criteria: Criteria, page: int = 1, now: float | None = None) -> Page:
    """One page of the directory and the number of listings, in one statement (count(*) OVER
    (): issue 16); a page past the last is the last page (a second statement, only then)."""
    now_s = int(now if now is not None else time.time())
    conds = _conditions(criteria, now_s)
    order = SORTS.get(criteria.sort, SORTS[DEFAULT_SORT])
    page = max(1, page)

    def read(page: int) -> tuple[list[Listing], int]:
        rows = session.execute(
            select(
                Account.first_name,
                Account.last_name,
                VirtualNumber.number,
                Account.city,
                Account.state,
                Account.country,
                func.count().over().label("total"),
            )
            .join(Account, Account.id == VirtualNumber.account_id)
            .where(*conds)
            .order_by(*(func.lower(col) for col in order), VirtualNumber.number)
            .limit(PAGE_SIZE)
            .offset((page - 1) * PAGE_SIZE)
        ).all()
        return [Listing(*row[:6]) for row in rows], (rows[0].total if rows else 0)

    listings, total = read(page)
    if not listings and page > 1:  # past the last page (or nothing at all): count, then the last
        base = select(VirtualNumber).join(Account, Account.id == VirtualNumber.account_id).where(*conds)
        total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
        page = max(1, -(-total // PAGE_SIZE))
        listings, total = read(page) if total else ([], 0)
    pages = max(1, -(-total // PAGE_SIZE))
    first = (page - 1) * PAGE_SIZE + 1 if listings else 0
    return Page(listings, total, page, pages, first, first + len(listings) - 1 if listings else 0)
