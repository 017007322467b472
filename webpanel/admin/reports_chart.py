"""The operator reports' charts: geometry for inline SVG drawn by admin/_reports_body.html. No
script and no style attributes (the panel's CSP forbids both): bars are <rect>s with SVG
presentation attributes, coloured by panel.css's chart classes (the member Call History chart's
pattern, webpanel/call_history/chart.py). Each chart has a <title> and <desc>; its table below
is the data.

Like Call History's, the labels are in CSS px at every width (the outer SVG has no viewBox):
the columns' plot is a nested SVG stretched sideways, the days' labels are placed in percent;
the top destinations' bars are drawn in percent of the width, each name above its bar."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from webpanel.call_history.chart import AXIS, day_label, nice_ceiling

WIDTH, HEIGHT = 720, 200  # the columns' plot viewBox; HEIGHT is its height in CSS px
LEFT, RIGHT, TOP, BOTTOM = 0, 0, 20, 0


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    title: str  # the bar's tooltip: its label and value


@dataclass(frozen=True)
class Tick:
    y: float
    label: str


@dataclass(frozen=True)
class Label:
    x: float  # percent of the width
    label: str
    anchor: str = "middle"


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    left: int
    right: float
    baseline: float
    bars: list[Bar]
    ticks: list[Tick]
    labels: list[Label]

    @property
    def outer_height(self) -> int:
        return self.height + AXIS


def columns(labels: Sequence[str], values: Sequence[float], titles: Sequence[str], tick_label) -> Chart:
    """One column per value (a day), with up to 6 axis labels under them; tick_label formats
    an axis value."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    baseline = TOP + plot_h
    top = nice_ceiling(max(values, default=0))
    slot = plot_w / max(1, len(values))
    gap = min(slot * 0.2, 4) if slot > 3 else 0
    width = round(max(slot - gap, 0.5), 2)
    bars = []
    for i, (value, title) in enumerate(zip(values, titles, strict=True)):
        h = plot_h * max(value, 0) / top
        bars.append(
            Bar(round(LEFT + i * slot + gap / 2, 2), round(baseline - h, 2), width, round(h, 2), title)
        )
    ticks = [Tick(round(baseline - plot_h * f, 2), tick_label(top * f)) for f in (0, 0.5, 1)]
    every = max(1, math.ceil(len(labels) / 5))
    axis = []
    for i, label in enumerate(labels):
        if i % every == 0:
            placed = day_label(LEFT + i * slot, slot, label)
            axis.append(Label(placed.x, placed.label, placed.anchor))
    return Chart(WIDTH, HEIGHT, LEFT, WIDTH - RIGHT, baseline, bars, ticks, axis)


ROW_H = 40  # a name (12 px) over its bar (14 px)
BAR_MAX = 78  # percent of the width for the longest bar: its value is written after it


@dataclass(frozen=True)
class HBar:
    y: float  # the row's top, CSS px
    width: float  # percent of the chart's width
    name: str
    value: str
    title: str


@dataclass(frozen=True)
class HChart:
    width: int
    height: int
    left: int
    bars: list[HBar]


def rows(
    names: Sequence[str], values: Sequence[float], shown: Sequence[str], titles: Sequence[str]
) -> HChart:
    """One horizontal bar per value (top destinations), its name above it, its value after it."""
    top = max(values, default=0) or 1
    bars = [
        HBar(round(4 + i * ROW_H, 2), round(max(BAR_MAX * v / top, 0.5), 2), n, s, t)
        for i, (n, v, s, t) in enumerate(zip(names, values, shown, titles, strict=True))
    ]
    return HChart(WIDTH, 8 + ROW_H * max(1, len(bars)), 0, bars)
