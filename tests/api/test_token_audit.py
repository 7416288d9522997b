"""The REST API's token endpoints record the tokens they make and revoke; the audit
endpoint lists these events and filters them by action."""

from __future__ import annotations

from rest_framework.test import APIClient

from models_app.enums import Action
from models_app.models import AuditEvent

TOKEN_URL = "/api/v1/auth/token/"
RID = "api-request-0001"


def test_obtaining_and_revoking_a_token_is_recorded(people):
    r = APIClient().post(
        TOKEN_URL,
        {"username": "author", "password": "pw"},
        format="json",
        HTTP_X_REQUEST_ID=RID,
    )
    assert r.status_code == 201, r.content
    secret = r.json()["token"]
    created = AuditEvent.objects.get(action=Action.TOKEN_CREATED)
    assert (created.actor_username, created.actor_id) == ("author", people.author.pk)
    assert created.payload["subject"] == "author"
    assert created.payload["token_key"] == secret[: len(created.payload["token_key"])]
    assert created.request_id == RID
    assert secret not in str(created.changes) + str(created.payload)

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    r = client.delete(TOKEN_URL, HTTP_X_REQUEST_ID="api-request-0002")
    assert r.status_code == 204
    revoked = AuditEvent.objects.get(action=Action.TOKEN_REVOKED)
    assert (revoked.actor_username, revoked.request_id) == ("author", "api-request-0002")
    assert revoked.payload["token_key"] == created.payload["token_key"]


def test_a_refused_password_records_nothing(people):
    r = APIClient().post(TOKEN_URL, {"username": "author", "password": "no"}, format="json")
    assert r.status_code == 401
    assert not AuditEvent.objects.filter(action__startswith="token.").exists()


def test_the_audit_endpoint_filters_rights_events_by_action(people, client_for):
    APIClient().post(TOKEN_URL, {"username": "author", "password": "pw"}, format="json")
    r = client_for(people.viewer).get("/api/v1/audit/", {"action": "token.created"})
    assert r.status_code == 200
    [event] = r.json()["results"]
    assert (event["action"], event["actor"], event["object_type"]) == (
        "token.created",
        "author",
        "user",
    )
    assert event["payload"]["subject"] == "author"
    r = client_for(people.viewer).get("/api/v1/audit/", {"action": "user.groups_changed"})
    subjects = {e["payload"]["subject"] for e in r.json()["results"]}
    assert {"author", "reviewer", "release"} <= subjects
