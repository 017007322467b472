from __future__ import annotations

from decimal import Decimal

import pytest

from db.models import RegionalAreaCode
from db.rates import import_deck

# The call tests' rate deck: $0.60/min billed per second (so $0.05 buys 5 s), UK $1.20/min,
# toll-free free.
TEST_DECK = [
    ("1", "US/Canada", "US", Decimal("0.6000"), Decimal("0"), 1, 1),
    ("1800", "toll-free", "US", Decimal("0"), Decimal("0"), 0, 1),
    ("44", "United Kingdom", "GB", Decimal("1.2000"), Decimal("0"), 1, 1),
]


@pytest.fixture(scope="session", autouse=True)
def call_test_deck_and_regions(request):
    """Only for tests that use the database: a rate deck and one regional area code (test
    members have 1700 numbers, area code 700: Chicago's 312 is regional for them)."""
    if "factory" not in request.fixturenames and "controller" not in request.fixturenames:
        return
    factory = request.getfixturevalue("factory")
    with factory() as s, s.begin():
        import_deck(s, "call-tests", TEST_DECK)
        if not s.get(RegionalAreaCode, ("700", "312")):
            s.add(RegionalAreaCode(area_code="700", regional_area_code="312"))
