"""The dashboard's token page records the tokens it makes and revokes; the audit log and
its CSV and JSON exports show every change of rights and filter by its action."""

from __future__ import annotations

import csv
import io
import json

from django.contrib.auth.models import Group
from knox.models import AuthToken

from models_app import accounts
from models_app.enums import Action
from models_app.models import AuditEvent
from tests.factories import make_user

RID = "dashboard-rid-0001"


def test_a_token_made_on_the_token_page_is_recorded(people, login):
    client = login(people.viewer)
    response = client.post("/account/tokens/", {"expiry_days": "7"}, HTTP_X_REQUEST_ID=RID)
    assert response.status_code == 200
    secret = response.context["new_token"]
    stored = AuthToken.objects.get(user=people.viewer)
    event = AuditEvent.objects.get(action=Action.TOKEN_CREATED)
    assert (event.actor_username, event.payload["subject"]) == ("viewer", "viewer")
    assert event.request_id == RID == response["X-Request-ID"]
    assert event.payload["token_key"] == stored.token_key
    assert event.payload["expiry"] == stored.expiry.isoformat()
    assert secret not in json.dumps([event.changes, event.payload, event.reason])


def test_a_token_revoked_on_the_token_page_is_recorded(people, login):
    token, _secret = accounts.api_token_create(actor=people.viewer, user=people.viewer)
    client = login(people.viewer)
    response = client.post(
        "/account/tokens/revoke/", {"token_key": token.token_key}, HTTP_X_REQUEST_ID=RID
    )
    assert response.status_code == 302
    event = AuditEvent.objects.get(action=Action.TOKEN_REVOKED)
    assert (event.actor_username, event.request_id) == ("viewer", RID)
    assert event.payload["token_key"] == token.token_key


def test_revoking_someone_elses_token_on_the_token_page_records_nothing(people, login):
    token, _secret = accounts.api_token_create(actor=people.reviewer, user=people.reviewer)
    response = login(people.viewer).post(
        "/account/tokens/revoke/", {"token_key": token.token_key}, follow=True
    )
    assert response.status_code == 404
    assert AuthToken.objects.filter(pk=token.pk).exists()
    assert not AuditEvent.objects.filter(action=Action.TOKEN_REVOKED).exists()


def _rights_changes(people):
    user = make_user("sam")
    user.groups.add(Group.objects.get(name="reviewer"))
    accounts.api_token_create(actor=people.viewer, user=people.viewer)


def test_the_audit_log_shows_and_filters_rights_events(people, login):
    _rights_changes(people)
    client = login(people.viewer)
    page = client.get("/audit/", {"action": Action.USER_GROUPS_CHANGED}).content.decode()
    table = page.split("</thead>")[1]
    assert "User&#x27;s roles (groups) changed" in table
    assert "user sam" in table
    assert "Team created" not in table and "API token created" not in table
    tokens = client.get("/audit/", {"action": Action.TOKEN_CREATED}).content.decode()
    assert "API token created" in tokens and "user viewer" in tokens


def test_the_exports_carry_rights_events(people, login):
    _rights_changes(people)
    client = login(people.viewer)
    body = b"".join(
        client.get("/audit/export.json", {"action": Action.USER_GROUPS_CHANGED}).streaming_content
    )
    filtered = json.loads(body)
    assert {r["action"] for r in filtered} == {"user.groups_changed"}
    [row] = [r for r in filtered if r["payload"]["subject"] == "sam"]
    assert row["action"] == "user.groups_changed"
    assert row["object_type"] == "user"
    assert row["changes"] == {"groups": [[], ["reviewer"]]}
    assert row["payload"] == {"subject": "sam", "added": ["reviewer"], "removed": []}
    assert "request_id" in row
    text = b"".join(client.get("/audit/export.csv").streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    actions = {r["action"] for r in rows}
    assert {"user.created", "user.groups_changed", "token.created"} <= actions
    token_row = next(r for r in rows if r["action"] == "token.created")
    assert token_row["actor_username"] == "viewer"
    assert json.loads(token_row["payload"])["subject"] == "viewer"
