"""Least-cost routing (issue 14): which carriers a call to a number may leave through, in the
order to try them. Pure and Decimal throughout, like controller.rules.rating, whose Rate the
buy decks use. The same code orders the call's attempts (agi/routing_table.py) and answers
the admin's "route this number" tool (db/routing.py).

The routing table holds every enabled carrier's buy deck merged into one dict, prefix -> the
carriers having that exact prefix; a lookup walks the number's prefixes longest first (at most
15 dict probes however many carriers there are) and keeps each carrier's first, i.e. longest,
match. Disabled carriers are never put in a table.

The order of the candidates, the rule written down once:
  1. the buy rate per minute, cheapest first;
  2. at equal rate, the cost of a 60-second call (so the connect fee, and a minimum or an
     increment above 60 s, decide), cheapest first;
  3. then the carrier's priority, lower first;
  4. then its weight, higher first; with a seeded random.Random given, a weighted random
     draw among the carriers still tied (a carrier of weight 3 comes first three times as
     often as one of weight 1), the same draw for the same seed;
  5. then the carrier's name, so the order never depends on load order.

A candidate whose buy price is above the member's sell price (a higher rate per minute, or a
call of one of LOSS_PROBE_SECONDS costing more: a buy deck billed per minute loses against a
sell deck billed per 6 s at the same rate) is a loss: it is dropped unless the operator allows a loss on the
number (a loss_prefixes entry matching it). When every candidate was dropped for that, the call
is refused with the reason "loss"; when no enabled carrier has a prefix of the number, "no_route".
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache

from controller.rules.rating import Rate, cost

CALLER_ID_MODES = ("pass", "e164", "national", "fixed")
REFUSED_NO_ROUTE = "no_route"
REFUSED_LOSS = "loss"
DEFAULT_MAX_ATTEMPTS = 3  # the settings' route_max_attempts default
MAX_PREFIX = 15  # carrier_rates.prefix and loss_prefixes.prefix are 1-15 digits
_DIALABLE = frozenset("0123456789*#")


@dataclass(frozen=True)
class CarrierProfile:
    """What routing needs of an enabled carrier (a row of `carriers`), without its deck.
    `endpoint` is its PJSIP endpoint id (db.carriers.endpoint_id: `carrier-<name>`)."""

    carrier_id: int
    name: str
    endpoint: str
    priority: int = 0
    weight: int = 1
    max_channels: int = 0  # 0: no limit
    setup_timeout: int = 8
    tech_prefix: str = ""
    caller_id_mode: str = "pass"
    caller_id_number: str = ""


@dataclass(frozen=True)
class Candidate:
    """One carrier a call may try, with its buy rate for the number (its longest prefix)."""

    carrier_id: int
    name: str
    endpoint: str
    buy: Rate
    priority: int = 0
    weight: int = 1
    max_channels: int = 0
    setup_timeout: int = 8
    tech_prefix: str = ""
    caller_id_mode: str = "pass"
    caller_id_number: str = ""


@dataclass(frozen=True)
class RouteDecision:
    """The candidates in the order to try them (at most max_attempts) and, when there is none,
    why: "no_route" (no enabled carrier reaches the number) or "loss" (every carrier that does
    buys above the sell price and no loss prefix allows it). `refused` keeps the first
    candidates dropped for loss (at most max_attempts of them too), in the same order, so the
    admin tool can show them and their margin; a decision on the call path builds no more."""

    candidates: tuple[Candidate, ...]
    refused_reason: str | None = None
    sell: Rate | None = None
    loss_allowed: bool = False
    refused: tuple[Candidate, ...] = field(default=())

    def margin(self, candidate: Candidate, seconds: int = 60) -> Decimal | None:
        """margin() against this decision's sell rate; None when there was no sell rate."""
        return None if self.sell is None else margin(candidate, self.sell, seconds)


def margin(candidate: Candidate, sell_rate: Rate, seconds: int = 60) -> Decimal:
    """What the operator keeps on a call of `seconds` answered seconds through `candidate`:
    the member's price minus the carrier's, each as the rater prices it (minimum, increment,
    connect fee, rounded to 4 decimals). With the default 60 s, the margin per minute.
    Negative on an allowed loss."""
    return cost(seconds, sell_rate) - cost(seconds, candidate.buy)


# Call lengths at which a buy price is compared with the sell price (the loss rule): short calls,
# around the common minimums and increments, and a long one
LOSS_PROBE_SECONDS = (1, 6, 30, 60, 61, 90, 300)


