"""The bad-input table: each row gets its 4xx, the one error shape and a clear
message, never a 500."""

from __future__ import annotations

import json

import pytest

from models_app.models import ModelVersion, RegisteredModel
from tests.api.conftest import error_of
from tests.factories import register

BASE = "/api/v1/models/fraud_detector"


def post_raw(client, url, body: str | bytes, content_type="application/json"):
    return client.generic("POST", url, body, content_type=content_type)


@pytest.mark.parametrize(
    "version",
    ["1", "1.0", "01.0.0", "1.0.0-", "v1.0.0", "1.0.0+", "1.0.0 ", "", "1.0.0/..", "1" * 70],
)
def test_register_invalid_semver_is_400(people, model, client_for, version):
    r = client_for(people.author).post(f"{BASE}/versions/", {"version": version}, format="json")
    assert r.status_code == 400
    error = error_of(r)
    assert error["code"] == "invalid"
    assert "version" in error["details"]
    assert not ModelVersion.objects.exists()


def test_register_semver_with_build_and_prerelease_round_trips_in_the_path(
    people, model, client_for
):
    client = client_for(people.author)
    for version in ("1.0.0-rc.1", "1.0.0+build.7", "2.0.0-alpha-1+exp.sha.5114f85"):
        assert (
            client.post(f"{BASE}/versions/", {"version": version}, format="json").status_code == 201
        )
    assert client.get(f"{BASE}/versions/1.0.0+build.7/").json()["version"] == "1.0.0+build.7"
    assert client.get(f"{BASE}/versions/1.0.0%2Bbuild.7/").json()["version"] == "1.0.0+build.7"
    got = client.get(f"{BASE}/versions/2.0.0-alpha-1+exp.sha.5114f85/")
    assert got.status_code == 200
    # Digits only: the version's number.
    assert client.get(f"{BASE}/versions/2/").json()["version"] == "1.0.0+build.7"


def test_register_duplicate_version_sequentially_is_409(people, model, client_for):
    client = client_for(people.author)
    assert client.post(f"{BASE}/versions/", {"version": "1.0.0"}, format="json").status_code == 201
    r = client.post(f"{BASE}/versions/", {"version": "1.0.0"}, format="json")
    assert r.status_code == 409
    error = error_of(r)
    assert error["code"] == "conflict"
    assert "already has a version 1.0.0" in error["message"]
    assert ModelVersion.objects.count() == 1


def test_create_duplicate_model_is_409(people, model, client_for):
    r = client_for(people.author).post(
        "/api/v1/models/", {"name": "fraud_detector", "team": "fraud"}, format="json"
    )
    assert r.status_code == 409
    assert "already exists" in error_of(r)["message"]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ('{"version": "1.0.0", "metrics": {"a": NaN}}', "NaN"),
        ('{"version": "1.0.0", "metrics": {"a": Infinity}}', "Infinity"),
        ('{"version": "1.0.0", "metrics": {"a": -Infinity}}', "Infinity"),
    ],
)
def test_register_nan_and_infinity_in_raw_json_is_400(people, model, client_for, body, fragment):
    r = post_raw(client_for(people.author), f"{BASE}/versions/", body)
    assert r.status_code == 400
    error = error_of(r)
    assert error["code"] == "parse_error"
    assert fragment in error["message"]
    assert not ModelVersion.objects.exists()


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("0.9", "not str"),
        (None, "not NoneType"),
        (True, "not bool"),
        (False, "not bool"),
        ([1], "not list"),
    ],
)
def test_register_non_number_metric_is_400(people, model, client_for, value, fragment):
    r = client_for(people.author).post(
        f"{BASE}/versions/", {"version": "1.0.0", "metrics": {"accuracy": value}}, format="json"
    )
    assert r.status_code == 400
    error = error_of(r)
    assert "metrics" in error["details"]
    assert fragment in error["message"]


def test_register_metrics_not_an_object_is_400(people, model, client_for):
    r = client_for(people.author).post(
        f"{BASE}/versions/", {"version": "1.0.0", "metrics": [0.9]}, format="json"
    )
    assert r.status_code == 400
    assert "metrics must be an object" in error_of(r)["message"]


def test_nul_in_json_key_is_400(people, model, client_for):
    body = json.dumps({"version": "1.0.0", "metrics": {"acc\u0000": 0.9}})
    r = post_raw(client_for(people.author), f"{BASE}/versions/", body)
    assert r.status_code == 400
    assert "NUL" in error_of(r)["message"]


def test_nul_in_params_value_is_400(people, model, client_for):
    body = json.dumps({"version": "1.0.0", "params": {"x": ["a\u0000b"]}})
    r = post_raw(client_for(people.author), f"{BASE}/versions/", body)
    assert r.status_code == 400
    assert "NUL" in error_of(r)["message"]


