"""Least-cost routing in SQL (issue 14): the routing table loaded whole for the controller
(agi/routing_table.py), the statement telling it whether anything changed, and the admin's
"route this number", which loads only what one number needs and then runs the very same
controller.rules.routing.route as the call does.

Only enabled carriers are read, so a disabled carrier's deck never reaches a table.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from controller.rules.rating import Rate
from controller.rules.routing import DEFAULT_MAX_ATTEMPTS, CarrierProfile, RouteDecision, RoutingTable, route
from db import billing
from db.carriers import endpoint_id

ENABLED_CARRIERS = (
    "SELECT id, name, priority, weight, max_channels, setup_timeout, tech_prefix, caller_id_mode,"
    " caller_id_number FROM carriers WHERE enabled ORDER BY id"
)

# The decks in two statements, so the controller's Python touches each prefix once, not each
# of the 4 million rows: first the distinct (carrier, price) pairs, a few thousand per deck;
# then every prefix with the positions (1-based, in DECK_PRICES' order) of the prices its
# carriers sell it at, comma-joined. PostgreSQL does the per-row work (a hash join on the
# price, a hash aggregate by prefix) while the controller's event loop keeps deciding calls.
_PRICE = "carrier_id, rate_per_minute, connect_fee, min_seconds, increment_seconds, destination, country"
DECK_PRICES = (
    f"SELECT DISTINCT {_PRICE} FROM carrier_rates WHERE carrier_id IN (SELECT id FROM carriers WHERE enabled)"
)
DECK_PREFIXES = (
    "SELECT r.prefix, string_agg(p.k::text, ',') FROM carrier_rates r"
    f" JOIN unnest(%s::int[], %s::int[], %s::numeric[], %s::numeric[], %s::int[], %s::int[], %s::text[], %s::text[])"
    f" AS p(k, {_PRICE}) USING ({_PRICE}) GROUP BY r.prefix"
)
# For DECK_PREFIXES, in its transaction only: memory for the hash join and aggregate of 4
# million rows, and no sorts (the planner, misjudging the join's size, would otherwise sort
# both sides on the text columns for a merge join and sort again by prefix: 3x slower).
DECK_PLAN = (
    "SET LOCAL work_mem = '128MB'",
    "SET LOCAL enable_mergejoin = off",
    "SET LOCAL enable_sort = off",
)

LOSS_PREFIXES = "SELECT prefix FROM loss_prefixes"

# What the controller compares every check interval to decide whether to reload; a few index
# probes, however large the decks. It changes when:
# - a carrier is added, removed, enabled or disabled, or edited: their count, the enabled
#   count and max(updated_at) (db/carriers.py bumps updated_at on every change of a carrier,
#   a deck import included);
# - a buy deck gains rows: max(carrier_rates.id) (bigserial; an import replaces a deck by
#   deleting and inserting, so the id grows);
# - any row of carrier_rates is inserted, updated or deleted by anyone: PostgreSQL's own
#   cumulative counters of the table (they move when the changing transaction ends, within
#   about a second; an aborted change moves them too, costing one needless reload);
# - the loss prefixes change: their count and a digest of them (a small table).
# Nothing is added to the schema for it.
TABLE_VERSION = (
    "SELECT concat_ws('/',"
    # every carrier's id and updated_at, not their max: an edit committed with an older clock
    # (two panels, a clock stepped back) would not move the max
    " (SELECT count(*) || ':' || count(*) FILTER (WHERE enabled) || ':'"
    "  || coalesce(md5(string_agg(id || '@' || updated_at, ',' ORDER BY id)), '') FROM carriers),"
    " (SELECT coalesce(max(id), 0) FROM carrier_rates),"
    " (SELECT n_tup_ins + n_tup_upd + n_tup_del FROM pg_stat_user_tables"
    "  WHERE relid = 'carrier_rates'::regclass),"
    " (SELECT count(*) || ':' || coalesce(md5(string_agg(prefix, ',' ORDER BY prefix)), '') FROM loss_prefixes))"
)

# One number: each enabled carrier's longest prefix of it, one probe of the unique
# (carrier_id, prefix) index per carrier and prefix length
_NUMBER_RATES = (
    "SELECT c.id, r.prefix, r.rate_per_minute, r.connect_fee, r.min_seconds, r.increment_seconds,"
    " r.destination, r.country FROM carriers c CROSS JOIN LATERAL ("
    "  SELECT * FROM carrier_rates r WHERE r.carrier_id = c.id AND r.prefix = ANY(:p)"
    "  ORDER BY length(r.prefix) DESC LIMIT 1) r WHERE c.enabled"
)
_NUMBER_LOSS = "SELECT prefix FROM loss_prefixes WHERE prefix = ANY(:p)"


def profile(row: Any) -> CarrierProfile:
    """A row of ENABLED_CARRIERS as routing's CarrierProfile."""
    carrier_id, name, priority, weight, max_channels, setup_timeout, tech_prefix, cid_mode, cid_number = row
    return CarrierProfile(
        carrier_id,
        name,
        endpoint_id(name),
        priority,
        weight,
        max_channels,
        setup_timeout,
        tech_prefix,
        cid_mode,
        cid_number,
    )


