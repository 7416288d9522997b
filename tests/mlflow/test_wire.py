"""MLflow's wire format on raw HTTP: shapes, parameters, errors and authentication.

These use Django's test client with the Authorization header a real MLflow client sends;
test_client.py drives the MLflow client itself.
"""

from __future__ import annotations

import base64
import json

import pytest
from knox.models import AuthToken

from models_app import services
from models_app.models import AuditEvent, ModelVersion
from tests.factories import make_model, make_promotable, register

API = "/api/2.0/mlflow"


@pytest.fixture
def call(client, people):
    """call(method, endpoint, user=author, **params) → (status, JSON body)."""
    tokens: dict[int, str] = {}

    def _call(method, endpoint, user=people.author, query=None, body=None, headers=None):
        extra = dict(headers or {})
        if user is not None and "HTTP_AUTHORIZATION" not in extra:
            if user.pk not in tokens:
                tokens[user.pk] = AuthToken.objects.create(user)[1]
            extra["HTTP_AUTHORIZATION"] = f"Bearer {tokens[user.pk]}"
        path = endpoint if endpoint.startswith("/") else f"{API}/{endpoint}"
        if method == "GET":
            response = client.get(path, query or {}, **extra)
        else:
            data = body if isinstance(body, str | bytes) else json.dumps(body or {})
            response = client.generic(method, path, data, content_type="application/json", **extra)
        assert response["Content-Type"] == "application/json"
        return response.status_code, response.json()

    return _call


@pytest.fixture
def fraud(people):
    model = make_model(actor=people.author, team=people.team, name="fraud_detector")
    register(actor=people.author, model=model, version="1.0.0", artifact_uri="s3://b/1")
    register(actor=people.author, model=model, version="1.1.0", artifact_uri="s3://b/2")
    return model


def test_model_version_wire_shape(call, fraud):
    status, body = call(
        "GET", "model-versions/get", query={"name": "fraud_detector", "version": "2"}
    )
    assert status == 200
    mv = body["model_version"]
    assert mv["version"] == "2"
    assert mv["status"] == "READY"
    assert mv["current_stage"] == "Staging"
    assert isinstance(mv["creation_timestamp"], int)
    assert mv["creation_timestamp"] > 1_600_000_000_000  # milliseconds, not seconds
    assert {"key": "registry.semver", "value": "1.1.0"} in mv["tags"]


def test_registered_model_wire_shape(call, fraud):
    status, body = call("GET", "registered-models/get", query={"name": "fraud_detector"})
    assert status == 200
    rm = body["registered_model"]
    assert rm["name"] == "fraud_detector"
    assert rm["user_id"] == "author"
    assert [v["version"] for v in rm["latest_versions"]] == ["2"]
    assert {"key": "registry.team", "value": "fraud"} in rm["tags"]
    assert rm["aliases"] == []


def test_get_takes_repeated_query_keys(call, fraud, people):
    mv = ModelVersion.objects.get(registered_model=fraud, number=1)
    make_promotable(mv, author=people.author, reviewer=people.reviewer)
    services.model_version_promote(actor=people.release, version=mv, reason="go")
    status, body = call(
        "GET",
        "registered-models/get-latest-versions",
        query={"name": "fraud_detector", "stages": ["Staging", "Production"]},
    )
    assert status == 200
    assert sorted((v["current_stage"], v["version"]) for v in body["model_versions"]) == [
        ("Production", "1"),
        ("Staging", "2"),
    ]
    status, body = call(
        "POST", "registered-models/get-latest-versions", body={"name": "fraud_detector"}
    )
    assert len(body["model_versions"]) == 2


def test_delete_carries_a_json_body(call, fraud):
    call(
        "POST",
        "registered-models/set-tag",
        body={"name": "fraud_detector", "key": "k", "value": "v"},
    )
    status, body = call(
        "DELETE", "registered-models/delete-tag", body={"name": "fraud_detector", "key": "k"}
    )
    assert (status, body) == (200, {})
    fraud.refresh_from_db()
    assert fraud.tags == {}


def test_ajax_api_prefix_answers_the_same(call, fraud):
    status, body = call(
        "GET", "/ajax-api/2.0/mlflow/registered-models/get", query={"name": "fraud_detector"}
    )
    assert status == 200
    assert body["registered_model"]["name"] == "fraud_detector"