@pytest.mark.parametrize(
    "name",
    [
        "bad\u0007name",
        "bad\nname",
        "evil\u202eexe.txt",
        "evil\u2066name",
        "bad name",
        "../etc",
        "-leading-dash",
        "x" * 101,
    ],
)
def test_create_model_with_bad_name_is_400(people, client_for, name):
    r = client_for(people.author).post(
        "/api/v1/models/", {"name": name, "team": "fraud"}, format="json"
    )
    assert r.status_code == 400
    error = error_of(r)
    assert "name" in error["details"]
    assert not RegisteredModel.objects.exists()


def test_create_model_with_nul_in_name_is_400(people, client_for):
    body = json.dumps({"name": "bad\u0000name", "team": "fraud"})
    r = post_raw(client_for(people.author), "/api/v1/models/", body)
    assert r.status_code == 400
    assert "NUL" in error_of(r)["message"]
    assert not RegisteredModel.objects.exists()


@pytest.mark.parametrize("text", ["tag\u202evalue", "tag\u200f", "line\u0085break", "bell\u0007"])
def test_control_and_bidi_characters_in_tags_are_400(people, model, client_for, text):
    r = client_for(people.author).patch(f"{BASE}/", {"tags": {"k": text}}, format="json")
    assert r.status_code == 400
    assert error_of(r)["code"] == "invalid"


def test_5000_deep_json_is_400(people, model, client_for):
    body = '{"version": "1.0.0", "params": ' + "[" * 5000 + "]" * 5000 + "}"
    r = post_raw(client_for(people.author), f"{BASE}/versions/", body)
    assert r.status_code == 400
    assert "nested" in error_of(r)["message"]


def test_json_deeper_than_limit_but_within_recursion_is_400(people, model, client_for):
    body = '{"version": "1.0.0", "params": ' + '{"a": ' * 100 + "1" + "}" * 100 + "}"
    r = post_raw(client_for(people.author), f"{BASE}/versions/", body)
    assert r.status_code == 400
    assert "nested more than 64" in error_of(r)["message"]


def test_oversize_json_body_is_413(people, model, client_for, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = json.dumps({"version": "1.0.0", "description": "x" * 2000})
    r = post_raw(client_for(people.author), f"{BASE}/versions/", body)
    assert r.status_code == 413
    assert error_of(r)["code"] == "too_large"
    assert not ModelVersion.objects.exists()


TRAVERSALS = [
    "s3://bucket/../../etc/passwd",
    "s3://bucket/a/..%2F..%2Fetc/passwd",
    "s3://bucket/a/%2e%2e/%2e%2e/etc/passwd",
    "s3://bucket/a/%252e%252e/etc",
    "s3://bucket/a/%25252e%25252e/etc",
    "s3://bucket/a\\..\\..\\etc\\passwd",
    "s3://bucket/a/%5c..%5cetc",
    "https://host/a/..;/etc/passwd",
    "https://host/a;/../etc",
    "https://host/models#/../../etc",
    "runs:/abc/../../etc/passwd",
    "models:/../x",
    "mlflow-artifacts:/a/%2E%2E/b",
    "file:///etc/shadow",
    "/etc/passwd",
    "../../etc/passwd",
    "s3://bucket/a%00.txt",
    "javascript:alert(1)",
]


@pytest.mark.parametrize("uri", TRAVERSALS)
def test_register_traversal_artifact_uri_is_400(people, model, client_for, uri):
    r = client_for(people.author).post(
        f"{BASE}/versions/", {"version": "1.0.0", "artifact_uri": uri}, format="json"
    )
    assert r.status_code == 400, r.json()
    error = error_of(r)
    assert "artifact_uri" in error["details"]
    assert not ModelVersion.objects.exists()


def test_patch_of_stage_is_400_and_changes_nothing(people, model, client_for):
    register(actor=people.author, model=model, version="1.0.0")
    for client in (client_for(people.author), client_for(people.admin)):
        r = client.patch(f"{BASE}/versions/1.0.0/", {"stage": "production"}, format="json")
        assert r.status_code == 400
        error = error_of(r)
        assert "stage is read-only" in error["details"]["stage"][0]
    assert ModelVersion.objects.get().stage == "staging"


def test_patch_of_identity_field_is_400(people, model, client_for):
    register(actor=people.author, model=model, version="1.0.0")
    r = client_for(people.author).patch(
        f"{BASE}/versions/1.0.0/", {"metrics": {"accuracy": 1.0}}, format="json"
    )
    assert r.status_code == 400
    assert "cannot change after registration" in error_of(r)["message"]


def test_patch_with_unknown_field_is_400(people, model, client_for):
    r = client_for(people.author).patch(f"{BASE}/", {"colour": "red"}, format="json")
    assert r.status_code == 400
    assert "Unknown field" in error_of(r)["details"]["colour"][0]


def test_promote_archived_version_is_409(people, model, client_for, promote):
    promote(model, "1.0.0")
    promote(model, "1.1.0")  # archives 1.0.0
    r = client_for(people.release).post(
        f"{BASE}/versions/1.0.0/promote/", {"reason": "again"}, format="json"
    )
    assert r.status_code == 409
    error = error_of(r)
    assert error["code"] == "invalid_transition"
    assert "'archived'" in error["message"]


def test_rollback_without_earlier_production_version_is_409(people, model, client_for, promote):
    promote(model, "1.0.0")
    r = client_for(people.release).post(f"{BASE}/rollback/", {"reason": "bad"}, format="json")
    assert r.status_code == 409
    assert "no earlier production version" in error_of(r)["message"]


def test_rollback_with_nothing_in_production_is_409(people, model, client_for):
    r = client_for(people.release).post(f"{BASE}/rollback/", {"reason": "bad"}, format="json")
    assert r.status_code == 409
    assert "no version is in production" in error_of(r)["message"]


def test_transition_without_reason_is_400(people, model, client_for):
    register(actor=people.author, model=model, version="1.0.0")
    for body in ({}, {"reason": "   "}, {"reason": None}):
        r = client_for(people.release).post(f"{BASE}/versions/1.0.0/archive/", body, format="json")
        assert r.status_code == 400
        assert "reason" in error_of(r)["details"]


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/xml",
    ],
)
def test_wrong_content_type_is_415(people, model, client_for, content_type):
    r = post_raw(client_for(people.author), f"{BASE}/versions/", "version=1.0.0", content_type)
    assert r.status_code == 415
    error = error_of(r)
    assert error["code"] == "unsupported_media_type"
    assert not ModelVersion.objects.exists()


