"""Reads for cards, reviews and each reviewer's inbox."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q, QuerySet

from models_app.enums import Stage
from models_app.models import ModelVersion
from models_app.permissions import can
from models_app.selectors import first_row

from .models import CardRevision, Decision, ModelCard, Review


def card_for(version: ModelVersion) -> ModelCard | None:
    return (
        ModelCard.objects.select_related("current_revision")
        .filter(model_version_id=version.pk)
        .first()
    )


def card_authors(card: ModelCard) -> frozenset[int]:
    """Ids of everyone who wrote a revision of `card`: none of them may approve it."""
    return frozenset(
        card.revisions.exclude(author=None).values_list("author_id", flat=True).distinct()
    )


def standing_decisions(revision: CardRevision) -> dict[int, Review]:
    """Each reviewer's latest review of `revision`, by reviewer id."""
    latest: dict[int, Review] = {}
    for review in Review.objects.filter(revision=revision).order_by("created_at", "id"):
        latest[review.reviewer_id] = review
    return latest


def cards_for(versions: list[ModelVersion]) -> dict[int, ModelCard]:
    """The cards of `versions` with their current revisions, by version id: one query."""
    return {
        card.model_version_id: card
        for card in ModelCard.objects.select_related("current_revision").filter(
            model_version_id__in=[v.pk for v in versions]
        )
    }


def card_authors_of(cards: list[ModelCard]) -> dict[int, frozenset[int]]:
    """card_authors of each of `cards`, by card id: one query."""
    found: dict[int, set[int]] = {}
    rows = (
        CardRevision.objects.filter(card_id__in=[c.pk for c in cards])
        .exclude(author=None)
        .values_list("card_id", "author_id")
        .distinct()
    )
    for card_id, author_id in rows:
        found.setdefault(card_id, set()).add(author_id)
    return {card_id: frozenset(ids) for card_id, ids in found.items()}


def standing_decisions_of(revisions: list[CardRevision]) -> dict[int, dict[int, Review]]:
    """standing_decisions of each of `revisions`, by revision id: one query."""
    latest: dict[int, dict[int, Review]] = {}
    reviews = Review.objects.filter(revision_id__in=[r.pk for r in revisions]).order_by(
        "created_at", "id"
    )
    for review in reviews:
        latest.setdefault(review.revision_id, {})[review.reviewer_id] = review
    return latest


def approvals_at(*, version: ModelVersion, at) -> list[Review]:
    """The approvals that stood for `version` at time `at` (its promotion): each
    reviewer's latest review, up to then, of the card revision current then, when it
    approves that revision's content. Two queries."""
    revision = first_row(
        CardRevision.objects.filter(card__model_version_id=version.pk, created_at__lte=at).order_by(
            "-number"
        )
    )
    if revision is None:
        return []
    latest: dict[int, Review] = {}
    for review in Review.objects.filter(revision=revision, created_at__lte=at).order_by(
        "created_at", "id"
    ):
        latest[review.reviewer_id] = review
    return [
        r
        for r in latest.values()
        if r.decision == Decision.APPROVE and r.revision_sha256 == revision.sha256
    ]


def reviews_of(version: ModelVersion) -> QuerySet[Review]:
    return (
        Review.objects.filter(model_version=version)
        .select_related("revision")
        .order_by("created_at", "id")
    )


def review_inbox(*, user) -> QuerySet[ModelVersion]:
    """Staging versions whose review was requested and that `user` has not yet reviewed
    in their current card revision, oldest request first. Empty for non-reviewers; never
    the user's own versions, nor a version mirrored from a team registry (reviewed
    there, never here)."""
    if not can(user, "review.submit"):
        return ModelVersion.objects.none()
    reviewed = Review.objects.filter(
        model_version=OuterRef("pk"),
        reviewer=user,
        revision=OuterRef("card__current_revision"),
    )
    return (
        ModelVersion.objects.filter(
            stage=Stage.STAGING,
            card__review_requested_at__isnull=False,
            registered_model__origin="",
        )
        .exclude(created_by=user)
        .exclude(Q(card__current_revision__author=user))
        .exclude(card__revisions__author=user)
        .exclude(Exists(reviewed))
        .select_related("registered_model__team", "created_by", "card__current_revision")
        .order_by("card__review_requested_at", "id")
    )
