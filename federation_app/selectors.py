"""Reads of what a team registry recorded about a version mirrored here.

`READER` is the models_app.mirrors.MirrorReader that FederationAppConfig.ready registers:
the REST API's card, reviews and checks endpoints and the dashboard's version and compare
pages ask it for a mirrored version, instead of the local card, reviews and dry run,
which say nothing about a version reviewed and promoted at its origin.

Each read is one or two indexed queries for one version: a version's card by its
version id, its reviews by version id, its promotion by (origin, origin event id) or by
the model and the origin's version id.
"""

from __future__ import annotations

from django.db.models import QuerySet

from models_app.card_sections import SECTION_NAMES
from models_app.enums import Action
from models_app.guards import GuardResult
from models_app.mirrors import OriginCard, OriginChecks
from models_app.models import ModelVersion

from .models import MirroredAuditEvent, MirroredCard, MirroredReview, MirroredVersion


def origin_card(version: ModelVersion) -> OriginCard | None:
    """The current revision of the version's card at its origin, or None before the
    origin pushed one."""
    card = MirroredCard.objects.filter(model_version_id=version.pk).first()
    if card is None:
        return None
    return OriginCard(
        origin=card.origin,
        origin_id=card.origin_id,
        number=card.revision,
        sha256=card.sha256,
        sections={key: _text(card.sections.get(key)) for key in SECTION_NAMES},
        author_username=card.author_username,
        synced_at=card.synced_at,
    )


def _text(value) -> str:
    return value if isinstance(value, str) else ""


def origin_reviews(version: ModelVersion) -> QuerySet[MirroredReview]:
    """The reviews made at the origin, oldest first."""
    return MirroredReview.objects.filter(model_version_id=version.pk).order_by("created_at", "id")


def _promotion_event(mirror: MirroredVersion, version: ModelVersion) -> MirroredAuditEvent | None:
    """The origin's audit event of the version's last promotion: the event of its last
    transition when that was the promotion, else (restored by a rollback since, or
    archived) the latest promotion event of the version."""
    promoted = MirroredAuditEvent.objects.filter(
        origin=mirror.origin, action=Action.VERSION_PROMOTED
    )
    if mirror.origin_stage_event_id is not None:
        event = promoted.filter(origin_id=mirror.origin_stage_event_id).first()
        if event is not None:
            return event
    return (
        promoted.filter(
            registered_model_id=version.registered_model_id,
            object_type=ModelVersion._meta.model_name,
            object_id=str(mirror.origin_id),
        )
        .order_by("-origin_id")
        .first()
    )


def _results(payload: dict) -> list[GuardResult]:
    """The guard results a promotion event's payload holds (`checks`), each as the origin
    wrote it; anything not shaped as a result is left out."""
    checks = payload.get("checks") if isinstance(payload, dict) else None
    results = []
    for check in checks if isinstance(checks, list) else []:
        if not isinstance(check, dict):
            continue
        guard, passed, reason = check.get("guard"), check.get("passed"), check.get("reason")
        if isinstance(guard, str) and isinstance(passed, bool) and isinstance(reason, str):
            results.append(GuardResult(guard, passed, reason))
    return results


def origin_checks(version: ModelVersion) -> OriginChecks:
    """The guards the origin checked when it last promoted the version, with that
    promotion's event; no results when it never did (or its event has not arrived)."""
    mirror = MirroredVersion.objects.filter(model_version_id=version.pk).first()
    origin = version.registered_model.origin
    if mirror is None:
        return OriginChecks(origin=origin)
    event = _promotion_event(mirror, version)
    if event is None:
        return OriginChecks(origin=origin)
    return OriginChecks(
        origin=origin,
        event_id=event.origin_id,
        recorded_at=event.created_at,
        recorded_by=event.actor_username,
        reason=event.reason,
        results=_results(event.payload),
    )


class _Reader:
    """models_app.mirrors.MirrorReader over the federation tables."""

    def card(self, version: ModelVersion) -> OriginCard | None:
        return origin_card(version)

    def reviews(self, version: ModelVersion) -> QuerySet[MirroredReview]:
        return origin_reviews(version)

    def checks(self, version: ModelVersion) -> OriginChecks:
        return origin_checks(version)


READER = _Reader()
