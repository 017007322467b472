"""Call records across every account (issue 15): the operator's search, its CSV export and a
record's detail, read from Asterisk's cdr table with each CDR's rating (cdr_charges).

A search is any mix of: the account (its id, or one of its virtual numbers: its CDRs are the
ones its endpoints placed, accountcode = the id, and the ones tagged with one of its numbers,
vnum), a number (the caller, src, or the member's own number, vnum), a DID (dst, or the
dialled number), a destination prefix (the dialled E.164 digits), the carrier that carried
the call, the outcome (disposition) and a range of start times. Rows come newest first, ordered
by (start DESC, id DESC), and are paged by keyset: a page is "the next N after this (start, id)",
so page 10,000 costs what page 1 does (no OFFSET). The cursor a page link carries is opaque:
base64url of the key's 16 bytes, checked when read back (a bad one is refused, never
guessed at). Migration 0027 has the indexes each search reads in order.

The export runs the same search without pages, streamed from a server-side cursor
(`yield_per`): memory stays flat whatever the number of rows.

Filter values are checked here (`parse_filters`), whatever the caller; the messages are
English (the panel translates them, webpanel/admin/records_views.py). Read only: nothing here
writes.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Integer,
    Select,
    and_,
    bindparam,
    cast,
    func,
    literal_column,
    or_,
    select,
    tuple_,
    union,
)
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Session

from db.errors import ServiceError
from db.models import Account, CallAuthorization, Carrier, Cdr, CdrCharge, CreditDebit

UTC = dt.UTC
PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
LEGS_SHOWN = 50
OUTCOMES = ("ANSWERED", "NO ANSWER", "BUSY", "FAILED", "CONGESTION")
EARLIEST = dt.datetime(2000, 1, 1, tzinfo=UTC)
LATEST = dt.datetime(2100, 1, 1, tzinfo=UTC)
FILTER_KEYS = ("account", "number", "did", "destination", "carrier", "outcome", "since", "until")

_DIGITS = re.compile(r"[0-9]{1,20}", re.ASCII)
_ACCOUNT_ID = re.compile(r"#?([0-9]{1,9})", re.ASCII)
_CARRIER = re.compile(r"[a-z0-9][a-z0-9-]{0,31}", re.ASCII)
_PHONE_NOISE = re.compile(r"[\s().-]")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2})?", re.ASCII)
_ATTEMPT = re.compile(r"^(?P<carrier>[^:;]{1,40})(?::(?P<cause>[^;]{0,40}))?$")


# --- filters -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    account_id: int | None = None
    account_numbers: tuple[str, ...] = ()  # the account's virtual numbers
    number: str | None = None  # digits
    did: str | None = None  # digits
    destination: str | None = None  # a prefix of the dialled E.164 digits
    carrier: str | None = None
    outcome: str | None = None  # one of OUTCOMES
    since: dt.datetime | None = None  # UTC, included
    until: dt.datetime | None = None  # UTC, excluded
    # the raw values as entered, for the form and the page links
    raw: tuple[tuple[str, str], ...] = field(default=(), compare=False)

    def any(self) -> bool:
        return any(
            v is not None
            for v in (
                self.account_id,
                self.number,
                self.did,
                self.destination,
                self.carrier,
                self.outcome,
                self.since,
                self.until,
            )
        )

    def query_args(self) -> dict[str, str]:
        """The filters as the search form's query string (for page and export links)."""
        return {k: v for k, v in self.raw if v}


