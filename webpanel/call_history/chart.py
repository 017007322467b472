"""The chart of call minutes per day on Call History: geometry for an inline SVG drawn by the
template. No script and no style attributes (the CSP forbids both): bars are <rect>s with SVG
presentation attributes, their colours come from panel.css classes.

Readable at any width: the bars and grid lines are in a nested SVG whose viewBox (WIDTH x
HEIGHT) is stretched sideways to the page's width (preserveAspectRatio="none", the height is
HEIGHT CSS pixels), while the axis labels are in the outer SVG, which has no viewBox: their
font is in CSS pixels (12 px on a 375 px phone as on a desktop; a scaled 720-wide viewBox drew
them at 4 px there). The days' labels are placed in percent of the width, the minutes' labels
inside the plot, above their grid lines."""

from __future__ import annotations

import datetime as dt
import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from webpanel.call_history.queries import DayTotal
from webpanel.filters import locale_name, number, short_day

WIDTH, HEIGHT = 720, 200  # the plot's viewBox; HEIGHT is also its height in CSS px
LEFT, RIGHT, TOP, BOTTOM = 0, 0, 20, 0  # TOP: room for the highest minutes label
AXIS = 26  # CSS px under the plot for the days' labels (the outer SVG is HEIGHT + AXIS high)


class Bar(NamedTuple):  # up to 366 a chart: a tuple is made several times faster than a dataclass
    x: float
    y: float
    width: float
    height: float
    day: dt.date
    minutes: float
    calls: int


@dataclass(frozen=True)
class Tick:
    y: float
    label: str


@dataclass(frozen=True)
class DayLabel:
    x: float  # percent of the chart's width
    label: str
    anchor: str = "middle"  # text-anchor: the first and last labels stay inside the chart


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    left: int
    right: float
    baseline: float
    bars: list[Bar]
    ticks: list[Tick]
    labels: list[DayLabel]
    total_minutes: float
    busiest: Bar | None

    @property
    def outer_height(self) -> int:
        """The whole chart's height in CSS px: the plot and the days' labels under it."""
        return self.height + AXIS


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 5 x 10^k at least `value` (an axis maximum people can read)."""
    if value <= 0:
        return 1
    exponent = math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        candidate = step * 10**exponent
        if candidate >= value - 1e-9:
            return candidate
    return 10 ** (exponent + 1)


def build(days: Sequence[dt.date], totals: Sequence[DayTotal]) -> Chart:
    """One bar per local day of the range (days without calls are empty bars).

    Kept for the same days, totals and language (its labels are the locale's): paging through
    a report draws the same chart again. The Chart is shared, so it is read-only."""
    return _build(tuple(days), tuple(totals), locale_name())


@functools.lru_cache(maxsize=128)
def _build(days: tuple[dt.date, ...], totals: tuple[DayTotal, ...], locale: str) -> Chart:
    by_day = {t.day: t for t in totals}
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    baseline = TOP + plot_h
    minutes = [by_day[d].seconds / 60 if d in by_day else 0.0 for d in days]
    top = nice_ceiling(max(minutes, default=0))
    slot = plot_w / max(1, len(days))
    gap = min(slot * 0.2, 4) if slot > 3 else 0
    bars = []
    width, half_gap = round(max(slot - gap, 0.5), 2), gap / 2
    for i, (day, value) in enumerate(zip(days, minutes, strict=False)):
        h = plot_h * value / top
        total = by_day.get(day)
        bars.append(
            Bar(
                round(LEFT + i * slot + half_gap, 2),
                round(baseline - h, 2),
                width,
                round(h, 2),
                day,
                round(value, 1),
                total.calls if total is not None else 0,
            )
        )
    ticks = [Tick(round(baseline - plot_h * f, 2), _minutes_label(top * f)) for f in (0, 0.5, 1)]
    every = max(1, math.ceil(len(days) / 5))  # at most 5: they fit side by side at 375 px
    labels = [
        day_label(LEFT + i * slot, slot, short_day(day)) for i, day in enumerate(days) if i % every == 0
    ]
    busiest = max((b for b in bars if b.minutes > 0), key=lambda b: b.minutes, default=None)
    return Chart(
        WIDTH, HEIGHT, LEFT, WIDTH - RIGHT, baseline, bars, ticks, labels, round(sum(minutes), 1), busiest
    )


def day_label(x: float, slot: float, label: str) -> DayLabel:
    """A label under the slot starting at `x` (viewBox units), in percent of the width: centred
    on it, or from its start / to its end near the chart's edges, so that it is not cut off."""
    middle = 100 * (x + slot / 2) / WIDTH
    if middle < 8:
        return DayLabel(round(100 * x / WIDTH, 2), label, "start")
    if middle > 92:
        return DayLabel(round(100 * (x + slot) / WIDTH, 2), label, "end")
    return DayLabel(round(middle, 2), label)


def _minutes_label(value: float) -> str:
    return number(round(value)) if value >= 10 or value == int(value) else number(round(value, 1))
