"""The production health panels of the model and version pages: the latest value of each
metric with a small chart of recent values, read in a bounded number of queries."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from models_app import services
from models_app.charts import signal_sparkline
from tests.dashboard.conftest import version_url
from tests.queries import captured_queries

URL = "/models/fraud_detector/"


def _signal(people, mv, metric, value, minutes_ago=0, **kwargs):
    return services.signal_record(
        actor=people.release,
        version=mv,
        metric=metric,
        value=value,
        observed_at=timezone.now() - timedelta(minutes=minutes_ago),
        **kwargs,
    )


def _panel(page: str) -> str:
    return page.split('class="panel health-panel"')[1].split("</section>")[0]


@pytest.mark.django_db
def test_model_page_shows_the_production_versions_latest_values_and_charts(scene, people, login):
    for i, value in enumerate([0.02, 0.03, 0.05]):
        _signal(people, scene.production, "false_positive_rate", value, minutes_ago=30 - i)
    _signal(people, scene.production, "drift_psi", 0.4, window="1h", source="drift-job")
    _signal(people, scene.candidate, "shadow_metric", 9)  # not production: not on this page
    page = login(people.viewer).get(URL).content.decode()
    panel = _panel(page)
    assert "Production health of 1.1.0" in panel
    rows = panel.split("<tbody>")[1]
    assert rows.index("drift_psi") < rows.index("false_positive_rate")
    assert ">0.05<" in panel and ">1h<" in panel and "drift-job" in panel
    assert "shadow_metric" not in panel
    # One small chart per metric, its points titled with their values.
    assert panel.count('class="sparkline"') == 2
    assert "<title>0.02 at " in panel and "<title>0.05 at " in panel
    assert "0.02 – 0.05" in panel  # the range, in words beside the chart
    assert 'aria-label="false_positive_rate: 3 recent values from 0.02 to 0.05' in panel


@pytest.mark.django_db
def test_version_page_shows_its_own_signals_and_open_alerts(scene, people, login):
    _signal(people, scene.candidate, "p99_latency_ms", 41, fingerprint="abc")
    client = login(people.viewer)
    panel = _panel(client.get(version_url(scene.candidate)).content.decode())
    assert "p99_latency_ms" in panel and "alert open" in panel
    services.signal_resolve(actor=people.release, fingerprint="abc")
    panel = _panel(client.get(version_url(scene.candidate)).content.decode())
    assert "alert open" not in panel
    empty = _panel(client.get(version_url(scene.production)).content.decode())
    assert "No signals reported on 1.1.0 yet" in empty


def test_sparkline_escapes_what_it_is_given():
    svg = signal_sparkline('<b x="1">', [("<now>", 1.0), ("later", 2.0)])
    assert "<b" not in svg and "&lt;b x=&quot;1&quot;&gt;" in svg and "&lt;now&gt;" in svg
    assert signal_sparkline("m", []) == ""


@pytest.mark.django_db
def test_model_page_without_production_has_no_health_panel(people, model, login):
    page = login(people.viewer).get(URL).content.decode()
    assert "health-panel" not in page


def _count(client, url):
    with captured_queries() as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


@pytest.mark.django_db
def test_health_panels_cost_the_same_queries_whatever_the_signals(scene, people, login):
    _signal(people, scene.production, "fpr", 0.1)
    _signal(people, scene.candidate, "fpr", 0.1)
    client = login(people.release)
    pages = [URL, version_url(scene.production), version_url(scene.candidate)]
    for url in pages:
        client.get(url)  # warm-up
    before = [_count(client, url) for url in pages]
    for i in range(150):
        for mv in (scene.production, scene.candidate):
            _signal(people, mv, f"metric_{i % 30}", i, minutes_ago=i % 50)
    assert [_count(client, url) for url in pages] == before


@pytest.mark.django_db
def test_signals_stay_out_of_recent_changes_and_the_timeline(scene, people, login):
    for i in range(15):
        _signal(people, scene.production, "fpr", i / 100, minutes_ago=i)
    client = login(people.viewer)
    page = client.get(URL).content.decode()
    recent = page.split('id="recent-h"')[1].split("</section>")[0]
    assert "Health signal received" not in recent
    assert "Version promoted" in recent
    version_page = client.get(version_url(scene.production)).content.decode()
    timeline = version_page.split('id="timeline-h"')[1].split("</section>")[0]
    assert "Health signal received" not in timeline and "Version promoted" in timeline
    # The audit log still lists them.
    assert "Health signal received" in client.get("/audit/").content.decode()