class FilterError(ServiceError):
    """One or more bad filter values: `problems` lists every message (English)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(" ".join(problems))
        self.problems = problems


def _phone(value: str) -> str | None:
    text = _PHONE_NOISE.sub("", value)
    if text.startswith("+"):
        text = text[1:]
    return text if _DIGITS.fullmatch(text) else None


def _moment(value: str, end: bool) -> dt.datetime | None:
    """A UTC date (the whole day: its start, or the next day's start as an end) or date and time."""
    text = value.strip()
    try:
        if _DATE.fullmatch(text):
            day = dt.date.fromisoformat(text)
            moment = dt.datetime.combine(day, dt.time(), tzinfo=UTC)
            return moment + dt.timedelta(days=1) if end else moment
        if _DATETIME.fullmatch(text):
            return dt.datetime.fromisoformat(text.replace(" ", "T")).replace(tzinfo=UTC)
    except ValueError:
        return None
    return None


_RESOLVE_ACCOUNT = sql_text(
    "SELECT a.id, ARRAY(SELECT v.number FROM virtual_numbers v WHERE v.account_id = a.id"
    " ORDER BY v.number) FROM accounts a"
    " WHERE a.id = COALESCE((SELECT n.account_id FROM virtual_numbers n WHERE n.number = :digits),"
    " CAST(:account_id AS integer))"
)


def resolve_account(session: Session, value: str) -> tuple[int, tuple[str, ...]] | None:
    """An account by one of its virtual numbers (tried first: a number is the more specific)
    or by its id ('123' or '#123'), with its numbers; in one statement."""
    digits = _phone(value)
    match = _ACCOUNT_ID.fullmatch(value.strip())
    row = session.execute(
        _RESOLVE_ACCOUNT,
        {
            "digits": digits if digits is not None and len(digits) >= 4 else None,
            "account_id": int(match.group(1)) if match else None,
        },
    ).first()
    if row is None:
        return None
    return row[0], tuple(row[1])


def parse_filters(session: Session, raw: Mapping[str, str]) -> Filters:
    """The search's filters from the form's text values (keys FILTER_KEYS; empty: not set).
    Raises FilterError naming every bad value."""
    values = {k: (raw.get(k) or "").strip() for k in FILTER_KEYS}
    problems: list[str] = []
    kw: dict[str, Any] = {}
    if values["account"]:
        found = resolve_account(session, values["account"])
        if found is None:
            problems.append("No account has that id or virtual number.")
        else:
            kw["account_id"], kw["account_numbers"] = found
    for key, label in (("number", "A number"), ("did", "A DID")):
        if values[key]:
            digits = _phone(values[key])
            if digits is None or len(digits) < 3:
                problems.append(f"{label} is 3 to 20 digits, with an optional leading +.")
            else:
                kw[key] = digits
    if values["destination"]:
        digits = _phone(values["destination"])
        if digits is None:
            problems.append(
                "A destination is the first 1 to 20 digits of the number dialled, country code first."
            )
        else:
            kw["destination"] = digits
    if values["carrier"]:
        if not _CARRIER.fullmatch(values["carrier"]):
            problems.append("A carrier name is 1 to 32 lowercase letters, digits and hyphens.")
        else:
            kw["carrier"] = values["carrier"]
    if values["outcome"]:
        if values["outcome"] not in OUTCOMES:
            problems.append("Choose an outcome from the list.")
        else:
            kw["outcome"] = values["outcome"]
    for key, end in (("since", False), ("until", True)):
        if values[key]:
            moment = _moment(values[key], end)
            if moment is None or not EARLIEST <= moment <= LATEST:
                problems.append("A date is YYYY-MM-DD (or YYYY-MM-DD HH:MM), UTC, from 2000 to 2099.")
            else:
                kw[key] = moment
    since, until = kw.get("since"), kw.get("until")
    if since is not None and until is not None and since >= until:
        problems.append("The start of the date range is after its end.")
    if problems:
        raise FilterError(problems)
    return Filters(raw=tuple((k, values[k]) for k in FILTER_KEYS), **kw)


MAX_BRANCHES = 20  # an account with more numbers than this is searched with one OR


def _alternatives(f: Filters) -> list[list[Any]]:
    """The filters that are "this column or that one", each as its alternatives, most selective
    first (an account, then a number, then a DID). Values are named parameters (`_params`): a
    search's statement is built once per shape of filters and reused (`_statement`)."""
    groups: list[list[Any]] = []
    if f.account_id is not None:
        mine = [Cdr.accountcode == bindparam("f_accountcode")]
        if len(f.account_numbers) <= MAX_BRANCHES:
            mine += [Cdr.vnum == bindparam(f"f_vnum{i}") for i in range(len(f.account_numbers))]
        else:
            mine.append(Cdr.vnum.in_(bindparam("f_vnums", expanding=True)))
        groups.append(mine)
    if f.number is not None:
        groups.append([Cdr.src == bindparam("f_number"), Cdr.vnum == bindparam("f_number")])
    if f.did is not None:
        groups.append([Cdr.dst == bindparam("f_did"), Cdr.dialed == bindparam("f_did")])
    return groups


def _common(f: Filters) -> list[Any]:
    where: list[Any] = [Cdr.start.is_not(None)]
    if f.destination is not None:
        # rendered as a literal: a prepared statement's generic plan cannot use the prefix index
        # for LIKE $1 (the value is digits only, checked above)
        where.append(Cdr.dialed.like(bindparam("dest_prefix", literal_execute=True)))
    if f.carrier is not None:
        where.append(Cdr.carrier == bindparam("f_carrier"))
    if f.outcome is not None:
        where.append(Cdr.disposition == bindparam("f_outcome"))
    if f.since is not None:
        where.append(Cdr.start >= bindparam("f_since"))
    if f.until is not None:
        where.append(Cdr.start < bindparam("f_until"))
    return where


def _params(f: Filters) -> dict[str, Any]:
    """The values of the parameters `_alternatives` and `_common` name."""
    params: dict[str, Any] = {}
    if f.account_id is not None:
        params["f_accountcode"] = str(f.account_id)
        if len(f.account_numbers) <= MAX_BRANCHES:
            params.update((f"f_vnum{i}", n) for i, n in enumerate(f.account_numbers))
        else:
            params["f_vnums"] = list(f.account_numbers)
    if f.number is not None:
        params["f_number"] = f.number
    if f.did is not None:
        params["f_did"] = f.did
    if f.destination is not None:
        params["dest_prefix"] = f.destination + "%"
    for name in ("carrier", "outcome", "since", "until"):
        value = getattr(f, name)
        if value is not None:
            params[f"f_{name}"] = value
    return params


def _shape(f: Filters) -> tuple[Any, ...]:
    """What a search's statement depends on (not the values): which filters are set and how many
    numbers the account has (each is a branch of its merge, up to MAX_BRANCHES)."""
    numbers = len(f.account_numbers) if len(f.account_numbers) <= MAX_BRANCHES else -1
    return (
        f.account_id is not None and numbers,
        f.number is not None,
        f.did is not None,
        f.destination is not None,
        f.carrier is not None,
        f.outcome is not None,
        f.since is not None,
        f.until is not None,
    )


def _conditions(f: Filters) -> list[Any]:
    return _common(f) + [or_(*group) for group in _alternatives(f)]


# --- cursors -------------------------------------------------------------------------------

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)
_KEY = struct.Struct(">qq")
_MAX_ID = 2**63 - 1


