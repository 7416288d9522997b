"""What a team registry recorded about a version mirrored here, for the doors to show.

On a central catalog, a mirrored version (its model's `origin` is set) was reviewed,
checked and promoted at its origin, not here: its card, its reviews and the checks of
its promotion are the origin's, and are kept by federation_app. The doors (the REST
API, the dashboard) show those instead of computing them here, marked as the origin's.

federation_app sits above the apps that show versions, so they never import it: it
registers a `MirrorReader` in its AppConfig.ready with `register_mirror_reader`, and the
doors ask `mirror_reader()`, as the version page asks for the parts other apps register.
Without federation_app installed there is no reader, and nothing is mirrored either.

This module imports no model and nothing above, so that every app can use it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Protocol

from .guards import GuardResult


@dataclass(frozen=True)
class OriginCard:
    """The current revision of a mirrored version's card, as its origin holds it."""

    origin: str
    origin_id: int  # the card's id at the origin
    number: int  # the origin's revision number
    sha256: str
    sections: dict[str, str]
    author_username: str
    synced_at: dt.datetime


@dataclass(frozen=True)
class OriginChecks:
    """The guards the origin checked when it promoted the version, and that promotion.

    `event_id` is None when the origin has not promoted the version, or when its
    promotion's audit event has not arrived yet (events come after the models in a
    sync); `results` is then empty.
    """

    origin: str
    event_id: int | None = None
    recorded_at: dt.datetime | None = None
    recorded_by: str = ""
    reason: str = ""
    results: list[GuardResult] = field(default_factory=list)


class MirrorReader(Protocol):
    """Reads what the origin recorded about a mirrored version."""

    def card(self, version: Any) -> OriginCard | None: ...

    def reviews(self, version: Any) -> Any:
        """A QuerySet of the reviews made at the origin, oldest first (append-only there,
        so here too). Each row has `id` (this registry's, for keyset pages by created_at
        and id), `origin`, `origin_id` (the review's id at the origin),
        `reviewer_username`, `decision` (an approvals decision value), `comment`,
        `revision` (the origin's number of the card revision reviewed),
        `revision_sha256` and `created_at`."""

    def checks(self, version: Any) -> OriginChecks: ...


# At most one reader: federation_app's, registered at start-up.
_readers: list[MirrorReader] = []


def register_mirror_reader(reader: MirrorReader) -> None:
    _readers[:] = [reader]


def mirror_reader(version: Any) -> MirrorReader | None:
    """The reader of what `version`'s origin recorded, or None for a version of this
    registry's own (or when no app reads mirrors)."""
    if not version.registered_model.origin or not _readers:
        return None
    return _readers[0]
