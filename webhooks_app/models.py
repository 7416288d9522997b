"""Webhook subscriptions and the delivery outbox.

The outbox is the audit trail itself: every change appends an AuditEvent inside its own
transaction, and webhooks_app.outbox turns each event of a webhook event type into one Delivery
row per matching subscription in that same transaction. A change that rolls back
therefore leaves neither an event nor a delivery, and a committed change always has its
deliveries waiting, whether or not the worker is running.

Nothing here writes rows: webhooks_app.services (subscriptions, redeliver) and
webhooks_app.outbox / webhooks_app.worker (deliveries) do.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from models_app.models import AuditEvent, registry_history


class Subscription(models.Model):
    """An admin's request that events of some types be POSTed to a URL.

    `event_types` empty means every event type. The secret signs every delivery; it is
    shown once when the subscription is created (or its secret rotated) and never again.
    After a rotation the secret it replaced keeps signing deliveries too, in a second
    header, until `previous_secret_expires_at` (REGISTRY_WEBHOOK_SECRET_OVERLAP_SECONDS),
    so that receivers can switch at their own pace; it is never shown, and the worker
    blanks it once the overlap is over.
    """

    url = models.URLField(max_length=2000)
    description = models.CharField(max_length=200, blank=True)
    secret = models.CharField(max_length=128)
    previous_secret = models.CharField(max_length=128, blank=True, default="")
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    event_types = models.JSONField(default=list, blank=True)
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    # The secrets stay out of the history rows: they are readable by every admin forever.
    history = registry_history(excluded_fields=["secret", "previous_secret"])

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"#{self.pk} {self.url}"

    def wants(self, event_type: str) -> bool:
        return self.active and (not self.event_types or event_type in self.event_types)

    def previous_secret_at(self, now) -> str:
        """The replaced secret while its overlap lasts at `now`, else ""."""
        if (
            self.previous_secret
            and self.previous_secret_expires_at is not None
            and now < self.previous_secret_expires_at
        ):
            return self.previous_secret
        return ""


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERING = "delivering", "Delivering"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED_RETRYING = "failed_retrying", "Failed, will retry"
    DEAD = "dead", "Dead (gave up)"


# A delivery in one of these states still holds back later events of the same model for
# the same subscription (per-model order of occurrence).
OPEN_STATUSES = (
    DeliveryStatus.PENDING,
    DeliveryStatus.DELIVERING,
    DeliveryStatus.FAILED_RETRYING,
)


class Delivery(models.Model):
    """One event on its way to one subscription: the outbox row the worker works off.

    `ordering_key` groups the events whose order matters (the model's name; empty for
    site-wide events): the worker never sends a later event of a group before the
    earlier ones have succeeded or died. `idempotency_key` is sent as
    X-Registry-Delivery and stays the same on every retry and redelivery, so receivers
    can drop duplicates of an at-least-once delivery.
    """

    event = models.ForeignKey(AuditEvent, on_delete=models.PROTECT, related_name="+")
    subscription = models.ForeignKey(
        Subscription, on_delete=models.PROTECT, related_name="deliveries"
    )
    event_type = models.CharField(max_length=64, db_index=True)
    ordering_key = models.CharField(max_length=100, blank=True)
    payload = models.JSONField()
    idempotency_key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    status = models.CharField(
        max_length=20, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    claim_token = models.CharField(max_length=36, blank=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-event_id", "-id"]
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["event", "subscription"], name="one_delivery_per_event_and_subscription"
            )
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="delivery_due"),
            models.Index(fields=["subscription", "ordering_key", "event"], name="delivery_order"),
            # A subscription's delivery log, newest event first, paged by (event, id).
            models.Index(fields=["subscription", "event", "id"], name="delivery_keyset"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} → {self.subscription_id} ({self.status})"

    @property
    def can_redeliver(self) -> bool:
        return self.status in (DeliveryStatus.DEAD, DeliveryStatus.FAILED_RETRYING)


class DeliveryAttempt(models.Model):
    """One HTTP attempt of a delivery, as the log shows it. Append-only (migration 0002)."""

    delivery = models.ForeignKey(Delivery, on_delete=models.PROTECT, related_name="attempt_log")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField(default=timezone.now)
    duration_ms = models.PositiveIntegerField(default=0)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    succeeded = models.BooleanField(default=False)
    error = models.TextField(blank=True)
    response_snippet = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"attempt {self.number} of delivery {self.delivery_id}"


class WorkerHeartbeat(models.Model):
    """When a webhook worker last showed it was alive (`manage.py run_worker` writes it
    every few seconds while it runs). One row per kind of worker, shared by every worker
    process on every machine: a fresh row means at least one worker is polling the outbox.
    `GET /readyz` reads it."""

    name = models.CharField(max_length=40, unique=True)
    beat_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.name} at {self.beat_at:%Y-%m-%d %H:%M:%S}"
