"""The model page's charts on a 390 px wide phone: the page does not scroll sideways, every
chart is visible, fits the screen and its text stays legible."""

from __future__ import annotations

import pytest

from models_app import services
from tests.browser.conftest import sign_in
from tests.factories import register

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_metric_charts_fit_and_read_on_a_phone(people, model, promote, new_page, tmp_path):
    services.policy_update(
        actor=people.admin,
        model=model,
        thresholds=[{"metric": "accuracy", "min": 0.9}, {"metric": "latency_ms", "max": 50}],
        key_metrics=[{"metric": "f1", "direction": "higher", "tolerance": 0.01}],
        reason="charts on phones",
    )
    promote(model, "1.0.0", {"accuracy": 0.93, "latency_ms": 40, "f1": 0.8})
    for i in range(12):
        register(
            actor=people.author,
            model=model,
            version=f"2.{i}.0-release-candidate.{i}",
            metrics={"accuracy": 0.9 + i / 200, "latency_ms": 35 + i, "f1": 0.8 + i / 100},
        )
    page = new_page(390, 844)
    sign_in(page, "viewer")
    assert page.goto("/models/fraud_detector/").status == 200
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    charts = page.locator("svg.metric-chart")
    assert charts.count() == 3
    for i in range(3):
        chart = charts.nth(i)
        chart.scroll_into_view_if_needed()
        assert chart.is_visible()
        box = chart.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390
        assert box["width"] >= 300  # the chart takes the phone's width, not a thumbnail
        # Tick values and version labels are drawn at least 9 px tall on screen.
        for text in ("text.chart-tick", "text.chart-version"):
            height = chart.locator(text).first.bounding_box()["height"]
            assert height >= 9, text
    section = page.locator("section", has=page.locator("#chart-h"))
    section.screenshot(path=str(tmp_path / "charts-phone.png"))


def test_metric_charts_sit_side_by_side_on_a_wide_screen(
    people, model, promote, new_page, tmp_path
):
    promote(model, "1.0.0", {"accuracy": 0.93, "latency_ms": 40, "f1": 0.8})
    register(
        actor=people.author,
        model=model,
        version="1.1.0",
        metrics={"accuracy": 0.94, "latency_ms": 41, "f1": 0.81},
    )
    page = new_page(1280, 900)
    sign_in(page, "viewer")
    assert page.goto("/models/fraud_detector/").status == 200
    boxes = [page.locator("svg.metric-chart").nth(i).bounding_box() for i in range(3)]
    assert boxes[0]["y"] == boxes[1]["y"]  # one row, not a column of full-width charts
    assert all(300 <= box["width"] <= 560 for box in boxes)
    section = page.locator("section", has=page.locator("#chart-h"))
    section.screenshot(path=str(tmp_path / "charts-wide.png"))