@dataclass(frozen=True)
class Key:
    start: dt.datetime
    id: int


def encode_cursor(start: dt.datetime, row_id: int) -> str:
    micros = (start.astimezone(UTC) - _EPOCH) // dt.timedelta(microseconds=1)
    return base64.urlsafe_b64encode(_KEY.pack(micros, row_id)).decode("ascii").rstrip("=")


def decode_cursor(value: str) -> Key | None:
    """The key a cursor names, or None for anything that is not one of ours."""
    if not value or len(value) != 22 or not re.fullmatch(r"[A-Za-z0-9_-]{22}", value):
        return None
    try:
        micros, row_id = _KEY.unpack(base64.urlsafe_b64decode(value + "=="))
    except (binascii.Error, struct.error, ValueError):
        return None
    if not 0 < row_id <= _MAX_ID:
        return None
    try:
        start = _EPOCH + dt.timedelta(microseconds=micros)
    except OverflowError:  # a crafted cursor past the calendar's ends
        return None
    if not EARLIEST <= start <= LATEST:
        return None
    return Key(start, row_id)


# --- the search ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordRow:
    id: int
    start: dt.datetime
    account_id: int | None
    account_name: str
    src: str
    dst: str
    dialed: str
    vnum: str
    call_class: str
    disposition: str
    duration: int
    billsec: int
    carrier: str
    cost: Decimal | None
    call_type: str
    country: str
    buy_cost: Decimal | None
    margin: Decimal | None


