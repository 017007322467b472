"""Rendered report fragments kept per process (issue 16: Speed): Call History's chart and
report and Missed Calls' report are most of their pages' CPU, and a member mostly reloads the
same page while nothing changed.

A fragment is kept under a key that holds the member's identity (user id and numbers), the
request (range, page, filter), the time zone and the language, with the data version it was
rendered at (version_columns: per number, its newest CDR, whether those are charged, its
account's newest charge). It is used only while the version is unchanged, so a new call or
a new charge of the member's is on the next load, and other members' calls leave it be; it
expires after TTL anyway (a correction that adds no row, such as a purge, shows within it). The store is a
bounded LRU (SIZE entries), per process.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable, Sequence
from typing import Any

from markupsafe import Markup
from sqlalchemy import and_, bindparam, func, select, text
from sqlalchemy.orm import Session

from db.models import Cdr, CdrCharge, VirtualNumber
from webpanel.access import MEMBERS, SECONDARY
from webpanel.call_history import queries

SIZE = 512
TTL = 300.0
_kept = queries._TtlCache(SIZE, TTL)


@functools.cache  # built once: constructing the subqueries is CPU of every request
def version_columns() -> tuple:
    """The member's data version, per number, as columns to add to the query of the member's
    numbers (VirtualNumber rows; one round trip, no more): the newest of the number's own CDRs
    and of the on-net CDRs to it (what its report shows; migration 0033's indexes, one probe
    each), how many of those two have a charge (the rater prices a CDR after it is written,
    whichever account it charges), and the newest charge of the number's account
    (ix_cdr_charges_account_rated: a charge of an older call). A call or charge elsewhere on
    the platform changes none of them. Nothing updates a CDR or a charge in place; a change
    that adds no row (a purge, an operator's correction) shows within TTL."""
    # correlated explicitly: `charged` nests them a level deeper than virtual_numbers. The
    # number as a range, not an equality, so that only the (number, id) index gives the order:
    # with an equality the planner may walk cdr's primary key backwards filtering on the
    # number, which reads the whole table for a number without calls (80 ms at 120k CDRs).
    own = (
        select(Cdr.id)
        .where(Cdr.vnum >= VirtualNumber.number, Cdr.vnum <= VirtualNumber.number)
        .order_by(Cdr.vnum.desc(), Cdr.id.desc())
        .limit(1)
        .correlate(VirtualNumber)
        .scalar_subquery()
    )
    onnet = (
        select(Cdr.id)
        # a literal, so that the partial index's predicate matches the statement's
        .where(
            text("cdr.call_class = 'N'"),
            Cdr.dialed >= VirtualNumber.number,
            Cdr.dialed <= VirtualNumber.number,
        )
        .order_by(Cdr.dialed.desc(), Cdr.id.desc())
        .limit(1)
        .correlate(VirtualNumber)
        .scalar_subquery()
    )
    charged = (
        select(func.count())
        .select_from(CdrCharge)
        .where(CdrCharge.cdr_id.in_([own, onnet]))
        .scalar_subquery()
    )
    rated = select(func.max(CdrCharge.rated_at)).where(CdrCharge.account_id == VirtualNumber.account_id)
    return (own, onnet, charged, rated.scalar_subquery())


@functools.cache
def _numbers_statement(secondary: bool):  # built once: its cache key is then memoized on it
    where = VirtualNumber.account_id == bindparam("account_id")
    if secondary:  # access.number_scope: a secondary user sees only their own number
        where = and_(where, VirtualNumber.id == bindparam("virtual_number_id"))
    return (
        select(VirtualNumber.number, VirtualNumber.created_at, *version_columns())
        .where(where)
        .order_by(VirtualNumber.number)
    )


def numbers_with_version(session: Session, user: Any) -> Sequence[Any]:
    """The rows (number, created_at, *version_columns) of the numbers `user` may see, as
    access.number_scope says (the whole account for the primary holder, their own number for a
    secondary user, none for anyone else), from a statement built once per role (Core: the
    ORM's result handling and the statement's cache key were a third of Call History's own
    CPU)."""
    if user is None or user.account_id is None or user.role not in MEMBERS:
        return []
    params = {"account_id": user.account_id}
    if user.role == SECONDARY:
        params["virtual_number_id"] = user.virtual_number_id
    return session.connection().execute(_numbers_statement(user.role == SECONDARY), params).all()


def version_of(rows: Sequence[Sequence[Any]], first: int = 2) -> tuple | None:
    """The version of the member's numbers' rows read with version_columns (from column
    `first`): None when the member has no number."""
    return tuple(tuple(r[first : first + 4]) for r in rows) if rows else None


def fragment(
    session: Session, key: Hashable, render: Callable[[], str], version: Hashable | None = None
) -> Markup:
    """The fragment of `key` as rendered at the current data version (`version` when the caller
    read it, with version_columns, before rendering): kept, or rendered now."""
    if version is None:  # no number: nothing of the member's can change but the platform's
        version = queries.data_version(session)  # read before rendering: a later row re-renders
    hit = _kept.get(key)
    if hit is not None and hit[0] == version:
        return hit[1]
    html = Markup(render())
    _kept.put(key, (version, html))
    return html


def forget() -> None:
    _kept.clear()


def size() -> int:
    return len(_kept._data)