def test_unknown_endpoint_and_method(call, fraud):
    status, body = call("GET", "experiments/list")
    assert (status, body["error_code"]) == (404, "ENDPOINT_NOT_FOUND")
    status, body = call("GET", "registered-models/create")
    assert (status, body["error_code"]) == (405, "ENDPOINT_NOT_FOUND")
    assert "POST" in body["message"]


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        ("[" * 5000 + "]" * 5000, "nested too deeply"),
        # Deeper than the REST API's limit, shallow enough for any Python's json module.
        ('{"name": "m", "tags": ' + "[" * 100 + "]" * 100 + "}", "nested too deeply"),
        (json.dumps({"name": 42}), "must be a string"),
        (json.dumps({"name": "a\x00b"}), "NUL"),
        (json.dumps({}), "Missing value for required parameter 'name'"),
        (json.dumps({"name": "m", "tags": "oops"}), "tags"),
    ],
)
def test_bad_input_is_invalid_parameter_value(call, people, body, needle):
    status, answer = call("POST", "registered-models/create", body=body)
    assert status == 400
    assert answer["error_code"] == "INVALID_PARAMETER_VALUE"
    assert needle in answer["message"]


@pytest.mark.parametrize(
    "query",
    [
        {"filter": "name = 'a' OR name = 'b'"},
        {"filter": "name = unquoted"},
        {"filter": "nonsense.key = 'x'"},
        {"filter": "name LIKE 'x"},
        {"order_by": "colour ASC"},
        {"page_token": "not-a-token"},
        {"max_results": "5000"},
        {"max_results": "many"},
    ],
)
def test_bad_search_is_invalid_parameter_value(call, fraud, query):
    status, body = call("GET", "registered-models/search", query=query)
    assert status == 400
    assert body["error_code"] == "INVALID_PARAMETER_VALUE"


def test_version_must_be_an_integer(call, fraud):
    status, body = call(
        "GET", "model-versions/get", query={"name": "fraud_detector", "version": "1.0.0"}
    )
    assert (status, body["error_code"]) == (400, "INVALID_PARAMETER_VALUE")


@pytest.mark.parametrize(
    ("stage", "status", "code"),
    [
        ("Bogus", 400, "INVALID_PARAMETER_VALUE"),
        ("None", 409, "INVALID_STATE"),
    ],
)
def test_transition_to_unknown_or_missing_stage(call, fraud, people, stage, status, code):
    got, body = call(
        "POST",
        "model-versions/transition-stage",
        user=people.release,
        body={"name": "fraud_detector", "version": "1", "stage": stage},
    )
    assert (got, body["error_code"]) == (status, code)
    assert ModelVersion.objects.get(registered_model=fraud, number=1).stage == "staging"


def test_transition_reason_from_request_reaches_audit(call, fraud, people):
    mv = ModelVersion.objects.get(registered_model=fraud, number=1)
    call(
        "POST",
        "model-versions/transition-stage",
        user=people.release,
        body={"name": "fraud_detector", "version": "1", "stage": "archived", "reason": "stale"},
    )
    event = AuditEvent.objects.get(model_version=mv, action="version.archived")
    assert (event.reason, event.actor_username, event.to_stage) == ("stale", "release", "archived")


def test_transition_to_current_stage_changes_nothing(call, fraud, people):
    call("GET", "registered-models/get", user=people.release, query={"name": "fraud_detector"})
    before = AuditEvent.objects.count()  # after the caller's token (an audited right) exists
    status, body = call(
        "POST",
        "model-versions/transition-stage",
        user=people.release,
        body={"name": "fraud_detector", "version": "1", "stage": "Staging"},
    )
    assert status == 200
    assert body["model_version"]["current_stage"] == "Staging"
    assert AuditEvent.objects.count() == before


def test_anonymous_and_bad_credentials_are_unauthenticated(call, fraud, people, client):
    status, body = call("GET", "registered-models/get", user=None, query={"name": "fraud_detector"})
    assert (status, body["error_code"]) == (401, "UNAUTHENTICATED")
    for header in (
        "Bearer nonsense",
        "Basic !!!",
        "Basic " + base64.b64encode(b"author:no").decode(),
    ):
        status, body = call(
            "GET",
            "registered-models/get",
            query={"name": "fraud_detector"},
            headers={"HTTP_AUTHORIZATION": header},
        )
        assert (status, body["error_code"]) == (401, "UNAUTHENTICATED")


def test_revoked_token_is_refused(call, fraud, people):
    instance, token = AuthToken.objects.create(people.author)
    instance.delete()
    status, body = call(
        "GET",
        "registered-models/get",
        query={"name": "fraud_detector"},
        headers={"HTTP_AUTHORIZATION": f"Bearer {token}"},
    )
    assert (status, body["error_code"]) == (401, "UNAUTHENTICATED")


def test_session_cookie_alone_is_not_enough(client, fraud, people):
    # The views are CSRF-exempt because they never trust a session: a logged-in browser
    # tab cannot be made to write through this door.
    client.force_login(people.author)
    response = client.post(
        f"{API}/registered-models/set-tag",
        json.dumps({"name": "fraud_detector", "key": "k", "value": "v"}),
        content_type="application/json",
    )
    assert response.status_code == 401
    fraud.refresh_from_db()
    assert fraud.tags == {}


