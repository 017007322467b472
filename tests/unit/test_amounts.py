"""controller.rules.amounts: the one strict parser of typed money and rates (issue 13 item 8)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from controller.rules import amounts
from controller.rules.amounts import MONEY, RATE, AmountError, parse_amount, parse_whole


@pytest.mark.parametrize(
    "text, expected",
    [
        ("0", "0"),
        ("0.00", "0"),
        ("1", "1"),
        (" 2.5 ", "2.5"),
        (".5", "0.5"),
        ("5.", "5"),
        ("007.10", "7.1"),
        ("0.00001", "0.00001"),
        ("0.000010", "0.00001"),  # zeros past the scale change nothing
        ("99999.99999", "99999.99999"),
    ],
)
def test_what_is_written_is_what_is_stored(text, expected):
    value = parse_amount(text, RATE)
    assert value == Decimal(expected) and value.as_tuple().exponent == -RATE.scale


@pytest.mark.parametrize(
    "text",
    [
        "",
        ".",
        "1e30",
        "1E2",
        "NaN",
        "nan",
        "sNaN",
        "Infinity",
        "inf",
        "-0",
        "-1",
        "+1",
        "²",
        "2²",
        "１２",
        "٣",
        "1,000",
        "1 000",
        "1.0.0",
        "$1",
        "0x10",
        "1_000",
        "\u00a01",
        "1" * 41,
    ],
)
def test_anything_but_ascii_digits_and_one_dot_is_refused(text):
    with pytest.raises(AmountError) as exc:
        parse_amount(text, RATE)
    assert exc.value.reason == amounts.FORMAT


def test_a_value_the_column_would_round_is_refused_not_stored_as_zero():
    with pytest.raises(AmountError) as exc:
        parse_amount("0.000001", RATE)
    assert exc.value.reason == amounts.TOO_PRECISE
    with pytest.raises(AmountError) as exc:
        parse_amount("1.00001", MONEY)
    assert exc.value.reason == amounts.TOO_PRECISE


@pytest.mark.parametrize("text", ["100000", "123456789012", "99999.999995"])
def test_a_value_the_column_cannot_hold_is_refused(text):
    with pytest.raises(AmountError) as exc:
        parse_amount(text, RATE)
    assert exc.value.reason in (amounts.TOO_LARGE, amounts.TOO_PRECISE)


def test_a_caller_limit_and_zero():
    assert parse_amount("1000", MONEY, largest=Decimal("1000")) == Decimal("1000")
    with pytest.raises(AmountError) as exc:
        parse_amount("1000.01", MONEY, largest=Decimal("1000"))
    assert exc.value.reason == amounts.TOO_LARGE and exc.value.largest == Decimal("1000")
    with pytest.raises(AmountError) as exc:
        parse_amount("0.00", MONEY, allow_zero=False)
    assert exc.value.reason == amounts.ZERO
    assert MONEY.largest == Decimal("99999999.9999") and RATE.largest == Decimal("99999.99999")


def test_whole_numbers():
    assert parse_whole("60", smallest=0, largest=32767) == 60
    for text in ("", "-1", "1e3", "６0", "60.0", "32768", "9" * 12):
        assert parse_whole(text, smallest=0, largest=32767) is None
    assert parse_whole("0", smallest=1, largest=10) is None
