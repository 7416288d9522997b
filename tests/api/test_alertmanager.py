"""The Prometheus Alertmanager receiver and the signal reporter's service user."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from models_app.enums import Action
from models_app.models import AuditEvent, HealthSignal
from tests.factories import current_sha256, make_model, make_promotable, register

URL = "/api/v1/alertmanager/"

pytestmark = pytest.mark.django_db


def _alert(
    status="firing",
    fingerprint="c6eadffa33fcdf37",
    *,
    labels=None,
    annotations=None,
    starts=None,
    ends="0001-01-01T00:00:00Z",
):
    return {
        "status": status,
        "labels": {
            "alertname": "FalsePositiveRateHigh",
            "model": "fraud_detector",
            **(labels or {}),
        },
        "annotations": {"value": "0.031", **(annotations or {})},
        "startsAt": starts or (timezone.now() - timedelta(minutes=3)).isoformat(),
        "endsAt": ends,
        "generatorURL": "http://prometheus:9090/graph?g0.expr=fpr",
        "fingerprint": fingerprint,
    }


def _webhook(*alerts, status="firing"):
    return {
        "version": "4",
        "groupKey": '{}:{alertname="FalsePositiveRateHigh"}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "model-registry",
        "groupLabels": {"alertname": "FalsePositiveRateHigh"},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": list(alerts),
    }


@pytest.fixture
def service_client(live):
    """A client holding the token `manage.py signal_service_user` prints."""
    out = io.StringIO()
    call_command("signal_service_user", stdout=out, stderr=io.StringIO())
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {out.getvalue().strip()}")
    return client


@pytest.fixture
def live(model, promote):
    return promote(model, "1.0.0")


def test_a_firing_alert_becomes_a_signal_and_its_resolution_closes_it(live, service_client):
    started = timezone.now() - timedelta(minutes=3)
    alert = _alert(
        labels={"metric": "false_positive_rate"},
        annotations={"window": "10m"},
        starts=started.isoformat().replace("+00:00", "Z"),
    )
    r = service_client.post(URL, _webhook(alert), format="json")
    assert r.status_code == 200, r.json()
    assert r.json()["received"] == 1
    [result] = r.json()["results"]
    assert result["outcome"] == "recorded"
    signal = HealthSignal.objects.get()
    assert (signal.metric, signal.value, signal.window_seconds) == (
        "false_positive_rate",
        0.031,
        600,
    )
    assert signal.model_version == live and signal.fingerprint == "c6eadffa33fcdf37"
    assert signal.observed_at == started and signal.resolved_at is None
    assert signal.source == "alertmanager" and signal.posted_by_username == "signals"

    # Alertmanager repeats a firing alert every repeat_interval: nothing new is stored.
    r = service_client.post(URL, _webhook(alert), format="json")
    assert r.json()["results"][0]["outcome"] == "duplicate"
    assert HealthSignal.objects.count() == 1

    ended = timezone.now().replace(microsecond=0)
    resolved = _alert("resolved", labels={"metric": "false_positive_rate"}, ends=ended.isoformat())
    r = service_client.post(URL, _webhook(resolved, status="resolved"), format="json")
    assert r.json()["results"][0] == {
        "index": 0,
        "fingerprint": "c6eadffa33fcdf37",
        "outcome": "resolved",
        "signal_ids": [signal.pk],
    }
    signal.refresh_from_db()
    assert signal.resolved_at == ended
    assert [e.action for e in AuditEvent.objects.filter(action__startswith="signal.")] == [
        Action.SIGNAL_RESOLVED,
        Action.SIGNAL_RECEIVED,
    ]
    # Resolving again finds nothing open.
    r = service_client.post(URL, _webhook(resolved, status="resolved"), format="json")
    assert r.json()["results"][0]["outcome"] == "not_open"


def test_metric_falls_back_to_the_alert_name_and_value_to_one(live, service_client):
    alert = _alert(annotations={"value": ""})
    r = service_client.post(URL, _webhook(alert), format="json")
    assert r.json()["results"][0]["outcome"] == "recorded"
    signal = HealthSignal.objects.get()
    assert (signal.metric, signal.value) == ("FalsePositiveRateHigh", 1.0)


def test_a_new_value_of_an_open_alert_is_a_new_observation(live, service_client):
    service_client.post(URL, _webhook(_alert()), format="json")
    r = service_client.post(URL, _webhook(_alert(annotations={"value": "0.05"})), format="json")
    assert r.json()["results"][0]["outcome"] == "recorded"
    assert sorted(HealthSignal.objects.values_list("value", flat=True)) == [0.031, 0.05]


def test_each_alert_is_answered_on_its_own(people, live, service_client, model):
    staging = register(actor=people.author, model=model, version="1.1.0")
    alerts = [
        _alert(fingerprint="a"),
        _alert(fingerprint="b", labels={"model": "ghost"}),
        _alert(fingerprint="c", labels={"version": "1.1.0"}),
        _alert(fingerprint="d", labels={"version": "7.0.0"}),
        {**_alert(fingerprint="e"), "labels": {"alertname": "DiskFull"}},
        _alert(fingerprint="f", annotations={"value": "lots"}),
        _alert(fingerprint="g", labels={"metric": "bad\u202ename"}),
        "not an alert",
    ]
    r = service_client.post(URL, _webhook(*alerts), format="json")
    assert r.status_code == 200, r.json()
    results = r.json()["results"]
    assert [(x["outcome"], x.get("code")) for x in results] == [
        ("recorded", None),
        ("refused", "unknown_model"),
        ("recorded", None),
        ("refused", "unknown_version"),
        ("ignored", None),
        ("refused", "invalid"),
        ("refused", "invalid"),
        ("refused", "invalid"),
    ]
    assert "ghost" in results[1]["message"]
    assert HealthSignal.objects.filter(model_version=staging).count() == 1
    assert HealthSignal.objects.count() == 2


def test_a_model_without_production_is_refused_per_alert(people, service_client):
    make_model(actor=people.author, team=people.team, name="churn")
    alerts = [_alert(fingerprint="x", labels={"model": "churn"}), _alert(fingerprint="y")]
    r = service_client.post(URL, _webhook(*alerts), format="json")
    first, second = r.json()["results"]
    assert (first["outcome"], first["code"]) == ("refused", "conflict")
    assert "no version in production" in first["message"]
    assert second["outcome"] == "recorded"


@pytest.mark.parametrize(
    "body",
    [[], {"version": "4"}, {"alerts": "many"}, {"alerts": [_alert()] * 1001}],
)
def test_a_body_that_is_not_a_webhook_is_a_400(live, service_client, body):
    r = service_client.post(URL, body, format="json")
    assert r.status_code == 400, r.json()
    assert not HealthSignal.objects.exists()


def test_only_signal_posters_may_use_the_receiver(people, live, client_for, anon):
    for user in (people.viewer, people.author, people.reviewer):
        assert client_for(user).post(URL, _webhook(_alert()), format="json").status_code == 403
    assert anon.post(URL, _webhook(_alert()), format="json").status_code == 401
    assert not HealthSignal.objects.exists()


def test_the_signal_reporter_may_post_signals_and_nothing_else(
    people, model, promote, service_client
):
    mv = register(actor=people.author, model=model, version="1.1.0")
    make_promotable(mv, author=people.author, reviewer=people.reviewer)
    base = "/api/v1/models/fraud_detector"
    refused = [
        service_client.post("/api/v1/models/", {"name": "m2", "team": "fraud"}, format="json"),
        service_client.post(f"{base}/versions/", {"version": "3.0.0"}, format="json"),
        service_client.patch(f"{base}/", {"description": "x"}, format="json"),
        service_client.post(f"{base}/versions/1.1.0/promote/", {"reason": "r"}, format="json"),
        service_client.post(f"{base}/versions/1.0.0/archive/", {"reason": "r"}, format="json"),
        service_client.post(f"{base}/rollback/", {"reason": "r"}, format="json"),
        service_client.post(
            f"{base}/versions/1.1.0/reviews/",
            {"decision": "approve", "revision_sha256": current_sha256(mv)},
            format="json",
        ),
        service_client.put(f"{base}/versions/1.1.0/card/", {"sections": {}}, format="json"),
        service_client.put(f"{base}/policy/", {"required_approvals": 0}, format="json"),
    ]
    assert [r.status_code for r in refused] == [403] * len(refused), [r.json() for r in refused]
    mv.refresh_from_db()
    assert mv.stage == "staging"
    r = service_client.post(f"{base}/signals/", {"metric": "fpr", "value": 0.01}, format="json")
    assert r.status_code == 201, r.json()


def test_the_service_user_command_reuses_its_user(live):
    for _ in range(2):
        call_command(
            "signal_service_user", "--no-token", stdout=io.StringIO(), stderr=io.StringIO()
        )
    from django.contrib.auth.models import User

    user = User.objects.get(username="signals")
    assert list(user.groups.values_list("name", flat=True)) == ["signal_reporter"]
    assert not user.has_usable_password()
