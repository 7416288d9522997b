"""The model page and the models list read a bounded number of rows, whatever the number of
versions: the versions table is paged by keyset, the chart shows the latest versions, and
every summary is one indexed query."""

from __future__ import annotations

import html as html_lib
import re

import pytest

from models_app import views
from models_app.models import ModelVersion
from tests.factories import make_model, register
from tests.queries import captured_queries

URL = "/models/fraud_detector/"


def _get(client, url: str):
    with captured_queries() as ctx:
        response = client.get(url)
    return response, len(ctx)


def _labels(page: str) -> list[str]:
    """The version labels of the versions table, top to bottom."""
    table = page.split('class="data versions-table"')[1].split("</table>")[0]
    return re.findall(
        r'<th scope="row" data-label="Version"><span><a href="[^"]*">([^<]*)</a>', table
    )


def _link(page: str, rel: str) -> str | None:
    match = re.search(rf'<a href="([^"]*)" rel="{rel}">', page)
    return html_lib.unescape(match.group(1)) if match else None


@pytest.fixture
def many(people, model, promote):
    """fraud_detector with 0.1.0 in production and 60 more versions (1.0.0 … 1.59.0)."""
    promote(model, "0.1.0")
    for i in range(60):
        register(actor=people.author, model=model, version=f"1.{i}.0", metrics={"accuracy": i})
    return model


def test_model_page_query_count_does_not_grow_with_versions(people, model, promote, login):
    promote(model, "0.1.0")
    # One staging version: the staging versions' reviews and guards are read once for the
    # whole page, and not at all when none is shown.
    register(actor=people.author, model=model, version="0.1.1")
    client = login(people.release)
    client.get(URL)  # warm-up
    _response, one = _get(client, URL)
    for i in range(60):
        register(actor=people.author, model=model, version=f"1.{i}.0")
    response, many = _get(client, URL)
    assert len(_labels(response.content.decode())) == 1 + views.VERSIONS_PER_PAGE
    assert many == one
    # A deeper page costs the same as the second (the cursor's version is one more read).
    second = _link(response.content.decode(), "next")
    response, at_second = _get(client, URL + second)
    third = _link(response.content.decode(), "next")
    _response, at_third = _get(client, URL + third)
    assert at_second == at_third == one + 1


def test_older_and_newer_links_show_every_version_once_newest_first(people, many, login):
    client = login(people.viewer)
    first = client.get(URL).content.decode()
    labels = _labels(first)
    assert labels[0] == "0.1.0"  # production, pinned above the first page
    assert labels[1:4] == ["1.59.0", "1.58.0", "1.57.0"]
    assert _link(first, "prev") is None
    seen, pages, url = labels[1:], [labels[1:]], _link(first, "next")
    while url:
        page = client.get(URL + url).content.decode()
        assert "0.1.0</a>" not in page.split('class="data versions-table"')[1].split("</table>")[0]
        pages.append(_labels(page))
        seen += pages[-1]
        url = _link(page, "next")
    assert seen == [f"1.{i}.0" for i in range(59, -1, -1)]
    assert len(pages) == 3
    # Back from the last page by the newer links: the same pages, in reverse.
    back = client.get(URL + _link(client.get(URL + _link(first, "next")).content.decode(), "next"))
    page = back.content.decode()
    assert _labels(page) == pages[2]
    newer = client.get(URL + _link(page, "prev")).content.decode()
    assert _labels(newer) == pages[1]
    assert "61 versions in all" in newer
    # A page link can be reloaded: it names a version, not a position.
    again = client.get(URL + _link(page, "prev")).content.decode()
    assert _labels(again) == pages[1]


def test_chart_shows_the_latest_versions_and_more_on_request(people, many, login, monkeypatch):
    monkeypatch.setattr(views, "CHART_VERSIONS", 10)
    client = login(people.viewer)
    page = client.get(URL).content.decode()
    chart = page.split('class="chart metric-chart"')[1].split("</svg>")[0]
    assert "1.59.0" in chart and "1.50.0" in chart and "1.49.0" not in chart
    assert "The latest 10 versions by version order." in page
    more = html_lib.unescape(re.search(r'<a href="([^"]*)#chart-h">Show the latest 40', page)[1])
    page = client.get(URL + more).content.decode()
    chart = page.split('class="chart metric-chart"')[1].split("</svg>")[0]
    assert "1.20.0" in chart and "1.19.0" not in chart
    everything = client.get(URL + "?chart=1000").content.decode()
    assert "The latest 61 versions" in everything and "Show the latest" not in everything


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("?chart=0", 400),
        ("?chart=1001", 400),
        ("?chart=many", 400),
        ("?older=x", 400),
        ("?older=-1", 400),
        ("?older=99999999999", 400),
        ("?older=3&newer=2", 400),
        ("?older=999", 404),
        ("?newer=%00", 400),
    ],
)
def test_bad_page_parameters_are_4xx(people, many, login, query, status):
    assert login(people.viewer).get(URL + query).status_code == status


def test_stage_counts_are_the_models_own_exact_counts(people, many, login):
    page = login(people.viewer).get(URL).content.decode()
    counts = re.sub(r"\s+", " ", page.split('<ul class="stage-counts">')[1].split("</ul>")[0])
    assert re.findall(r'badge-(\w+)">[^<]*</span> (\d+)', counts) == [
        ("staging", "60"),
        ("production", "1"),
    ]
    assert ModelVersion.objects.filter(registered_model=many, stage="staging").count() == 60


def test_rollback_form_and_production_panel_come_without_reading_every_version(
    people, model, promote, login
):
    promote(model, "1.0.0")
    promote(model, "2.0.0")  # archives 1.0.0, a rollback target
    for i in range(30):
        register(actor=people.author, model=model, version=f"3.{i}.0")
    page = login(people.release).get(URL).content.decode()
    panel = page.split('id="prod-h"')[1].split("</section>")[0]
    assert ">2.0.0</a>" in panel
    assert '<option value="1.0.0" selected>1.0.0</option>' in page


def test_models_list_query_count_does_not_grow_with_versions(people, login):
    client = login(people.viewer)
    for m in range(3):
        model = make_model(actor=people.author, team=people.team, name=f"model_{m}")
        register(actor=people.author, model=model, version="1.0.0")
    client.get("/")
    _response, few = _get(client, "/")
    for m in range(3):
        model = make_model(actor=people.author, team=people.team, name=f"more_{m}")
        for v in range(1, 8):
            register(actor=people.author, model=model, version=f"{v}.0.0")
    response, many = _get(client, "/")
    assert few == many
    page = response.content.decode()
    assert "7 versions" in page and "1 version<" in page
