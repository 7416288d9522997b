"""The MLflow door's model-versions/create: `source` is a client-given artifact URI, so a
`registry:` URI (made only by the registry's own upload) and URIs whose percent-encoding
hides a traversal or is not UTF-8 are refused, under /api/ and /ajax-api/ alike, and a
refused request stores nothing."""

from __future__ import annotations

import json

import pytest
from knox.models import AuthToken

from models_app.models import AuditEvent, ModelVersion
from tests.factories import make_model

PREFIXES = ["/api/2.0/mlflow", "/ajax-api/2.0/mlflow"]


@pytest.fixture
def create(client, people):
    """create(prefix, source) → (status, JSON body) of model-versions/create as the author."""
    token = AuthToken.objects.create(people.author)[1]

    def _create(prefix: str, source: str):
        response = client.post(
            f"{prefix}/model-versions/create",
            json.dumps({"name": "fraud_detector", "source": source}),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {token}",
        )
        assert response["Content-Type"] == "application/json"
        return response.status_code, response.json()

    return _create


@pytest.fixture
def fraud(people):
    return make_model(actor=people.author, team=people.team, name="fraud_detector")


def refused_and_nothing_stored(fraud, status, body, events_before) -> str:
    assert status == 400, body
    assert body["error_code"] == "INVALID_PARAMETER_VALUE"
    assert not ModelVersion.objects.filter(registered_model=fraud).exists()
    fraud.refresh_from_db()
    assert fraud.last_number == 0
    assert AuditEvent.objects.count() == events_before
    return body["message"]


@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize(
    "source",
    [
        "registry:/artifacts/price_optimizer/1.0.0/0123456789abcdef0123456789abcdef",
        "REGISTRY:/artifacts/fraud_detector/1.0.0/x",
        "registry:artifacts/x",
    ],
)
def test_registry_source_is_refused(create, fraud, prefix, source):
    events = AuditEvent.objects.count()
    status, body = create(prefix, source)
    message = refused_and_nothing_stored(fraud, status, body, events)
    assert message.startswith("source: ")
    assert "made only by the registry" in message


@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize(
    "source",
    [
        "s3://b/..%c0%af..%c0%afetc/passwd",
        "s3://b/%c0%ae%c0%ae/etc",
        "s3://b/%25c0%25af%25c0%25afetc",
        "https://host/models/a%80b",
        "gs://b/%ed%a0%80",
    ],
)
def test_source_not_utf8_once_decoded_is_refused(create, fraud, prefix, source):
    events = AuditEvent.objects.count()
    status, body = create(prefix, source)
    assert "not valid UTF-8" in refused_and_nothing_stored(fraud, status, body, events)


@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize(
    "source",
    [
        "s3://b/%2e%2e/etc",
        "s3://b/%252e%252e/%252e%252e/etc",
        "s3://b/models\\..\\etc",
        "s3://b/models/..%5cetc",
        "runs:/abc\\..%2f..%5cetc",
    ],
)
def test_source_with_hidden_traversal_is_refused(create, fraud, prefix, source):
    events = AuditEvent.objects.count()
    status, body = create(prefix, source)
    assert "'..' path segments" in refused_and_nothing_stored(fraud, status, body, events)


@pytest.mark.parametrize("prefix", PREFIXES)
def test_a_plain_store_source_is_still_registered(create, fraud, prefix):
    status, body = create(prefix, "s3://bucket/fraud/caf%C3%A9/model")
    assert status == 200, body
    assert body["model_version"]["source"] == "s3://bucket/fraud/caf%C3%A9/model"
