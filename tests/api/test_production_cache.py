"""GET …/production/ is cached per model name; every change to the answer drops it at once."""

from __future__ import annotations

from models_app import services
from models_app.cache import production_answer
from tests.factories import make_promotable, register
from tests.queries import captured_queries

BASE = "/api/v1/models/fraud_detector"
URL = f"{BASE}/production/"


def _get(client):
    with captured_queries() as ctx:
        response = client.get(URL)
    return len(ctx), response


def test_the_second_read_costs_no_query(people, model, promote, client_for):
    promote(model, "1.0.0")
    client = client_for(people.viewer)
    first, r1 = _get(client)
    second, r2 = _get(client)
    assert (r1.status_code, r2.status_code) == (200, 200)
    assert r1.json() == r2.json() and r1["ETag"] == r2["ETag"]
    assert first == 2 and second == 0
    with captured_queries() as ctx:
        r3 = client.get(URL, HTTP_IF_NONE_MATCH=r1["ETag"])
    assert r3.status_code == 304 and len(ctx) == 0


def test_promote_and_rollback_through_the_api_change_the_answer_at_once(
    people, model, promote, client_for
):
    promote(model, "1.0.0")
    viewer, release = client_for(people.viewer), client_for(people.release)
    assert viewer.get(URL).json()["version"] == "1.0.0"
    mv = register(actor=people.author, model=model, version="1.1.0")
    make_promotable(mv, author=people.author, reviewer=people.reviewer)
    assert viewer.get(URL).json()["version"] == "1.0.0"
    r = release.post(f"{BASE}/versions/1.1.0/promote/", {"reason": "better"}, format="json")
    assert r.status_code == 200, r.content
    assert viewer.get(URL).json()["version"] == "1.1.0"
    r = release.post(f"{BASE}/rollback/", {"reason": "1.1.0 misbehaves"}, format="json")
    assert r.status_code == 200, r.content
    assert viewer.get(URL).json()["version"] == "1.0.0"


def test_archive_through_the_api_removes_the_answer_at_once(people, model, promote, client_for):
    promote(model, "1.0.0")
    viewer = client_for(people.viewer)
    assert viewer.get(URL).status_code == 200
    r = client_for(people.release).post(
        f"{BASE}/versions/1.0.0/archive/", {"reason": "retired"}, format="json"
    )
    assert r.status_code == 200, r.content
    assert viewer.get(URL).status_code == 404


def test_an_artifact_recorded_later_shows_at_once(people, model, promote, client_for):
    mv = promote(model, "1.0.0")
    viewer = client_for(people.viewer)
    before = viewer.get(URL)
    assert before.json()["artifact_sha256"] == ""
    services.model_version_attach_artifact(
        actor=people.author, version=mv, uri="s3://bucket/model.bin", sha256="a" * 64, size=3
    )
    after = viewer.get(URL)
    assert after.json()["artifact_sha256"] == "a" * 64
    assert after["ETag"] != before["ETag"]


def test_an_answer_stored_while_a_change_commits_is_dropped_on_commit(
    people, model, promote, client_for, django_capture_on_commit_callbacks
):
    old = promote(model, "1.0.0")
    viewer = client_for(people.viewer)
    stale = viewer.get(URL).json()
    mv = register(actor=people.author, model=model, version="1.1.0")
    make_promotable(mv, author=people.author, reviewer=people.reviewer)
    with django_capture_on_commit_callbacks(execute=True):
        services.model_version_promote(actor=people.release, version=mv, reason="better")
        # Another request read the database before the promotion committed, and stores
        # what it read after the change dropped the cached answer.
        production_answer(model.name, lambda: {"etag": '"old"', "data": stale})
    assert stale["version"] == old.version
    assert viewer.get(URL).json()["version"] == "1.1.0"


def test_a_missing_production_version_is_not_cached(people, model, promote, client_for):
    viewer = client_for(people.viewer)
    assert viewer.get(URL).status_code == 404
    promote(model, "1.0.0")
    assert viewer.get(URL).json()["version"] == "1.0.0"


def test_the_cache_can_be_turned_off(people, model, promote, client_for, settings):
    settings.REGISTRY_CACHE_SECONDS = 0
    promote(model, "1.0.0")
    client = client_for(people.viewer)
    first, _ = _get(client)
    second, r = _get(client)
    assert r.status_code == 200 and first == second == 2


def test_health_signals_keep_the_cached_answer(people, model, promote, client_for):
    """A signal changes nothing the production answer shows: monitoring that posts every
    minute must not empty the cache that serving systems poll."""
    promote(model, "1.0.0")
    client = client_for(people.viewer)
    _get(client)
    r = client_for(people.release).post(
        f"{BASE}/signals/", {"metric": "fpr", "value": 0.02}, format="json"
    )
    assert r.status_code == 201
    queries, response = _get(client)
    assert response.status_code == 200 and queries == 0
