"""The MLflow door is no side entrance: renames, protected aliases, create and tags, on raw
HTTP through both of its prefixes (`/api/2.0/mlflow/` and `/ajax-api/2.0/mlflow/`)."""

from __future__ import annotations

import json

import pytest
from knox.models import AuthToken

from mlflow_app import services as door
from mlflow_app.models import ModelAlias
from models_app import services
from models_app.enums import Action, Stage
from models_app.models import AuditEvent, ModelVersion, RegisteredModel
from tests.factories import make_model, make_promotable, register

PREFIXES = ["/api/2.0/mlflow", "/ajax-api/2.0/mlflow"]


@pytest.fixture(params=PREFIXES)
def call(request, client, people):
    """call(method, endpoint, user, query=…, body=…) → (status, JSON body), under one prefix."""
    prefix = request.param
    tokens: dict[int, str] = {}

    def _call(method, endpoint, user, query=None, body=None):
        if user.pk not in tokens:
            tokens[user.pk] = AuthToken.objects.create(user)[1]
        auth = {"HTTP_AUTHORIZATION": f"Bearer {tokens[user.pk]}"}
        path = f"{prefix}/{endpoint}"
        if method == "GET":
            response = client.get(path, query or {}, **auth)
        else:
            response = client.generic(
                method, path, json.dumps(body or {}), content_type="application/json", **auth
            )
        assert response["Content-Type"] == "application/json"
        return response.status_code, response.json()

    return _call


@pytest.fixture
def fraud(people):
    """fraud_detector: 1.0.0 approved (promotable), 1.1.0 not reviewed."""
    model = make_model(actor=people.author, team=people.team, name="fraud_detector")
    first = register(actor=people.author, model=model, version="1.0.0", artifact_uri="s3://b/1")
    make_promotable(first, author=people.author, reviewer=people.reviewer)
    register(actor=people.author, model=model, version="1.1.0", artifact_uri="s3://b/2")
    return model


def _stage(model, number):
    return ModelVersion.objects.get(registered_model=model, number=number).stage


# --- Renames ---------------------------------------------------------------------------------


def test_rename_is_for_admins_only(call, people, fraud):
    for who in (people.author, people.release, people.outsider):
        status, body = call(
            "POST", "registered-models/rename", who, body={"name": fraud.name, "new_name": "x"}
        )
        assert (status, body["error_code"]) == (403, "PERMISSION_DENIED")
    status, body = call(
        "POST",
        "registered-models/rename",
        people.admin,
        body={"name": "fraud_detector", "new_name": "fraud_scorer"},
    )
    assert status == 200, body
    assert body["registered_model"]["name"] == "fraud_scorer"
    event = AuditEvent.objects.get(action=Action.MODEL_RENAMED)
    assert event.payload == {"old_name": "fraud_detector", "new_name": "fraud_scorer"}


def test_rename_of_a_model_once_in_production_is_refused(call, people, fraud):
    services.model_version_promote(
        actor=people.release, version=fraud.versions.get(version="1.0.0"), reason="ship"
    )
    status, body = call(
        "POST",
        "registered-models/rename",
        people.admin,
        body={"name": "fraud_detector", "new_name": "fraud_scorer"},
    )
    assert (status, body["error_code"]) == (409, "INVALID_STATE")
    assert "1.0.0 were in production" in body["message"]
    # A non-admin is refused for want of permission, learning nothing of the above.
    status, body = call(
        "POST",
        "registered-models/rename",
        people.author,
        body={"name": "fraud_detector", "new_name": "fraud_scorer"},
    )
    assert (status, body["error_code"]) == (403, "PERMISSION_DENIED")
    assert "1.0.0" not in body["message"]
    assert RegisteredModel.objects.filter(name="fraud_detector").exists()


def test_rename_to_a_taken_name_is_resource_already_exists(call, people, fraud):
    make_model(actor=people.author, team=people.team, name="taken")
    status, body = call(
        "POST",
        "registered-models/rename",
        people.admin,
        body={"name": "fraud_detector", "new_name": "taken"},
    )
    assert (status, body["error_code"]) == (400, "RESOURCE_ALREADY_EXISTS")


# --- Protected aliases -----------------------------------------------------------------------


def test_setting_champion_on_an_unapproved_version_is_refused_with_the_guards(call, people, fraud):
    status, body = call(
        "POST",
        "registered-models/alias",
        people.release,
        body={"name": "fraud_detector", "alias": "champion", "version": "2"},
    )
    assert (status, body["error_code"]) == (409, "INVALID_STATE")
    assert "protected alias 'champion'" in body["message"]
    assert "Promotion refused" in body["message"]
    assert "approval" in body["message"]
    assert _stage(fraud, 2) == Stage.STAGING
    assert not ModelAlias.objects.exists()
    assert not AuditEvent.objects.filter(action=Action.VERSION_PROMOTED).exists()


def test_setting_champion_promotes_through_the_service(call, people, fraud):
    status, body = call(
        "POST",
        "registered-models/alias",
        people.author,
        body={"name": "fraud_detector", "alias": "champion", "version": "1"},
    )
    assert (status, body["error_code"]) == (403, "PERMISSION_DENIED")
    assert _stage(fraud, 1) == Stage.STAGING
    status, body = call(
        "POST",
        "registered-models/alias",
        people.release,
        body={"name": "fraud_detector", "alias": "Champion", "version": "1"},
    )
    assert status == 200, body
    assert _stage(fraud, 1) == Stage.PRODUCTION
    assert not ModelAlias.objects.exists()
    event = AuditEvent.objects.get(action=Action.VERSION_PROMOTED)
    assert (event.actor_username, event.reason) == (
        "release",
        "set alias Champion through the MLflow door",
    )
    # Again on the version in production: nothing changes, nothing is recorded.
    before = AuditEvent.objects.count()
    for alias in ("champion", "production"):
        status, _ = call(
            "POST",
            "registered-models/alias",
            people.release,
            body={"name": "fraud_detector", "alias": alias, "version": "1"},
        )
        assert status == 200
    assert AuditEvent.objects.count() == before
    # ... but it still needs the promote permission.
    status, body = call(
        "POST",
        "registered-models/alias",
        people.author,
        body={"name": "fraud_detector", "alias": "champion", "version": "1"},
    )
    assert (status, body["error_code"]) == (403, "PERMISSION_DENIED")


def test_a_caller_reason_is_recorded(call, people, fraud):
    status, _ = call(
        "POST",
        "registered-models/alias",
        people.release,
        body={"name": fraud.name, "alias": "production", "version": "1", "reason": "Q4 launch"},
    )
    assert status == 200
    assert AuditEvent.objects.get(action=Action.VERSION_PROMOTED).reason == "Q4 launch"