def read_table(cur: Any) -> tuple[str, RoutingTable]:
    """The whole routing table and the TABLE_VERSION it was read at, on a DBAPI (psycopg)
    cursor. Run it in one REPEATABLE READ transaction so the version and the table agree."""
    cur.execute(TABLE_VERSION)
    version = cur.fetchone()[0]
    cur.execute(ENABLED_CARRIERS)
    table = RoutingTable([profile(r) for r in cur.fetchall()])
    cur.execute(LOSS_PREFIXES)
    table.set_loss_prefixes(r[0] for r in cur.fetchall())
    cur.execute(DECK_PRICES)
    prices = cur.fetchall()
    hits: list[Any] = [None]  # positions are 1-based
    hits += [table.price_hit(*p) for p in prices]
    columns: list[list[Any]] = (
        [list(c) for c in zip(*prices, strict=True)] if prices else [[] for _ in range(7)]
    )
    for setting in DECK_PLAN:
        cur.execute(setting)
    cur.execute(DECK_PREFIXES, [list(range(1, len(prices) + 1)), *columns])
    put, at = table.put_prefix, hits.__getitem__
    while rows := cur.fetchmany(5000):
        for prefix, positions in rows:
            put(prefix, tuple(map(at, map(int, positions.split(",")))))
    table.seal()
    return version, table


def table_for_number(session: Session, digits: str) -> RoutingTable:
    """A routing table holding only what `digits` needs: every enabled carrier, each one's
    longest prefix of the number, and the loss prefixes matching it. route() on it answers as
    on the whole table (tests/db/test_routing_table.py checks they agree)."""
    prefixes = billing.prefixes_of(digits)
    profiles = [profile(r) for r in session.execute(text(ENABLED_CARRIERS)).all()]
    rates: list[tuple[int, Rate]] = []
    loss: list[str] = []
    if prefixes:
        rows = session.execute(text(_NUMBER_RATES), {"p": prefixes}).all()
        rates = [(r[0], Rate(*r[1:])) for r in rows]
        loss = [r[0] for r in session.execute(text(_NUMBER_LOSS), {"p": prefixes}).all()]
    return RoutingTable(profiles, rates, loss)


def route_number(
    session: Session, digits: str, max_attempts: int = DEFAULT_MAX_ATTEMPTS
) -> tuple[Rate | None, RouteDecision | None]:
    """The admin's "route this number": the member's sell rate for `digits` (the active sell
    deck's longest prefix) and the carriers a call would try, in order, by the call's own
    rule. The decision is None when no carrier is enabled (calls then leave through the
    default trunk, as before carriers existed)."""
    sell = billing.sql_lookup(session, digits)
    table = table_for_number(session, digits)
    if not table.carriers:
        return sell, None
    return sell, route(table, digits, sell, max_attempts=max_attempts)
