"""The one strict parser of money and rate values typed by people (issue 13 item 8).

`Decimal(text)` accepts far more than an amount: `1e30`, `NaN`, `Infinity`, `-0`, full-width and
other scripts' digits (`１２`), and any number of decimals, which PostgreSQL then rounds to the
column's scale, silently: a rate of 0.000001 in a `Numeric(10, 5)` column is stored as 0 and the
destination becomes free. Here an amount is written only as ASCII digits with at most one dot;
no sign, no exponent, no separators; at most the column's digits before the dot and its scale
after it, so what is stored is exactly what was written (trailing zeros past the scale are
harmless and accepted). An explicit `0` is a value like any other; whether zero is allowed is
the caller's rule.

The reason comes back as a code (`AmountError.reason`) so each caller words it (translated in
the panel, plain English in `voipctl`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

_AMOUNT = re.compile(r"(?P<whole>[0-9]*)(?:\.(?P<fraction>[0-9]*))?", re.ASCII)
MAX_TEXT = 40  # longer than any amount a column here holds, with zeros to spare


@dataclass(frozen=True)
class Column:
    """A `Numeric(precision, scale)` column: its largest value is 10**(precision-scale) - 10**-scale."""

    precision: int
    scale: int

    @property
    def whole_digits(self) -> int:
        return self.precision - self.scale

    @property
    def largest(self) -> Decimal:
        return Decimal(10) ** self.whole_digits - Decimal(1).scaleb(-self.scale)


# db/models.py: MONEY = Numeric(12, 4), RATE = Numeric(10, 5) (a test holds the two together)
MONEY = Column(12, 4)
RATE = Column(10, 5)

FORMAT = "format"  # not ASCII digits with at most one dot (signs, exponents, NaN, ², １...)
TOO_PRECISE = "too_precise"  # more decimals than the column keeps: it would be rounded
TOO_LARGE = "too_large"  # more digits before the dot than the column holds, or above `largest`
ZERO = "zero"  # zero where the caller refuses it


class AmountError(ValueError):
    def __init__(self, reason: str, column: Column, largest: Decimal):
        super().__init__(reason)
        self.reason = reason
        self.column = column
        self.largest = largest


def parse_amount(
    text: str | None, column: Column, *, largest: Decimal | None = None, allow_zero: bool = True
) -> Decimal:
    """`text` as a Decimal that `column` stores unchanged, at most `largest` (default: the
    column's largest value). Raises AmountError."""
    limit = column.largest if largest is None else min(largest, column.largest)
    raw = (text or "").strip(" \t")
    m = _AMOUNT.fullmatch(raw) if len(raw) <= MAX_TEXT else None
    if m is None or not (m.group("whole") or m.group("fraction")):
        raise AmountError(FORMAT, column, limit)
    whole = m.group("whole").lstrip("0")
    fraction = (m.group("fraction") or "").rstrip("0")
    if len(fraction) > column.scale:
        raise AmountError(TOO_PRECISE, column, limit)
    if len(whole) > column.whole_digits:
        raise AmountError(TOO_LARGE, column, limit)
    value = Decimal(f"{whole or '0'}.{fraction or '0'}").quantize(Decimal(1).scaleb(-column.scale))
    if value > limit:
        raise AmountError(TOO_LARGE, column, limit)
    if value == 0 and not allow_zero:
        raise AmountError(ZERO, column, limit)
    return value


_WHOLE = re.compile(r"[0-9]{1,9}", re.ASCII)


def parse_whole(text: str | None, *, smallest: int, largest: int) -> int | None:
    """A whole number of ASCII digits within [smallest, largest], or None."""
    raw = (text or "").strip(" \t")
    if not _WHOLE.fullmatch(raw):
        return None
    value = int(raw)
    return value if smallest <= value <= largest else None
