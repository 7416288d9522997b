"""The registry's own artifact storage: uploads streamed to Django's default storage.

Artifacts live wherever STORAGES["default"] points: the local disk under MEDIA_ROOT by
default, or an S3-compatible bucket through django-storages (settings read
REGISTRY_S3_BUCKET and friends). Storage names are made by the server from the model's
name, the version and a random id, never from anything the client sends, and are checked
to stay under the storage root (PITFALLS 12). The registry serves only what it stored
itself: a version whose artifact_uri points elsewhere has nothing to download.
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

from .models import ModelVersion

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


def stored_name(version: ModelVersion) -> str | None:
    """The storage name of `version`'s uploaded artifact, or None when it has none here.

    A URI with another scheme (s3://, https://, …) was given by a client and is never
    opened or fetched.
    """
    uri = version.artifact_uri or ""
    if not uri.startswith(URI_PREFIX):
        return None
    name = uri[len(URI_PREFIX) :]
    if not name.startswith(STORAGE_DIR + "/"):
        return None
    try:
        _check_under_root(name)
    except SuspiciousFileOperation:
        return None
    return name


def open_stored(name: str):
    """Open a stored artifact for reading; None when it has gone from storage."""
    if not default_storage.exists(name):
        return None
    return default_storage.open(name, "rb")
