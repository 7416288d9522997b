"""What the MLflow door keeps beside the core's tables: aliases and its soft deletions.

MLflow has two notions our core lacks. Aliases (`champion` → version 7) are a per-model map
from a name to one version. Deletes are soft here, as in MLflow itself (its versions go to
an internal "Deleted_Internal" stage): nothing that has a model card, review or audit
trail can be removed, so a version deleted through this door is deprecated by the core's
service and hidden from the MLflow API by a row below; the dashboard and the native API
still show it, deprecated, with its whole history.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from models_app.models import ModelVersion, RegisteredModel, registry_history


class ModelAlias(models.Model):
    """A named pointer from a model to one of its versions (MLflow's registered-model alias)."""

    registered_model = models.ForeignKey(
        RegisteredModel, on_delete=models.PROTECT, related_name="mlflow_aliases"
    )
    alias = models.CharField(max_length=255)
    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.PROTECT, related_name="mlflow_aliases"
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    updated_at = models.DateTimeField(default=timezone.now)
    history = registry_history()

    class Meta:
        ordering = ["registered_model_id", "alias"]
        constraints = [
            models.UniqueConstraint(
                fields=["registered_model", "alias"], name="mlflow_alias_unique_per_model"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.registered_model.name}@{self.alias}"


class DeletedModel(models.Model):
    """A model deleted through the MLflow API: hidden from that API, kept everywhere else."""

    registered_model = models.OneToOneField(
        RegisteredModel, on_delete=models.PROTECT, related_name="mlflow_deleted"
    )
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    deleted_at = models.DateTimeField(default=timezone.now)
    reason = models.TextField(blank=True)
    history = registry_history()

    def __str__(self) -> str:
        return f"{self.registered_model.name} (deleted through the MLflow API)"


class DeletedVersion(models.Model):
    """A version deleted through the MLflow API (deprecated by the core, hidden from MLflow)."""

    model_version = models.OneToOneField(
        ModelVersion, on_delete=models.PROTECT, related_name="mlflow_deleted"
    )
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    deleted_at = models.DateTimeField(default=timezone.now)
    reason = models.TextField(blank=True)
    history = registry_history()

    def __str__(self) -> str:
        return f"{self.model_version} (deleted through the MLflow API)"
