"""Admin for model cards, their revisions and reviews; every write through the services.

The rules are those of models_app.admin: forms call approvals_app.services, nothing is
deleted, history is read-only (PITFALLS 4, 8).
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.utils.safestring import mark_safe

from models_app.admin import (
    RegistryAdmin,
    ServiceModelForm,
    ViewOnlyAdmin,
    _is_snapshot,
    _reason_field,
    register_history,
)
from models_app.enums import Stage
from models_app.models import ModelVersion

from . import services
from .cards import SECTION_TITLES, render_sections
from .models import CardRevision, Decision, ModelCard, Review

# --- Model cards ---------------------------------------------------------------------------


def _section_field(key: str) -> forms.CharField:
    return forms.CharField(
        label=SECTION_TITLES[key],
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 6, "cols": 80}),
        help_text="Markdown.",
    )


class ModelCardChangeForm(ServiceModelForm):
    """The five Markdown sections; saving writes a new revision through card_update."""

    intended_use = _section_field("intended_use")
    training_data = _section_field("training_data")
    evaluation = _section_field("evaluation")
    limitations = _section_field("limitations")
    ethical_considerations = _section_field("ethical_considerations")
    reason = _reason_field(required=False)

    class Meta:
        model = ModelCard
        fields = (*SECTION_TITLES, "reason")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        current = self.instance.current_revision if self.instance.pk else None
        for key, text in (current.sections() if current is not None else {}).items():
            if key in self.fields:
                self.fields[key].initial = text

    def apply(self, data: dict) -> ModelCard:
        return services.card_update(
            actor=self.actor,
            version=self.instance.model_version,
            sections={key: data[key] for key in SECTION_TITLES},
            reason=data["reason"],
        )


class CardRevisionInline(admin.TabularInline):
    """Every revision of the card, newest last; append-only, so read-only here."""

    model = CardRevision
    fields = ("number", "sha256", "author_username", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ModelCard)
class ModelCardAdmin(RegistryAdmin):
    # Cards are created with their version (SPEC §3), so there is no add form.
    change_form = ModelCardChangeForm
    inlines = [CardRevisionInline]
    list_display = (
        "model_version",
        "revision_number",
        "review_requested_at",
        "created_at",
    )
    list_select_related = ("model_version__registered_model", "current_revision")
    list_filter = ("model_version__stage", "review_requested_at")
    search_fields = ("model_version__registered_model__name", "model_version__version")
    readonly_fields = (
        "model_version",
        "current_revision",
        "current_sha256",
        "review_requested_at",
        "review_requested_by",
        "created_at",
        "preview",
    )

    def get_fieldsets(self, request, obj=None):
        if _is_snapshot(request):
            return super().get_fieldsets(request, obj)
        about = (
            None,
            {
                "fields": (
                    "model_version",
                    "current_revision",
                    "current_sha256",
                    "review_requested_at",
                    "review_requested_by",
                    "created_at",
                )
            },
        )
        rendered = ("Rendered", {"fields": ("preview",)})
        if obj is not None and self.has_change_permission(request, obj):
            sections = (
                "Sections (saving makes a new revision)",
                {"fields": (*SECTION_TITLES, "reason")},
            )
            return (about, sections, rendered)
        return (about, rendered)

    @admin.display(description="revision")
    def revision_number(self, obj) -> int | None:
        return obj.current_revision.number if obj.current_revision else None

    @admin.display(description="sha256 of the current revision")
    def current_sha256(self, obj) -> str:
        return obj.current_revision.sha256 if obj.current_revision else ""

    @admin.display(description="current card, rendered")
    def preview(self, obj) -> str:
        if obj.current_revision is None:
            return ""
        # render_sections sanitises with nh3 (PITFALLS 10), so the HTML is safe to show.
        return mark_safe(render_sections(obj.current_revision.sections()))  # noqa: S308


@admin.register(CardRevision)
class CardRevisionAdmin(ViewOnlyAdmin):
    """Append-only revisions: each is the evidence a review points at."""

    list_display = ("card", "number", "sha256", "author_username", "created_at")
    list_select_related = ("card__model_version__registered_model",)
    search_fields = ("card__model_version__registered_model__name", "sha256", "author_username")
    list_filter = ("created_at",)

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.concrete_fields]


# --- Reviews -------------------------------------------------------------------------------


class ReviewAddForm(ServiceModelForm):
    """Review the current card revision of a staging version as the signed-in admin."""

    model_version = forms.ModelChoiceField(
        queryset=ModelVersion.objects.filter(stage=Stage.STAGING)
        .select_related("registered_model")
        .order_by("registered_model__name", "-precedence"),
        help_text="Only versions in staging take reviews; the review applies to the "
        "card's current revision.",
    )
    decision = forms.ChoiceField(choices=Decision.choices)
    comment = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 60}),
        help_text="Required to reject or request changes.",
    )

    class Meta:
        model = Review
        fields = ("model_version", "decision", "comment")

    def apply(self, data: dict) -> Review:
        return services.review_submit(
            actor=self.actor,
            version=data["model_version"],
            decision=data["decision"],
            comment=data["comment"],
        )


@admin.register(Review)
class ReviewAdmin(RegistryAdmin):
    # A review is evidence: it is added, never changed.
    add_form = ReviewAddForm
    list_display = (
        "model_version",
        "reviewer_username",
        "decision",
        "revision_number",
        "created_at",
    )
    list_select_related = ("model_version__registered_model", "revision")
    list_filter = ("decision", "created_at")
    search_fields = (
        "reviewer_username",
        "model_version__registered_model__name",
        "model_version__version",
        "comment",
    )

    @admin.display(description="card revision", ordering="revision__number")
    def revision_number(self, obj) -> int:
        return obj.revision.number


register_history(ModelCard, "id", "model_version_id", "current_revision_id")
register_history(Review, "id", "model_version_id", "reviewer_username", "decision")
