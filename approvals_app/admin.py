"""Admin for model cards, their revisions and reviews; every write through the services.

The rules are those of models_app.admin: forms call approvals_app.services, nothing is
deleted, history is read-only.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from models_app.admin import (
    RegistryAdmin,
    ServiceModelForm,
    ViewOnlyAdmin,
    ViewOnlyInline,
    _is_snapshot,
    _reason_field,
    register_history,
)
from models_app.admin_lists import LargeListAdmin, VersionSearch
from models_app.card_sections import CARD_SECTIONS, SECTION_NAMES, CardSection
from models_app.enums import Stage
from models_app.errors import REFUSALS, Answer
from models_app.models import ModelVersion

from . import selectors, services
from .cards import render_sections
from .models import CardRevision, Decision, ModelCard, Review

# --- Model cards ---------------------------------------------------------------------------


def _section_field(section: CardSection) -> forms.CharField:
    return forms.CharField(
        label=section.title,
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 6, "cols": 80}),
        help_text=f"Markdown. {section.help_text}".strip(),
    )


class _ModelCardChange(ServiceModelForm):
    """The card's Markdown sections; saving writes a new revision through card_update.

    Its fields, one per section of models_app.card_sections and the reason, are declared
    by ModelCardChangeForm below.
    """

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
            sections={key: data[key] for key in SECTION_NAMES},
            reason=data["reason"],
        )


# A form class made with type() declares the fields given to it, as a class statement would.
ModelCardChangeForm = type(
    "ModelCardChangeForm",
    (_ModelCardChange,),
    {
        **{section.name: _section_field(section) for section in CARD_SECTIONS},
        "reason": _reason_field(required=False),
        "Meta": type("Meta", (), {"model": ModelCard, "fields": (*SECTION_NAMES, "reason")}),
        "__module__": __name__,
    },
)


class CardRevisionInline(ViewOnlyInline):
    """Every revision of the card, newest last; append-only, so read-only here."""

    model = CardRevision
    fields = ("number", "sha256", "author_username", "created_at")
    readonly_fields = fields
    show_change_link = True


@admin.register(ModelCard)
class ModelCardAdmin(LargeListAdmin, VersionSearch, RegistryAdmin):
    # Cards are created with their version, so there is no add form.
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
    version_path = "model_version__"
    # Newest card first, in the order of the primary key.
    ordering = ("-id",)
    readonly_fields = (
        "model_version",
        "current_revision",
        "current_sha256",
        "review_requested_at",
        "review_requested_by",
        "created_at",
        "preview",
        "review_link",
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
                    "review_link",
                )
            },
        )
        rendered = ("Rendered", {"fields": ("preview",)})
        if obj is not None and self.has_change_permission(request, obj):
            sections = (
                "Sections (saving makes a new revision)",
                {"fields": (*SECTION_NAMES, "reason")},
            )
            return (about, sections, rendered)
        return (about, rendered)

    @admin.display(description="revision")
    def revision_number(self, obj) -> int | None:
        return obj.current_revision.number if obj.current_revision else None

    @admin.display(description="sha256 of the current revision")
    def current_sha256(self, obj) -> str:
        return obj.current_revision.sha256 if obj.current_revision else ""

    @admin.display(description="review")
    def review_link(self, obj) -> str:
        if obj.model_version.stage != Stage.STAGING:
            return "Reviews are taken only while a version is in staging."
        url = reverse("admin:approvals_app_review_add")
        return format_html(
            '<a href="{}?model_version={}">Review the current revision</a>',
            url,
            obj.model_version_id,
        )

    @admin.display(description="current card, rendered")
    def preview(self, obj) -> str:
        if obj.current_revision is None:
            return ""
        # render_sections sanitises with nh3, so the HTML is safe to show.
        return mark_safe(render_sections(obj.current_revision.sections()))  # noqa: S308


@admin.register(CardRevision)
class CardRevisionAdmin(LargeListAdmin, VersionSearch, ViewOnlyAdmin):
    """Append-only revisions: each is the evidence a review points at."""

    list_display = ("card", "number", "sha256", "author_username", "created_at")
    list_select_related = ("card__model_version__registered_model",)
    version_path = "card__model_version__"
    list_filter = ("created_at",)
    # Newest revision first, in the order of the primary key.
    ordering = ("-id",)

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.concrete_fields]


# --- Reviews -------------------------------------------------------------------------------


class RevisionShownWidget(forms.Widget):
    """The card revision under review, shown in full: number, sha256, author, a link to the
    revision's own page, and its rendered content."""

    revision: CardRevision | None = None

    def render(self, name, value, attrs=None, renderer=None):
        revision = self.revision
        if revision is None:
            return format_html(
                "<p>{}</p>",
                "Choose a version in staging and save: its current card revision is then "
                "shown here, and an approval applies to the revision shown.",
            )
        url = reverse("admin:approvals_app_cardrevision_change", args=[revision.pk])
        # render_sections sanitises with nh3, so the HTML is safe to show.
        content = mark_safe(render_sections(revision.sections()))  # noqa: S308
        return format_html(
            '<div class="card-revision-shown"><p>Revision <strong>{}</strong> by {}, sha256 '
            '<code>{}</code> (<a href="{}">open this revision</a>).</p>'
            '<div class="card-revision-content">{}</div></div>',
            revision.number,
            revision.author_username or "—",
            revision.sha256,
            url,
            content,
        )


