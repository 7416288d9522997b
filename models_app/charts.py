"""Server-side SVG charts for the dashboard: no JavaScript, nothing from a CDN.

Every piece of text that comes from users (version labels, metric names) is escaped
before it is placed in the SVG; the result is marked safe only after that.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

# Colours with at least 3:1 contrast against white, told apart by dash pattern and marker
# shape as well, so that the chart does not rely on colour alone.
SERIES_STYLES = [
    ("#1f5fbf", "", "circle"),
    ("#b34700", "6 4", "square"),
    ("#2e7d32", "2 3", "diamond"),
    ("#7b1fa2", "8 3 2 3", "circle"),
    ("#00695c", "4 2", "square"),
]

WIDTH, HEIGHT = 720, 320
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 56, 16, 16, 104
PLOT_W = WIDTH - PAD_LEFT - PAD_RIGHT
PLOT_H = HEIGHT - PAD_TOP - PAD_BOTTOM


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def _marker(shape: str, x: float, y: float, colour: str) -> str:
    if shape == "square":
        return f'<rect x="{x - 4:.1f}" y="{y - 4:.1f}" width="8" height="8" fill="{colour}"/>'
    if shape == "diamond":
        return (
            f'<polygon points="{x:.1f},{y - 5:.1f} {x + 5:.1f},{y:.1f} {x:.1f},{y + 5:.1f} '
            f'{x - 5:.1f},{y:.1f}" fill="{colour}"/>'
        )
    return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{colour}"/>'


def metrics_chart(
    points: Sequence[tuple[str, dict[str, float]]], metric_names: Sequence[str]
) -> SafeString:
    """A line chart of `metric_names` across versions, oldest first.

    `points` is [(version label, metrics)] in SemVer order. Each metric gets its own
    scale (min..max of its values) because accuracy and latency do not share units; the
    legend and the tooltip-like <title> of every point give the real values.
    """
    names = list(metric_names)[: len(SERIES_STYLES)]
    if not points or not names:
        return mark_safe("")
    parts = _opening(names)
    parts += _guides()
    parts += _version_labels(points)
    legend = []
    for s, name in enumerate(names):
        colour, dash, shape = SERIES_STYLES[s]
        series = _series(points, name, colour, dash, shape)
        if series is None:
            continue
        lines, lo, hi = series
        parts += lines
        legend.append((name, colour, dash, shape, lo, hi))
    parts += _legend(legend)
    parts.append("</svg>")
    # Every user-given string above went through escape(); numbers are formatted floats.
    return mark_safe("".join(parts))  # noqa: S308


def _x_of(i: int, n: int) -> float:
    """Where the i-th of `n` versions sits across the plot (a single one in the middle)."""
    step = PLOT_W / (n - 1) if n > 1 else 0.0
    return PAD_LEFT + (i * step if n > 1 else PLOT_W / 2)


def _opening(names: list[str]) -> list[str]:
    """The <svg> element with its title, its description naming the metrics, and the
    plot's frame."""
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'class="chart" role="img" aria-labelledby="chart-title chart-desc">',
        '<title id="chart-title">Key metrics across versions</title>',
        '<desc id="chart-desc">'
        + escape(
            "Each line is one metric, scaled to its own range: "
            + ", ".join(names)
            + ". Versions from oldest to newest, left to right."
        )
        + "</desc>",
        f'<rect x="{PAD_LEFT}" y="{PAD_TOP}" width="{PLOT_W}" height="{PLOT_H}" '
        'fill="#ffffff" stroke="#8a8f98"/>',
    ]


def _guides() -> list[str]:
    """Horizontal guide lines at quarters of each metric's own range, and the axis's
    max and min labels."""
    parts = []
    for q in range(1, 4):
        y = PAD_TOP + PLOT_H * q / 4
        parts.append(
            f'<line x1="{PAD_LEFT}" y1="{y:.1f}" x2="{PAD_LEFT + PLOT_W}" y2="{y:.1f}" '
            'stroke="#d5d8dd" stroke-dasharray="2 4"/>'
        )
    parts.append(
        f'<text x="{PAD_LEFT - 8}" y="{PAD_TOP + 10}" text-anchor="end" '
        'class="chart-axis">max</text>'
    )
    parts.append(
        f'<text x="{PAD_LEFT - 8}" y="{PAD_TOP + PLOT_H}" text-anchor="end" '
        'class="chart-axis">min</text>'
    )
    return parts