@dataclass(frozen=True)
class Page:
    rows: list[RecordRow]
    older: str | None  # cursor of the next (older) page, None at the end
    newer: str | None  # cursor of the previous (newer) page, None on the first


_ACCOUNT_OF_CDR = func.coalesce(
    CdrCharge.account_id,
    # Asterisk's accountcode is the account id for a member's endpoint (migration 0003's view)
    cast(func.substring(Cdr.accountcode, r"^[0-9]{1,9}$"), Integer),
)


def _rows_query(where: list[Any]) -> Select[Any]:
    account_name = func.coalesce(
        func.nullif(Account.company, ""),
        func.trim(Account.first_name + literal_column("' '") + Account.last_name),
        "",
    )
    # the columns of RecordRow, in its order; text and counts never NULL (as RecordRow has them)
    return (
        select(
            Cdr.id,
            Cdr.start,
            _ACCOUNT_OF_CDR.label("account_id"),
            account_name.label("account_name"),
            func.coalesce(Cdr.src, ""),
            func.coalesce(Cdr.dst, ""),
            func.coalesce(Cdr.dialed, ""),
            func.coalesce(Cdr.vnum, ""),
            func.coalesce(Cdr.call_class, ""),
            func.coalesce(Cdr.disposition, ""),
            func.coalesce(Cdr.duration, 0),
            func.coalesce(Cdr.billsec, 0),
            func.coalesce(Cdr.carrier, ""),
            CdrCharge.cost,
            func.coalesce(CdrCharge.call_type, ""),
            func.coalesce(CdrCharge.country, ""),
            CdrCharge.buy_cost,
            CdrCharge.margin,
        )
        .select_from(Cdr)
        .outerjoin(CdrCharge, CdrCharge.cdr_id == Cdr.id)
        .outerjoin(Account, Account.id == _ACCOUNT_OF_CDR)
        .where(and_(*where))
    )


_ROW_FIELDS = tuple(f.name for f in fields(RecordRow))
_new_row = object.__new__


def _rows(session: Session, statement: Select[Any], params: dict[str, Any]) -> list[RecordRow]:
    """The statement's rows as RecordRows, through Core (no ORM step: the columns are plain
    values) and filled without the dataclass's __init__ (18 frozen setattrs a row): its
    fields are the statement's columns, in order, already without NULLs where it has none."""
    out = []
    for values in session.connection().execute(statement, params):
        row = _new_row(RecordRow)
        row.__dict__.update(zip(_ROW_FIELDS, values, strict=True))
        out.append(row)
    return out


def _page_where(f: Filters, key_cond: Any | None, n: int, newest_first: bool) -> list[Any]:
    """The page's rows as a condition. Without an either-or filter: the filters and the key
    (one ordered index scan). With one (an account is its accountcode or any of its numbers, a
    number is the caller or the member, a DID is dst or the dialled number): the ids of the
    first n rows of each alternative, each read in order from its own index, then merged: an
    OR would make PostgreSQL fetch and sort every matching row of every page."""
    common = _common(f) + ([key_cond] if key_cond is not None else [])
    groups = _alternatives(f)
    if not groups:
        return common
    first, rest = groups[0], [or_(*g) for g in groups[1:]]
    order = (Cdr.start.desc(), Cdr.id.desc()) if newest_first else (Cdr.start.asc(), Cdr.id.asc())
    branches = [select(Cdr.id).where(branch, *common, *rest).order_by(*order).limit(n) for branch in first]
    ids = union(*branches).subquery() if len(branches) > 1 else branches[0].subquery()
    return [Cdr.id.in_(select(ids.c.id)), *common]