def test_basic_auth_acts_as_the_user(call, fraud, people):
    header = "Basic " + base64.b64encode(b"author:pw").decode()
    status, _ = call(
        "PATCH",
        "registered-models/update",
        body={"name": "fraud_detector", "description": "via basic auth"},
        headers={"HTTP_AUTHORIZATION": header},
    )
    assert status == 200
    event = AuditEvent.objects.get(model_name="fraud_detector", action="model.changed")
    assert event.actor_username == "author"


def test_latest_versions_per_stage_skip_deleted_versions_and_merge_archived(people, promote):
    """The highest number per MLflow stage, with rolled-back and deprecated versions read as
    Archived, and versions deleted through MLflow left out (wire.latest_versions)."""
    from mlflow_app import services as door
    from mlflow_app import wire

    model = make_model(actor=people.author, team=people.team, name="stages")
    first = promote(model, "1.0.0")  # 1: production, then rolled back
    second = promote(model, "2.0.0")  # 2: production (1 is archived by the promotion)
    services.registered_model_rollback(actor=people.release, model=model, reason="bad")
    deprecated = register(actor=people.author, model=model, version="3.0.0")  # 3
    services.model_version_deprecate(actor=people.release, version=deprecated, reason="old")
    register(actor=people.author, model=model, version="4.0.0")  # 4: staging
    gone = register(actor=people.author, model=model, version="5.0.0")  # 5: staging, deleted
    door.model_version_delete(actor=people.release, version=gone)
    stages = {mv.number: mv.stage for mv in ModelVersion.objects.filter(registered_model=model)}
    assert stages[first.number] == "production" and stages[second.number] == "rolled_back"
    latest = wire.latest_versions([model.pk])[model.pk]
    assert [(wire.STAGE_TO_MLFLOW[mv["stage"]], mv["number"]) for mv in latest] == [
        ("Staging", 4),
        ("Production", 1),
        ("Archived", 3),
    ]
    only = wire.latest_versions([model.pk], ["Archived"])[model.pk]
    assert [mv["number"] for mv in only] == [3]


def test_transition_to_current_stage_needs_the_right_to_make_it(call, fraud, people, promote):
    """A no-op transition answers 403 to a caller without the right, as a real one would:
    the answer must not depend on the stage for someone who may not change it."""
    mv = promote(fraud, "2.0.0")
    status, body = call(
        "POST",
        "model-versions/transition-stage",
        user=people.author,
        body={"name": "fraud_detector", "version": str(mv.number), "stage": "Production"},
    )
    assert (status, body["error_code"]) == (403, "PERMISSION_DENIED")
    status, body = call(
        "POST",
        "model-versions/transition-stage",
        user=people.release,
        body={"name": "fraud_detector", "version": str(mv.number), "stage": "Production"},
    )
    assert (status, body["model_version"]["current_stage"]) == (200, "Production")


def test_a_search_page_shows_each_models_own_latest_versions(call, people, promote):
    """A page of models reads every model's latest versions at once: each model gets its own
    highest number per stage, though the models' numbers differ and overlap."""
    from mlflow_app import services as door

    shapes = {
        "mix_a": ["staging"] * 3,
        "mix_b": ["production", "staging", "archived"],
        "mix_c": ["deprecated", "staging", "deprecated", "staging", "deleted"],
        "mix_d": [],
    }
    expected = {}
    for name, stages in shapes.items():
        model = make_model(actor=people.author, team=people.team, name=name)
        latest = {}
        for n, stage in enumerate(stages, start=1):
            if stage == "production":
                promote(model, f"{n}.0.0")
                latest["Production"] = n
                continue
            mv = register(actor=people.author, model=model, version=f"{n}.0.0")
            if stage == "archived":
                services.model_version_archive(actor=people.release, version=mv, reason="old")
            elif stage == "deprecated":
                services.model_version_deprecate(actor=people.release, version=mv, reason="old")
            elif stage == "deleted":
                door.model_version_delete(actor=people.release, version=mv)
                continue
            latest[{"staging": "Staging", "production": "Production"}.get(stage, "Archived")] = n
        order = ["Staging", "Production", "Archived"]
        expected[name] = [(s, str(latest[s])) for s in order if s in latest]
    status, body = call("GET", "registered-models/search", query={"filter": "name LIKE 'mix%'"})
    assert status == 200
    found = {
        m["name"]: [(v["current_stage"], v["version"]) for v in m["latest_versions"]]
        for m in body["registered_models"]
    }
    assert found == expected
    assert found["mix_c"] == [("Staging", "4"), ("Archived", "3")]
    for name in shapes:
        status, one = call("GET", "registered-models/get", query={"name": name})
        assert [
            (v["current_stage"], v["version"]) for v in one["registered_model"]["latest_versions"]
        ] == expected[name]
