"""Fixtures of the API tests: clients acting as each role, a private artifact store."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient


@pytest.fixture(autouse=True)
def artifact_root(settings, tmp_path):
    """Artifacts of each test go to its own directory, never to var/."""
    root = tmp_path / "artifacts"
    root.mkdir()
    settings.MEDIA_ROOT = str(root)
    return root


@pytest.fixture
def client_for():
    """client_for(user) → an APIClient authenticated as `user` (None: anonymous)."""

    def _make(user):
        client = APIClient()
        if user is not None:
            client.force_authenticate(user=user)
        return client

    return _make


@pytest.fixture
def anon():
    return APIClient()


def error_of(response) -> dict:
    """The error object of an answer, after checking it has the one error shape."""
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]