@pytest.mark.parametrize(
    "body", ["{", "[1,2", '{"version": "1.0.0",}', "\xff\xfe", "null", "[]", '"s"']
)
def test_malformed_or_non_object_json_is_400(people, model, client_for, body):
    r = post_raw(client_for(people.author), f"{BASE}/versions/", body.encode("latin-1"))
    assert r.status_code == 400
    error_of(r)


def test_unknown_model_and_version_are_404(people, model, client_for):
    client = client_for(people.viewer)
    for url in (
        "/api/v1/models/nope/",
        "/api/v1/models/nope/production/",
        f"{BASE}/versions/9.9.9/",
        f"{BASE}/versions/99/checks/",
        f"{BASE}/versions/9.9.9/card/",
    ):
        r = client.get(url)
        assert r.status_code == 404, url
        assert error_of(r)["code"] == "not_found"


def test_unknown_api_path_is_json_404(people, client_for):
    r = client_for(people.viewer).get("/api/v1/nothing/here/")
    assert r.status_code == 404
    assert error_of(r)["code"] == "not_found"


def test_wrong_method_is_405_with_error_shape(people, model, client_for):
    r = client_for(people.viewer).delete(f"{BASE}/")
    assert r.status_code == 405
    assert error_of(r)["code"] == "method_not_allowed"


def test_bad_list_filters_are_400(people, model, client_for):
    client = client_for(people.viewer)
    for url in (
        "/api/v1/models/?stage=live",
        "/api/v1/models/?tag=novalue",
        f"{BASE}/versions/?stage=bogus",
        "/api/v1/audit/?since=yesterday",
        "/api/v1/audit/?until=2026-13-45",
        "/api/v1/audit/?until=9999-12-31",
        "/api/v1/audit/?since=0000-01-01T00:00:00",
        "/api/v1/models/?tag=:x",
        "/api/v1/models/?search=%00",
    ):
        r = client.get(url)
        assert r.status_code == 400, url
        error_of(r)


def test_invalid_cursor_is_400_with_error_shape(people, model, client_for):
    r = client_for(people.viewer).get("/api/v1/models/?cursor=99")
    assert r.status_code == 400
    assert error_of(r)["code"] == "invalid_cursor"


@pytest.mark.parametrize("number", ["1" + "0" * 400, "-" + "9" * 30, "1" + "0" * 5000])
def test_integers_beyond_64_bits_are_400(people, model, client_for, number):
    body = '{"version": "1.0.0", "metrics": {"a": ' + number + '}, "artifact_size": ' + number + "}"
    r = post_raw(client_for(people.author), f"{BASE}/versions/", body)
    assert r.status_code == 400
    assert error_of(r)["code"] == "parse_error"


def test_nul_in_path_segments_is_404(people, model, client_for):
    client = client_for(people.viewer)
    for url in ("/api/v1/models/a%00b/", f"{BASE}/versions/1.0.0%00/"):
        r = client.get(url)
        assert r.status_code == 404
        error_of(r)


def test_patch_of_model_name_or_team_is_400(people, model, client_for):
    r = client_for(people.author).patch(
        f"{BASE}/", {"name": "renamed", "team": "pricing"}, format="json"
    )
    assert r.status_code == 400
    details = error_of(r)["details"]
    assert details["name"] == ["name of a model cannot be changed through the API."]
    assert "team" in details