@lru_cache(maxsize=4096)
def probe_costs(rate: Rate) -> tuple[Decimal, ...]:
    """What calls of LOSS_PROBE_SECONDS cost at `rate` (a sell deck has few distinct rates:
    cached; the buy decks' are computed once per distinct price when the table loads)."""
    return tuple(cost(seconds, rate) for seconds in LOSS_PROBE_SECONDS)


# Interned per distinct buy price: (rate_per_minute, connect_fee, min_seconds,
# increment_seconds, destination, country, cost of a 60-second call, costs of calls of
# LOSS_PROBE_SECONDS). A deck of 200,000 prefixes has a few
# thousand distinct prices at most, so the table holds a few thousand Decimals, not millions.
_Price = tuple[Decimal, Decimal, int, int, str, str, Decimal, tuple[Decimal, ...]]
# (carrier index, price): interned too, so a prefix's entry is a tuple of shared pairs
_Hit = tuple[int, _Price]
# a price before interning: (rate_per_minute, connect_fee, min_seconds, increment_seconds,
# destination, country)
_Values = tuple[Decimal, Decimal, int, int, str, str]


class RoutingTable:
    """Every enabled carrier's buy deck, merged: for a number, each carrier's longest prefix.

    Build it from `CarrierProfile`s and `(carrier_id, Rate)` pairs (rates of carriers not
    among the profiles are ignored: a disabled carrier's deck never enters), plus the loss
    prefixes. The loader (db.routing.read_table) feeds it prices and prefixes instead
    (price_hit, put_prefix, then seal).
    """

    def __init__(
        self,
        carriers: Iterable[CarrierProfile],
        rates: Iterable[tuple[int, Rate]] = (),
        loss_prefixes: Iterable[str] = (),
    ):
        self._profiles: tuple[CarrierProfile, ...] = tuple(sorted(carriers, key=lambda c: c.carrier_id))
        self._index = {c.carrier_id: i for i, c in enumerate(self._profiles)}
        self._by_prefix: dict[str, tuple[_Hit, ...]] = {}
        self._prices: dict[_Values, _Price] = {}
        self._hits: dict[tuple[int, _Price], _Hit] = {}
        self._rows = 0
        for carrier_id, r in rates:
            self._add(
                carrier_id,
                r.prefix,
                (
                    r.rate_per_minute,
                    r.connect_fee,
                    r.min_seconds,
                    r.increment_seconds,
                    r.destination,
                    r.country,
                ),
            )
        self._loss: frozenset[str] = frozenset()
        self._loss_lengths: list[int] = []
        self.set_loss_prefixes(loss_prefixes)
        self._lengths: list[int] = []
        # id(hit) -> (cost rank, priority, -weight, name); the hits live in self._hits
        self._order: dict[int, tuple[int, int, int, str]] = {}
        self.seal()

    # --- building -----------------------------------------------------------------------------

    def price_hit(
        self,
        carrier_id: int,
        rate_per_minute: Decimal,
        connect_fee: Decimal,
        min_seconds: int,
        increment_seconds: int,
        destination: str,
        country: str,
    ) -> _Hit:
        """The table's entry for one carrier at one price, for put_prefix. The loader reads the
        decks' distinct prices first (a few thousand per deck), then each prefix with the
        prices carriers sell it at, so 4 million rows never become 4 million Rates."""
        index = self._index.get(carrier_id)
        if index is None:
            raise ValueError(f"carrier {carrier_id} is not among the table's carriers")
        key = (rate_per_minute, connect_fee, min_seconds, increment_seconds, destination, country)
        price = self._prices.get(key)
        if price is None:
            price = self._price(key)
        return self._hits.setdefault((index, price), (index, price))

    def put_prefix(self, prefix: str, hits: tuple[_Hit, ...]) -> None:
        """A prefix and its price_hit entries, one per carrier having it. Call seal() when done."""
        self._by_prefix[prefix] = hits
        self._rows += len(hits)

    def set_loss_prefixes(self, prefixes: Iterable[str]) -> None:
        """The prefixes on which the operator accepts buying above the sell price."""
        self._loss = frozenset(p for p in prefixes if p)
        self._loss_lengths = sorted({len(p) for p in self._loss}, reverse=True)

    def seal(self) -> None:
        """Fix the prefix lengths a lookup tries and each (carrier, price)'s place in the order
        (after put_prefix): the rule's first four keys, with the two Decimals turned into
        one integer rank, so a decision sorts its candidates comparing small ints."""
        self._lengths = sorted({len(p) for p in self._by_prefix}, reverse=True)
        costs = sorted({(price[0], price[6]) for price in self._prices.values()})
        rank = {c: i for i, c in enumerate(costs)}
        self._order = {
            id(hit): (rank[(hit[1][0], hit[1][6])], p.priority, -p.weight, p.name)
            for hit in self._hits.values()
            for p in (self._profiles[hit[0]],)
        }

    def _add(self, carrier_id: int, prefix: str, key: _Values) -> None:
        self._add_many(carrier_id, (prefix,), key)

    def _add_many(self, carrier_id: int, prefixes: Iterable[str], key: _Values) -> None:
        index = self._index.get(carrier_id)
        if index is None:  # not an enabled carrier of this table
            return
        price = self._prices.get(key)
        if price is None:
            price = self._price(key)
        hit = self._hits.setdefault((index, price), (index, price))  # kept alive: id(hit) is a key
        one = (hit,)
        by_prefix = self._by_prefix
        get = by_prefix.get
        n = 0
        for prefix in prefixes:
            had = get(prefix)
            by_prefix[prefix] = one if had is None else had + one
            n += 1
        self._rows += n

    def _price(self, key: _Values) -> _Price:
        rate_per_minute, connect_fee, min_seconds, increment_seconds, destination, country = key
        rate = Rate("", rate_per_minute, connect_fee, min_seconds, increment_seconds)
        per_call = cost(60, rate)
        price: _Price = (
            rate_per_minute,
            connect_fee,
            min_seconds,
            increment_seconds,
            destination,
            country,
            per_call,
            probe_costs(rate),
        )
        self._prices[key] = price
        return price

    # --- reading ------------------------------------------------------------------------------

    @property
    def carriers(self) -> tuple[CarrierProfile, ...]:
        return self._profiles

    def __len__(self) -> int:
        """Buy-deck rows held (a carrier's prefix counts once per carrier)."""
        return self._rows

    def prefixes(self) -> int:
        """Distinct prefixes over all carriers (the dict's size)."""
        return len(self._by_prefix)

    def _longest(self, digits: str) -> list[tuple[_Hit, str]]:
        """(hit, prefix) of each carrier's longest prefix of `digits`, longest first."""
        found: list[tuple[_Hit, str]] = []
        seen: set[int] = set()
        wanted = len(self._profiles)
        by_prefix = self._by_prefix
        size = len(digits)
        for n in self._lengths:
            if n > size:
                continue
            prefix = digits[:n]
            hits = by_prefix.get(prefix)
            if hits is None:
                continue
            for hit in hits:
                if hit[0] not in seen:
                    seen.add(hit[0])
                    found.append((hit, prefix))
            if len(seen) == wanted:
                break
        return found

    def lookup(self, digits: str) -> dict[int, Rate]:
        """carrier_id -> that carrier's longest matching Rate, for every carrier reaching
        `digits` (digits only; a leading + is ignored)."""
        number = _digits(digits)
        if number is None:
            return {}
        return {self._profiles[h[0]].carrier_id: _rate(p, h[1]) for h, p in self._longest(number)}

    def loss_allowed(self, digits: str) -> bool:
        """Whether a loss_prefixes entry is a prefix of `digits` (the longest one decides;
        an entry only ever allows, so any match does)."""
        number = _digits(digits)
        if number is None:
            return False
        loss = self._loss
        return any(n <= len(number) and number[:n] in loss for n in self._loss_lengths)


