"""Model cards, their append-only revisions, and reviews bound to one revision."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from models_app.card_sections import SECTION_NAMES
from models_app.models import ModelVersion, registry_history


class Decision(models.TextChoices):
    APPROVE = "approve", "Approve"
    REJECT = "reject", "Reject"
    REQUEST_CHANGES = "request_changes", "Request changes"


class ModelCard(models.Model):
    """The card of one version; its content lives in revisions, the newest is current."""

    model_version = models.OneToOneField(
        ModelVersion, on_delete=models.PROTECT, related_name="card"
    )
    current_revision = models.ForeignKey(
        "CardRevision", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    review_requested_at = models.DateTimeField(null=True, blank=True)
    review_requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    history = registry_history()

    class Meta:
        permissions = [("submit_review", "Can approve or reject model cards")]
        indexes = [
            # The review inbox (and its count in the navigation bar) looks up the card of
            # each version in staging: only cards whose review was requested qualify, and
            # this index holds just those, so each look-up reads no table row.
            models.Index(
                fields=["model_version"],
                condition=models.Q(review_requested_at__isnull=False),
                name="card_review_requested",
            ),
        ]

    def __str__(self) -> str:
        return f"Card of {self.model_version}"


class CardRevision(models.Model):
    """One immutable state of a card. Reviews name the revision and its sha256.

    One text column per section of models_app.card_sections, of the section's name
    (checked by approvals_app.checks).
    """

    card = models.ForeignKey(ModelCard, on_delete=models.PROTECT, related_name="revisions")
    number = models.PositiveIntegerField()
    intended_use = models.TextField(blank=True)
    training_data = models.TextField(blank=True)
    evaluation = models.TextField(blank=True)
    limitations = models.TextField(blank=True)
    ethical_considerations = models.TextField(blank=True)
    sha256 = models.CharField(max_length=64)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    author_username = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["card_id", "number"]
        constraints = [
            models.UniqueConstraint(fields=["card", "number"], name="cardrevision_unique_number"),
        ]

    def __str__(self) -> str:
        return f"revision {self.number} of {self.card}"

    def sections(self) -> dict[str, str]:
        return {key: getattr(self, key) for key in SECTION_NAMES}


class Review(models.Model):
    """A reviewer's decision on one card revision; append-only evidence."""

    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.PROTECT, related_name="reviews"
    )
    revision = models.ForeignKey(CardRevision, on_delete=models.PROTECT, related_name="reviews")
    # The revision's content hash at review time: an approval counts only for that content.
    revision_sha256 = models.CharField(max_length=64)
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="reviews"
    )
    reviewer_username = models.CharField(max_length=150)
    decision = models.CharField(max_length=20, choices=Decision.choices)
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    history = registry_history()

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["model_version", "revision"], name="review_by_revision"),
            # A version's reviews, oldest first, paged by (created_at, id).
            models.Index(fields=["model_version", "created_at", "id"], name="review_keyset"),
        ]

    def __str__(self) -> str:
        return f"{self.reviewer_username} {self.decision} {self.model_version}"
