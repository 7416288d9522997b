"""Reads for cards, reviews and each reviewer's inbox."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q, QuerySet

from models_app.enums import Stage
from models_app.models import ModelVersion
from models_app.permissions import can

from .models import CardRevision, ModelCard, Review


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
