"""Input and output serializers of the model-card and review endpoints."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from approvals_app.cards import SECTION_TITLES
from approvals_app.models import Decision
from models_app.api.serializers import StrictInputSerializer


@extend_schema_field(
    {
        "type": "object",
        "properties": {key: {"type": "string"} for key in SECTION_TITLES},
        "additionalProperties": False,
    }
)
class SectionsField(serializers.JSONField):
    """Section key → Markdown text; keys are the five card sections."""


class CardUpdateInput(StrictInputSerializer):
    """Either `sections` (missing keys keep their text) or a whole `markdown` document."""

    sections = SectionsField(required=False)
    markdown = serializers.CharField(
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        max_length=100_000,
        help_text="A whole card; '## Intended use' … headings start the sections.",
    )
    reason = serializers.CharField(
        required=False, allow_blank=True, default="", trim_whitespace=False, max_length=2000
    )

    def validate(self, attrs):
        if ("sections" in attrs) == ("markdown" in attrs):
            raise serializers.ValidationError(
                {"non_field_errors": ["Send exactly one of 'sections' or 'markdown'."]}
            )
        return attrs


class CardOutput(serializers.Serializer):
    model = serializers.CharField()
    version = serializers.CharField()
    revision = serializers.IntegerField(help_text="Revision number, from 1.")
    sha256 = serializers.CharField(help_text="sha256 of the revision's content.")
    sections = SectionsField()
    markdown = serializers.CharField()
    html = serializers.CharField(help_text="Rendered and sanitised HTML.")
    edited_by = serializers.CharField()
    edited_at = serializers.DateTimeField()
    review_requested_at = serializers.DateTimeField(allow_null=True)


class ReviewRequestInput(StrictInputSerializer):
    """Optionally, a note for the reviewers."""

    reason = serializers.CharField(
        required=False, allow_blank=True, default="", trim_whitespace=False, max_length=2000
    )


class ReviewSubmitInput(StrictInputSerializer):
    """A reviewer's decision on the current card revision."""

    decision = serializers.ChoiceField(choices=Decision.choices)
    comment = serializers.CharField(
        required=False, allow_blank=True, default="", trim_whitespace=False, max_length=5000
    )
    revision_sha256 = serializers.CharField(
        required=False,
        allow_null=True,
        max_length=64,
        help_text="The sha256 of the card revision read; 409 when the card changed since.",
    )


class ReviewOutput(serializers.Serializer):
    id = serializers.IntegerField()
    reviewer = serializers.CharField(source="reviewer_username")
    decision = serializers.ChoiceField(choices=Decision.choices)
    comment = serializers.CharField()
    revision = serializers.IntegerField(source="revision.number")
    revision_sha256 = serializers.CharField()
    created_at = serializers.DateTimeField()
