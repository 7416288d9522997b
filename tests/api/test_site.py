"""Site-level pieces of the API: Django's own error pages under /api/ become JSON, and
the artifact storage is chosen from the environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from django.http import HttpResponseNotFound, HttpResponseServerError
from django.test import RequestFactory

from models_app.api.common import ApiErrorMiddleware


def test_django_500_under_api_becomes_json():
    middleware = ApiErrorMiddleware(lambda request: HttpResponseServerError("<h1>boom</h1>"))
    response = middleware(RequestFactory().get("/api/v1/models/"))
    assert response.status_code == 500
    body = json.loads(response.content)
    assert body["error"]["code"] == "server_error"
    assert "boom" not in response.content.decode()


def test_pages_outside_api_keep_their_html():
    middleware = ApiErrorMiddleware(lambda request: HttpResponseNotFound("<h1>nope</h1>"))
    response = middleware(RequestFactory().get("/models/x/"))
    assert response.content == b"<h1>nope</h1>"


def _storages(env: dict) -> dict:
    code = (
        "import json, registry_site.settings as s; "
        "print(json.dumps({'default': s.STORAGES['default'], "
        "'ttl': s.REST_KNOX['TOKEN_TTL'].total_seconds(), "
        "'limit': s.REGISTRY_MAX_ARTIFACT_BYTES}))"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**clean, "SECRET_KEY": "x" * 50, **env},
        capture_output=True,
        text=True,
        check=True,
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))),
    )
    return json.loads(out.stdout)


@pytest.mark.slow  # settings read in a subprocess
def test_local_disk_storage_by_default():
    got = _storages({})
    assert got["default"]["BACKEND"] == "django.core.files.storage.FileSystemStorage"
    assert got["ttl"] == 30 * 24 * 3600
    assert got["limit"] == 512 * 1024 * 1024


@pytest.mark.slow  # settings read in a subprocess
def test_s3_storage_from_environment():
    got = _storages(
        {
            "REGISTRY_S3_BUCKET": "models",
            "REGISTRY_S3_ENDPOINT_URL": "http://127.0.0.1:9000",
            "REGISTRY_S3_PREFIX": "registry",
            "REGISTRY_TOKEN_TTL_HOURS": "2",
            "REGISTRY_MAX_ARTIFACT_BYTES": "1024",
        }
    )
    assert got["default"]["BACKEND"] == "storages.backends.s3.S3Storage"
    assert got["default"]["OPTIONS"]["bucket_name"] == "models"
    assert got["default"]["OPTIONS"]["endpoint_url"] == "http://127.0.0.1:9000"
    assert got["default"]["OPTIONS"]["location"] == "registry"
    assert got["default"]["OPTIONS"]["file_overwrite"] is False
    assert "access_key" not in got["default"]["OPTIONS"]
    assert got["ttl"] == 2 * 3600
    assert got["limit"] == 1024
