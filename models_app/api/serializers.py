"""Input and output serializers of the models API: one pair per action.

Input serializers only check shapes and types; the services validate meaning (SemVer,
finite metrics, allowed URIs, control characters) so that every door gives the same
answer. Every input serializer refuses fields it does not know, and `stage` and the
identity fields in particular, so that a PATCH of `stage` is a clear 400 and never
silently ignored.
"""

from __future__ import annotations

import re

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from models_app.enums import Stage
from models_app.models import ModelVersion
from models_app.storage import stored_name
from models_app.validators import MODEL_NAME_RE, SEMVER_MAX_LENGTH, SEMVER_RE

READ_ONLY_MESSAGES = {
    "stage": (
        "stage is read-only: change it with the promote, archive, deprecate or rollback endpoints."
    ),
    "stage_changed_at": "stage_changed_at is set by the server.",
    "number": "number is assigned by the server.",
}
IDENTITY_MESSAGE = "{field} cannot change after registration; register a new version instead."


def _text(**kwargs) -> serializers.CharField:
    """A string kept exactly as sent: the services refuse control characters with a reason."""
    kwargs.setdefault("trim_whitespace", False)
    return serializers.CharField(**kwargs)


@extend_schema_field(
    {"type": "object", "additionalProperties": {"type": "number"}, "example": {"accuracy": 0.93}}
)
class MetricsField(serializers.JSONField):
    """Metric name → finite number; checked by models_app.validators.validate_metrics."""


@extend_schema_field(
    {"type": "object", "additionalProperties": {"type": "string"}, "example": {"owner": "fraud"}}
)
class TagsField(serializers.JSONField):
    """Tag key → string value; checked by models_app.validators.validate_tags."""


@extend_schema_field({"type": "object", "additionalProperties": True})
class ObjectField(serializers.JSONField):
    """Any JSON object (training parameters)."""


def _ecma(pattern: str) -> str:
    """A Python regular expression as JSON Schema wants it: no named groups."""
    return re.sub(r"\(\?P<\w+>", "(", pattern)


@extend_schema_field(
    {"type": "string", "pattern": _ecma(MODEL_NAME_RE.pattern), "example": "fraud_detector"}
)
class ModelNameField(serializers.CharField):
    """A model name; validators.validate_model_name gives the message."""


@extend_schema_field(
    {
        "type": "string",
        "pattern": _ecma(SEMVER_RE.pattern),
        "maxLength": SEMVER_MAX_LENGTH,
        "example": "2.1.0",
    }
)
class SemVerField(serializers.CharField):
    """A SemVer 2.0 string; validators.SemVer.parse gives the message."""


class StrictInputSerializer(serializers.Serializer):
    """Refuses unknown fields with a message saying why, instead of ignoring them."""

    identity_fields: tuple[str, ...] = ()
    identity_message = IDENTITY_MESSAGE

    @classmethod
    def validated(cls, data) -> dict:
        """The validated data of `data`, or a ValidationError (400) naming each field."""
        serializer = cls(data=data)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    def to_internal_value(self, data):
        if isinstance(data, dict):
            errors = {}
            for key in data:
                if key in self.fields:
                    continue
                if key in READ_ONLY_MESSAGES:
                    errors[key] = [READ_ONLY_MESSAGES[key]]
                elif key in self.identity_fields:
                    errors[key] = [self.identity_message.format(field=key)]
                else:
                    errors[str(key)[:100]] = [
                        f"Unknown field; expected: {', '.join(sorted(self.fields))}."
                    ]
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)


# --- Models ---------------------------------------------------------------------------


class ModelCreateInput(StrictInputSerializer):
    """A new model: its name, owning team (slug), description and tags."""

    name = ModelNameField(max_length=200, trim_whitespace=False)
    team = _text(max_length=50, help_text="The owning team's slug.")
    description = _text(required=False, allow_blank=True, default="", max_length=10000)
    tags = TagsField(required=False, default=dict)


class ModelUpdateInput(StrictInputSerializer):
    """The editable fields of a model; tags replace the old set."""

    identity_fields = ("name", "team", "created_by", "created_at")
    identity_message = "{field} of a model cannot be changed through the API."

    description = _text(required=False, allow_blank=True, max_length=10000)
    tags = TagsField(required=False)