def _digits(raw: str) -> str | None:
    raw = (raw or "").lstrip("+")
    return raw[:32] if raw.isdigit() and raw.isascii() else None


def _rate(prefix: str, price: _Price) -> Rate:
    return Rate(prefix, price[0], price[1], price[2], price[3], price[4], price[5])


def route(
    table: RoutingTable,
    digits: str,
    sell_rate: Rate | None,
    loss_allowed: bool | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    rng: random.Random | None = None,
    down: frozenset[str] | set[str] = frozenset(),
) -> RouteDecision:
    """The carriers to try for a call to `digits` sold at `sell_rate`, in order (see the
    module's docstring for the rule), at most `max_attempts` (at least 1) of them.
    Carriers named in `down` (failing their OPTIONS qualify) are left out like disabled ones:
    when that leaves none, the verdict is no_route.

    `loss_allowed` None asks the table's loss prefixes; True/False overrides them. With no
    sell rate (the admin tool on an unpriced number) nothing is a loss: the candidates are
    listed as they would be tried. `rng` (a seeded random.Random) spreads exact ties by
    weight; without it, ties go to the higher weight, then the name."""
    number = _digits(digits)
    if number is None:
        return RouteDecision((), REFUSED_NO_ROUTE, sell_rate, False)
    allowed = table.loss_allowed(number) if loss_allowed is None else loss_allowed
    found = table._longest(number)
    profiles = table._profiles
    if down:
        found = [f for f in found if profiles[f[0][0]].name not in down]
    if not found:
        return RouteDecision((), REFUSED_NO_ROUTE, sell_rate, allowed)

    order = table._order
    if rng is None:
        found.sort(key=lambda f: order[id(f[0])])
    else:
        # exact ties (rank and priority) drawn by weight: u ** (1 / weight), highest first
        def drawn(f: tuple[_Hit, str]) -> tuple[object, ...]:
            rank, priority, _, name = order[id(f[0])]
            return (rank, priority, -(rng.random() ** (1.0 / profiles[f[0][0]].weight)), name)

        found.sort(key=drawn)

    cap = max(1, max_attempts)
    keep: list[tuple[_Hit, str]] = []
    refused: list[tuple[_Hit, str]] = []
    if sell_rate is None or allowed:
        keep = found[:cap]
    else:
        sell_rate_per_minute, sell_costs = sell_rate.rate_per_minute, probe_costs(sell_rate)
        for f in found:
            price = f[0][1]
            if price[0] > sell_rate_per_minute or any(
                b > s for b, s in zip(price[7], sell_costs, strict=True)
            ):
                if len(refused) < cap:
                    refused.append(f)
            elif len(keep) < cap:
                keep.append(f)
                if len(keep) == cap:
                    break

    def candidate(f: tuple[_Hit, str]) -> Candidate:
        (index, price), prefix = f
        p = profiles[index]
        return Candidate(
            p.carrier_id,
            p.name,
            p.endpoint,
            _rate(prefix, price),
            p.priority,
            p.weight,
            p.max_channels,
            p.setup_timeout,
            p.tech_prefix,
            p.caller_id_mode,
            p.caller_id_number,
        )

    chosen = tuple(candidate(f) for f in keep)
    dropped = tuple(candidate(f) for f in refused)
    reason = None if chosen else REFUSED_LOSS
    return RouteDecision(chosen, reason, sell_rate, allowed, dropped)