_STATEMENTS: dict[tuple[Any, ...], Select[Any]] = {}
MAX_STATEMENTS = 512


def _statement(f: Filters, direction: str, n: int) -> Select[Any]:
    """The page query (`n` rows) for this shape of filters ("first", "older" than a key or
    "newer"), built once per process: its values are parameters (`_params`, k_start, k_id; the
    LIMIT stays a number, for the planner), and a statement object reused keeps SQLAlchemy's
    cache key, so a request neither builds nor hashes it."""
    cache_key = (direction, n, _shape(f))
    statement = _STATEMENTS.get(cache_key)
    if statement is not None:
        return statement
    key = tuple_(Cdr.start, Cdr.id)
    bound = tuple_(bindparam("k_start", type_=Cdr.start.type), bindparam("k_id", type_=Cdr.id.type))
    if direction == "newer":
        query = _rows_query(_page_where(f, key > bound, n, newest_first=False))
        statement = query.order_by(Cdr.start, Cdr.id).limit(n)
    else:
        cond = key < bound if direction == "older" else None
        query = _rows_query(_page_where(f, cond, n, newest_first=True))
        statement = query.order_by(Cdr.start.desc(), Cdr.id.desc()).limit(n)
    if len(_STATEMENTS) >= MAX_STATEMENTS:
        _STATEMENTS.clear()
    _STATEMENTS[cache_key] = statement
    return statement


def search(
    session: Session,
    f: Filters,
    *,
    after: Key | None = None,
    before: Key | None = None,
    page_size: int = PAGE_SIZE,
) -> Page:
    """One page, newest first: the first page, the page of rows older than `after` (the
    'next' link) or the page of rows newer than `before` (the 'previous' link)."""
    n = max(1, min(page_size, MAX_PAGE_SIZE))
    params = _params(f)
    if before is not None:
        params["k_start"], params["k_id"] = before.start, before.id
        fetched = _rows(session, _statement(f, "newer", n + 1), params)
        more_newer = len(fetched) > n
        rows = list(reversed(fetched[:n]))
        older = encode_cursor(rows[-1].start, rows[-1].id) if rows else None
        newer_cursor = encode_cursor(rows[0].start, rows[0].id) if rows and more_newer else None
        return Page(rows, older, newer_cursor)
    if after is not None:
        params["k_start"], params["k_id"] = after.start, after.id
    fetched = _rows(session, _statement(f, "first" if after is None else "older", n + 1), params)
    rows = fetched[:n]
    older = encode_cursor(rows[-1].start, rows[-1].id) if len(fetched) > n else None
    newer_cursor = encode_cursor(rows[0].start, rows[0].id) if rows and after is not None else None
    return Page(rows, older, newer_cursor)


EXPORT_COLUMNS = (
    "id",
    "start_utc",  # 'YYYY-MM-DD HH:MM:SS', UTC
    "account_id",
    "src",
    "dst",
    "dialed",
    "vnum",
    "disposition",
    "duration",  # 'mm:ss'
    "billsec",
    "carrier",
    "call_type",
    "country",
    "cost",
    "buy_cost",
    "margin",
)


