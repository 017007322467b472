"""Call History's compiled formats (webpanel.call_history.formats) write exactly what
webpanel.filters writes, in every panel language, and are the compiled ones (not the filters
they fall back to) for those languages."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

import pytest

from webpanel import filters, i18n
from webpanel.call_history import formats

ZONES = ("UTC", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "Pacific/Apia")


@pytest.mark.parametrize("language", i18n.SUPPORTED)
def test_compiled_formats_match_the_filters_in_every_panel_language(app, language):
    rng = random.Random(language)
    with app.test_request_context("/", headers={"Accept-Language": language}):
        assert filters.locale_name() == language
        fmt = formats.current()
        for name in ("datetime", "date", "usd", "number"):  # compiled, not the fallback
            assert getattr(getattr(fmt, name), "__module__", None) != filters.__name__, name
        for _ in range(2000):
            when = dt.datetime(2000, 1, 1, tzinfo=dt.UTC) + dt.timedelta(
                seconds=rng.randint(0, 40 * 365 * 86400), microseconds=rng.randint(0, 999_999)
            )
            zone = rng.choice(ZONES)
            assert fmt.datetime(when, zone) == filters.localtime(when, zone)
            assert fmt.date(when.date()) == filters.localdate(when.date())
            cost = Decimal(rng.randint(0, 10 ** rng.randint(1, 9))) / Decimal(10 ** rng.randint(0, 6))
            assert fmt.usd(cost) == filters.usd(cost)
            count = rng.randint(0, 10 ** rng.randint(1, 8))
            assert fmt.number(count) == filters.number(count)
            minutes = round(rng.random() * 10 ** rng.randint(0, 7), rng.choice((0, 1, 2, 3, 4)))
            assert fmt.number(minutes) == filters.number(minutes)
        for odd in (None, Decimal("-1.5"), Decimal("-0")):  # handed to the filter itself
            assert fmt.usd(odd) == filters.usd(odd)
        assert fmt.number(-3) == filters.number(-3) and fmt.number(1e20) == filters.number(1e20)
        naive = dt.datetime(2026, 3, 8, 6, 59, 59)  # stored as UTC
        assert fmt.datetime(naive, "America/New_York") == filters.localtime(naive, "America/New_York")


def test_a_pattern_with_fields_it_does_not_know_is_left_to_babel():
    assert (
        formats.compile_pattern("yyyy-MM-dd HH:mm:ss")
        == "{0.year:04d}-{0.month:02d}-{0.day:02d} {0.hour:02d}:{0.minute:02d}:{0.second:02d}"
    )
    assert formats.compile_pattern("d 'de' MMMM 'de' y") is None  # month names: Babel's
    assert formats.compile_pattern("h:mm a") is None  # 12-hour clock: Babel's
    assert (
        formats.compile_pattern("dd/MM/y 'à' HH'h'") == "{0.day:02d}/{0.month:02d}/{0.year} à {0.hour:02d}h"
    )


@pytest.mark.parametrize("language", i18n.SUPPORTED)
def test_the_page_writes_a_cost_in_whole_cents_half_a_cent_up(app, language):
    with app.test_request_context("/", headers={"Accept-Language": language}):
        fmt = formats.current()
        for exact, cents in (
            ("0.0417", "0.04"),
            ("0.005", "0.01"),
            ("0.0049", "0.00"),
            ("0.003", "0.00"),
            ("1234.5650", "1234.57"),
            ("12.3", "12.30"),
            ("0", "0.00"),
        ):
            assert fmt.money(Decimal(exact)) == filters.usd(Decimal(cents)), exact
        assert fmt.money(None) == ""
