"""The ranking's stacked bars, drawn on the server as SVG geometry (no chart
library to fetch, nothing for the browser to run). Pure: numbers in, shapes out."""

from __future__ import annotations

from dataclasses import dataclass

# One colour per source, each with a text colour passing WCAG AA (4.5:1) on it.
SOURCE_COLOURS = {
    "net_complaints": "#1f4e79",
    "npc_deputies": "#8c2d04",
    "working_committees": "#2e6b30",
    "districts_and_enterprises": "#5b3a8a",
    "public": "#7a5c00",
}
SOURCE_ORDER = list(SOURCE_COLOURS)


@dataclass(frozen=True)
class Segment:
    source: str
    label: str
    x: float
    width: float
    value: float
    colour: str


@dataclass(frozen=True)
class Bar:
    rank: int
    department: str
    score: float
    on_slate: bool
    y: float
    segments: list[Segment]


@dataclass(frozen=True)
class StackedChart:
    width: float
    height: float
    label_width: float
    plot_width: float
    bar_height: float
    bars: list[Bar]
    ticks: list[tuple[float, int]]


def stacked_bars(ranking: list[dict], *, width: float = 720, label_width: float = 190, bar_height: float = 26,
                 gap: float = 12, top: float = 8) -> StackedChart:
    """Each department's weighted contributions laid end to end on a 0–100 scale."""
    plot = width - label_width - 56
    bars = []
    for i, row in enumerate(ranking):
        x = label_width
        contributions = {c["source"]: c for c in row["explanation"]}
        segments = []
        for source in SOURCE_ORDER + [s for s in contributions if s not in SOURCE_COLOURS]:
            c = contributions.get(source)
            if c is None:
                continue
            w = max(0.0, c["contribution"]) / 100 * plot
            segments.append(Segment(source, c["source_label"], x, w, c["contribution"], SOURCE_COLOURS.get(source, "#444444")))
            x += w
        bars.append(Bar(row["rank"], row["department"], row["score"], row["on_slate"], top + i * (bar_height + gap), segments))
    height = top + len(bars) * (bar_height + gap) + 24
    ticks = [(label_width + plot * t / 100, t) for t in (0, 25, 50, 75, 100)]
    return StackedChart(width, height, label_width, plot, bar_height, bars, ticks)
