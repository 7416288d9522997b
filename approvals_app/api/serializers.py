"""Input and output serializers of the model-card and review endpoints."""

from __future__ import annotations

from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema_field
from rest_framework import serializers

from approvals_app.models import Decision
from models_app.api.serializers import StrictInputSerializer
from models_app.card_sections import CARD_SECTIONS


@extend_schema_field(
    {
        "type": "object",
        "properties": {
            section.name: {
                "type": "string",
                "title": section.title,
                "description": section.help_text,
            }
            for section in CARD_SECTIONS
        },
        "additionalProperties": False,
    }
)
class SectionsField(serializers.JSONField):
    """Section key → Markdown text; keys are the card sections (models_app.card_sections)."""


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


class CardSource(serializers.Serializer):
    """Where the card of a version mirrored from a team registry comes from."""

    origin = serializers.CharField(help_text="The team registry that owns the version.")
    origin_id = serializers.IntegerField(help_text="The card's id in that registry.")
    synced_at = serializers.DateTimeField(help_text="When this revision reached this registry.")


class CardOutput(serializers.Serializer):
    model = serializers.CharField()
    version = serializers.CharField()
    revision = serializers.IntegerField(
        help_text="Revision number, from 1 (for a mirrored version, the origin's)."
    )
    sha256 = serializers.CharField(help_text="sha256 of the revision's content.")
    sections = SectionsField()
    markdown = serializers.CharField()
    html = serializers.CharField(help_text="Rendered and sanitised HTML.")
    edited_by = serializers.CharField()
    edited_at = serializers.DateTimeField(
        allow_null=True,
        help_text="null for a mirrored version: its origin's edit time is not mirrored.",
    )
    review_requested_at = serializers.DateTimeField(allow_null=True)
    source = CardSource(
        allow_null=True,
        help_text="null for this registry's own versions; for a version mirrored from a "
        "team registry, that registry: the card is the one it holds, read-only here.",
    )


class ReviewRequestInput(StrictInputSerializer):
    """Optionally, a note for the reviewers."""

    reason = serializers.CharField(
        required=False, allow_blank=True, default="", trim_whitespace=False, max_length=2000
    )


SHA256_HELP = (
    "The `sha256` of the card revision you read (from GET …/card/). 409 when the card "
    "changed since: the error names the current revision and its sha256."
)
APPROVAL_MESSAGE = (
    "An approval must name the card revision it approves: send revision_sha256, the "
    "sha256 of the card revision you read."
)


def _comment(*, required: bool = False) -> serializers.CharField:
    if required:
        return serializers.CharField(trim_whitespace=False, max_length=5000)
    return serializers.CharField(
        required=False, allow_blank=True, default="", trim_whitespace=False, max_length=5000
    )


def _revision_sha256(*, required: bool) -> serializers.RegexField:
    return serializers.RegexField(
        r"^[0-9a-f]{64}$",
        required=required,
        allow_null=not required,
        allow_blank=not required,
        min_length=64,
        max_length=64,
        help_text=SHA256_HELP,
        error_messages={
            "invalid": "Must be the 64 lowercase hexadecimal characters of a revision's sha256.",
            "required": APPROVAL_MESSAGE,
        },
    )


class ReviewSubmitInput(StrictInputSerializer):
    """A reviewer's decision on the current card revision.

    This is what the endpoint validates; the schema shows it as ReviewApprovalInput or
    ReviewObjectionInput, by decision.
    """

    decision = serializers.ChoiceField(choices=Decision.choices)
    comment = _comment()
    revision_sha256 = _revision_sha256(required=False)

    def validate(self, attrs):
        if attrs["decision"] == Decision.APPROVE and not attrs.get("revision_sha256"):
            raise serializers.ValidationError({"revision_sha256": [APPROVAL_MESSAGE]})
        return attrs


class ReviewApprovalInput(StrictInputSerializer):
    """An approval binds to the card revision read: it counts only for that content."""

    decision = serializers.ChoiceField(choices=[Decision.APPROVE])
    comment = _comment()
    revision_sha256 = _revision_sha256(required=True)


class ReviewObjectionInput(StrictInputSerializer):
    """A rejection or change request; `revision_sha256` is optional (an objection to a
    newer revision than the one read can only block), and checked when given."""

    decision = serializers.ChoiceField(choices=[Decision.REJECT, Decision.REQUEST_CHANGES])
    comment = _comment(required=True)
    revision_sha256 = _revision_sha256(required=False)


REVIEW_SUBMIT_SCHEMA = PolymorphicProxySerializer(
    component_name="ReviewSubmitInput",
    serializers={
        Decision.APPROVE.value: ReviewApprovalInput,
        Decision.REJECT.value: ReviewObjectionInput,
        Decision.REQUEST_CHANGES.value: ReviewObjectionInput,
    },
    resource_type_field_name="decision",
)


class ReviewSource(serializers.Serializer):
    """Where a review of a version mirrored from a team registry was made."""

    origin = serializers.CharField(help_text="The team registry the review was made in.")
    origin_id = serializers.IntegerField(help_text="The review's id in that registry.")


class ReviewOutput(serializers.Serializer):
    id = serializers.IntegerField()
    reviewer = serializers.CharField(source="reviewer_username")
    decision = serializers.ChoiceField(choices=Decision.choices)
    comment = serializers.CharField()
    revision = serializers.IntegerField(source="revision.number")
    revision_sha256 = serializers.CharField()
    created_at = serializers.DateTimeField()
    source = serializers.SerializerMethodField(
        help_text="null for reviews made here; for a version mirrored from a team registry, "
        "the registry its reviews were made in (`revision` is that registry's number)."
    )

    @extend_schema_field(ReviewSource(allow_null=True))
    def get_source(self, review) -> dict | None:
        return None


class MirroredReviewOutput(ReviewOutput):
    """A review made at a mirrored version's origin (models_app.mirrors); the same shape."""

    revision = serializers.IntegerField()

    def get_source(self, review) -> dict | None:
        return {"origin": review.origin, "origin_id": review.origin_id}
