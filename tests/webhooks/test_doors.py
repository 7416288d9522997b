"""Subscriptions and redelivery through the admin, the API and the dashboard."""

from __future__ import annotations

import pytest
from django.test import Client

from models_app.models import AuditEvent
from tests.factories import register
from webhooks_app import services as webhooks
from webhooks_app.models import Delivery, DeliveryStatus, Subscription
from webhooks_app.worker import Worker

pytestmark = pytest.mark.django_db


def _client(user, **kwargs) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client


def _dead_delivery(people, model, receiver, subscribe, settings, clock):
    """A delivery that failed every attempt against a receiver answering 500."""
    settings.REGISTRY_WEBHOOK_MAX_ATTEMPTS = 2
    settings.REGISTRY_WEBHOOK_BACKOFF_CAP = 0.01
    sub = subscribe(receiver.url)
    receiver.mode = "error"
    register(actor=people.author, model=model, version="1.0.0")
    worker = Worker()
    for _ in range(5):
        worker.run_once()
        clock.shift(0.02)  # past the back-off (at most 0.01 s): the retry is due
    delivery = Delivery.objects.get(subscription=sub)
    assert delivery.status == DeliveryStatus.DEAD
    return delivery


# --- Admin ---------------------------------------------------------------------------------


def test_admin_redeliver_action_requeues_dead_delivery_which_then_succeeds(
    people, model, receiver, subscribe, settings, clock
):
    delivery = _dead_delivery(people, model, receiver, subscribe, settings, clock)
    receiver.mode = "ok"

    response = _client(people.admin).post(
        "/admin/webhooks_app/delivery/",
        {"action": "redeliver", "_selected_action": [delivery.pk]},
    )

    assert response.status_code == 302
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.PENDING, 0)
    event = AuditEvent.objects.get(action="webhook.redelivered")
    assert event.actor_username == "admin_user"
    assert event.changes == {"status": ["dead", "pending"]}
    Worker().drain()
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCEEDED
    keys = {r.headers["X-Registry-Delivery"] for r in receiver.arrived}
    assert keys == {str(delivery.idempotency_key)}  # the same key on every attempt
    assert len(receiver.acknowledged) == 1


def test_admin_creates_subscription_through_the_service(people, fast):
    response = _client(people.admin).post(
        "/admin/webhooks_app/subscription/add/",
        {
            "url": "http://127.0.0.1:9/hook",
            "description": "serving",
            "event_types": ["version.promoted"],
            "active": "on",
        },
    )
    assert response.status_code == 302
    sub = Subscription.objects.get()
    assert (sub.event_types, sub.created_by) == (["version.promoted"], people.admin)
    assert sub.secret.startswith("whsec_")
    assert AuditEvent.objects.filter(action="webhook.created", object_id=str(sub.pk)).exists()
    assert sub.history.count() == 1


@pytest.mark.parametrize(
    "url", ["http://10.0.0.1/", "http://169.254.169.254/", "http://[::1]/", "http://127.0.0.1/"]
)
def test_admin_refuses_private_url_with_400(people, settings, url):
    settings.REGISTRY_WEBHOOK_ALLOW_PRIVATE = False
    response = _client(people.admin).post(
        "/admin/webhooks_app/subscription/add/", {"url": url, "active": "on"}
    )
    assert response.status_code == 400
    assert b"Refused destination" in response.content
    assert not Subscription.objects.exists()


def test_admin_delete_is_not_offered(people, receiver, subscribe):
    sub = subscribe(receiver.url)
    response = _client(people.admin).post(
        f"/admin/webhooks_app/subscription/{sub.pk}/delete/", {"post": "yes"}
    )
    assert response.status_code == 403
    assert Subscription.objects.filter(pk=sub.pk).exists()


def test_admin_delivery_log_lists_deliveries_of_one_subscription(
    people, model, receiver, subscribe
):
    sub = subscribe(receiver.url)
    register(actor=people.author, model=model, version="1.0.0")
    response = _client(people.admin).get(
        f"/admin/webhooks_app/delivery/?subscription__id__exact={sub.pk}"
    )
    assert response.status_code == 200
    assert b"version.registered" in response.content


# --- API -----------------------------------------------------------------------------------


