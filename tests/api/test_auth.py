"""Tokens: obtained with a password (guessing locks out), stored hashed, expiring, revocable."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from tests.api.conftest import error_of

TOKEN_URL = "/api/v1/auth/token/"


def obtain(username: str, password: str = "pw"):  # noqa: S107 (the factories' password)
    return APIClient().post(TOKEN_URL, {"username": username, "password": password}, format="json")


def test_token_obtained_with_password_authenticates(people):
    r = obtain("author")
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["username"] == "author"
    expiry = dt.datetime.fromisoformat(body["expiry"].replace("Z", "+00:00"))
    assert timezone.now() + dt.timedelta(days=29) < expiry < timezone.now() + dt.timedelta(days=31)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {body['token']}")
    assert client.get("/api/v1/models/").status_code == 200


def test_token_is_stored_hashed(people):
    token = obtain("author").json()["token"]
    stored = AuthToken.objects.get(user=people.author)
    assert token not in (stored.digest, stored.token_key)
    assert stored.token_key == token[: len(stored.token_key)]


def test_wrong_password_is_401(people):
    r = obtain("author", "wrong")
    assert r.status_code == 401
    error = error_of(r)
    assert error["code"] == "authentication_failed"
    assert error["message"] == "Wrong username or password."
    assert not AuthToken.objects.exists()


def test_unknown_user_and_inactive_user_are_401(people):
    assert obtain("nobody").status_code == 401
    people.viewer.is_active = False
    people.viewer.save()
    assert obtain("viewer").status_code == 401


def test_token_request_without_password_is_400(people):
    r = APIClient().post(TOKEN_URL, {"username": "author"}, format="json")
    assert r.status_code == 400
    assert "password" in error_of(r)["details"]


def test_delete_revokes_only_the_token_in_use(people):
    first = obtain("author").json()["token"]
    second = obtain("author").json()["token"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {first}")
    assert client.delete(TOKEN_URL).status_code == 204
    r = client.get("/api/v1/models/")
    assert r.status_code == 401
    assert error_of(r)["code"] == "authentication_failed"
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Token {second}")
    assert other.get("/api/v1/models/").status_code == 200


def test_delete_without_token_is_401_or_400(people, client_for):
    assert APIClient().delete(TOKEN_URL).status_code == 401
    r = client_for(people.author).delete(TOKEN_URL)  # a session, not a token
    assert r.status_code == 400
    assert error_of(r)["code"] == "no_token"


def test_expired_token_is_refused(people):
    instance, token = AuthToken.objects.create(user=people.author, expiry=dt.timedelta(hours=1))
    AuthToken.objects.filter(pk=instance.pk).update(expiry=timezone.now() - dt.timedelta(seconds=1))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/v1/models/").status_code == 401


def test_garbage_authorization_headers_are_401_not_500(people):
    for header in ("Token", "Token a b", "Token \xff\xfe", "Token " + "x" * 500, "Token ../../"):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=header)
        r = client.get("/api/v1/models/")
        assert r.status_code == 401, header
        error_of(r)


def test_token_endpoint_locks_out_password_guessing(people, settings):
    settings.AXES_FAILURE_LIMIT = 3
    codes = [obtain("author", "wrong").status_code for _ in range(3)]
    assert codes == [401, 401, 429]
    r = obtain("author")  # the right password, too late
    assert r.status_code == 429
    error = error_of(r)
    assert error["code"] == "locked_out"
    assert error["details"]["retry_after"] > 0
    assert int(r["Retry-After"]) > 0
    assert not AuthToken.objects.exists()
    assert obtain("author", "pw").status_code == 429
    assert obtain("reviewer").status_code == 201  # another username from the same address


def test_session_login_works_with_csrf(people):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(people.author)
    assert client.get("/api/v1/models/").status_code == 200
    r = client.post("/api/v1/models/fraud_detector/versions/", {"version": "1.0.0"}, format="json")
    assert r.status_code == 403
    assert "CSRF" in error_of(r)["message"]
