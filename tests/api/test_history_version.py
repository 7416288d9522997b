"""The per-version audit trail through the API."""

import pytest
from rest_framework.test import APIClient

from tests.factories import register


@pytest.fixture
def api(people):
    client = APIClient()
    client.force_authenticate(people.viewer)
    return client


def test_history_filtered_by_version_lists_only_that_version(api, people, model, promote):
    promote(model, "1.0.0")
    register(actor=people.author, model=model, version="1.1.0")

    by_label = api.get("/api/v1/models/fraud_detector/history/?version=1.1.0")
    by_number = api.get("/api/v1/models/fraud_detector/history/?version=2")
    whole = api.get("/api/v1/models/fraud_detector/history/?page_size=200")

    assert by_label.status_code == 200
    assert [e["action"] for e in by_label.json()["results"]] == ["version.registered"]
    assert by_number.json()["results"] == by_label.json()["results"]
    assert len(whole.json()["results"]) > len(by_label.json()["results"])


def test_history_of_an_unknown_version_is_404(api, model):
    response = api.get("/api/v1/models/fraud_detector/history/?version=9.9.9")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