def export_rows(session: Session, f: Filters, batch: int = 2000) -> Iterator[tuple[Any, ...]]:
    """Every matching record, newest first, as tuples of EXPORT_COLUMNS (times and durations
    already written as text by PostgreSQL: the export is a million rows, each row's Python work
    counts), from a server-side cursor: `batch` rows in memory at a time, whatever the total."""
    duration = func.greatest(func.coalesce(Cdr.duration, 0), 0)
    query = (
        select(
            Cdr.id,
            func.to_char(func.timezone("UTC", Cdr.start), "YYYY-MM-DD HH24:MI:SS"),
            _ACCOUNT_OF_CDR,
            Cdr.src,
            Cdr.dst,
            Cdr.dialed,
            Cdr.vnum,
            Cdr.disposition,
            func.concat(func.to_char(duration // 60, "FM00"), ":", func.to_char(duration % 60, "FM00")),
            Cdr.billsec,
            Cdr.carrier,
            CdrCharge.call_type,
            CdrCharge.country,
            CdrCharge.cost,
            CdrCharge.buy_cost,
            CdrCharge.margin,
        )
        .select_from(Cdr)
        .outerjoin(CdrCharge, CdrCharge.cdr_id == Cdr.id)
        .where(and_(*_conditions(f)))
        .order_by(Cdr.start.desc(), Cdr.id.desc())
    )
    result = session.execute(query, _params(f), execution_options={"yield_per": batch})
    for partition in result.partitions():
        for row in partition:
            yield tuple(row)


# --- one record ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Attempt:
    carrier: str
    cause: str  # the SIP cause or dial status that made the next one be tried; "" for the last


@dataclass(frozen=True)
class Detail:
    cdr: Cdr
    charge: CdrCharge | None
    charge_carrier: str  # the carrier the rating names (carriers.name), "" when none
    account: Account | None
    debits: list[CreditDebit]
    hold: CallAuthorization | None
    legs: list[Cdr]  # the call's other CDRs (same linkedid), in order
    more_legs: bool
    attempts: list[Attempt]


def parse_attempts(text: str | None) -> list[Attempt]:
    """cdr.carrier_attempts ("cheap:503;backup") as the carriers tried, in order."""
    attempts: list[Attempt] = []
    for part in (text or "").split(";"):
        part = part.strip()
        if not part:
            continue
        match = _ATTEMPT.match(part)
        if match:
            attempts.append(Attempt(match.group("carrier"), match.group("cause") or ""))
        else:
            attempts.append(Attempt(part[:40], ""))
    return attempts


def detail(session: Session, cdr_id: int) -> Detail | None:
    cdr = session.get(Cdr, cdr_id)
    if cdr is None:
        return None
    charge = session.scalar(select(CdrCharge).where(CdrCharge.cdr_id == cdr.id))
    carrier_name = ""
    if charge is not None and charge.carrier_id is not None:
        carrier_name = session.scalar(select(Carrier.name).where(Carrier.id == charge.carrier_id)) or ""
    account_id = charge.account_id if charge is not None else None
    if account_id is None and cdr.accountcode and re.fullmatch(r"[0-9]{1,9}", cdr.accountcode):
        account_id = int(cdr.accountcode)
    account = session.get(Account, account_id) if account_id is not None else None
    debits = (
        list(
            session.scalars(
                select(CreditDebit).where(CreditDebit.charge_id == charge.id).order_by(CreditDebit.id)
            )
        )
        if charge is not None
        else []
    )
    hold = session.get(CallAuthorization, cdr.auth_id) if cdr.auth_id is not None else None
    legs: list[Cdr] = []
    if cdr.linkedid:
        legs = list(
            session.scalars(
                select(Cdr)
                .where(Cdr.linkedid == cdr.linkedid, Cdr.id != cdr.id)
                .order_by(Cdr.start, Cdr.id)
                .limit(LEGS_SHOWN + 1)
            )
        )
    return Detail(
        cdr=cdr,
        charge=charge,
        charge_carrier=carrier_name,
        account=account,
        debits=debits,
        hold=hold,
        legs=legs[:LEGS_SHOWN],
        more_legs=len(legs) > LEGS_SHOWN,
        attempts=parse_attempts(cdr.carrier_attempts),
    )


def carrier_names(session: Session) -> list[str]:
    """The carriers' names, for the search form's suggestions."""
    return list(session.scalars(select(Carrier.name).order_by(Carrier.name)))