class ModelRenameInput(StrictInputSerializer):
    """The model's new name (admins only; never for a model that was in production)."""

    new_name = ModelNameField(max_length=200, trim_whitespace=False)


class ProductionSummarySerializer(serializers.Serializer):
    version = serializers.CharField()
    number = serializers.IntegerField()
    artifact_uri = serializers.CharField()
    artifact_sha256 = serializers.CharField()
    stage_changed_at = serializers.DateTimeField()


class ModelOutput(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField()
    team = serializers.CharField(source="team.slug")
    team_name = serializers.CharField(source="team.name")
    origin = serializers.CharField(
        help_text='The team registry this entry is mirrored from; "" for this registry\'s own.'
    )
    tags = TagsField()
    created_by = serializers.CharField(source="created_by.username")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    versions_count = serializers.SerializerMethodField()
    stage_counts = serializers.SerializerMethodField()
    production = serializers.SerializerMethodField()

    def get_versions_count(self, obj) -> int:
        return obj.versions_count

    @extend_schema_field(
        {
            "type": "object",
            "properties": {stage: {"type": "integer"} for stage in Stage.values},
            "required": list(Stage.values),
        }
    )
    def get_stage_counts(self, obj) -> dict:
        return obj.stage_counts

    @extend_schema_field(ProductionSummarySerializer(allow_null=True))
    def get_production(self, obj):
        # Set by the view: a prefetch for lists, the selector's answer for one model.
        production = getattr(obj, "production_versions", [])
        if not production:
            return None
        return ProductionSummarySerializer(production[0]).data


# --- Versions -------------------------------------------------------------------------


class VersionRegisterInput(StrictInputSerializer):
    """A new version; only `version` is required."""

    version = SemVerField(
        max_length=200, trim_whitespace=False, help_text="A SemVer 2.0 string, e.g. 3.0.0-rc.1."
    )
    metrics = MetricsField(required=False, default=dict)
    params = ObjectField(required=False, default=dict)
    artifact_uri = _text(required=False, allow_blank=True, default="", max_length=2048)
    artifact_sha256 = _text(required=False, allow_blank=True, default="", max_length=64)
    artifact_size = serializers.IntegerField(required=False, allow_null=True, min_value=0)
    data_version = _text(required=False, allow_blank=True, default="", max_length=500)
    code_version = _text(required=False, allow_blank=True, default="", max_length=500)
    source_run = _text(required=False, allow_blank=True, default="", max_length=500)
    description = _text(required=False, allow_blank=True, default="", max_length=10000)
    tags = TagsField(required=False, default=dict)


class VersionUpdateInput(StrictInputSerializer):
    """The only mutable fields of a version; `stage` and identity fields are refused."""

    identity_fields = (
        "version",
        "metrics",
        "params",
        "artifact_uri",
        "artifact_sha256",
        "artifact_size",
        "data_version",
        "code_version",
        "source_run",
        "created_by",
        "created_at",
        "model",
    )

    description = _text(required=False, allow_blank=True, max_length=10000)
    tags = TagsField(required=False)


class VersionOutput(serializers.Serializer):
    model = serializers.CharField(source="registered_model.name")
    version = serializers.CharField()
    number = serializers.IntegerField()
    stage = serializers.ChoiceField(choices=Stage.choices, read_only=True)
    stage_changed_at = serializers.DateTimeField()
    promoted_at = serializers.DateTimeField(allow_null=True)
    description = serializers.CharField()
    tags = TagsField()
    metrics = MetricsField()
    params = ObjectField()
    artifact_uri = serializers.CharField()
    artifact_sha256 = serializers.CharField()
    artifact_size = serializers.IntegerField(allow_null=True)
    artifact_stored = serializers.SerializerMethodField(
        help_text="True when the artifact was uploaded to this registry and can be downloaded."
    )
    data_version = serializers.CharField()
    code_version = serializers.CharField()
    source_run = serializers.CharField()
    created_by = serializers.CharField(source="created_by.username")
    created_at = serializers.DateTimeField()

    def get_artifact_stored(self, obj: ModelVersion) -> bool:
        return stored_name(obj) is not None


class ProductionOutput(serializers.Serializer):
    """What a serving system polls: which version is in production, and its artifact."""

    model = serializers.CharField(source="registered_model.name")
    version = serializers.CharField()
    number = serializers.IntegerField()
    artifact_uri = serializers.CharField()
    artifact_sha256 = serializers.CharField()
    artifact_size = serializers.IntegerField(allow_null=True)
    stage_changed_at = serializers.DateTimeField()


# --- Transitions ------------------------------------------------------------------------


class ReasonInput(StrictInputSerializer):
    """Why the transition is made."""

    reason = _text(max_length=2000, help_text="Why; recorded in the audit trail.")


class RollbackInput(StrictInputSerializer):
    """Why, and optionally which version to restore."""

    reason = _text(max_length=2000, help_text="Why; recorded in the audit trail.")
    to_version = _text(
        required=False,
        allow_null=True,
        max_length=200,
        help_text="The version to restore (SemVer or number); default: the last known good.",
    )


class GuardResultOutput(serializers.Serializer):
    guard = serializers.CharField()
    passed = serializers.BooleanField()
    reason = serializers.CharField()


class RecordedChecksSource(serializers.Serializer):
    """Where the checks of a version mirrored from a team registry come from: that
    registry's promotion of it."""

    origin = serializers.CharField(help_text="The team registry that owns the version.")
    event_id = serializers.IntegerField(
        allow_null=True,
        help_text="The origin's audit event of the promotion whose checks these are; null "
        "when the origin has not promoted the version (or that event has not been synced "
        "yet), and `checks` is then empty.",
    )
    recorded_at = serializers.DateTimeField(
        allow_null=True, help_text="When the origin promoted the version."
    )
    recorded_by = serializers.CharField(help_text="Who promoted it, at the origin.")
    reason = serializers.CharField(help_text="The reason given for the promotion.")


class ChecksOutput(serializers.Serializer):
    model = serializers.CharField()
    version = serializers.CharField()
    stage = serializers.ChoiceField(choices=Stage.choices)
    ready = serializers.BooleanField(
        help_text="True when every guard passes and the stage allows a promotion; always "
        "false for a version mirrored from a team registry (it is promoted there)."
    )
    checks = GuardResultOutput(
        many=True,
        help_text="The dry run of every guard; for a mirrored version, the guards its "
        "origin checked when it promoted it.",
    )
    source = RecordedChecksSource(
        allow_null=True,
        help_text="null for this registry's own versions; for a version mirrored from a "
        "team registry, the promotion there whose checks `checks` lists.",
    )


class RollbackOutput(serializers.Serializer):
    restored = VersionOutput(help_text="The version now in production.")
    rolled_back = serializers.CharField(
        allow_null=True, help_text="The version taken out of production."
    )


# --- Policies -------------------------------------------------------------------------


class PolicyInput(StrictInputSerializer):
    """The model's own promotion policy; fields left out keep their value."""

    thresholds = serializers.JSONField(
        required=False,
        help_text='[{"metric": "accuracy", "min": 0.9}, {"metric": "latency_ms", "max": 50}]',
    )
    key_metrics = serializers.JSONField(
        required=False,
        help_text='[{"metric": "f1", "direction": "higher", "tolerance": 0.01}]',
    )
    required_approvals = serializers.IntegerField(required=False, min_value=0, max_value=10)
    required_card_sections = serializers.ListField(
        child=serializers.CharField(), required=False, allow_empty=True
    )
    require_checksum = serializers.BooleanField(required=False)
    metric_directions = serializers.JSONField(
        required=False,
        help_text=(
            'Which way other metrics improve, for the dashboard: {"latency_ms": "lower", '
            '"auc": "higher"}. Metrics without a direction (from this, a key metric or a '
            "threshold) are shown neutral."
        ),
    )
    reason = _text(required=False, allow_blank=True, default="", max_length=2000)


class ThresholdSerializer(serializers.Serializer):
    metric = serializers.CharField()
    min = serializers.FloatField(required=False)
    max = serializers.FloatField(required=False)


class KeyMetricSerializer(serializers.Serializer):
    metric = serializers.CharField()
    direction = serializers.ChoiceField(choices=["higher", "lower"])
    tolerance = serializers.FloatField()


class PolicyOutput(serializers.Serializer):
    scope = serializers.ChoiceField(
        choices=["model", "site", "builtin"],
        help_text="Whose policy applies: the model's own, the site default, or the built-in one.",
    )
    thresholds = ThresholdSerializer(many=True)
    key_metrics = KeyMetricSerializer(many=True)
    required_approvals = serializers.IntegerField()
    required_card_sections = serializers.ListField(child=serializers.CharField())
    require_checksum = serializers.BooleanField()
    metric_directions = serializers.DictField(
        child=serializers.ChoiceField(choices=["higher", "lower"]),
        help_text="Directions declared for metrics the key metrics do not rank.",
    )
    updated_at = serializers.DateTimeField(allow_null=True)


# --- Audit ----------------------------------------------------------------------------


class AuditEventOutput(serializers.Serializer):
    id = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    action = serializers.CharField()
    actor = serializers.CharField(source="actor_username")
    request_id = serializers.CharField()
    model = serializers.CharField(source="model_name")
    version = serializers.CharField(source="version_label")
    object_type = serializers.CharField()
    object_id = serializers.CharField()
    from_stage = serializers.CharField()
    to_stage = serializers.CharField()
    reason = serializers.CharField()
    changes = serializers.JSONField()
    payload = serializers.JSONField()


# --- Authentication ---------------------------------------------------------------------


class TokenInput(StrictInputSerializer):
    """The credentials exchanged for a token."""

    username = _text(max_length=150)
    password = _text(max_length=4096, style={"input_type": "password"})


class TokenOutput(serializers.Serializer):
    token = serializers.CharField(help_text='Send as "Authorization: Token <token>".')
    expiry = serializers.DateTimeField(allow_null=True)
    username = serializers.CharField()


# --- Production health signals --------------------------------------------------------


@extend_schema_field({"type": "number", "example": 0.031})
class SignalValueField(serializers.JSONField):
    """A finite number; checked by models_app.validators.validate_signal_value."""


@extend_schema_field(
    {
        "oneOf": [{"type": "integer", "minimum": 0}, {"type": "string"}],
        "example": "10m",
        "description": 'Seconds, or a duration such as "10m", "1h" or "1h30m" (units d, h, '
        "m, s); at most 30 days. 0 (the default) is an instant.",
    }
)
class WindowField(serializers.JSONField):
    """Seconds or a duration; models_app.validators.parse_window reads it."""


class SignalInput(StrictInputSerializer):
    """One observation of a metric on a version in service."""

    metric = _text(max_length=300, help_text="e.g. false_positive_rate, drift_psi, p99_latency_ms.")
    value = SignalValueField()
    window = WindowField(required=False, default=0)
    source = _text(
        required=False,
        allow_blank=True,
        default="",
        max_length=200,
        help_text="Who measured it (e.g. prometheus, drift-job); at most 100 characters.",
    )
    observed_at = serializers.DateTimeField(
        required=False, help_text="When it was observed (ISO 8601); default: now."
    )


class ModelSignalInput(SignalInput):
    """A signal on a model's version: the production version unless `version` names one."""

    version = _text(
        required=False,
        max_length=200,
        help_text="The version's SemVer string or number; default: the production version.",
    )


class SignalOutput(serializers.Serializer):
    id = serializers.IntegerField()
    model = serializers.CharField(source="model_version.registered_model.name")
    version = serializers.CharField(source="model_version.version")
    metric = serializers.CharField()
    value = serializers.FloatField()
    window_seconds = serializers.IntegerField()
    source = serializers.CharField()
    observed_at = serializers.DateTimeField()
    received_at = serializers.DateTimeField()
    posted_by = serializers.CharField(source="posted_by_username")
    fingerprint = serializers.CharField(help_text='The alert\'s fingerprint; "" if none.')
    resolved_at = serializers.DateTimeField(
        allow_null=True, help_text="When the alert that opened it was resolved."
    )


class LatestSignalOutput(serializers.Serializer):
    metric = serializers.CharField()
    value = serializers.FloatField()
    window_seconds = serializers.IntegerField()
    source = serializers.CharField()
    observed_at = serializers.DateTimeField()
    signal_id = serializers.IntegerField(source="id")
    resolved_at = serializers.DateTimeField(allow_null=True)


class LatestSignalsOutput(serializers.Serializer):
    model = serializers.CharField()
    version = serializers.CharField()
    stage = serializers.CharField()
    metrics = LatestSignalOutput(many=True)
