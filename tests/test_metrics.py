"""`/metrics`: the Prometheus text format, who may read it, and that each metric moves
when its event happens, whichever door caused it."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.test import APIClient

from federation_app import services as federation
from federation_app.models import SyncState
from federation_app.sync import pending_items
from models_app import services
from models_app.exceptions import GuardsFailed
from tests.factories import make_promotable, register

FAMILIES = {
    "registry_http_requests",
    "registry_http_request_duration_seconds",
    "registry_promotions",
    "registry_promotion_refusals",
    "registry_rollbacks",
    "registry_reviews",
    "registry_webhook_deliveries",
    "registry_webhook_dead_letters",
    "registry_webhook_outbox_backlog",
    "registry_webhook_dead_deliveries",
    "registry_federation_sync_lag_seconds",
    "registry_model_production_version_info",
}


def scrape(client, **headers) -> dict:
    """{family name: {(sample name, sorted labels): value}} from GET /metrics."""
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    families = {}
    for family in text_string_to_metric_families(response.content.decode()):
        families[family.name] = {
            (s.name, tuple(sorted(s.labels.items()))): s.value for s in family.samples
        }
    return families


def value(families, family: str, sample: str, **labels) -> float:
    return families[family].get((sample, tuple(sorted(labels.items()))), 0.0)


def test_every_metric_is_listed(client, db):
    families = scrape(client)
    assert set(families) >= FAMILIES
    # Known labels exist at 0 before their first event.
    assert ("registry_rollbacks_total", (("kind", "automatic"), ("origin", "local"))) in (
        families["registry_rollbacks"]
    )
    assert ("registry_reviews_total", (("decision", "reject"),)) in families["registry_reviews"]


def test_promotion_review_refusal_and_rollback_are_counted(
    client, people, model, django_capture_on_commit_callbacks
):
    before = scrape(client)
    # Counters count committed changes: the callbacks run as a commit would run them.
    with django_capture_on_commit_callbacks(execute=True):
        first = register(actor=people.author, model=model, version="1.0.0")
        # Refused: no card, no review.
        with pytest.raises(GuardsFailed):
            services.model_version_promote(actor=people.release, version=first, reason="go")
        make_promotable(first, author=people.author, reviewer=people.reviewer)
        services.model_version_promote(actor=people.release, version=first, reason="go")
        second = register(actor=people.author, model=model, version="1.1.0")
        make_promotable(second, author=people.author, reviewer=people.reviewer)
        services.model_version_promote(actor=people.release, version=second, reason="go")
        services.registered_model_rollback(actor=people.release, model=model, reason="bad")
    after = scrape(client)

    def moved(family, sample, **labels):
        return value(after, family, sample, **labels) - value(before, family, sample, **labels)

    assert moved("registry_promotions", "registry_promotions_total", origin="local") == 2
    assert moved("registry_reviews", "registry_reviews_total", decision="approve") == 2
    for guard in ("review", "model_card"):
        assert (
            moved("registry_promotion_refusals", "registry_promotion_refusals_total", guard=guard)
            == 1
        )
    assert (
        moved("registry_rollbacks", "registry_rollbacks_total", kind="manual", origin="local") == 1
    )
    assert (
        moved("registry_rollbacks", "registry_rollbacks_total", kind="automatic", origin="local")
        == 0
    )
    # One series per model with a production version, naming it.
    info = after["registry_model_production_version_info"]
    assert info == {
        (
            "registry_model_production_version_info",
            (("model", "fraud_detector"), ("version", "1.0.0")),
        ): 1.0
    }


def test_a_refusal_through_the_rest_api_is_counted(client, people, model):
    """Every door counts: the REST door's refusal is the service's."""
    version = register(actor=people.author, model=model, version="1.0.0")
    before = scrape(client)
    api = APIClient()
    api.force_authenticate(people.release)
    response = api.post(
        f"/api/v1/models/{model.name}/versions/{version.version}/promote/",
        {"reason": "go"},
        format="json",
    )
    assert response.status_code == 409
    after = scrape(client)
    sample = "registry_promotion_refusals_total"
    family = "registry_promotion_refusals"
    assert (
        value(after, family, sample, guard="review") - value(before, family, sample, guard="review")
        == 1
    )


def test_a_change_that_rolls_back_is_not_counted(
    client, people, model, django_capture_on_commit_callbacks
):
    from django.db import transaction

    version = register(actor=people.author, model=model, version="1.0.0")
    make_promotable(version, author=people.author, reviewer=people.reviewer)
    before = scrape(client)
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        services.model_version_promote(actor=people.release, version=version, reason="go")
        raise RuntimeError("the surrounding work failed")
    assert callbacks == []
    after = scrape(client)
    sample, family = "registry_promotions_total", "registry_promotions"
    assert value(after, family, sample, origin="local") == value(
        before, family, sample, origin="local"
    )


def test_requests_are_counted_by_route_not_by_path(client, people, model):
    client.force_login(people.viewer)
    before = scrape(client)
    assert client.get(f"/models/{model.name}/").status_code == 200
    assert client.get("/no/such/page/").status_code == 404
    after = scrape(client)
    requests = after["registry_http_requests"]
    routes = {dict(labels)["route"] for _, labels in requests}
    assert not any("fraud_detector" in route for route in routes)
    model_route = next(r for r in routes if r.startswith("models/<") and r.count("/") == 2)
    sample, family = "registry_http_requests_total", "registry_http_requests"
    labels = {"route": model_route, "method": "GET", "status": "200"}
    assert value(after, family, sample, **labels) - value(before, family, sample, **labels) == 1
    labels = {"route": "unmatched", "method": "GET", "status": "404"}
    assert value(after, family, sample, **labels) - value(before, family, sample, **labels) == 1
    latency = after["registry_http_request_duration_seconds"]
    count = (
        "registry_http_request_duration_seconds_count",
        (("method", "GET"), ("route", model_route)),
    )
    assert latency[count] >= 1


def test_federation_lag_per_origin_moves_with_each_push(client, people, model, promote, clock):
    promote(model, "1.0.0")
    items = pending_items(SyncState.objects.create(central_url="here", registry_id="team-x"))
    federation.catalog_ingest(actor=people.admin, origin="team-x", items=items)
    clock.shift(600)
    family, sample = "registry_federation_sync_lag_seconds", "registry_federation_sync_lag_seconds"
    lag = value(scrape(client), family, sample, origin="team-x")
    assert 600 <= lag < 700
    federation.catalog_ingest(actor=people.admin, origin="team-x", items=items)
    assert value(scrape(client), family, sample, origin="team-x") < 60


# --- Who may read it -----------------------------------------------------------------------


def test_loopback_may_read_by_default_other_addresses_may_not(client, db, settings):
    assert client.get("/metrics").status_code == 200
    response = client.get("/metrics", REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 403
    assert b"registry_" not in response.content


def test_an_allowed_network_may_read(client, db, settings):
    settings.REGISTRY_METRICS_ALLOW = ["10.1.0.0/16"]
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 403


def test_the_bearer_token_opens_it_from_anywhere(client, db, settings):
    settings.REGISTRY_METRICS_TOKEN = "scrape-token-0123456789"
    settings.REGISTRY_METRICS_ALLOW = []
    assert (
        client.get(
            "/metrics",
            REMOTE_ADDR="203.0.113.9",
            HTTP_AUTHORIZATION="Bearer scrape-token-0123456789",
        ).status_code
        == 200
    )
    wrong = client.get("/metrics", HTTP_AUTHORIZATION="Bearer not-the-token")
    assert wrong.status_code == 401
    assert wrong["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 401


def test_a_token_is_refused_when_none_is_configured(client, db, settings):
    settings.REGISTRY_METRICS_TOKEN = ""
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer guess").status_code == 401


@pytest.mark.slow
def test_multiprocess_mode_adds_up_every_process(tmp_path):
    """With PROMETHEUS_MULTIPROC_DIR, /metrics in one process shows the requests that two
    other processes answered (as under several gunicorn workers)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "DATABASE_", "REGISTRY_", "PYTEST_", "PROMETHEUS_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="registry_site.settings",
        DEBUG="1",
        REGISTRY_VAR_DIR=str(tmp_path),
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
    )

    def manage(*args) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    manage("migrate", "-v0")
    for _ in range(2):
        manage("shell", "-v", "0", "-c", "from django.test import Client; Client().get('/healthz')")
    text = manage(
        "shell",
        "-v",
        "0",
        "-c",
        "from django.test import Client; print(Client().get('/metrics').content.decode())",
    )
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    key = (
        "registry_http_requests_total",
        (("method", "GET"), ("route", "healthz"), ("status", "200")),
    )
    assert samples[key] == 2
    assert ("registry_webhook_outbox_backlog", ()) in samples