def _version_labels(points: Sequence[tuple[str, dict[str, float]]]) -> list[str]:
    """Version labels along the bottom, thinned out when there are many."""
    n = len(points)
    every = max(1, math.ceil(n / 12))
    parts = []
    for i, (label, _metrics) in enumerate(points):
        if i % every and i != n - 1:
            continue
        x = _x_of(i, n)
        parts.append(
            f'<text x="{x:.1f}" y="{PAD_TOP + PLOT_H + 16}" text-anchor="end" '
            f'transform="rotate(-35 {x:.1f} {PAD_TOP + PLOT_H + 16})" class="chart-axis">'
            f"{escape(label)}</text>"
        )
    return parts


def _series(
    points: Sequence[tuple[str, dict[str, float]]], name: str, colour: str, dash: str, shape: str
) -> tuple[list[str], float, float] | None:
    """One metric's line, scaled to its own range, and a marker titled with the value at
    each version that has it; with the range (lo, hi). None when no version has it."""
    n = len(points)
    values = [(i, m.get(name)) for i, (_label, m) in enumerate(points)]
    values = [(i, float(v)) for i, v in values if isinstance(v, int | float)]
    if not values:
        return None
    lo = min(v for _i, v in values)
    hi = max(v for _i, v in values)
    span = hi - lo

    def y_of(v: float) -> float:
        if span == 0:
            return PAD_TOP + PLOT_H / 2
        return PAD_TOP + PLOT_H - (v - lo) / span * PLOT_H

    coords = " ".join(f"{_x_of(i, n):.1f},{y_of(v):.1f}" for i, v in values)
    dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
    parts = [
        f'<polyline points="{coords}" fill="none" stroke="{colour}" stroke-width="2"{dash_attr}/>'
    ]
    for i, v in values:
        parts.append("<g>" + _marker(shape, _x_of(i, n), y_of(v), colour))
        parts.append(
            f"<title>{escape(name)} {escape(_fmt(v))} in {escape(points[i][0])}</title></g>"
        )
    return parts, lo, hi


def _legend(entries: list[tuple[str, str, str, str, float, float]]) -> list[str]:
    """The legend under the axis labels: one entry per metric, with its range."""
    parts = []
    lx = PAD_LEFT
    ly = HEIGHT - 34
    for name, colour, dash, shape, lo, hi in entries:
        text = f"{name} ({_fmt(lo)}–{_fmt(hi)})"
        if lx + 40 + 7 * len(text) > WIDTH and lx > PAD_LEFT:
            lx, ly = PAD_LEFT, ly + 20
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(
            f'<line x1="{lx}" y1="{ly - 4}" x2="{lx + 24}" y2="{ly - 4}" stroke="{colour}" '
            f'stroke-width="2"{dash_attr}/>'
        )
        parts.append(_marker(shape, lx + 12, ly - 4, colour))
        parts.append(f'<text x="{lx + 30}" y="{ly}" class="chart-legend">{escape(text)}</text>')
        lx += 40 + 7 * len(text)
    return parts


SPARK_W, SPARK_H, SPARK_PAD = 200, 44, 5


def signal_sparkline(metric: str, points: Sequence[tuple[str, float]]) -> SafeString:
    """A small line of one metric's recent signals, oldest first: `points` is
    [(observation time as text, value)]. Scaled to its own range; each point's <title>
    gives its value and time, and the label names the range, so that nothing is told by
    the drawing alone."""
    if not points:
        return mark_safe("")
    values = [float(v) for _t, v in points]
    lo, hi = min(values), max(values)
    span = hi - lo
    n = len(points)
    inner_w, inner_h = SPARK_W - 2 * SPARK_PAD, SPARK_H - 2 * SPARK_PAD

    def x_of(i: int) -> float:
        return SPARK_PAD + (inner_w * i / (n - 1) if n > 1 else inner_w / 2)

    def y_of(v: float) -> float:
        if span == 0:
            return SPARK_PAD + inner_h / 2
        return SPARK_PAD + inner_h - (v - lo) / span * inner_h

    colour = SERIES_STYLES[0][0]
    label = (
        f"{metric}: {n} recent value{'s' if n != 1 else ''} from {_fmt(lo)} to {_fmt(hi)}, "
        f"oldest to newest, last {_fmt(values[-1])}"
    )
    coords = " ".join(f"{x_of(i):.1f},{y_of(v):.1f}" for i, v in enumerate(values))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {SPARK_W} {SPARK_H}" '
        f'class="sparkline" role="img" aria-label="{escape(label)}">',
        f'<polyline points="{coords}" fill="none" stroke="{colour}" stroke-width="1.5"/>',
    ]
    for i, (when, v) in enumerate(points):
        parts.append(
            f'<g><circle cx="{x_of(i):.1f}" cy="{y_of(float(v)):.1f}" r="2" fill="{colour}"/>'
            f"<title>{escape(_fmt(float(v)))} at {escape(when)}</title></g>"
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 (every text escaped above)