def dial_string(candidate: Candidate, digits: str) -> str:
    """The Dial() target for one attempt: "PJSIP/<tech_prefix><digits>@<endpoint>".
    `digits` must be dialable (digits, * or #; a leading + is dropped): anything else could
    change the Dial's meaning, so it raises ValueError (a bug upstream, not a verdict)."""
    number = (digits or "").lstrip("+")
    if not number or not set(number) <= _DIALABLE or not set(candidate.tech_prefix) <= _DIALABLE:
        raise ValueError(f"not a dialable number: {digits!r}")
    if not candidate.endpoint or not all(c.isalnum() or c in "-_." for c in candidate.endpoint):
        raise ValueError(f"not an endpoint id: {candidate.endpoint!r}")
    return f"PJSIP/{candidate.tech_prefix}{number}@{candidate.endpoint}"


def caller_id_for(candidate: Candidate, member_caller_id: str) -> str:
    """The caller ID number sent to this carrier, by its caller_id_mode:
    - pass:     the member's caller ID as the call has it today (its DID, or its number);
    - e164:     "+" and the digits; a 10-digit North American number gets its country code 1;
    - national: the North American 10 digits (a leading 1 of an 11-digit number dropped);
                other numbers are passed as digits;
    - fixed:    the carrier's caller_id_number (the member's when the carrier left it empty).
    An unknown mode passes the member's caller ID (the schema allows only the four)."""
    mode = candidate.caller_id_mode
    if mode == "fixed":
        return candidate.caller_id_number or member_caller_id
    digits = "".join(c for c in member_caller_id or "" if c.isdigit())
    if mode == "e164":
        if not digits:
            return member_caller_id
        if len(digits) == 10 and digits[0] in "23456789":
            digits = "1" + digits
        return "+" + digits
    if mode == "national":
        if len(digits) == 11 and digits[0] == "1":
            return digits[1:]
        return digits or member_caller_id
    return member_caller_id
