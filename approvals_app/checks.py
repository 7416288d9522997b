"""System checks: the card's stored columns match the card sections defined once."""

from __future__ import annotations

from django.apps import apps
from django.core import checks
from django.db import models

from models_app.card_sections import SECTION_NAMES


def section_column_errors(model, sections: tuple[str, ...] = SECTION_NAMES) -> list:
    """An error for each section without a text column of its name on `model`, and for
    each text column that is no section (its text would never be read or written)."""
    columns = {
        field.name for field in model._meta.get_fields() if isinstance(field, models.TextField)
    }
    label = model._meta.label
    errors = [
        checks.Error(
            f"{label} has no text column for the card section '{name}'.",
            hint="Add a TextField of that name and a migration, or remove the section from "
            "models_app.card_sections.",
            obj=model,
            id="approvals_app.E001",
        )
        for name in sections
        if name not in columns
    ]
    errors += [
        checks.Error(
            f"{label}.{name} is a text column but no card section.",
            hint="Add the section to models_app.card_sections, or remove the column.",
            obj=model,
            id="approvals_app.E002",
        )
        for name in sorted(columns - set(sections))
    ]
    return errors


@checks.register(checks.Tags.models)
def card_sections_have_columns(app_configs=None, **kwargs) -> list:
    config = apps.get_app_config("approvals_app")
    if app_configs is not None and config not in app_configs:
        return []
    return section_column_errors(config.get_model("CardRevision"))
