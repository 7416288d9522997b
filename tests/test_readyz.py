"""`/readyz` answers whether the registry can serve: each check by name, 200 or 503."""

from __future__ import annotations

import pytest

from registry_site import health
from webhooks_app import services as webhooks
from webhooks_app.worker import heartbeat

CHECKS = {"database", "migrations", "cache", "webhook_worker", "outbox_backlog"}


@pytest.fixture
def plain(settings):
    """No Redis, the default thresholds, loopback webhooks allowed."""
    settings.REDIS_URL = ""
    settings.REGISTRY_READYZ_WORKER_MAX_AGE = 60
    settings.REGISTRY_READYZ_MAX_BACKLOG = 1000
    settings.REGISTRY_WEBHOOK_ALLOW_PRIVATE = True
    return settings


def _states(response) -> dict:
    return {name: check["state"] for name, check in response.json()["checks"].items()}


def test_ready_answers_each_check_by_name(client, db, plain):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["status"] == "ready"
    assert _states(response) == {
        "database": "ok",
        "migrations": "ok",
        "cache": "skipped",
        # No active subscription: nothing needs a worker.
        "webhook_worker": "skipped",
        "outbox_backlog": "ok",
    }
    assert "no-store" in response["Cache-Control"]


def test_an_active_subscription_needs_a_fresh_worker_heartbeat(client, people, plain, clock):
    webhooks.subscription_create(actor=people.admin, url="http://127.0.0.1:9/hook")
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["status"] == "not ready"
    assert _states(response)["webhook_worker"] == "failing"
    assert "run_worker" in response.json()["checks"]["webhook_worker"]["detail"]

    heartbeat()
    assert client.get("/readyz").status_code == 200

    clock.shift(61)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert _states(response)["webhook_worker"] == "failing"

    plain.REGISTRY_READYZ_WORKER_MAX_AGE = 0
    response = client.get("/readyz")
    assert response.status_code == 200
    assert _states(response)["webhook_worker"] == "skipped"


def test_a_backed_up_outbox_fails_readiness(client, people, model, plain):
    webhooks.subscription_create(actor=people.admin, url="http://127.0.0.1:9/hook")
    heartbeat()
    plain.REGISTRY_READYZ_MAX_BACKLOG = 1
    from tests.factories import register

    register(actor=people.author, model=model, version="1.0.0")
    assert client.get("/readyz").status_code == 200
    register(actor=people.author, model=model, version="1.1.0")
    response = client.get("/readyz")
    assert response.status_code == 503
    assert _states(response)["outbox_backlog"] == "failing"
    assert response.json()["checks"]["outbox_backlog"]["detail"] == "more than 1 delivery waiting"


def test_unapplied_migrations_fail_readiness(client, db, plain, monkeypatch):
    monkeypatch.setattr(health, "_migrations_applied", False)
    plain.MIGRATION_MODULES = {"webhooks_app": "tests.readyz_migrations"}
    response = client.get("/readyz")
    assert response.status_code == 503
    assert _states(response)["migrations"] == "failing"

    plain.MIGRATION_MODULES = {}
    monkeypatch.setattr(health, "_migrations_applied", False)
    assert client.get("/readyz").status_code == 200


def test_readyz_is_not_redirected_to_https_and_takes_only_get(client, db, plain):
    plain.SECURE_SSL_REDIRECT = True
    assert client.get("/readyz").status_code == 200
    assert client.post("/readyz").status_code == 405


def test_readyz_checks_redis_when_configured(client, db, plain):
    """With REDIS_URL the cache check runs; an unreachable Redis fails it without saying
    where Redis is."""
    from django.core.cache import caches

    plain.REDIS_URL = "redis://127.0.0.1:9/0"
    plain.CACHES = {
        **plain.CACHES,
        "registry": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",
        },
    }
    try:
        response = client.get("/readyz")
    finally:
        caches["registry"].close()
    assert response.status_code == 503
    assert _states(response)["cache"] == "failing"
    assert "127.0.0.1" not in response.content.decode()
