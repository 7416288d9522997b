"""GET …/production/: what serving systems poll. Constant queries, ETag and 304."""

from __future__ import annotations

import pytest

from tests.api.conftest import error_of
from tests.factories import register

URL = "/api/v1/models/fraud_detector/production/"


@pytest.fixture
def _queries(django_assert_max_num_queries):
    # The bound is far above any count here; the tests assert the exact counts.
    def count(client) -> tuple[int, object]:
        with django_assert_max_num_queries(1000) as ctx:
            response = client.get(URL)
        return len(ctx.captured_queries), response

    return count


@pytest.mark.parametrize("extra_versions", [0, 49])
def test_production_answers_in_at_most_three_queries(
    _queries, people, model, promote, client_for, extra_versions
):
    promote(model, "1.0.0")
    for i in range(extra_versions):
        register(actor=people.author, model=model, version=f"2.0.{i}")
    client = client_for(people.viewer)
    count, response = _queries(client)
    assert response.status_code == 200
    # One query for the model (with its team), one for the production version.
    assert count <= 3


def test_production_query_count_does_not_grow_with_versions(
    _queries, people, model, promote, client_for
):
    promote(model, "1.0.0")
    client = client_for(people.viewer)
    one, _ = _queries(client)
    for i in range(49):
        register(actor=people.author, model=model, version=f"2.0.{i}")
    fifty, response = _queries(client)
    assert response.json()["version"] == "1.0.0"
    assert one == fifty


def test_production_body_and_etag(people, model, promote, client_for):
    mv = promote(model, "1.0.0")
    r = client_for(people.viewer).get(URL)
    assert r.status_code == 200
    assert r.json() == {
        "model": "fraud_detector",
        "version": "1.0.0",
        "number": mv.number,
        "artifact_uri": "",
        "artifact_sha256": "",
        "artifact_size": None,
        "stage_changed_at": r.json()["stage_changed_at"],
    }
    etag = r["ETag"]
    assert etag.startswith('"') and etag.endswith('"') and not etag.startswith("W/")


def test_matching_etag_gets_304(people, model, promote, client_for):
    promote(model, "1.0.0")
    client = client_for(people.viewer)
    etag = client.get(URL)["ETag"]
    for header in (etag, f'"other", {etag}', f"W/{etag}", "*"):
        r = client.get(URL, HTTP_IF_NONE_MATCH=header)
        assert r.status_code == 304, header
        assert r.content == b""
        assert r["ETag"] == etag


def test_etag_changes_when_production_changes(people, model, promote, client_for):
    promote(model, "1.0.0")
    client = client_for(people.viewer)
    etag = client.get(URL)["ETag"]
    promote(model, "1.1.0")
    r = client.get(URL, HTTP_IF_NONE_MATCH=etag)
    assert r.status_code == 200
    assert r.json()["version"] == "1.1.0"
    assert r["ETag"] != etag


def test_no_production_version_is_404(people, model, client_for):
    register(actor=people.author, model=model, version="1.0.0")
    r = client_for(people.viewer).get(URL)
    assert r.status_code == 404
    assert "has no version in production" in error_of(r)["message"]


def test_model_detail_includes_production(people, model, promote, client_for):
    promote(model, "1.0.0")
    register(actor=people.author, model=model, version="1.1.0")
    body = client_for(people.viewer).get("/api/v1/models/fraud_detector/").json()
    assert body["production"]["version"] == "1.0.0"
    assert body["stage_counts"]["production"] == 1
    assert body["stage_counts"]["staging"] == 1
    assert body["versions_count"] == 2
