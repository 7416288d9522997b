"""Server-side SVG charts for the dashboard: no JavaScript, nothing from a CDN.

One small chart per metric (accuracy and latency do not share units, so they never share
an axis): the metric's real values on a labelled vertical axis, versions from oldest to
newest along the bottom, the production version marked, and the policy's thresholds drawn
as labelled lines. Each chart is drawn in a 360 × 230 box that the page scales to its
column, so that its text stays legible on a 390 px wide phone.

Every piece of text that comes from users (version labels, metric names) is escaped
before it is placed in the SVG; the result is marked safe only after that.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from .enums import Direction

WIDTH, HEIGHT = 360, 230
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 54, 14, 22, 72
PLOT_W = WIDTH - PAD_LEFT - PAD_RIGHT
PLOT_H = HEIGHT - PAD_TOP - PAD_BOTTOM
# Points keep this far from the plot's left and right edges.
INSET = 10
# At most this many version labels along the bottom, each cut to LABEL_CHARS (the points'
# tooltips give them in full), and at most this many charts on a page.
X_LABELS = 5
LABEL_CHARS = 11
MAX_CHARTS = 6

# Colours with at least 3:1 contrast against white; production and thresholds differ by
# dash pattern and by their text labels too, so nothing relies on colour alone.
SERIES = "#1f5fbf"
PRODUCTION = "#2e7d32"
THRESHOLD = "#b00020"
GRID = "#d5d8dd"
FRAME = "#8a8f98"

Point = tuple[str, dict]


@dataclass(frozen=True)
class MetricChart:
    """One metric's chart and the same facts in words (for people who cannot see it)."""

    metric: str
    title: str  # the metric's name and which way is better: the vertical axis's title
    svg: SafeString
    summary: str


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def _number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def nice_ticks(lo: float, hi: float, count: int = 4) -> list[float]:
    """Round values that cover lo..hi: about `count` ticks 1, 2, 2.5 or 5 × 10^k apart."""
    if hi < lo:
        lo, hi = hi, lo
    if hi == lo:
        spread = abs(hi) * 0.05 or 1.0
        lo, hi = lo - spread, hi + spread
    raw = (hi - lo) / max(count - 1, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    start = math.floor(lo / step) * step
    ticks = []
    value = start
    while value < hi + step * 0.5 and len(ticks) < 12:
        ticks.append(round(value, 12))
        value += step
    if ticks[-1] < hi:
        ticks.append(round(ticks[-1] + step, 12))
    return ticks


def metric_charts(
    points: Sequence[Point],
    specs: Sequence[tuple[str, str]],
    *,
    production: Point | None = None,
    thresholds: Sequence[dict] = (),
) -> list[MetricChart]:
    """One chart per metric of `specs` ([(name, direction)]) that some version carries.

    `points` is [(version label, metrics)], oldest first. `production` is the production
    version's (label, metrics): its point is marked when it is among `points`, and its
    value is drawn as a line either way. `thresholds` are the policy's rules
    ({"metric", "min"} or {"metric", "max"}).
    """
    charts = []
    for name, direction in list(specs)[:MAX_CHARTS]:
        rules = [r for r in thresholds if r.get("metric") == name]
        chart = _chart(len(charts), points, name, direction, production, rules)
        if chart is not None:
            charts.append(chart)
    return charts


def _x_of(i: int, n: int) -> float:
    """Where the i-th of `n` versions sits across the plot (a single one in the middle)."""
    if n <= 1:
        return PAD_LEFT + PLOT_W / 2
    return PAD_LEFT + INSET + i * (PLOT_W - 2 * INSET) / (n - 1)


def _limits(rules: list[dict]) -> list[tuple[str, float]]:
    """("min" or "max", value) of each threshold rule that has a number."""
    limits = []
    for rule in rules:
        for kind in ("min", "max"):
            value = _number(rule.get(kind))
            if value is not None:
                limits.append((kind, value))
    return limits


def _fails(value: float, limits: list[tuple[str, float]]) -> str:
    for kind, limit in limits:
        if kind == "min" and value < limit:
            return f"below the minimum {_fmt(limit)}"
        if kind == "max" and value > limit:
            return f"above the maximum {_fmt(limit)}"
    return ""


def _chart(index, points, name, direction, production, rules) -> MetricChart | None:
    values = [(i, _number(m.get(name))) for i, (_label, m) in enumerate(points)]
    values = [(i, v) for i, v in values if v is not None]
    if not values:
        return None
    n = len(points)
    limits = _limits(rules)
    prod_label, prod_value = None, None
    if production is not None:
        prod_label, prod_value = production[0], _number((production[1] or {}).get(name))
    shown = [v for _i, v in values] + [v for _k, v in limits]
    if prod_value is not None:
        shown.append(prod_value)
    # A little room above and below, so that no point sits on the frame.
    margin = (max(shown) - min(shown)) * 0.04
    ticks = nice_ticks(min(shown) - margin, max(shown) + margin)
    lo, hi = ticks[0], ticks[-1]

    def y_of(v: float) -> float:
        return PAD_TOP + PLOT_H - (v - lo) / (hi - lo) * PLOT_H

    better = {Direction.HIGHER: "higher is better", Direction.LOWER: "lower is better"}
    axis_title = f"{name} ({better[direction]})" if direction in better else name
    ident = f"metric-chart-{index}"
    summary = _summary(points, values, name, prod_label, prod_value, limits)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'class="chart metric-chart" role="img" aria-labelledby="{ident}-title {ident}-desc">',
        f'<title id="{ident}-title">{escape(axis_title)} across versions</title>',
        f'<desc id="{ident}-desc">{escape(summary)}</desc>',
    ]
    parts += _y_axis(ticks, y_of, name)
    parts += _x_axis(points, prod_label)
    parts += _threshold_lines(limits, y_of)
    parts += _production_marks(points, prod_label, prod_value, y_of)
    coords = " ".join(f"{_x_of(i, n):.1f},{y_of(v):.1f}" for i, v in values)
    parts.append(f'<polyline points="{coords}" fill="none" stroke="{SERIES}" stroke-width="2"/>')
    for i, v in values:
        label = points[i][0]
        failing = _fails(v, limits)
        fill = "#ffffff" if failing else SERIES
        note = f", {failing}" if failing else ""
        parts.append(
            f'<g class="chart-point"><circle cx="{_x_of(i, n):.1f}" cy="{y_of(v):.1f}" r="3.5" '
            f'fill="{fill}" stroke="{SERIES}" stroke-width="1.5"/>'
            f"<title>{escape(f'{label}: {name} {_fmt(v)}{note}')}</title></g>"
        )
    parts.append("</svg>")
    # Every user-given string above went through escape(); numbers are formatted floats.
    svg = mark_safe("".join(parts))  # noqa: S308
    return MetricChart(metric=name, title=axis_title, svg=svg, summary=summary)


