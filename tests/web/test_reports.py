"""The reports' pure parts: local days in UTC (DST included), cursors, CSV cells, the chart's
axis, money and duration formats."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webpanel.call_history.chart import build, nice_ceiling
from webpanel.call_history.queries import DayTotal, party_forms
from webpanel.filters import mmss, rate_usd
from webpanel.reports import DateRange, csv_cell, decode_cursor, encode_cursor

UTC = dt.UTC


@pytest.mark.parametrize(
    "zone, day, start, end",
    [
        ("America/New_York", "2026-03-01", "2026-03-01 05:00", "2026-03-02 05:00"),
        ("America/New_York", "2026-03-08", "2026-03-08 05:00", "2026-03-09 04:00"),  # spring forward: 23 h
        ("America/New_York", "2026-11-01", "2026-11-01 04:00", "2026-11-02 05:00"),  # fall back: 25 h
        ("Asia/Kolkata", "2026-03-01", "2026-02-28 18:30", "2026-03-01 18:30"),
        ("Pacific/Kiritimati", "2026-03-01", "2026-02-28 10:00", "2026-03-01 10:00"),
        ("America/Santiago", "2026-09-06", "2026-09-06 04:00", "2026-09-07 03:00"),  # midnight skipped
    ],
)
def test_a_local_day_is_the_members_day_in_utc(zone, day, start, end):
    d = dt.date.fromisoformat(day)
    rng = DateRange(d, d, zone)
    assert rng.utc_start == dt.datetime.fromisoformat(start).replace(tzinfo=UTC)
    assert rng.utc_end == dt.datetime.fromisoformat(end).replace(tzinfo=UTC)


@given(
    st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2099, 12, 31)),
    st.integers(min_value=1, max_value=2**63 - 1),
)
def test_a_cursor_gives_back_the_key_it_was_made_from(when, row_id):
    start = when.replace(tzinfo=UTC)
    assert decode_cursor(encode_cursor(start, row_id)) == (start, row_id)


@pytest.mark.parametrize("bad", ["", "x", "1.2.3", "12", ".5", "1e5.3", "9" * 30 + ".1", "-1.-1"])
def test_a_malformed_cursor_is_refused(bad):
    assert decode_cursor(bad) is None


@pytest.mark.parametrize(
    "value, cell",
    [
        ("=SUM(A1)", "'=SUM(A1)"),
        ("@cmd", "'@cmd"),
        ("-2+3", "'-2+3"),
        ("+1 (415)", "'+1 (415)"),
        ("+442079460000", "+442079460000"),
        ("14155550100", "14155550100"),
        (None, ""),
        (Decimal("0.5"), "0.5"),
    ],
)
def test_csv_cells_never_start_a_formula(value, cell):
    assert csv_cell(value) == cell


@pytest.mark.parametrize(
    "value, top", [(0, 1), (0.4, 0.5), (1, 1), (1.01, 2), (7, 10), (42, 50), (180, 200), (1234, 2000)]
)
def test_the_chart_axis_ends_on_a_readable_number(value, top):
    assert nice_ceiling(value) == pytest.approx(top)


def test_the_chart_has_a_bar_slot_for_every_day_and_scales_to_the_busiest():
    days = [dt.date(2026, 3, 1) + dt.timedelta(days=i) for i in range(7)]
    chart = build(days, [DayTotal(days[1], 3, 600), DayTotal(days[4], 1, 300)])
    assert len(chart.bars) == 7 and chart.total_minutes == 15
    assert chart.busiest.day == days[1] and chart.bars[1].height == 2 * chart.bars[4].height
    assert chart.bars[0].height == 0 and all(
        b.x < c.x for b, c in zip(chart.bars, chart.bars[1:], strict=False)
    )


@pytest.mark.parametrize(
    "seconds, text",
    [(0, "00:00"), (59, "00:59"), (61, "01:01"), (3600, "60:00"), (4504, "75:04"), (None, "00:00")],
)
def test_durations_are_minutes_and_seconds(seconds, text):
    assert mmss(seconds) == text


@pytest.mark.parametrize(
    "rate, text",
    [
        (Decimal("0.02"), "$0.02"),
        (Decimal("0.03125"), "$0.03125"),
        (Decimal("1.2"), "$1.20"),
        (Decimal("0"), "$0.00"),
        (Decimal("1234.5"), "$1,234.50"),
    ],
)
def test_per_minute_rates_keep_the_decks_decimals(rate, text):
    assert rate_usd(rate) == text


def test_a_number_is_matched_in_every_spelling_a_cdr_may_carry():
    assert set(party_forms("+44 20 7946 0000")) >= {"+442079460000", "442079460000", "011442079460000"}
    assert set(party_forms("(415) 555-0100")) >= {"4155550100", "14155550100", "+14155550100"}
    assert set(party_forms("1-415-555-0100")) >= {"4155550100", "14155550100"}
    assert party_forms("call me") is None
