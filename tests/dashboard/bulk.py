"""Many versions at once, for the tests of pages that must not slow down with them.

The rows are written with bulk_create (registering tens of thousands through the service
would take minutes); the model's derived columns are then set as a bulk load would:
`last_number` to the highest number, the per-stage counts by services.stage_counts_recount.
"""

from __future__ import annotations

from django.db.models import Max

from models_app import services
from models_app.models import ModelVersion, RegisteredModel
from models_app.validators import SemVer


def bulk_versions(
    *, model, author, count: int, major: int = 10, metrics=None, stage="staging", **fields
) -> None:
    """`count` versions `{major}.{i}.0` (i from 0) in `stage`, numbered after the
    model's last; `metrics(i)` gives each one's metrics (none by default); `fields` are
    set on every one (promoted_at, say)."""
    start = ModelVersion.objects.filter(registered_model=model).aggregate(n=Max("number"))["n"] or 0
    rows = []
    for i in range(count):
        label = f"{major}.{i}.0"
        rows.append(
            ModelVersion(
                registered_model=model,
                version=label,
                precedence=SemVer.parse(label).sort_key,
                number=start + 1 + i,
                metrics=metrics(i) if metrics else {},
                created_by=author,
                stage=stage,
                **fields,
            )
        )
    ModelVersion.objects.bulk_create(rows, batch_size=1000)
    RegisteredModel.objects.filter(pk=model.pk).update(last_number=start + count)
    services.stage_counts_recount(model_ids=[model.pk])
    model.refresh_from_db()
