"""The REST API refuses names, versions, metric names and tag keys with a trailing newline
or an invisible character: 400 in the one error shape, nothing stored."""

from __future__ import annotations

import pytest

from models_app.models import ModelVersion, RegisteredModel
from tests.api.conftest import error_of
from tests.factories import register

BASE = "/api/v1/models/fraud_detector"

HIDDEN = {
    "lf": lambda s: s + "\n",
    "crlf": lambda s: s + "\r\n",
    "zwsp": lambda s: s + "\u200b",
    "bom": lambda s: "\ufeff" + s,
    "rlo": lambda s: s[:2] + "\u202e" + s[2:],
}


@pytest.fixture(params=list(HIDDEN))
def hide(request):
    return HIDDEN[request.param]


def test_model_name(people, client_for, hide):
    r = client_for(people.author).post(
        "/api/v1/models/", {"name": hide("fraud_detector"), "team": "fraud"}, format="json"
    )
    assert r.status_code == 400
    assert "name" in error_of(r)["details"]
    assert not RegisteredModel.objects.exists()


def test_version(people, model, client_for, hide):
    r = client_for(people.author).post(
        f"{BASE}/versions/", {"version": hide("1.0.0")}, format="json"
    )
    assert r.status_code == 400
    assert "version" in error_of(r)["details"]
    assert not ModelVersion.objects.exists()


def test_metric_name(people, model, client_for, hide):
    r = client_for(people.author).post(
        f"{BASE}/versions/",
        {"version": "1.0.0", "metrics": {hide("accuracy"): 0.9}},
        format="json",
    )
    assert r.status_code == 400
    assert "metrics" in error_of(r)["details"]
    assert not ModelVersion.objects.exists()


def test_tag_key_at_every_endpoint(people, model, client_for, hide):
    client = client_for(people.author)
    tags = {hide("owner"): "fraud"}
    answers = [
        client.post(
            "/api/v1/models/", {"name": "m2", "team": "fraud", "tags": tags}, format="json"
        ),
        client.post(f"{BASE}/versions/", {"version": "1.0.0", "tags": tags}, format="json"),
        client.patch(f"{BASE}/", {"tags": tags}, format="json"),
    ]
    register(actor=people.author, model=model, version="1.0.1")
    answers.append(client.patch(f"{BASE}/versions/1.0.1/", {"tags": tags}, format="json"))
    for r in answers:
        assert r.status_code == 400, r.content
        assert "tags" in error_of(r)["details"]
    assert list(RegisteredModel.objects.values_list("name", "tags")) == [("fraud_detector", {})]
    assert list(ModelVersion.objects.values_list("version", "tags")) == [("1.0.1", {})]


@pytest.mark.parametrize("escaped", ['"k\\ud800"', '"\\udfff"'])
def test_unpaired_surrogate_in_a_tag_is_400(people, model, client_for, escaped):
    # Only a JSON escape can send one; PostgreSQL would refuse it with an error.
    for body in (f'{{"tags": {{{escaped}: "v"}}}}', f'{{"tags": {{"k": {escaped}}}}}'):
        r = client_for(people.author).generic(
            "PATCH", f"{BASE}/", body, content_type="application/json"
        )
        assert r.status_code == 400, r.content
        assert "tags" in error_of(r)["details"]
    model.refresh_from_db()
    assert model.tags == {}


def test_the_lookalike_name_of_an_existing_model_is_refused_not_created(people, model, client_for):
    r = client_for(people.author).post(
        "/api/v1/models/", {"name": "fraud_detector\n", "team": "fraud"}, format="json"
    )
    assert r.status_code == 400
    assert "name" in error_of(r)["details"]
    assert list(RegisteredModel.objects.values_list("name", flat=True)) == ["fraud_detector"]
