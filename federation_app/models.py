"""Team registries and the central catalog.

Central side: which team registries have pushed (OriginRegistry) and, per origin object,
the mirror records that make a push idempotent — keyed by (origin, origin object id) — with
the mirrored content that has no home in the core tables (card content, reviews, the
origin's audit trail). Mirrored models and versions themselves are ordinary
RegisteredModel / ModelVersion rows with RegisteredModel.origin set.

Team side: the sync cursor (last audit event acknowledged by the central registry) and a
fingerprint per pushed model, so that a sync sends only what changed.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from models_app.models import ModelVersion, RegisteredModel

# --- Central side -------------------------------------------------------------------------


class OriginRegistry(models.Model):
    """A team registry that pushes to this central catalog."""

    name = models.CharField(max_length=40, unique=True)
    first_push_at = models.DateTimeField(default=timezone.now)
    last_push_at = models.DateTimeField(default=timezone.now)
    batches = models.PositiveIntegerField(default=0)
    # The service user whose pushes this origin accepts: the first to push it, or whom an
    # admin re-bound it to. Empty for an origin that has not pushed since binding began:
    # its next push binds it. PROTECT: deleting the account must not free the origin for
    # whoever pushes next (deactivate it, or re-bind the origin first).
    bound_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="bound_origins",
    )
    bound_at = models.DateTimeField(null=True, blank=True)
    # The highest change sequence (the origin's audit event id when its sync began) of a
    # model snapshot applied from this origin; None until a team registry that sends one
    # pushes.
    last_seq = models.BigIntegerField(null=True, blank=True)
    # Model snapshots skipped because the catalog held a newer one (a replayed batch).
    stale_items = models.PositiveBigIntegerField(default=0)
    last_stale_at = models.DateTimeField(null=True, blank=True)
    # The last push refused after the origin was known (a 409, an invalid item): when,
    # its status and what it said. Written after the refused batch rolled back.
    last_refused_at = models.DateTimeField(null=True, blank=True)
    last_refusal_status = models.PositiveSmallIntegerField(null=True, blank=True)
    last_refusal = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "origin registries"
        permissions = [
            ("push_catalog", "Can push a team registry's catalog to this central catalog"),
        ]

    def __str__(self) -> str:
        return self.name


class MirroredModel(models.Model):
    """Links a team registry's model (origin, origin_id) to its central copy."""

    origin = models.CharField(max_length=40)
    origin_id = models.BigIntegerField()
    origin_name = models.CharField(max_length=100)
    registered_model = models.OneToOneField(
        RegisteredModel, on_delete=models.PROTECT, related_name="mirror"
    )
    # sha256 of the last snapshot applied: the same snapshot again is skipped at once.
    fingerprint = models.CharField(max_length=64)
    # The origin's change sequence of the newest snapshot applied: a snapshot with a lower
    # one is older and is skipped. None for snapshots pushed without one.
    seq = models.BigIntegerField(null=True, blank=True)
    synced_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["origin", "origin_id"], name="mirroredmodel_key"),
        ]

    def __str__(self) -> str:
        return f"{self.origin}:{self.origin_name}"


class MirroredVersion(models.Model):
    """Links a team registry's version to its central copy, with its origin facts."""

    origin = models.CharField(max_length=40)
    origin_id = models.BigIntegerField()
    model_version = models.OneToOneField(
        ModelVersion, on_delete=models.PROTECT, related_name="mirror"
    )
    origin_stage = models.CharField(max_length=20)
    origin_stage_changed_at = models.DateTimeField(null=True, blank=True)
    origin_created_by = models.CharField(max_length=150, blank=True)
    # The origin audit event of the version's last transition, named by mirrored events.
    origin_stage_event_id = models.BigIntegerField(null=True, blank=True)
    synced_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["origin", "origin_id"], name="mirroredversion_key"),
        ]

    def __str__(self) -> str:
        return f"{self.origin}:{self.model_version}"


