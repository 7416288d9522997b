"""Artifact upload and download: streamed, checksummed, size-limited, write-once, kept
under the storage root, never fetched from a client-given URI."""

from __future__ import annotations

import hashlib
import os

import pytest
from django.core.exceptions import SuspiciousFileOperation

from models_app import storage
from models_app.models import AuditEvent, ModelVersion
from tests.api.conftest import error_of
from tests.factories import register

V = "/api/v1/models/fraud_detector/versions/1.0.0"


def files_under(root) -> list[str]:
    return [os.path.join(d, f) for d, _, names in os.walk(root) for f in names]


def upload(client, body: bytes, url=f"{V}/artifact/", **headers):
    return client.generic("PUT", url, body, content_type="application/octet-stream", **headers)


@pytest.fixture
def version(people, model):
    return register(actor=people.author, model=model, version="1.0.0")


def test_upload_then_download_round_trip(people, version, client_for, artifact_root):
    body = os.urandom(3 * 1024 * 1024 + 17)  # more than one chunk
    digest = hashlib.sha256(body).hexdigest()
    r = upload(client_for(people.author), body, HTTP_X_CHECKSUM_SHA256=digest)
    assert r.status_code == 201, r.content
    out = r.json()
    assert out["artifact_sha256"] == digest
    assert out["artifact_size"] == len(body)
    assert out["artifact_stored"] is True
    assert out["artifact_uri"].startswith("registry:/artifacts/fraud_detector/1.0.0/")
    stored = files_under(artifact_root)
    assert len(stored) == 1
    assert os.path.realpath(stored[0]).startswith(os.path.realpath(artifact_root))

    r = client_for(people.viewer).get(f"{V}/artifact/")
    assert r.status_code == 200
    assert r["X-Checksum-SHA256"] == digest
    assert r["Content-Length"] == str(len(body))
    assert r["Content-Type"] == "application/octet-stream"
    received = b"".join(r.streaming_content)
    assert hashlib.sha256(received).hexdigest() == digest
    event = AuditEvent.objects.get(action="version.artifact_stored")
    assert event.actor_username == "author"


def test_download_with_octet_stream_accept_header(people, version, client_for):
    upload(client_for(people.author), b"abc")
    r = client_for(people.viewer).get(f"{V}/artifact/", HTTP_ACCEPT="application/octet-stream")
    assert r.status_code == 200
    assert b"".join(r.streaming_content) == b"abc"


def test_upload_with_wrong_checksum_is_400_and_keeps_nothing(
    people, version, client_for, artifact_root
):
    r = upload(client_for(people.author), b"abc", HTTP_X_CHECKSUM_SHA256="0" * 64)
    assert r.status_code == 400
    error = error_of(r)
    assert error["code"] == "checksum_mismatch"
    assert error["details"]["actual"] == hashlib.sha256(b"abc").hexdigest()
    assert files_under(artifact_root) == []
    assert ModelVersion.objects.get().artifact_sha256 == ""


def test_malformed_checksum_header_is_400(people, version, client_for):
    r = upload(client_for(people.author), b"abc", HTTP_X_CHECKSUM_SHA256="not-a-hash")
    assert r.status_code == 400
    assert "X-Checksum-SHA256" in error_of(r)["message"]


def test_upload_over_limit_is_413_and_keeps_nothing(
    people, version, client_for, settings, artifact_root
):
    settings.REGISTRY_MAX_ARTIFACT_BYTES = 1000
    r = upload(client_for(people.author), b"x" * 1001)
    assert r.status_code == 413
    error = error_of(r)
    assert error["code"] == "too_large"
    assert "1000" in error["message"]
    assert files_under(artifact_root) == []
    assert ModelVersion.objects.get().artifact_uri == ""
    assert upload(client_for(people.author), b"x" * 1000).status_code == 201


def test_streaming_store_stops_at_the_limit(people, version, artifact_root):
    # A client may lie about Content-Length or stream; the store counts what arrives.
    def endless():
        while True:
            yield b"x" * 4096

    with pytest.raises(storage.ArtifactTooLarge):
        storage.store_stream(version, endless(), limit=10_000)
    assert files_under(artifact_root) == []


def test_artifacts_are_write_once(people, version, client_for, artifact_root):
    client = client_for(people.author)
    assert upload(client, b"first").status_code == 201
    r = upload(client, b"second")
    assert r.status_code == 409
    assert "write-once" in error_of(r)["message"]
    assert len(files_under(artifact_root)) == 1


def test_upload_refused_when_version_registered_with_an_uri(people, model, client_for):
    register(actor=people.author, model=model, version="1.0.0", artifact_uri="s3://b/model.pkl")
    r = upload(client_for(people.author), b"abc")
    assert r.status_code == 409


