"""Rating: the rate deck's longest-prefix match, the cost of a call, and how long a call may
last on what is left. Pure and Decimal throughout; the same code prices calls, answers the
panel's Rate Lookup and sets each call's maximum length."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.0001")  # money is kept to 4 decimals (NUMERIC(12,4))
MAX_CALL_SECONDS = 4 * 3600


@dataclass(frozen=True)
class Rate:
    prefix: str
    rate_per_minute: Decimal
    connect_fee: Decimal = Decimal("0")
    min_seconds: int = 60
    increment_seconds: int = 60
    destination: str = ""
    country: str = ""


class RateDeck:
    """In-process longest-prefix match: at most 15 dict lookups per number."""

    def __init__(self, rates: Iterable[Rate]):
        self._by_prefix: dict[str, Rate] = {r.prefix: r for r in rates}
        self._lengths = sorted({len(p) for p in self._by_prefix}, reverse=True)

    def __len__(self) -> int:
        return len(self._by_prefix)

    def lookup(self, digits: str) -> Rate | None:
        by_prefix = self._by_prefix
        for n in self._lengths:
            if n <= len(digits):
                rate = by_prefix.get(digits[:n])
                if rate is not None:
                    return rate
        return None


def billed_seconds(duration: int, rate: Rate) -> int:
    """Seconds charged for `duration` seconds: nothing for 0, at least `min_seconds`, then whole
    increments (the member is never charged for a fraction of an increment twice)."""
    if duration <= 0:
        return 0
    inc = max(1, rate.increment_seconds)
    rounded = -(-duration // inc) * inc
    return max(rate.min_seconds, rounded)


def cost(duration: int, rate: Rate) -> Decimal:
    """US dollars for a call of `duration` answered seconds, rounded half-up to 4 decimals."""
    seconds = billed_seconds(duration, rate)
    if seconds == 0:
        return Decimal("0")
    amount = rate.connect_fee + rate.rate_per_minute * Decimal(seconds) / Decimal(60)
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def affordable_seconds(credit: Decimal, rate: Rate, cap: int = MAX_CALL_SECONDS) -> int:
    """The longest call (at most `cap`) that `credit` pays for in full, or 0 when not even the
    first charge is paid. cost() is flat between multiples of the increment (and over the
    minimum), so the answer is a multiple of the increment, or `cap` itself."""
    if cap <= 0:
        return 0
    inc = max(1, rate.increment_seconds)
    first = min(inc, cap)
    if cost(first, rate) > credit:
        return 0
    if cost(cap, rate) <= credit:
        return cap
    if rate.rate_per_minute == 0:
        return cap
    # estimate exactly in Decimal (multiply before dividing), then settle on the edge
    estimate = int((credit - rate.connect_fee) * 60 / rate.rate_per_minute)
    seconds = min(max((estimate // inc) * inc, first), cap)
    while seconds > first and cost(seconds, rate) > credit:
        seconds -= inc
    while seconds + inc <= cap and cost(seconds + inc, rate) <= credit:
        seconds += inc
    return max(seconds, first)


def split_plan_and_credit(duration: int, plan_seconds_left: int) -> tuple[int, int]:
    """How many answered seconds the calling plan absorbs and how many are paid from credit."""
    from_plan = min(max(duration, 0), max(plan_seconds_left, 0))
    return from_plan, max(duration, 0) - from_plan
