"""A model with thousands of versions: its model page, version page, compare page and
rollback read a bounded number of rows, in as many statements as for a small model.

The versions are written with bulk_create (tests/dashboard/bulk.py); the benchmark of a
10,000-version model is bench/big_model.py."""

from __future__ import annotations

import re

import pytest
from django.utils import timezone

from models_app import views
from tests.dashboard.bulk import bulk_versions
from tests.dashboard.conftest import version_url
from tests.factories import register
from tests.queries import captured_queries

URL = "/models/fraud_detector/"
MANY = 3000


def _get(client, url: str, **post):
    with captured_queries() as queries:
        response = client.post(url, post) if post else client.get(url)
    assert response.status_code == 200, url
    return response.content.decode(), queries


def _unbounded_version_reads(queries: list[str]) -> list[str]:
    """The statements that read versions with no LIMIT: each could read every version."""
    return [
        sql
        for sql in queries
        if sql.lstrip().upper().startswith("SELECT")
        and 'FROM "models_app_modelversion"' in sql
        and "LIMIT" not in sql.upper()
        and "COUNT(" not in sql.upper()
    ]


@pytest.fixture
def small(people, model, promote, login):
    promote(model, "0.1.0", {"accuracy": 0.9})
    register(actor=people.author, model=model, version="0.2.0", metrics={"accuracy": 0.91})
    return login(people.release)


def test_model_page_costs_the_same_with_thousands_of_versions(people, model, small):
    small.get(URL)  # warm-up
    _page, few = _get(small, URL)
    bulk_versions(
        model=model, author=people.author, count=MANY, metrics=lambda i: {"accuracy": i / MANY}
    )
    page, many = _get(small, URL)
    # Never more statements than for the small model (the bulk versions have no card, so
    # their review states need one read fewer).
    assert len(many) <= len(few)
    assert _unbounded_version_reads(many) == []
    table = page.split('class="data versions-table"')[1].split("</table>")[0]
    assert table.count('<th scope="row"') == 1 + views.VERSIONS_PER_PAGE
    chart = page.split('class="chart metric-chart"')[1].split("</svg>")[0]
    assert chart.count('class="chart-point"') == views.CHART_VERSIONS
    assert f"{MANY + 2} versions in all" in page
    # More of the chart on request, still bounded, in the same number of statements.
    page, more = _get(small, URL + "?chart=200")
    assert len(more) <= len(few)
    chart = page.split('class="chart metric-chart"')[1].split("</svg>")[0]
    assert chart.count('class="chart-point"') == 200


def test_version_and_compare_pages_cost_the_same_with_thousands_of_versions(people, model, small):
    pages = [version_url(model.versions.get(version="0.2.0")), URL + "compare/?a=0.1.0&b=0.2.0"]
    few = []
    for url in pages:
        small.get(url)
        few.append(len(_get(small, url)[1]))
    bulk_versions(model=model, author=people.author, count=MANY)
    for url, count in zip(pages, few, strict=True):
        _page, many = _get(small, url)
        assert len(many) == count, url
        assert _unbounded_version_reads(many) == [], url


def test_rollback_reads_a_bounded_list_and_still_takes_an_older_target(
    people, model, small, monkeypatch
):
    monkeypatch.setattr(views, "ROLLBACK_TARGETS", 5)
    bulk_versions(
        model=model,
        author=people.author,
        count=40,
        stage="archived",
        promoted_at=timezone.now(),
    )
    page, _queries = _get(small, URL)
    offered = re.findall(r'<option value="([^"]*)"', page.split('id="rollback-h"')[1])
    assert len(offered) == 5
    # The first step of a rollback shows what will happen, for a target not offered too.
    page, queries = _get(small, URL + "rollback/", to_version="10.3.0", reason="bad data")
    assert _unbounded_version_reads(queries) == []
    assert "10.3.0" in page and 'name="confirm"' in page
    # A version that was never in production is no target, however it is typed.
    register(actor=people.author, model=model, version="0.3.0")
    response = small.post(URL + "rollback/", {"to_version": "0.3.0", "reason": "x"})
    assert (response.status_code, response["Location"]) == (302, URL)
    landing = small.get(response["Location"])
    assert landing.status_code == 400
    assert landing.content.decode().count("Select a valid choice") == 1
    assert model.versions.get(stage="production").version == "0.1.0"
