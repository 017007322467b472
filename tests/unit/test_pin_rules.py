"""Issue 13 PIN rules (controller/rules/secrets.py): the card-keyed PIN hash and the public list
of PINs a guesser tries first."""

from __future__ import annotations

import pytest

from controller.rules import secrets as sec


def test_equal_pins_of_two_cards_hash_differently_and_never_as_the_old_form():
    a, b = sec.card_pin_hmac("k", 1, "4831"), sec.card_pin_hmac("k", 2, "4831")
    assert a != b and len(a) == len(b) == 64
    assert sec.pin_hmac("k", "4831") not in (a, b)
    assert sec.card_pin_hmac("k", 1, "4831") == a  # stable
    assert sec.card_pin_hmac("other key", 1, "4831") != a


@pytest.mark.parametrize(
    "pin", ["1234", "4321", "0000", "9999", "1212", "454545", "123456", "9876543210", "2001", "6969", "1122"]
)
def test_pins_a_guesser_tries_first(pin):
    assert sec.guessable_pin(pin)


@pytest.mark.parametrize("pin", ["4831", "5728", "73914", "2580", "13579", "660247", "1231", "0102"])
def test_ordinary_pins(pin):
    assert not sec.guessable_pin(pin)
