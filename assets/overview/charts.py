"""Geometry of the Overview's SVG charts: pure functions, no Django. Templates draw what these return.

A stacked bar chart is columns (an hour, a day) of series (statuses, outcomes) stacked bottom up, on a y axis
rounded up to a readable maximum; every segment knows its value, its tooltip text and the link to the list
behind it. A sparkline is one small bar per day, with the failed part marked.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

#: Room for the y axis labels (left), the x axis labels (bottom) and the top label.
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 34.0, 16.0, 16.0, 22.0
Y_TICKS = 4
BAR_SHARE = 0.72


@dataclass(frozen=True)
class Series:
    key: str
    label: str


@dataclass(frozen=True)
class Column:
    """One bucket: ``label`` in full (tooltips, the table), ``tick`` on the x axis (empty: no label)."""

    label: str
    tick: str
    values: Mapping[str, int]
    href: str = ""
    series_hrefs: Mapping[str, str] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.values.values())


@dataclass(frozen=True)
class Segment:
    x: float
    y: float
    width: float
    height: float
    series: Series
    value: int
    title: str
    href: str


@dataclass(frozen=True)
class ColumnShape:
    """A column's segments, and the whole slot (hovering it anywhere shows the bucket's total)."""

    column: Column
    x: float
    width: float
    segments: list[Segment]
    title: str
    #: (value, link) per series, in series order: the chart's table row.
    cells: list[tuple[int, str]]


@dataclass(frozen=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True)
class BarChart:
    width: float
    height: float
    left: float
    top: float
    right: float
    bottom: float
    series: list[Series]
    columns: list[ColumnShape]
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    maximum: int
    total: int
    totals: dict[str, int]

    @property
    def legend(self) -> list[tuple[Series, int]]:
        """The series that have something, with their totals."""
        return [(item, self.totals[item.key]) for item in self.series if self.totals[item.key]]

    @property
    def y_label_x(self) -> float:
        return self.left - 6

    @property
    def x_label_y(self) -> float:
        return self.height - 6

    @property
    def plot_height(self) -> float:
        return self.bottom - self.top


def short_number(value: float) -> str:
    """``950``, ``1,200``, ``12k``, ``3.5M``: axis labels stay narrow."""
    if value >= 1_000_000:
        return f"{value / 1_000_000:.1f}".removesuffix(".0") + "M"
    if value >= 10_000:
        return f"{value / 1000:.0f}k"
    return f"{value:,.0f}"


def nice_step(largest: int, ticks: int = Y_TICKS) -> int:
    """The gridline step: 1, 2 or 5 times a power of ten, so that ``ticks`` steps reach ``largest``."""
    if largest <= ticks:
        return 1
    raw = largest / ticks
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if factor * power >= raw:
            return int(factor * power)
    return int(10 * power)  # pragma: no cover - the loop always returns


def stacked_bars(
    columns: Sequence[Column], series: Sequence[Series], *, width: float = 400, height: float = 180, unit: str = ""
) -> BarChart:
    """Lay ``columns`` out as stacked bars. ``unit`` names what is counted, for tooltips (``deliveries``)."""
    left, top = MARGIN_LEFT, MARGIN_TOP
    right, bottom = width - MARGIN_RIGHT, height - MARGIN_BOTTOM
    largest = max((column.total for column in columns), default=0)
    step = nice_step(largest)
    maximum = step * max(math.ceil(largest / step), 1)
    scale = (bottom - top) / maximum
    slot = (right - left) / max(len(columns), 1)
    bar = slot * BAR_SHARE
    shapes = []
    for index, column in enumerate(columns):
        x = left + index * slot
        base = bottom
        segments = []
        for item in series:
            value = column.values.get(item.key, 0)
            if value <= 0:
                continue
            size = value * scale
            base -= size
            segments.append(
                Segment(
                    x=round(x + (slot - bar) / 2, 2),
                    y=round(base, 2),
                    width=round(bar, 2),
                    height=round(size, 2),
                    series=item,
                    value=value,
                    title=f"{column.label}: {value:,} {item.label.lower()}",
                    href=column.series_hrefs.get(item.key, column.href),
                )
            )
        total_text = f"{column.total:,} {unit}".strip()
        cells = [(column.values.get(item.key, 0), column.series_hrefs.get(item.key, column.href)) for item in series]
        shapes.append(
            ColumnShape(column, round(x, 2), round(slot, 2), segments, f"{column.label}: {total_text}", cells)
        )
    y_ticks = [Tick(round(bottom - value * scale, 2), short_number(value)) for value in range(0, maximum + 1, step)]
    x_ticks = [
        Tick(round(left + (index + 0.5) * slot, 2), column.tick) for index, column in enumerate(columns) if column.tick
    ]
    totals = {item.key: sum(column.values.get(item.key, 0) for column in columns) for item in series}
    return BarChart(
        width, height, left, top, right, bottom, list(series), shapes, y_ticks, x_ticks, maximum,
        sum(totals.values()), totals,
    )  # fmt: skip


@dataclass(frozen=True)
class SparkBar:
    """One day: the whole bar (``y``, ``height``) and its failed part on top (``failed_height`` from ``y``)."""

    x: float
    y: float
    width: float
    height: float
    failed_height: float
    total: int
    failed: int
    title: str
    href: str


def sparkline(points: Sequence[tuple[str, int, int, str]], *, width: float = 126, height: float = 28) -> list[SparkBar]:
    """Bars for ``(label, total, failed, href)`` points, scaled to the largest; an empty day is a 1-unit stub."""
    largest = max((total for _, total, _, _ in points), default=0) or 1
    slot = width / max(len(points), 1)
    bars = []
    for index, (label, total, failed, href) in enumerate(points):
        size = max(total / largest * (height - 1), 1.0)
        failed_size = min(failed / largest * (height - 1), size) if failed else 0.0
        if failed and failed_size < 2:
            failed_size = min(2.0, size)  # a failure is always visible
        title = f"{label}: {total:,} deliver{'y' if total == 1 else 'ies'}"
        if failed:
            title += f", {failed:,} failed"
        bars.append(
            SparkBar(
                x=round(index * slot + 1, 2),
                y=round(height - size, 2),
                width=round(max(slot - 2, 1), 2),
                height=round(size, 2),
                failed_height=round(failed_size, 2),
                total=total,
                failed=failed,
                title=title,
                href=href,
            )
        )
    return bars