def test_api_create_shows_secret_once(people, fast):
    client = _client(people.admin)
    response = client.post(
        "/api/v1/webhooks/",
        {"url": "http://127.0.0.1:9/hook", "event_types": ["policy.changed"]},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["secret"] == Subscription.objects.get().secret
    assert body["event_types"] == ["policy.changed"]
    listed = client.get("/api/v1/webhooks/").json()["results"]
    assert "secret" not in listed[0]
    assert "secret" not in client.get(f"/api/v1/webhooks/{body['id']}/").json()


def test_api_given_secret_is_used(people, fast):
    response = _client(people.admin).post(
        "/api/v1/webhooks/",
        {"url": "http://127.0.0.1:9/hook", "secret": "a-very-long-shared-secret"},
        content_type="application/json",
    )
    assert response.status_code == 201
    assert Subscription.objects.get().secret == "a-very-long-shared-secret"


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1/",
        "http://192.168.1.1/",
        "http://127.0.0.1/",
        "http://[::1]/",
        "http://[fe80::1]/",
        "http://169.254.169.254/latest/meta-data/",
        "http://metadata.google.internal/",
    ],
)
def test_api_refuses_private_url_with_400(people, settings, url):
    settings.REGISTRY_WEBHOOK_ALLOW_PRIVATE = False
    response = _client(people.admin).post(
        "/api/v1/webhooks/", {"url": url}, content_type="application/json"
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert "url" in error["details"]
    assert not Subscription.objects.exists()


def test_api_refuses_unknown_event_type(people, fast):
    response = _client(people.admin).post(
        "/api/v1/webhooks/",
        {"url": "http://127.0.0.1:9/", "event_types": ["version.exploded"]},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "event_types" in response.json()["error"]["details"]


@pytest.mark.parametrize("who", ["release", "viewer", "author", "reviewer"])
def test_api_refuses_non_admins(people, fast, who):
    client = _client(getattr(people, who))
    assert client.get("/api/v1/webhooks/").status_code == 403
    response = client.post(
        "/api/v1/webhooks/", {"url": "http://127.0.0.1:9/"}, content_type="application/json"
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert not Subscription.objects.exists()


def test_api_anonymous_is_401(db):
    response = Client().get("/api/v1/webhooks/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_api_patch_changes_and_audits(people, receiver, subscribe):
    sub = subscribe(receiver.url)
    response = _client(people.admin).patch(
        f"/api/v1/webhooks/{sub.pk}/",
        {"active": False, "event_types": ["version.promoted"]},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    sub.refresh_from_db()
    assert (sub.active, sub.event_types) == (False, ["version.promoted"])
    event = AuditEvent.objects.get(action="webhook.changed")
    assert event.changes["active"] == [True, False]


def test_api_rotate_secret_returns_new_secret(people, receiver, subscribe):
    sub = subscribe(receiver.url)
    old = sub.secret
    response = _client(people.admin).post(f"/api/v1/webhooks/{sub.pk}/rotate-secret/")
    assert response.status_code == 200
    sub.refresh_from_db()
    assert response.json()["secret"] == sub.secret != old


def test_api_redeliver_and_log(people, model, receiver, subscribe, settings, clock):
    delivery = _dead_delivery(people, model, receiver, subscribe, settings, clock)
    client = _client(people.admin)
    log = client.get(f"/api/v1/webhooks/{delivery.subscription_id}/deliveries/?status=dead")
    assert [d["id"] for d in log.json()["results"]] == [delivery.pk]
    response = client.post(
        f"/api/v1/webhooks/deliveries/{delivery.pk}/redeliver/",
        {"reason": "receiver fixed"},
        content_type="application/json",
    )
    assert response.status_code == 200
    assert response.json()["status"] == "pending"
    again = client.post(
        f"/api/v1/webhooks/deliveries/{delivery.pk}/redeliver/", content_type="application/json"
    )
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "invalid_transition"
    bad_filter = f"/api/v1/webhooks/{delivery.subscription_id}/deliveries/?status=x"
    assert client.get(bad_filter).status_code == 400


def test_api_delivery_log_and_detail_list_each_attempt(
    people, model, receiver, subscribe, settings, clock
):
    delivery = _dead_delivery(people, model, receiver, subscribe, settings, clock)
    client = _client(people.admin)
    log = client.get(f"/api/v1/webhooks/{delivery.subscription_id}/deliveries/")
    assert log.status_code == 200
    [row] = log.json()["results"]
    detail = client.get(f"/api/v1/webhooks/deliveries/{delivery.pk}/")
    assert detail.status_code == 200
    assert detail.json() == row
    attempts = row["attempt_log"]
    assert [a["number"] for a in attempts] == [2, 1]  # newest first
    for attempt in attempts:
        assert attempt["status_code"] == 500
        assert attempt["succeeded"] is False
        assert attempt["error"] == "HTTP 500"
        assert attempt["response_snippet"] == "boom!\n"
        assert isinstance(attempt["duration_ms"], int) and attempt["duration_ms"] >= 0
        assert attempt["started_at"]
    assert attempts[0]["started_at"] > attempts[1]["started_at"]

    missing = client.get("/api/v1/webhooks/deliveries/999999/")
    assert missing.status_code == 404
    assert (
        _client(people.release).get(f"/api/v1/webhooks/deliveries/{delivery.pk}/").status_code
        == 403
    )


# --- Dashboard -----------------------------------------------------------------------------


def test_dashboard_pages_for_admins_only(people, model, receiver, subscribe):
    sub = subscribe(receiver.url)
    register(actor=people.author, model=model, version="1.0.0")
    admin = _client(people.admin)
    listing = admin.get("/webhooks/")
    assert listing.status_code == 200
    assert receiver.url.encode() in listing.content
    detail = admin.get(f"/webhooks/{sub.pk}/")
    assert detail.status_code == 200
    assert b"version.registered" in detail.content
    assert _client(people.release).get("/webhooks/").status_code == 403
    assert _client(people.viewer).get(f"/webhooks/{sub.pk}/").status_code == 403
    anonymous = Client().get("/webhooks/")
    assert anonymous.status_code == 302 and "login" in anonymous["Location"]


def test_dashboard_redeliver_button_needs_csrf_and_works(
    people, model, receiver, subscribe, settings, clock
):
    delivery = _dead_delivery(people, model, receiver, subscribe, settings, clock)
    client = _client(people.admin, enforce_csrf_checks=True)
    url = f"/webhooks/deliveries/{delivery.pk}/redeliver/"
    assert client.post(url).status_code == 403  # no CSRF token
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DEAD

    page = client.get(f"/webhooks/{delivery.subscription_id}/")
    assert f'action="{url}"'.encode() in page.content
    token = page.context["csrf_token"]
    response = client.post(url, {"csrfmiddlewaretoken": str(token)})
    assert response.status_code == 303
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.PENDING
    receiver.mode = "ok"
    Worker().drain()
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCEEDED


def test_dashboard_redeliver_refused_for_non_admin(
    people, model, receiver, subscribe, settings, clock
):
    delivery = _dead_delivery(people, model, receiver, subscribe, settings, clock)
    response = _client(people.release).post(f"/webhooks/deliveries/{delivery.pk}/redeliver/")
    assert response.status_code == 403
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DEAD


def test_service_refuses_non_admin(people, fast):
    from models_app.exceptions import NotAllowed

    with pytest.raises(NotAllowed):
        webhooks.subscription_create(actor=people.release, url="http://127.0.0.1:9/")


def test_webhook_audit_actions_are_stored_as_plain_strings(people, fast):
    sub = webhooks.subscription_create(actor=people.admin, url="http://127.0.0.1:9/")
    event = AuditEvent.objects.get(action="webhook.created")
    assert event.object_type == "subscription" and event.object_id == str(sub.pk)
    assert "secret" not in event.changes


def test_attempt_log_and_subscription_history_are_append_only(
    people, model, receiver, subscribe, settings, clock
):
    from django.db import DatabaseError, transaction

    from webhooks_app.models import DeliveryAttempt

    delivery = _dead_delivery(people, model, receiver, subscribe, settings, clock)
    attempt = DeliveryAttempt.objects.filter(delivery=delivery).first()
    for change in (
        lambda: DeliveryAttempt.objects.filter(pk=attempt.pk).update(status_code=200),
        lambda: DeliveryAttempt.objects.filter(pk=attempt.pk).delete(),
        lambda: delivery.subscription.history.all().delete(),
    ):
        with pytest.raises(DatabaseError), transaction.atomic():
            change()
    history_fields = {f.name for f in delivery.subscription.history.model._meta.fields}
    assert "secret" not in history_fields


def test_dashboard_redeliver_of_succeeded_delivery_is_refused_with_reason(
    people, model, receiver, subscribe
):
    subscribe(receiver.url)
    register(actor=people.author, model=model, version="1.0.0")
    Worker().drain()
    delivery = Delivery.objects.get()
    response = _client(people.admin).post(f"/webhooks/deliveries/{delivery.pk}/redeliver/")
    assert response.status_code == 409
    assert b"only dead or retrying deliveries can be redelivered" in response.content
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCEEDED
