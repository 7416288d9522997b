"""The MLflow door, under both of its prefixes: names, versions, tag keys and aliases with a
trailing newline or an invisible character are INVALID_PARAMETER_VALUE (400) and store
nothing; a stage change, a version delete or an alias delete by a user without the
permission is PERMISSION_DENIED (403) whatever the version's stage, while a permitted user
still gets INVALID_STATE (409)."""

from __future__ import annotations

import json

import pytest
from knox.models import AuthToken

from mlflow_app.models import ModelAlias
from models_app import services
from models_app.models import AuditEvent, ModelVersion, RegisteredModel
from tests.factories import make_model, make_promotable, register

HIDDEN = {
    "lf": lambda s: s + "\n",
    "crlf": lambda s: s + "\r\n",
    "zwsp": lambda s: s + "\u200b",
    "bom": lambda s: "\ufeff" + s,
    "rlo": lambda s: s[:2] + "\u202e" + s[2:],
}


@pytest.fixture(params=["/api/2.0/mlflow", "/ajax-api/2.0/mlflow"])
def call(request, client, people):
    """call(method, endpoint, user, body) → (status, JSON body), under one prefix."""
    tokens: dict[int, str] = {}

    def _call(method, endpoint, user=people.author, body=None):
        if user.pk not in tokens:
            tokens[user.pk] = AuthToken.objects.create(user)[1]
        response = client.generic(
            method,
            f"{request.param}/{endpoint}",
            json.dumps(body or {}),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {tokens[user.pk]}",
        )
        return response.status_code, response.json()

    return _call


@pytest.fixture(params=list(HIDDEN))
def hide(request):
    return HIDDEN[request.param]


@pytest.fixture
def fraud(people):
    model = make_model(actor=people.author, team=people.team, name="fraud_detector")
    register(actor=people.author, model=model, version="1.0.0")
    return model


def _invalid(answer):
    status, body = answer
    assert (status, body["error_code"]) == (400, "INVALID_PARAMETER_VALUE"), body


def test_create_model_with_hidden_character_in_name_or_tag_key(call, people, hide):
    _invalid(call("POST", "registered-models/create", body={"name": hide("fraud_detector")}))
    _invalid(
        call(
            "POST",
            "registered-models/create",
            body={"name": "fraud_detector", "tags": [{"key": hide("owner"), "value": "x"}]},
        )
    )
    assert not RegisteredModel.objects.exists()


def test_rename_to_hidden_character(call, fraud, hide, people):
    _invalid(
        call(
            "POST",
            "registered-models/rename",
            people.admin,  # only admins rename
            body={"name": "fraud_detector", "new_name": hide("fraud_v2")},
        )
    )
    assert list(RegisteredModel.objects.values_list("name", flat=True)) == ["fraud_detector"]


def test_create_version_with_hidden_character_in_tag_key_or_semver(call, fraud, hide):
    for tags in (
        [{"key": hide("owner"), "value": "x"}],
        [{"key": "semver", "value": hide("2.0.0")}],
    ):
        _invalid(
            call(
                "POST",
                "model-versions/create",
                body={"name": "fraud_detector", "source": "s3://b/m", "tags": tags},
            )
        )
    assert list(ModelVersion.objects.values_list("version", flat=True)) == ["1.0.0"]


def test_set_tag_with_hidden_character_in_key(call, fraud, hide):
    _invalid(
        call(
            "POST",
            "registered-models/set-tag",
            body={"name": "fraud_detector", "key": hide("owner"), "value": "x"},
        )
    )
    _invalid(
        call(
            "POST",
            "model-versions/set-tag",
            body={"name": "fraud_detector", "version": "1", "key": hide("owner"), "value": "x"},
        )
    )
    fraud.refresh_from_db()
    assert (fraud.tags, ModelVersion.objects.get().tags) == ({}, {})


def test_set_alias_with_hidden_character(call, fraud, hide):
    _invalid(
        call(
            "POST",
            "registered-models/alias",
            body={"name": "fraud_detector", "alias": hide("champion"), "version": "1"},
        )
    )
    assert not ModelAlias.objects.exists()


@pytest.fixture
def history(people, fraud):
    """Version 1 (1.0.0) archived after production, 2 (1.1.0) in production, 3 (1.2.0)
    deprecated."""
    first = ModelVersion.objects.get(registered_model=fraud, number=1)
    make_promotable(first, author=people.author, reviewer=people.reviewer)
    services.model_version_promote(actor=people.release, version=first, reason="ship")
    second = register(actor=people.author, model=fraud, version="1.1.0")
    make_promotable(second, author=people.author, reviewer=people.reviewer)
    services.model_version_promote(actor=people.release, version=second, reason="ship")
    third = register(actor=people.author, model=fraud, version="1.2.0")
    services.model_version_deprecate(actor=people.release, version=third, reason="old")
    return fraud


def _state():
    return (
        sorted(ModelVersion.objects.values_list("number", "stage")),
        # The model's events: a caller's first request also records its token (a right).
        AuditEvent.objects.filter(registered_model__isnull=False).count(),
        ModelAlias.objects.count(),
    )


@pytest.mark.parametrize(
    "version,stage,permitted",
    [
        ("1", "Production", (409, "INVALID_STATE")),  # archived
        ("3", "Production", (409, "INVALID_STATE")),  # deprecated
        # A change to the stage the version shows already changes nothing, for those who
        # could have made it.
        ("2", "Production", (200, None)),
        ("3", "Archived", (200, None)),
    ],
)
def test_transition_from_wrong_stage(call, people, history, version, stage, permitted):
    body = {"name": "fraud_detector", "version": version, "stage": stage}
    before = _state()
    for who in (people.author, people.reviewer, people.outsider, people.viewer):
        status, answer = call("POST", "model-versions/transition-stage", who, body)
        assert (status, answer["error_code"]) == (403, "PERMISSION_DENIED"), answer
    status, answer = call("POST", "model-versions/transition-stage", people.release, body)
    assert (status, answer.get("error_code")) == permitted, answer
    assert _state() == before


@pytest.mark.parametrize("version", ["1", "2"])
def test_delete_of_a_once_production_version(call, people, history, version):
    body = {"name": "fraud_detector", "version": version}
    before = _state()
    status, answer = call("DELETE", "model-versions/delete", people.author, body)
    assert (status, answer["error_code"]) == (403, "PERMISSION_DENIED"), answer
    status, answer = call("DELETE", "model-versions/delete", people.release, body)
    assert (status, answer["error_code"]) == (409, "INVALID_STATE"), answer
    assert _state() == before


def test_alias_delete_is_403_whether_or_not_the_alias_exists(call, people, history):
    status, _ = call(
        "POST",
        "registered-models/alias",
        people.author,
        {"name": "fraud_detector", "alias": "shadow", "version": "2"},
    )
    assert status == 200
    before = _state()
    for alias in ("shadow", "no_such_alias", "champion"):
        status, answer = call(
            "DELETE",
            "registered-models/alias",
            people.outsider,
            {"name": "fraud_detector", "alias": alias},
        )
        assert (status, answer["error_code"]) == (403, "PERMISSION_DENIED"), answer
    assert _state() == before
