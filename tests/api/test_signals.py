"""Production health signals through the REST API: post, list, latest, bad input."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from models_app import services
from models_app.enums import Action
from models_app.models import AuditEvent, HealthSignal, LatestSignal
from tests.api.conftest import error_of
from tests.factories import register

BASE = "/api/v1/models/fraud_detector"

pytestmark = pytest.mark.django_db


@pytest.fixture
def live(model, promote):
    """fraud_detector with 1.0.0 in production and 1.1.0 in staging."""
    prod = promote(model, "1.0.0")
    staging = register(actor=model.created_by, model=model, version="1.1.0")
    return prod, staging


def test_post_on_a_version_stores_it_with_its_audit_event(people, live, client_for):
    _prod, staging = live
    r = client_for(people.release).post(
        f"{BASE}/versions/1.1.0/signals/",
        {"metric": "drift_psi", "value": 0.21, "window": "10m", "source": "drift-job"},
        format="json",
    )
    assert r.status_code == 201, r.json()
    body = r.json()
    assert (body["model"], body["version"], body["metric"]) == (
        "fraud_detector",
        "1.1.0",
        "drift_psi",
    )
    assert (body["value"], body["window_seconds"], body["source"]) == (0.21, 600, "drift-job")
    assert body["posted_by"] == "release" and body["resolved_at"] is None
    signal = HealthSignal.objects.get()
    assert signal.model_version == staging
    event = AuditEvent.objects.get(action=Action.SIGNAL_RECEIVED)
    assert event.model_version == staging and event.actor_username == "release"
    assert event.payload["metric"] == "drift_psi" and event.payload["value"] == 0.21


def test_every_stored_signal_is_announced_once_with_the_stored_row(people, live, client_for):
    from models_app.signals import health_signal_recorded

    heard = []

    def listener(sender, health_signal, actor, **kwargs):
        heard.append((health_signal.pk, actor.get_username()))

    health_signal_recorded.connect(listener)
    try:
        r = client_for(people.release).post(
            f"{BASE}/signals/", {"metric": "fpr", "value": 0.1}, format="json"
        )
        client_for(people.release).post(
            f"{BASE}/signals/", {"metric": "fpr", "value": "bad"}, format="json"
        )
    finally:
        health_signal_recorded.disconnect(listener)
    assert heard == [(r.json()["id"], "release")]


def test_post_on_the_model_goes_to_the_production_version(people, live, client_for):
    prod, _staging = live
    client = client_for(people.release)
    r = client.post(f"{BASE}/signals/", {"metric": "p99_latency_ms", "value": 41}, format="json")
    assert r.status_code == 201, r.json()
    assert r.json()["version"] == "1.0.0"
    r = client.post(
        f"{BASE}/signals/", {"metric": "p99_latency_ms", "value": 9, "version": "2"}, format="json"
    )
    assert r.status_code == 201 and r.json()["version"] == "1.1.0"
    r = client.get(f"{BASE}/signals/")
    assert [s["value"] for s in r.json()["results"]] == [41.0]
    assert HealthSignal.objects.filter(model_version=prod).count() == 1


def test_a_model_without_production_needs_a_version(people, model, client_for):
    register(actor=people.author, model=model, version="1.0.0")
    r = client_for(people.release).post(
        f"{BASE}/signals/", {"metric": "drift_psi", "value": 0.1}, format="json"
    )
    assert r.status_code == 409
    assert "no version in production" in error_of(r)["message"]
    assert client_for(people.release).get(f"{BASE}/signals/latest/").status_code == 409
    assert not HealthSignal.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"metric": "bad\nname", "value": 1}, "metric"),
        ({"metric": "", "value": 1}, "metric"),
        ({"metric": "fpr", "value": "0.1"}, "value"),
        ({"metric": "fpr", "value": True}, "value"),
        ({"metric": "fpr", "value": None}, "value"),
        ({"metric": "fpr", "value": 1, "window": "10x"}, "window"),
        ({"metric": "fpr", "value": 1, "window": -5}, "window"),
        ({"metric": "fpr", "value": 1, "window": "31d"}, "window"),
        ({"metric": "fpr", "value": 1, "source": "a\u202eb"}, "source"),
        ({"metric": "fpr", "value": 1, "source": "x" * 101}, "source"),
        ({"metric": "fpr", "value": 1, "observed_at": "yesterday"}, "observed_at"),
        ({"metric": "fpr", "value": 1, "stage": "production"}, "stage"),
        ({"value": 1}, "metric"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_stores_nothing(
    people, live, client_for, body, field
):
    r = client_for(people.release).post(f"{BASE}/versions/1.0.0/signals/", body, format="json")
    assert r.status_code == 400, r.content
    assert field in error_of(r)["details"]
    assert not HealthSignal.objects.exists()
    assert not AuditEvent.objects.filter(action=Action.SIGNAL_RECEIVED).exists()


@pytest.mark.parametrize("raw", ["1e999", "NaN", "-Infinity"])
def test_values_that_are_not_finite_are_refused(people, live, client_for, raw):
    r = client_for(people.release).post(
        f"{BASE}/signals/", f'{{"metric": "fpr", "value": {raw}}}', content_type="application/json"
    )
    assert r.status_code == 400, r.content
    assert not HealthSignal.objects.exists()


def test_observed_times_in_the_future_or_past_retention_are_refused(
    people, live, client_for, settings
):
    settings.REGISTRY_SIGNAL_RETENTION_DAYS = 7
    client = client_for(people.release)
    for when in (timezone.now() + timedelta(hours=1), timezone.now() - timedelta(days=8)):
        r = client.post(
            f"{BASE}/signals/",
            {"metric": "fpr", "value": 1, "observed_at": when.isoformat()},
            format="json",
        )
        assert r.status_code == 400 and "observed_at" in error_of(r)["details"]
    assert not HealthSignal.objects.exists()


@pytest.mark.parametrize(
    ("window", "seconds"),
    [(0, 0), (90, 90), ("90", 90), ("10m", 600), ("1h30m", 5400), ("2d", 172800), ("45s", 45)],
)
def test_windows_are_stored_in_seconds(people, live, client_for, window, seconds):
    r = client_for(people.release).post(
        f"{BASE}/signals/", {"metric": "fpr", "value": 1, "window": window}, format="json"
    )
    assert r.status_code == 201, r.json()
    assert HealthSignal.objects.get().window_seconds == seconds


def test_who_may_post(people, live, client_for, anon):
    body = {"metric": "fpr", "value": 1}
    for user in (people.viewer, people.author, people.reviewer):
        r = client_for(user).post(f"{BASE}/signals/", body, format="json")
        assert r.status_code == 403, user
    assert anon.post(f"{BASE}/signals/", body, format="json").status_code == 401
    assert client_for(people.admin).post(f"{BASE}/signals/", body, format="json").status_code == 201
    assert HealthSignal.objects.count() == 1


def test_permission_comes_before_any_other_answer(people, model, client_for):
    register(actor=people.author, model=model, version="1.0.0")  # nothing in production
    viewer = client_for(people.viewer)
    cases = [
        (f"{BASE}/signals/", {"metric": "fpr", "value": 1}),  # 409 for a poster
        (f"{BASE}/signals/", {"metric": "bad\nname", "value": "x"}),  # 400
        (f"{BASE}/versions/9.9.9/signals/", {"metric": "fpr", "value": 1}),  # 404
        ("/api/v1/models/nope/signals/", {"metric": "fpr", "value": 1}),  # 404
    ]
    for url, body in cases:
        r = viewer.post(url, body, format="json")
        assert r.status_code == 403, (url, r.content)
        assert error_of(r)["code"] == "permission_denied"
    assert not HealthSignal.objects.exists()


def test_unknown_model_or_version_is_404(people, live, client_for):
    client = client_for(people.release)
    body = {"metric": "fpr", "value": 1}
    assert client.post("/api/v1/models/nope/signals/", body, format="json").status_code == 404
    r = client.post(f"{BASE}/signals/", {**body, "version": "9.9.9"}, format="json")
    assert r.status_code == 404
    assert client.get(f"{BASE}/versions/9.9.9/signals/").status_code == 404


def test_list_is_newest_first_with_keyset_pages_and_a_metric_filter(people, live, client_for):
    prod, _ = live
    start = timezone.now() - timedelta(hours=1)
    for i in range(5):
        services.signal_record(
            actor=people.release,
            version=prod,
            metric="fpr" if i % 2 == 0 else "drift_psi",
            value=i,
            observed_at=start + timedelta(minutes=i),
        )
    client = client_for(people.viewer)
    r = client.get(f"{BASE}/versions/1.0.0/signals/", {"page_size": 2})
    assert [s["value"] for s in r.json()["results"]] == [4.0, 3.0]
    r = client.get(r.json()["next"])
    assert [s["value"] for s in r.json()["results"]] == [2.0, 1.0]
    r = client.get(f"{BASE}/signals/", {"metric": "fpr"})
    assert [s["value"] for s in r.json()["results"]] == [4.0, 2.0, 0.0]
    assert client.get(f"{BASE}/signals/", {"cursor": "junk"}).status_code == 400


def test_latest_keeps_the_newest_observation_of_each_metric(people, live, client_for):
    prod, _ = live
    now = timezone.now()
    record = services.signal_record
    record(actor=people.release, version=prod, metric="fpr", value=0.02, observed_at=now)
    # Arrives later, observed earlier: stored, but not the latest.
    record(
        actor=people.release,
        version=prod,
        metric="fpr",
        value=0.09,
        observed_at=now - timedelta(minutes=5),
    )
    record(actor=people.release, version=prod, metric="drift_psi", value=0.3, window="1h")
    r = client_for(people.viewer).get(f"{BASE}/signals/latest/")
    assert r.status_code == 200
    body = r.json()
    assert (body["model"], body["version"], body["stage"]) == (
        "fraud_detector",
        "1.0.0",
        "production",
    )
    assert [(m["metric"], m["value"]) for m in body["metrics"]] == [
        ("drift_psi", 0.3),
        ("fpr", 0.02),
    ]
    assert body["metrics"][0]["window_seconds"] == 3600
    r = client_for(people.viewer).get(f"{BASE}/versions/1.1.0/signals/latest/")
    assert r.json()["metrics"] == []


def test_prune_deletes_old_signals_and_their_latest_values(people, live, settings, clock):
    prod, _ = live
    settings.REGISTRY_SIGNAL_RETENTION_DAYS = 2
    services.signal_record(actor=people.release, version=prod, metric="old", value=1)
    services.signal_record(actor=people.release, version=prod, metric="fpr", value=1)
    clock.shift(timedelta(days=1))
    services.signal_record(actor=people.release, version=prod, metric="fpr", value=2)
    clock.shift(timedelta(days=1, hours=1))
    call_command("prune_signals")
    assert list(HealthSignal.objects.values_list("metric", "value")) == [("fpr", 2.0)]
    assert list(LatestSignal.objects.values_list("metric", flat=True)) == ["fpr"]
    # Audit events are the append-only trail: pruning signals leaves them.
    assert AuditEvent.objects.filter(action=Action.SIGNAL_RECEIVED).count() == 3
