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
    plot_w = WIDTH - PAD_LEFT - PAD_RIGHT
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    n = len(points)
    step = plot_w / (n - 1) if n > 1 else 0.0

    def x_of(i: int) -> float:
        return PAD_LEFT + (i * step if n > 1 else plot_w / 2)

    parts = [
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
        f'<rect x="{PAD_LEFT}" y="{PAD_TOP}" width="{plot_w}" height="{plot_h}" '
        'fill="#ffffff" stroke="#8a8f98"/>',
    ]
    # Horizontal guide lines at quarters of each metric's own range.
    for q in range(1, 4):
        y = PAD_TOP + plot_h * q / 4
        parts.append(
            f'<line x1="{PAD_LEFT}" y1="{y:.1f}" x2="{PAD_LEFT + plot_w}" y2="{y:.1f}" '
            'stroke="#d5d8dd" stroke-dasharray="2 4"/>'
        )
    parts.append(
        f'<text x="{PAD_LEFT - 8}" y="{PAD_TOP + 10}" text-anchor="end" '
        'class="chart-axis">max</text>'
    )
    parts.append(
        f'<text x="{PAD_LEFT - 8}" y="{PAD_TOP + plot_h}" text-anchor="end" '
        'class="chart-axis">min</text>'
    )
    # Version labels along the bottom, thinned out when there are many.
    every = max(1, math.ceil(n / 12))
    for i, (label, _metrics) in enumerate(points):
        if i % every and i != n - 1:
            continue
        x = x_of(i)
        parts.append(
            f'<text x="{x:.1f}" y="{PAD_TOP + plot_h + 16}" text-anchor="end" '
            f'transform="rotate(-35 {x:.1f} {PAD_TOP + plot_h + 16})" class="chart-axis">'
            f"{escape(label)}</text>"
        )
    legend = []
    for s, name in enumerate(names):
        colour, dash, shape = SERIES_STYLES[s]
        values = [(i, m.get(name)) for i, (_label, m) in enumerate(points)]
        values = [(i, float(v)) for i, v in values if isinstance(v, int | float)]
        if not values:
            continue
        lo = min(v for _i, v in values)
        hi = max(v for _i, v in values)
        span = hi - lo

        def y_of(v: float, lo=lo, span=span) -> float:
            if span == 0:
                return PAD_TOP + plot_h / 2
            return PAD_TOP + plot_h - (v - lo) / span * plot_h

        coords = " ".join(f"{x_of(i):.1f},{y_of(v):.1f}" for i, v in values)
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(
            f'<polyline points="{coords}" fill="none" stroke="{colour}" stroke-width="2"'
            f"{dash_attr}/>"
        )
        for i, v in values:
            parts.append("<g>" + _marker(shape, x_of(i), y_of(v), colour))
            parts.append(
                f"<title>{escape(name)} {escape(_fmt(v))} in {escape(points[i][0])}</title></g>"
            )
        legend.append((name, colour, dash, shape, lo, hi))
    # The legend sits under the axis labels, one entry per metric with its range.
    lx = PAD_LEFT
    ly = HEIGHT - 34
    for name, colour, dash, shape, lo, hi in legend:
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
    parts.append("</svg>")
    # Every user-given string above went through escape(); numbers are formatted floats.
    return mark_safe("".join(parts))  # noqa: S308