def test_protected_aliases_read_as_the_production_version(call, people, fraud):
    status, body = call(
        "GET",
        "registered-models/alias",
        people.viewer,
        query={"name": fraud.name, "alias": "champion"},
    )
    assert (status, body["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    assert "has none" in body["message"]
    services.model_version_promote(
        actor=people.release, version=fraud.versions.get(version="1.0.0"), reason="ship"
    )
    door.alias_set(actor=people.author, version=fraud.versions.get(version="1.1.0"), alias="shadow")
    status, body = call(
        "GET",
        "registered-models/alias",
        people.viewer,
        query={"name": fraud.name, "alias": "CHAMPION"},
    )
    assert status == 200
    assert body["model_version"]["version"] == "1"
    assert body["model_version"]["aliases"] == ["champion", "production"]
    status, body = call("GET", "registered-models/get", people.viewer, query={"name": fraud.name})
    assert body["registered_model"]["aliases"] == [
        {"alias": "champion", "version": "1"},
        {"alias": "production", "version": "1"},
        {"alias": "shadow", "version": "2"},
    ]
    production = [
        v for v in body["registered_model"]["latest_versions"] if v["current_stage"] == "Production"
    ]
    assert production[0]["aliases"] == ["champion", "production"]
    status, body = call(
        "GET", "model-versions/search", people.viewer, query={"filter": "name = 'fraud_detector'"}
    )
    by_number = {v["version"]: v["aliases"] for v in body["model_versions"]}
    assert by_number == {"1": ["champion", "production"], "2": ["shadow"]}


def test_stored_rows_of_protected_aliases_are_ignored(call, people, fraud):
    """A row stored before an alias became protected never shadows the production version."""
    staging = fraud.versions.get(version="1.1.0")
    ModelAlias.objects.create(
        registered_model=fraud, alias="champion", model_version=staging, updated_by=people.author
    )
    status, body = call(
        "GET",
        "registered-models/alias",
        people.viewer,
        query={"name": fraud.name, "alias": "champion"},
    )
    assert (status, body["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    status, body = call("GET", "registered-models/get", people.viewer, query={"name": fraud.name})
    assert body["registered_model"]["aliases"] == []
    status, body = call(
        "GET", "model-versions/get", people.viewer, query={"name": fraud.name, "version": "2"}
    )
    assert body["model_version"]["aliases"] == []
    services.model_version_promote(
        actor=people.release, version=fraud.versions.get(version="1.0.0"), reason="ship"
    )
    status, body = call(
        "GET",
        "registered-models/alias",
        people.viewer,
        query={"name": fraud.name, "alias": "champion"},
    )
    assert body["model_version"]["version"] == "1"


def test_deleting_a_protected_alias_is_refused(call, people, fraud):
    services.model_version_promote(
        actor=people.release, version=fraud.versions.get(version="1.0.0"), reason="ship"
    )
    for alias in ("champion", "Production"):
        status, body = call(
            "DELETE",
            "registered-models/alias",
            people.release,
            body={"name": fraud.name, "alias": alias},
        )
        assert (status, body["error_code"]) == (409, "INVALID_STATE")
        assert "protected" in body["message"]
        assert "archive" in body["message"] and "roll the model back" in body["message"]
    assert _stage(fraud, 1) == Stage.PRODUCTION
    assert not AuditEvent.objects.filter(action=Action.ALIAS_DELETED).exists()


def test_unprotected_aliases_stay_free(call, people, fraud, settings):
    settings.REGISTRY_PROTECTED_ALIASES = []
    status, _ = call(
        "POST",
        "registered-models/alias",
        people.author,
        body={"name": fraud.name, "alias": "champion", "version": "2"},
    )
    assert status == 200
    assert ModelAlias.objects.get().model_version.number == 2
    assert _stage(fraud, 2) == Stage.STAGING
    status, body = call(
        "GET",
        "registered-models/alias",
        people.viewer,
        query={"name": fraud.name, "alias": "champion"},
    )
    assert body["model_version"]["version"] == "2"


# --- MLflow's own contract: create and tags --------------------------------------------------


def test_second_create_is_already_exists_for_a_caller_without_one_team(call, people, fraud):
    for who in (people.admin, people.viewer, people.author):
        status, body = call(
            "POST", "registered-models/create", who, body={"name": "fraud_detector"}
        )
        assert (status, body["error_code"]) == (400, "RESOURCE_ALREADY_EXISTS"), who
        assert body["message"] == "Registered Model (name=fraud_detector) already exists."
    assert RegisteredModel.objects.filter(name="fraud_detector").count() == 1


def test_the_team_tag_is_echoed_as_set_beside_registry_team(call, people):
    status, body = call(
        "POST",
        "registered-models/create",
        people.admin,
        body={"name": "pricing_model", "tags": [{"key": "team", "value": "Pricing"}]},
    )
    assert status == 200, body
    expected = [
        {"key": "team", "value": "Pricing"},
        {"key": "registry.team", "value": "pricing"},
    ]
    assert body["registered_model"]["tags"] == expected
    status, body = call(
        "GET", "registered-models/get", people.viewer, query={"name": "pricing_model"}
    )
    assert body["registered_model"]["tags"] == expected
    status, body = call(
        "POST",
        "registered-models/set-tag",
        people.admin,
        body={"name": "pricing_model", "key": "team", "value": "fraud"},
    )
    assert (status, body["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    assert RegisteredModel.objects.get(name="pricing_model").team == people.other_team