def _summary(points, values, name, prod_label, prod_value, limits) -> str:
    first, last = values[0], values[-1]
    text = (
        f"{name} of {len(values)} version{'s' if len(values) != 1 else ''}, from "
        f"{_fmt(first[1])} in {points[first[0]][0]} to {_fmt(last[1])} in {points[last[0]][0]}"
        f" (lowest {_fmt(min(v for _i, v in values))}, highest "
        f"{_fmt(max(v for _i, v in values))})."
    )
    if prod_value is not None:
        text += f" Production {prod_label}: {_fmt(prod_value)}."
    for kind, limit in limits:
        text += f" The policy needs {'at least' if kind == 'min' else 'at most'} {_fmt(limit)}."
    return text


def _y_axis(ticks: list[float], y_of, name: str) -> list[str]:
    """The plot's frame, a guide line and a value at each tick, and the axis's title (the
    metric's name, shortened if need be: the chart's heading has it in full)."""
    title = name if len(name) <= 22 else name[:21] + "…"
    middle = PAD_TOP + PLOT_H / 2
    parts = [
        f'<rect x="{PAD_LEFT}" y="{PAD_TOP}" width="{PLOT_W}" height="{PLOT_H}" '
        f'fill="#ffffff" stroke="{FRAME}"/>',
        f'<text x="12" y="{middle:.1f}" text-anchor="middle" transform="rotate(-90 12 '
        f'{middle:.1f})" class="chart-axis chart-axis-title">{escape(title)}</text>',
    ]
    for tick in ticks:
        y = y_of(tick)
        if PAD_TOP < y < PAD_TOP + PLOT_H:
            parts.append(
                f'<line x1="{PAD_LEFT}" y1="{y:.1f}" x2="{PAD_LEFT + PLOT_W}" y2="{y:.1f}" '
                f'stroke="{GRID}" stroke-dasharray="2 4"/>'
            )
        parts.append(
            f'<text x="{PAD_LEFT - 5}" y="{y + 4:.1f}" text-anchor="end" '
            f'class="chart-axis chart-tick">{_fmt(tick)}</text>'
        )
    return parts


