"""The model page's charts: one per metric, real values on a labelled axis, the production
version and the policy's thresholds marked."""

from __future__ import annotations

import re

from models_app import services
from models_app.charts import metric_charts, nice_ticks
from tests.factories import register

URL = "/models/fraud_detector/"

POINTS = [
    ("1.0.0", {"accuracy": 0.91, "latency_ms": 42}),
    ("1.1.0", {"accuracy": 0.93, "latency_ms": 61}),
    ("1.2.0-rc.1", {"accuracy": 0.95, "latency_ms": 38, "flag": True}),
]
SPECS = [("accuracy", "higher"), ("latency_ms", "lower"), ("flag", "higher")]
THRESHOLDS = [{"metric": "accuracy", "min": 0.9}, {"metric": "latency_ms", "max": 50}]


def _ticks(svg: str) -> list[float]:
    return [float(t) for t in re.findall(r'class="chart-axis chart-tick">([^<]*)<', svg)]


def test_nice_ticks_cover_the_range_with_round_steps():
    assert nice_ticks(0.91, 0.95) == [0.9, 0.92, 0.94, 0.96]
    assert nice_ticks(38, 61) == [30, 40, 50, 60, 70]
    ticks = nice_ticks(7, 7)
    assert ticks[0] <= 7 <= ticks[-1] and len(ticks) >= 2


def test_one_chart_per_metric_on_its_own_real_scale():
    charts = metric_charts(POINTS, SPECS, production=POINTS[1], thresholds=THRESHOLDS)
    # A boolean is no number to plot: no chart for it.
    assert [c.metric for c in charts] == ["accuracy", "latency_ms"]
    accuracy, latency = (str(c.svg) for c in charts)
    assert _ticks(accuracy)[0] <= 0.9 and _ticks(accuracy)[-1] >= 0.95
    assert _ticks(latency)[0] <= 38 and _ticks(latency)[-1] >= 61
    # Axes are labelled with the metric and the versions, not "max" and "min".
    assert 'class="chart-axis chart-axis-title">latency_ms</text>' in latency
    assert "versions, oldest to newest (3)" in latency
    assert ">max<" not in latency and ">min<" not in latency
    assert charts[1].title == "latency_ms (lower is better)"
    assert "1.2.0-rc.1" in latency


def test_production_and_thresholds_are_marked_and_said():
    accuracy, latency = metric_charts(POINTS, SPECS, production=POINTS[1], thresholds=THRESHOLDS)
    assert 'class="chart-threshold"' in str(accuracy.svg)
    assert ">min 0.9</text>" in str(accuracy.svg)
    assert ">max 50</text>" in str(latency.svg)
    assert ">production 1.1.0</text>" in str(latency.svg)
    # 1.1.0's latency misses the maximum: an open marker, and said in its tooltip.
    assert "<title>1.1.0: latency_ms 61, above the maximum 50</title>" in str(latency.svg)
    assert latency.summary == (
        "latency_ms of 3 versions, from 42 in 1.0.0 to 38 in 1.2.0-rc.1 (lowest 38, highest "
        "61). Production 1.1.0: 61. The policy needs at most 50."
    )
    # A production version older than those shown is still drawn, at its value.
    older = metric_charts(POINTS, SPECS[:1], production=("0.9.0", {"accuracy": 0.8}))[0]
    assert ">production 0.9.0 (older than those shown)</text>" in str(older.svg)
    assert _ticks(str(older.svg))[0] <= 0.8


def test_labels_are_escaped():
    chart = metric_charts([("1.0.0", {"<b>x</b>": 1.0})], [("<b>x</b>", "higher")])[0]
    assert "<b>" not in str(chart.svg)
    assert "&lt;b&gt;x&lt;/b&gt;" in str(chart.svg)


def test_model_page_draws_a_chart_per_key_metric_with_policy_and_production(
    people, model, promote, login
):
    services.policy_update(
        actor=people.admin,
        model=model,
        thresholds=[{"metric": "accuracy", "min": 0.9}, {"metric": "latency_ms", "max": 50}],
        key_metrics=[],
        reason="charts",
    )
    promote(model, "1.0.0", {"accuracy": 0.93, "latency_ms": 40})
    register(
        actor=people.author,
        model=model,
        version="1.1.0",
        metrics={"accuracy": 0.95, "latency_ms": 44},
    )
    page = login(people.viewer).get(URL).content.decode()
    section = page.split('id="chart-h"')[1].split("</section>")[0]
    assert re.findall(r"<figcaption>([^<]*)</figcaption>", section) == [
        "accuracy (higher is better)",
        "latency_ms (lower is better)",
    ]
    assert section.count("<svg") == 2
    assert ">production 1.0.0</text>" in section
    assert ">min 0.9</text>" in section and ">max 50</text>" in section
