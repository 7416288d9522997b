"""Streaming uploads and downloads with sha256 and an optional progress bar on stderr."""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

CHUNK = 1024 * 1024


def human_size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover - unreachable


class Progress:
    """A one-line progress bar redrawn at most ten times a second; silent when disabled."""

    def __init__(
        self, label: str, total: int | None, *, enabled: bool, stream: TextIO | None = None
    ):
        self.label = label
        self.total = total
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self.done = 0
        self.started = time.monotonic()
        self._last_draw = 0.0

    def update(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if self.enabled and now - self._last_draw >= 0.1:
            self._last_draw = now
            self._draw(now)

    def close(self) -> None:
        if self.enabled:
            self._draw(time.monotonic())
            self.stream.write("\n")
            self.stream.flush()

    def _draw(self, now: float) -> None:
        rate = self.done / max(now - self.started, 1e-6)
        if self.total:
            fraction = min(self.done / self.total, 1.0)
            filled = int(fraction * 30)
            bar = "#" * filled + "-" * (30 - filled)
            text = (
                f"\r{self.label} [{bar}] {fraction * 100:5.1f}% "
                f"{human_size(self.done)}/{human_size(self.total)} {human_size(rate)}/s"
            )
        else:
            text = f"\r{self.label} {human_size(self.done)} {human_size(rate)}/s"
        self.stream.write(text)
        self.stream.flush()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class UploadBody:
    """A request body that reads the file in chunks as it is sent.

    It is iterable (requests streams it chunk by chunk, never holding the whole file) and
    has a length, so requests sends Content-Length rather than chunked transfer encoding,
    which WSGI servers such as Django's runserver do not decode. Iterating again reopens
    the file, so a retried request sends the whole body again.
    """

    def __init__(self, path: Path, progress: Progress) -> None:
        self.path = path
        self.size = path.stat().st_size
        self.progress = progress

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[bytes]:
        with self.path.open("rb") as fh:
            while chunk := fh.read(CHUNK):
                self.progress.update(len(chunk))
                yield chunk


class PartialFile:
    """Write a download next to its destination; move it into place only when verified.

    On any failure (or a checksum mismatch) `discard()` deletes the partial file, so a
    half-written or tampered artifact never sits under the name a pipeline expects.
    """

    def __init__(self, destination: Path) -> None:
        self.destination = destination
        directory = destination.parent if str(destination.parent) else Path(".")
        fd, name = tempfile.mkstemp(
            prefix=f".{destination.name}.", suffix=".partial", dir=directory
        )
        self.path = Path(name)
        self.fh = os.fdopen(fd, "wb")
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, chunk: bytes) -> None:
        self.fh.write(chunk)
        self.digest.update(chunk)
        self.size += len(chunk)

    def commit(self) -> None:
        self.fh.close()
        os.replace(self.path, self.destination)

    def discard(self) -> None:
        if not self.fh.closed:
            self.fh.close()
        self.path.unlink(missing_ok=True)