def _x_axis(points: Sequence[Point], prod_label: str | None) -> list[str]:
    """Some version labels along the bottom (the first, the last and evenly between, at
    most X_LABELS), slanted, and the axis's title."""
    n = len(points)
    every = max(1, math.ceil((n - 1) / (X_LABELS - 1))) if n > 1 else 1
    base = PAD_TOP + PLOT_H
    parts = []
    for i, (label, _metrics) in enumerate(points):
        if i % every and i != n - 1:
            continue
        if i != n - 1 and n - 1 - i < every / 2:
            continue  # too close to the last label, which is always shown
        x = _x_of(i, n)
        short = label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "…"
        parts.append(
            f'<line x1="{x:.1f}" y1="{base}" x2="{x:.1f}" y2="{base + 4}" stroke="{FRAME}"/>'
        )
        parts.append(
            f'<text x="{x:.1f}" y="{base + 14}" text-anchor="end" '
            f'transform="rotate(-30 {x:.1f} {base + 14})" class="chart-axis chart-version">'
            f"{escape(short)}</text>"
        )
    parts.append(
        f'<text x="{PAD_LEFT + PLOT_W / 2:.1f}" y="{HEIGHT - 4}" text-anchor="middle" '
        f'class="chart-axis">versions, oldest to newest ({n})</text>'
    )
    return parts


def _threshold_lines(limits: list[tuple[str, float]], y_of) -> list[str]:
    parts = []
    for kind, limit in limits:
        y = y_of(limit)
        text = f"{kind} {_fmt(limit)}"
        parts.append(
            f'<g class="chart-threshold"><line x1="{PAD_LEFT}" y1="{y:.1f}" '
            f'x2="{PAD_LEFT + PLOT_W}" y2="{y:.1f}" stroke="{THRESHOLD}" stroke-width="1.5" '
            'stroke-dasharray="6 3"/>'
            f'<text x="{PAD_LEFT + PLOT_W - 3}" y="{y - 3:.1f}" text-anchor="end" '
            f'class="chart-note" fill="{THRESHOLD}">{escape(text)}</text>'
            f"<title>{escape(f'Policy threshold: {text}')}</title></g>"
        )
    return parts


def _production_marks(points, prod_label, prod_value, y_of) -> list[str]:
    """The production version: a vertical line at its place among the versions shown, and
    a horizontal line at its value (also when it is older than every version shown)."""
    if prod_label is None or prod_value is None:
        return []
    n = len(points)
    parts = ['<g class="chart-production">']
    y = y_of(prod_value)
    parts.append(
        f'<line x1="{PAD_LEFT}" y1="{y:.1f}" x2="{PAD_LEFT + PLOT_W}" y2="{y:.1f}" '
        f'stroke="{PRODUCTION}" stroke-width="1" stroke-dasharray="1 3"/>'
    )
    where = next((i for i, (label, _m) in enumerate(points) if label == prod_label), None)
    text = f"production {prod_label}"
    if where is not None:
        x = _x_of(where, n)
        parts.append(
            f'<line x1="{x:.1f}" y1="{PAD_TOP}" x2="{x:.1f}" y2="{PAD_TOP + PLOT_H}" '
            f'stroke="{PRODUCTION}" stroke-width="1.5" stroke-dasharray="4 2"/>'
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="7" fill="none" stroke="{PRODUCTION}" '
            'stroke-width="2"/>'
        )
        anchor = "end" if x > PAD_LEFT + PLOT_W / 2 else "start"
        tx = x - 4 if anchor == "end" else x + 4
    else:
        anchor, tx = "start", PAD_LEFT + 3
        text += " (older than those shown)"
    parts.append(
        f'<text x="{tx:.1f}" y="{PAD_TOP - 6}" text-anchor="{anchor}" class="chart-note" '
        f'fill="{PRODUCTION}">{escape(text)}</text>'
    )
    parts.append(f"<title>{escape(f'{text}: {_fmt(prod_value)}')}</title></g>")
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

    colour = SERIES
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
