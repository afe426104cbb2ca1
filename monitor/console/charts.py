"""Charts as server-rendered SVG: geometry computed here, drawn by templates/_charts.html.

No chart library and no script: the console works offline and its pages run no code. Each bar
carries a <title> tooltip with its exact figure.
"""

from __future__ import annotations

from dataclasses import dataclass, field

PALETTE = ["#2f6fb3", "#d9822b", "#3a9a5b", "#c23b3b", "#7d5ba6", "#8c6d31", "#d46fa3", "#5f7f8f"]
WIDTH, HEIGHT = 720, 220
LEFT, RIGHT, TOP, BOTTOM = 44, 10, 10, 34


@dataclass
class Bar:
    x: float
    y: float
    w: float
    h: float
    color: str
    title: str


@dataclass
class Chart:
    width: int = WIDTH
    height: int = HEIGHT
    bars: list[Bar] = field(default_factory=list)
    x_labels: list[tuple[float, float, str]] = field(default_factory=list)  # x, y, text
    y_ticks: list[tuple[float, str]] = field(default_factory=list)
    legend: list[tuple[str, str]] = field(default_factory=list)  # colour, label
    empty: bool = False
    left: int = LEFT
    bottom_y: float = HEIGHT - BOTTOM


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10_000):
        if value <= step * 4:
            return step * 4
    return value * 1.1


def _y_axis(chart: Chart, top_value: float, unit: str) -> float:
    """Tick marks for 0..top_value; returns pixels per unit."""
    plot_h = HEIGHT - TOP - BOTTOM
    for i in range(5):
        v = top_value * i / 4
        label = f"{v:g}{unit}" if v < 10_000 else f"{v / 10_000:g}万{unit}"
        chart.y_ticks.append((HEIGHT - BOTTOM - plot_h * i / 4, label))
    return plot_h / top_value


def stacked_columns(
    columns: list[str], series: dict[str, list[float]], labels: dict[str, str], every: int = 1
) -> Chart:
    """One column per x value, stacked by series (e.g. new leads per day by category)."""
    chart = Chart()
    totals = [sum(vals[i] for vals in series.values()) for i in range(len(columns))]
    chart.empty = not any(totals)
    scale = _y_axis(chart, _nice_max(max(totals, default=0)), "")
    slot = (WIDTH - LEFT - RIGHT) / max(len(columns), 1)
    colors = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(sorted(series))}
    chart.legend = [(colors[name], labels.get(name, name)) for name in sorted(series)]
    for i, column in enumerate(columns):
        x = LEFT + i * slot + slot * 0.15
        y = HEIGHT - BOTTOM
        for name in sorted(series):
            value = series[name][i]
            if not value:
                continue
            h = value * scale
            y -= h
            chart.bars.append(
                Bar(
                    x,
                    y,
                    slot * 0.7,
                    h,
                    colors[name],
                    f"{column} {labels.get(name, name)}: {value:g}",
                )
            )
        if i % every == 0:
            chart.x_labels.append((LEFT + i * slot + slot / 2, HEIGHT - BOTTOM + 16, column))
    return chart


def columns(items: list[tuple[str, float]], color: str, unit: str = "", width: int = 360) -> Chart:
    """One column per item (e.g. pages per run); zero columns are kept (no errors is news)."""
    chart = Chart(width=width)
    chart.empty = not items
    scale = _y_axis(chart, _nice_max(max((v for _, v in items), default=0)), unit)
    slot = (width - LEFT - RIGHT) / max(len(items), 1)
    for i, (label, value) in enumerate(items):
        h = value * scale
        x = LEFT + i * slot + slot * 0.2
        chart.bars.append(
            Bar(x, HEIGHT - BOTTOM - h, slot * 0.6, h, color, f"{label}: {value:g}{unit}")
        )
        chart.x_labels.append((LEFT + i * slot + slot / 2, HEIGHT - BOTTOM + 16, label))
    return chart


def rows(items: list[tuple[str, float]], color: str) -> Chart:
    """One horizontal bar per item, largest first (e.g. open leads per target)."""
    row_h = 22
    chart = Chart(height=max(len(items), 1) * row_h + 10, left=170)
    chart.empty = not items
    top = max((v for _, v in items), default=0) or 1
    span = WIDTH - chart.left - 60
    for i, (label, value) in enumerate(items):
        w = span * value / top
        chart.bars.append(
            Bar(chart.left, 5 + i * row_h, w, row_h - 6, color, f"{label}: {value:g}")
        )
        short = label if len(label) <= 12 else label[:11] + "…"
        chart.x_labels.append((chart.left - 6, 5 + i * row_h + row_h / 2 + 4, short))
        chart.y_ticks.append((5 + i * row_h + row_h / 2 + 4, f"{value:g}"))
    return chart