def test_download_of_external_uri_is_404_and_never_fetched(people, model, client_for):
    register(
        actor=people.author, model=model, version="1.0.0", artifact_uri="https://example.com/m.bin"
    )
    r = client_for(people.viewer).get(f"{V}/artifact/")
    assert r.status_code == 404
    assert "no artifact uploaded to this registry" in error_of(r)["message"]


def test_download_without_artifact_is_404(people, version, client_for):
    r = client_for(people.viewer).get(f"{V}/artifact/")
    assert r.status_code == 404
    error_of(r)


def test_upload_with_wrong_content_type_is_415(people, version, client_for, artifact_root):
    r = client_for(people.author).generic(
        "PUT", f"{V}/artifact/", b"abc", content_type="application/json"
    )
    assert r.status_code == 415
    assert "application/octet-stream" in error_of(r)["message"]
    assert files_under(artifact_root) == []


def test_upload_without_content_length_is_411(people, version, client_for):
    r = client_for(people.author).generic(
        "PUT", f"{V}/artifact/", b"", content_type="application/octet-stream", CONTENT_LENGTH=""
    )
    assert r.status_code == 411
    error_of(r)


def test_upload_by_forbidden_user_is_403_before_reading(people, version, client_for, artifact_root):
    r = upload(client_for(people.outsider), b"abc")
    assert r.status_code == 403
    assert files_under(artifact_root) == []


def test_storage_names_come_from_the_server(people, model, artifact_root):
    mv = register(actor=people.author, model=model, version="1.0.0-rc.1+build.5")
    name = storage.storage_name_for(mv)
    parts = name.split("/")
    assert parts[:3] == ["artifacts", "fraud_detector", "1.0.0-rc.1+build.5"]
    assert len(parts) == 4 and len(parts[3]) == 32


@pytest.mark.parametrize(
    "name", ["../escape", "artifacts/../../etc/passwd", "/etc/passwd", "artifacts\\..\\x"]
)
def test_names_outside_the_storage_root_are_refused(name):
    with pytest.raises(SuspiciousFileOperation):
        storage._check_under_root(name)


@pytest.mark.parametrize(
    "uri",
    [
        "registry:/../etc/passwd",
        "registry:/artifacts/../../etc",
        "registry:/etc/passwd",
        "s3://b/k",
    ],
)
def test_stored_name_ignores_uris_outside_our_storage(people, model, uri):
    mv = ModelVersion(registered_model=model, version="1.0.0", artifact_uri=uri)
    assert storage.stored_name(mv) is None


def test_upload_answers_json_even_when_format_bin_is_asked(people, version, client_for):
    r = upload(client_for(people.author), b"abc", url=f"{V}/artifact/?format=bin")
    assert r.status_code == 201
    assert r["Content-Type"] == "application/json"
    assert r.json()["artifact_size"] == 3


# --- registry: URIs are the server's; download headers come from what it stored ----------


def uploaded(actor, client_for, model, version: str, body: bytes) -> ModelVersion:
    """Register `version` of `model` and upload `body` through the API; the stored version."""
    register(actor=actor, model=model, version=version)
    url = f"/api/v1/models/{model.name}/versions/{version}/artifact/"
    assert upload(client_for(actor), body, url=url).status_code == 201
    return ModelVersion.objects.get(registered_model=model, version=version)


@pytest.fixture
def pricing_upload(people, client_for):
    """Another team's model with an uploaded artifact: what an attacker would point at."""
    from tests.factories import make_model

    other = make_model(actor=people.admin, team=people.other_team, name="price_optimizer")
    return uploaded(people.outsider, client_for, other, "1.0.0", b"pricing team's secret weights")


def test_registering_another_teams_registry_uri_is_400_and_stores_nothing(
    people, model, pricing_upload, client_for
):
    events = AuditEvent.objects.count()
    r = client_for(people.author).post(
        "/api/v1/models/fraud_detector/versions/",
        {
            "version": "1.0.0",
            "artifact_uri": pricing_upload.artifact_uri,
            "artifact_sha256": "0" * 64,
            "artifact_size": 3,
        },
        format="json",
    )
    assert r.status_code == 400
    error = error_of(r)
    assert error["code"] == "invalid"
    assert list(error["details"]) == ["artifact_uri"]
    assert "made only by the registry" in error["details"]["artifact_uri"][0]
    assert not model.versions.exists()
    model.refresh_from_db()
    assert model.last_number == 0
    assert AuditEvent.objects.count() == events
    # Nothing to download under the attacker's name either.
    assert client_for(people.author).get(f"{V}/artifact/").status_code == 404