class ShownValueInput(forms.HiddenInput):
    """A hidden input carrying the value captured when the form was rendered, not the value
    submitted: after a refusal the form binds to the revision it shows this time."""

    shown: str | None = None

    def get_context(self, name, value, attrs):
        return super().get_context(name, self.shown if self.shown is not None else value, attrs)


class ReviewAddForm(ServiceModelForm):
    """Review the current card revision of a staging version as the signed-in admin.

    The form shows the card revision it applies to and carries that revision's sha256 (and
    its version) in hidden fields, captured when the form was rendered: an approval counts
    only for the revision shown. Choosing a version and saving shows its card first; a
    card edited in between is a form error naming the revision now current.
    """

    model_version = forms.ModelChoiceField(
        queryset=ModelVersion.objects.filter(stage=Stage.STAGING)
        .select_related("registered_model")
        .order_by("registered_model__name", "-precedence"),
        help_text="Only versions in staging take reviews; the review applies to the "
        "card revision shown below.",
    )
    card_revision = forms.CharField(
        label="Card revision under review",
        required=False,
        disabled=True,
        widget=RevisionShownWidget,
    )
    revision_sha256 = forms.CharField(required=False, max_length=64, widget=ShownValueInput)
    shown_version = forms.CharField(required=False, max_length=20, widget=ShownValueInput)
    decision = forms.ChoiceField(choices=Decision.choices)
    comment = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 60}),
        help_text="Required to reject or request changes.",
    )

    class Meta:
        model = Review
        fields = ("model_version", "decision", "comment")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            # The admin's add page takes ?model_version=<id> as the initial choice.
            self.show_card_of(self._staging_version(self.initial.get("model_version")))

    def _staging_version(self, value) -> ModelVersion | None:
        if value in (None, ""):
            return None
        try:
            return self.fields["model_version"].clean(value)
        except ValidationError:
            return None

    def show_card_of(self, version: ModelVersion | None) -> None:
        """Show the current card revision of `version` and bind the form to it."""
        card = selectors.card_for(version) if version is not None else None
        revision = card.current_revision if card is not None else None
        self.fields["card_revision"].widget.revision = revision
        self.fields["revision_sha256"].widget.shown = revision.sha256 if revision else ""
        self.fields["shown_version"].widget.shown = str(version.pk) if revision else ""

    def clean_input(self, data: dict) -> None:
        version = data.get("model_version")
        shown = data.get("shown_version") or ""
        if version is not None and shown and shown != str(version.pk):
            self.add_error(
                None,
                "The card shown was of another version: read this version's card revision, "
                "now shown below, and save again.",
            )
        # Shown again (after any refusal), the form shows and binds to the card as it is now.
        self.show_card_of(version)

    def add_refusal(self, answer: Answer) -> None:
        if answer.fields is not None and "revision_sha256" in answer.fields:
            self.add_error(
                None,
                "An approval applies to the card revision you read: read the revision shown "
                "below, then save again.",
            )
            answer = answer.without_field("revision_sha256")
            if not answer.fields:
                return
        super().add_refusal(answer)

    def apply(self, data: dict) -> Review:
        try:
            return services.review_submit(
                actor=self.actor,
                version=data["model_version"],
                decision=data["decision"],
                comment=data["comment"],
                revision_sha256=data["revision_sha256"] or None,
            )
        except REFUSALS:
            self.show_card_of(data["model_version"])
            raise


@admin.register(Review)
class ReviewAdmin(LargeListAdmin, VersionSearch, RegistryAdmin):
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
    version_path = "model_version__"
    # Newest review first, in the order of the primary key (reviews are only added, so
    # it is the order they were made in); the reviews' own (created_at, id) order has no
    # index of its own and would sort the whole table for every page.
    ordering = ("-id",)

    @admin.display(description="card revision", ordering="revision__number")
    def revision_number(self, obj) -> int:
        return obj.revision.number


register_history(ModelCard, "id", "model_version_id", "current_revision_id")
register_history(Review, "id", "model_version_id", "reviewer_username", "decision")
