"""The registry's own artifact storage: uploads streamed to Django's default storage.

Artifacts live wherever STORAGES["default"] points: the local disk under MEDIA_ROOT by
default, or an S3-compatible bucket through django-storages (settings read
REGISTRY_S3_BUCKET and friends). Storage names are made by the server from the model's
name, the version and a random id, never from anything the client sends, and are checked
to stay under the storage root. The registry serves only what it stored itself: a version
whose artifact_uri points elsewhere has nothing to download.

`registry:` URIs are made here only. The register service refuses them from clients, so
the one way a version gets one is an upload (`model_version_attach_artifact`), which also
records the size and sha256 the server measured while streaming the bytes to storage.
A download takes its headers from that record and from the stored file itself, never
from values a client sent.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import TemporaryUploadedFile

from .enums import Action
from .models import AuditEvent, ModelVersion

REGISTRY_SCHEME = "registry"
URI_PREFIX = f"{REGISTRY_SCHEME}:/"
STORAGE_DIR = "artifacts"
CHUNK_SIZE = 1024 * 1024
_SAFE = re.compile(r"[^A-Za-z0-9_.+-]")


class ArtifactTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"The artifact is larger than the limit of {limit} bytes.")
        self.limit = limit


class ChecksumMismatch(Exception):
    def __init__(self, expected: str, actual: str) -> None:
        super().__init__(
            f"The uploaded bytes have sha256 {actual}, not {expected} as X-Checksum-SHA256 said."
        )
        self.expected = expected
        self.actual = actual


@dataclass(frozen=True)
class StoredArtifact:
    name: str
    uri: str
    sha256: str
    size: int


def max_artifact_bytes() -> int:
    return int(getattr(settings, "REGISTRY_MAX_ARTIFACT_BYTES", 512 * 1024 * 1024))


def _segment(text: str) -> str:
    # Model names and SemVer strings are already restricted to these characters; this is
    # a second fence, and a leading dot could never make "." or "..".
    cleaned = _SAFE.sub("_", text).lstrip(".") or "_"
    return cleaned[:120]


def storage_name_for(version: ModelVersion) -> str:
    """A fresh storage name for `version`'s artifact: artifacts/<model>/<version>/<uuid>."""
    return "/".join(
        (
            STORAGE_DIR,
            _segment(version.registered_model.name),
            _segment(version.version),
            uuid.uuid4().hex,
        )
    )


def _check_under_root(name: str) -> None:
    """Refuse a name that would resolve outside the storage root (local disk only)."""
    if ".." in name.split("/") or name.startswith("/") or "\\" in name:
        raise SuspiciousFileOperation(f"Refusing artifact storage name {name!r}.")
    # FileSystemStorage raises when the name resolves outside MEDIA_ROOT; object storage
    # has no filesystem path to escape and raises NotImplementedError.
    with contextlib.suppress(NotImplementedError):
        default_storage.path(name)


def store_stream(
    version: ModelVersion,
    chunks: Iterable[bytes],
    *,
    limit: int,
    expected_sha256: str | None = None,
) -> StoredArtifact:
    """Write `chunks` to a temporary file while hashing, then save it to storage.

    Never holds the whole upload in memory. Raises ArtifactTooLarge as soon as more than
    `limit` bytes arrive and ChecksumMismatch when the client's checksum differs; in both
    cases nothing is kept.
    """
    digest = hashlib.sha256()
    size = 0
    with TemporaryUploadedFile("artifact", "application/octet-stream", 0, None) as tmp:
        for chunk in chunks:
            size += len(chunk)
            if size > limit:
                raise ArtifactTooLarge(limit)
            digest.update(chunk)
            tmp.write(chunk)
        tmp.flush()
        tmp.seek(0)
        tmp.size = size
        sha256 = digest.hexdigest()
        if expected_sha256 is not None and expected_sha256 != sha256:
            raise ChecksumMismatch(expected_sha256, sha256)
        name = storage_name_for(version)
        _check_under_root(name)
        saved = default_storage.save(name, tmp)
    _check_under_root(saved)
    return StoredArtifact(name=saved, uri=URI_PREFIX + saved, sha256=sha256, size=size)


def delete_stored(name: str) -> None:
    """Remove an artifact stored by a request that was then refused."""
    _check_under_root(name)
    default_storage.delete(name)


def is_registry_uri(uri: str) -> bool:
    """True when `uri` uses the scheme of this registry's own storage (any letter case)."""
    scheme, colon, _rest = (uri or "").partition(":")
    return bool(colon) and scheme.strip().lower() == REGISTRY_SCHEME


def stored_name(version: ModelVersion) -> str | None:
    """The storage name of `version`'s uploaded artifact, or None when it has none here.

    A URI with another scheme (s3://, https://, …) was given by a client and is never
    opened or fetched. A version mirrored from a team registry may carry that registry's
    `registry:` URI: it names a file in the team registry's storage, never in this one.
    """
    uri = version.artifact_uri or ""
    if not uri.startswith(URI_PREFIX) or version.registered_model.origin:
        return None
    name = uri[len(URI_PREFIX) :]
    if not name.startswith(STORAGE_DIR + "/"):
        return None
    try:
        _check_under_root(name)
    except SuspiciousFileOperation:
        return None
    return name


def upload_record(version: ModelVersion) -> StoredArtifact | None:
    """What this registry stored for `version` when its artifact was uploaded here.

    Read from the version's `version.artifact_stored` audit event, which only the upload
    path writes (append-only), with the size and sha256 the server measured while it
    streamed the bytes to storage. None when the version has no artifact in this
    registry's storage, or when its `registry:` URI was not made by an upload to this very
    version (a client could once register another version's URI): such a record is never
    served.
    """
    name = stored_name(version)
    if name is None:
        return None
    event = (
        AuditEvent.objects.filter(model_version=version, action=Action.ARTIFACT_STORED)
        .order_by("-id")
        .first()
    )
    changes = event.changes if event is not None else {}

    def after(field: str):
        value = changes.get(field) if isinstance(changes, dict) else None
        return value[1] if isinstance(value, list) and len(value) == 2 else None

    uri, sha256, size = after("artifact_uri"), after("artifact_sha256"), after("artifact_size")
    if (
        uri != version.artifact_uri
        or not isinstance(sha256, str)
        or not re.fullmatch(r"[0-9a-f]{64}", sha256)
        or isinstance(size, bool)
        or not isinstance(size, int)
        or size < 0
    ):
        return None
    return StoredArtifact(name=name, uri=uri, sha256=sha256, size=size)


def open_stored(name: str):
    """Open a stored artifact for reading; None when it has gone from storage."""
    if not default_storage.exists(name):
        return None
    try:
        return default_storage.open(name, "rb")
    except FileNotFoundError:  # removed between the two calls
        return None


def size_of(handle) -> int:
    """The real size in bytes of an open stored file, whatever its record says."""
    return handle.size
