"""With REGISTRY_TOKEN_CACHE_SECONDS set, a token signed in with before is found in the
registry cache, so an authenticated read costs no query; anything that could sign the
token out drops it from the cache at once."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone
from rest_framework.test import APIClient

from models_app import accounts
from tests.queries import captured_queries

URL = "/api/v1/models/fraud_detector/production/"


@pytest.fixture
def cached(settings):
    settings.REGISTRY_TOKEN_CACHE_SECONDS = 60


@pytest.fixture
def production(model, promote):
    return promote(model, "1.0.0")


def _client(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def _get(client: APIClient, url: str = URL):
    with captured_queries() as ctx:
        response = client.get(url)
    return response, len(ctx)


def test_a_cached_token_signs_in_without_a_query(cached, people, production):
    _row, token = accounts.api_token_create(actor=people.viewer, user=people.viewer)
    client = _client(token)
    first, first_queries = _get(client)
    second, second_queries = _get(client)
    assert first.status_code == second.status_code == 200
    assert second.json()["version"] == "1.0.0"
    assert first_queries >= 1  # the token, from the database; the answer, from the cache
    assert second_queries == 0


def test_without_the_setting_every_request_reads_the_token(settings, people, production):
    settings.REGISTRY_TOKEN_CACHE_SECONDS = 0
    _row, token = accounts.api_token_create(actor=people.viewer, user=people.viewer)
    client = _client(token)
    _get(client)
    response, queries = _get(client)
    assert response.status_code == 200 and queries == 1


def test_a_revoked_token_is_refused_at_once(cached, people, production):
    _row, token = accounts.api_token_create(actor=people.viewer, user=people.viewer)
    client = _client(token)
    assert _get(client)[0].status_code == 200
    assert client.delete("/api/v1/auth/token/").status_code == 204
    assert _get(client)[0].status_code == 401


def test_a_token_revoked_by_an_admin_is_refused_at_once(cached, people, production):
    row, token = accounts.api_token_create(actor=people.viewer, user=people.viewer)
    client = _client(token)
    assert _get(client)[0].status_code == 200
    accounts.api_token_revoke(actor=people.admin, token=row)
    assert _get(client)[0].status_code == 401


def test_a_deactivated_user_is_refused_at_once(cached, people, production):
    _row, token = accounts.api_token_create(actor=people.viewer, user=people.viewer)
    client = _client(token)
    assert _get(client)[0].status_code == 200
    people.viewer.is_active = False
    people.viewer.save()
    assert _get(client)[0].status_code == 401


def test_rights_changed_after_sign_in_apply_at_once(cached, people, model):
    """A cached sign-in carries no rights: a contributor removed from the contributors
    group cannot register with a token cached while they were one."""
    _row, token = accounts.api_token_create(actor=people.author, user=people.author)
    client = _client(token)
    url = f"/api/v1/models/{model.name}/versions/"
    assert client.post(url, {"version": "1.0.0"}, format="json").status_code == 201
    people.author.groups.remove(Group.objects.get(name="contributor"))
    assert client.post(url, {"version": "2.0.0"}, format="json").status_code == 403


def test_an_expired_token_is_never_served_from_the_cache(cached, people, production, monkeypatch):
    row, token = accounts.api_token_create(
        actor=people.viewer, user=people.viewer, expiry=dt.timedelta(hours=1)
    )
    client = _client(token)
    assert _get(client)[0].status_code == 200
    # Two hours on, the cached row has expired: it is not served, and the stored one is
    # refused and removed.
    later = timezone.now() + dt.timedelta(hours=2)
    monkeypatch.setattr(timezone, "now", lambda: later)
    assert _get(client)[0].status_code == 401
    assert not type(row).objects.filter(pk=row.pk).exists()


def test_another_token_with_the_same_key_is_not_the_cached_one(cached, people, production):
    _row, token = accounts.api_token_create(actor=people.viewer, user=people.viewer)
    client = _client(token)
    assert _get(client)[0].status_code == 200
    forged = token[:-1] + ("0" if token[-1] != "0" else "1")
    assert _get(_client(forged))[0].status_code == 401
