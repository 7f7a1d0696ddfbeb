"""Bar charts as SVG geometry, computed here and drawn by templates/agents/analytics.html.

No chart library and no script: the server works out each bar's rectangle and the axis labels;
the template writes `<rect>` and `<text>` elements (SVG attributes, not inline styles, so the
page keeps its strict Content-Security-Policy) and app.css gives them colours.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

WIDTH = 720
HEIGHT = 200
LEFT = 40  # room for the y axis' labels
BOTTOM = 22  # room for the x axis' labels
TOP = 8


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    title: str  # the tooltip, and what a screen reader hears
    # The part drawn over the bar's bottom (e.g. the missed chats of a day), if any.
    part_y: float = 0
    part_height: float = 0


@dataclass(frozen=True)
class Tick:
    position: float
    label: str


@dataclass
class BarChart:
    width: int
    height: int
    plot_left: int
    plot_bottom: float
    bars: list[Bar] = field(default_factory=list)
    y_ticks: list[Tick] = field(default_factory=list)
    x_ticks: list[Tick] = field(default_factory=list)


def nice_ceiling(value: float) -> int:
    """The axis' top: the first of 4, 8, 20, 40, 80, 200, 400, … that is at least `value`, so
    that its quarters (the gridlines) are whole numbers."""
    power = 1
    while True:
        for step in (4, 8, 20):
            if step * power >= value:
                return step * power
        power *= 10


def bar_chart(
    values: Sequence[float],
    *,
    labels: Sequence[str],
    titles: Sequence[str],
    parts: Sequence[float] | None = None,
    max_labels: int = 12,
    width: int = WIDTH,
    height: int = HEIGHT,
) -> BarChart:
    """One bar per value, left to right, scaled to the largest on an axis with four gridlines;
    every k-th label, so that at most `max_labels` show. `parts` (each at most its value) are
    drawn over the bottom of their bars."""
    top = nice_ceiling(max(values, default=0))
    plot_width = width - LEFT
    plot_height = height - BOTTOM - TOP
    bottom = TOP + plot_height
    chart = BarChart(width=width, height=height, plot_left=LEFT, plot_bottom=bottom)
    for i in range(5):
        chart.y_ticks.append(Tick(round(bottom - plot_height * i / 4, 1), str(top * i // 4)))
    n = max(len(values), 1)
    slot = plot_width / n
    gap = min(slot * 0.2, 6)
    every = math.ceil(n / max_labels)
    for i, value in enumerate(values):
        x = LEFT + i * slot + gap / 2
        h = plot_height * value / top
        part = parts[i] if parts is not None else 0
        ph = plot_height * part / top
        chart.bars.append(
            Bar(
                x=round(x, 1),
                y=round(bottom - h, 1),
                width=round(slot - gap, 1),
                height=round(h, 1),
                title=titles[i],
                part_y=round(bottom - ph, 1),
                part_height=round(ph, 1),
            )
        )
        if i % every == 0:
            chart.x_ticks.append(Tick(round(x + (slot - gap) / 2, 1), labels[i]))
    return chart