class MirroredCard(models.Model):
    """The current content of a mirrored version's model card, as the origin holds it."""

    origin = models.CharField(max_length=40)
    origin_id = models.BigIntegerField()
    model_version = models.OneToOneField(
        ModelVersion, on_delete=models.PROTECT, related_name="mirrored_card"
    )
    revision = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    sections = models.JSONField(default=dict)
    author_username = models.CharField(max_length=150, blank=True)
    synced_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["origin", "origin_id"], name="mirroredcard_key"),
        ]

    def __str__(self) -> str:
        return f"card r{self.revision} of {self.model_version}"


class MirroredReview(models.Model):
    """A review made in a team registry; reviews are append-only there, so here too."""

    origin = models.CharField(max_length=40)
    origin_id = models.BigIntegerField()
    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.PROTECT, related_name="mirrored_reviews"
    )
    reviewer_username = models.CharField(max_length=150)
    decision = models.CharField(max_length=20)
    comment = models.TextField(blank=True)
    revision = models.PositiveIntegerField()
    revision_sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["origin", "origin_id"], name="mirroredreview_key"),
        ]

    def __str__(self) -> str:
        return f"{self.reviewer_username} {self.decision} {self.model_version}"


class MirroredAuditEvent(models.Model):
    """One audit event of a team registry, as it recorded it (ids and names of the origin)."""

    origin = models.CharField(max_length=40, db_index=True)
    origin_id = models.BigIntegerField()
    registered_model = models.ForeignKey(
        RegisteredModel,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="mirrored_audit_events",
    )
    created_at = models.DateTimeField()
    action = models.CharField(max_length=64)
    actor_username = models.CharField(max_length=150, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    model_name = models.CharField(max_length=100, blank=True)
    version_label = models.CharField(max_length=64, blank=True)
    object_type = models.CharField(max_length=32, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    from_stage = models.CharField(max_length=20, blank=True)
    to_stage = models.CharField(max_length=20, blank=True)
    reason = models.TextField(blank=True)
    changes = models.JSONField(default=dict, blank=True)
    payload = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["origin", "origin_id"]
        constraints = [
            models.UniqueConstraint(fields=["origin", "origin_id"], name="mirroredaudit_key"),
        ]

    def __str__(self) -> str:
        return f"{self.origin} #{self.origin_id} {self.action}"


# --- Team side ----------------------------------------------------------------------------


class SyncState(models.Model):
    """How far this team registry's catalog has been pushed to one central registry."""

    central_url = models.CharField(max_length=500)
    registry_id = models.CharField(max_length=40)
    # The id of the last local AuditEvent the central registry acknowledged.
    audit_cursor = models.BigIntegerField(default=0)
    # [[event id, unix time first missed], …]: ids below the cursor not yet visible when
    # it passed them (a transaction committing late); looked for again by each sync.
    gaps = models.JSONField(default=list, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_summary = models.JSONField(default=dict, blank=True)
    # The largest push the central registry accepts, in bytes, as it last said (its limits
    # endpoint, or a 413 naming its limit); null until it has said.
    push_limit = models.PositiveBigIntegerField(null=True, blank=True)
    # Items too large to push even alone, tried again by every sync: [{"kind", "id",
    # "part", "parts", "bytes", "limit", "since"}, …].
    set_aside = models.JSONField(default=list, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["central_url", "registry_id"], name="syncstate_key"),
        ]

    def __str__(self) -> str:
        return f"{self.registry_id} → {self.central_url}"


class SyncFingerprint(models.Model):
    """The sha256 of the last snapshot of one local model the central one acknowledged."""

    state = models.ForeignKey(SyncState, on_delete=models.CASCADE, related_name="fingerprints")
    model_id = models.BigIntegerField()
    fingerprint = models.CharField(max_length=64)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["state", "model_id"], name="syncfingerprint_key"),
        ]

    def __str__(self) -> str:
        return f"model {self.model_id}: {self.fingerprint[:12]}"