@pytest.mark.parametrize(
    "uri",
    [
        "REGISTRY:/artifacts/price_optimizer/1.0.0/x",
        "registry:artifacts/fraud_detector/1.0.0/x",
        "registry:/etc/passwd",
    ],
)
def test_any_registry_uri_from_a_client_is_400(people, model, client_for, uri):
    r = client_for(people.author).post(
        "/api/v1/models/fraud_detector/versions/",
        {"version": "1.0.0", "artifact_uri": uri},
        format="json",
    )
    assert r.status_code == 400
    assert "artifact_uri" in error_of(r)["details"]
    assert not model.versions.exists()


def test_a_registry_uri_not_made_by_an_upload_to_this_version_is_never_served(
    people, model, pricing_upload, client_for
):
    # A row written before clients were refused registry: URIs: another team's stored file
    # under this version, with a checksum and size of the client's choosing.
    mv = register(actor=people.author, model=model, version="1.0.0")
    ModelVersion.objects.filter(pk=mv.pk).update(
        artifact_uri=pricing_upload.artifact_uri, artifact_sha256="0" * 64, artifact_size=3
    )
    r = client_for(people.author).get(f"{V}/artifact/")
    assert r.status_code == 404
    assert "no artifact uploaded to this registry" in error_of(r)["message"]
    # The owner's own version still downloads.
    r = client_for(people.viewer).get("/api/v1/models/price_optimizer/versions/1.0.0/artifact/")
    assert r.status_code == 200
    assert b"".join(r.streaming_content) == b"pricing team's secret weights"


def test_download_headers_are_the_servers_own_measurements(people, model, client_for):
    body = b"x" * 5000
    mv = uploaded(people.author, client_for, model, "1.0.0", body)
    event = AuditEvent.objects.get(action="version.artifact_stored", model_version=mv)
    assert event.changes["artifact_sha256"] == [None, hashlib.sha256(body).hexdigest()]
    assert event.changes["artifact_size"] == [None, len(body)]
    r = client_for(people.viewer).get(f"{V}/artifact/")
    assert r.status_code == 200
    assert r["X-Checksum-SHA256"] == hashlib.sha256(body).hexdigest()
    assert r["Content-Length"] == str(len(body))
    assert b"".join(r.streaming_content) == body


@pytest.mark.parametrize("change", [b"extra bytes", None], ids=["grown", "truncated"])
def test_stored_file_whose_size_differs_from_its_record_is_409_and_sends_nothing(
    people, model, client_for, artifact_root, change
):
    body = b"y" * 4096
    mv = uploaded(people.author, client_for, model, "1.0.0", body)
    path = artifact_root / mv.artifact_uri.removeprefix(storage.URI_PREFIX)
    path.write_bytes(body + change if change else body[:100])
    r = client_for(people.viewer).get(f"{V}/artifact/")
    assert r.status_code == 409
    assert r["Content-Type"] == "application/json"
    error = error_of(r)
    assert error["code"] == "artifact_mismatch"
    assert "does not match its record" in error["message"]
    assert error["details"] == {
        "recorded_size": len(body),
        "stored_size": path.stat().st_size,
    }


def test_stored_file_gone_from_storage_is_404(people, model, client_for, artifact_root):
    mv = uploaded(people.author, client_for, model, "1.0.0", b"abc")
    (artifact_root / mv.artifact_uri.removeprefix(storage.URI_PREFIX)).unlink()
    r = client_for(people.viewer).get(f"{V}/artifact/")
    assert r.status_code == 404
    assert "no artifact uploaded to this registry" in error_of(r)["message"]


BAD_URIS_AT_THE_API = [
    "s3://b/..%c0%af..%c0%afetc/passwd",
    "s3://b/%c0%ae%c0%ae/etc",
    "s3://b/%25c0%25af%25c0%25afetc",
    "https://host/models/a%80b",
    "gs://b/%ed%a0%80",
    "s3://b/%2e%2e/etc",
    "s3://b/%252e%252e/%252e%252e/etc",
    "s3://b/models\\..\\etc",
    "s3://b/models/..%5cetc",
    "s3://b/models%255c%252e%252e%255cetc",
]


@pytest.mark.parametrize("uri", BAD_URIS_AT_THE_API)
def test_bad_encodings_in_artifact_uri_are_400_at_the_api(people, model, client_for, uri):
    r = client_for(people.author).post(
        "/api/v1/models/fraud_detector/versions/",
        {"version": "1.0.0", "artifact_uri": uri},
        format="json",
    )
    assert r.status_code == 400
    assert "artifact_uri" in error_of(r)["details"]
    assert not model.versions.exists()
