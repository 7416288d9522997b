"""The metadata store, the lifecycle state machine, policies and audit.

Nothing here checks permissions or writes audit rows: models_app.services does both, and
is the only code that calls the transition methods below.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q, Value
from django.db.models.functions import Greatest
from django.utils import timezone
from django_fsm import FSMField, FSMModelMixin, transition
from simple_history.manager import HistoryManager
from simple_history.models import HistoricalRecords

from .card_sections import REQUIRED_BY_DEFAULT
from .enums import SIGNAL_ACTIONS, Action, Stage
from .guards import metric_directions


class AuditedHistory(models.Model):
    """Columns every history row carries beside simple-history's own.

    The username is kept as text so that the trail still names a user whose account was
    removed, and the request id ties the row to the request that made it.
    """

    history_username = models.CharField(max_length=150, blank=True, default="")
    history_request_id = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        abstract = True


def _history_user_getter(historical_instance):
    if historical_instance.history_user_id is None:
        return None
    from django.contrib.auth import get_user_model

    return get_user_model().objects.filter(pk=historical_instance.history_user_id).first()


def _history_user_setter(historical_instance, user):
    if user is not None:
        historical_instance.history_user_id = user.pk
        historical_instance.history_username = user.get_username()


class RegistryHistoryManager(HistoryManager):
    """simple-history's manager, with its class built once per queryset class.

    simple-history's descriptor calls `from_queryset` on every access to `obj.history`,
    which builds a new class by inspecting every QuerySet method; it does so for each
    history row it writes, about a tenth of a millisecond each time. The classes it builds
    are all alike, so the first one is kept and reused.
    """

    _classes: dict = {}

    @classmethod
    def from_queryset(cls, queryset_class, class_name=None):
        key = (cls, queryset_class, class_name)
        if key not in cls._classes:
            cls._classes[key] = super().from_queryset(queryset_class, class_name)
        return cls._classes[key]


def registry_history(**kwargs) -> HistoricalRecords:
    """simple-history with the user stored as id and name, never as a foreign key.

    A foreign key would be nulled when the user is deleted, which the
    append-only triggers would refuse; an integer id and the username survive.
    """
    return HistoricalRecords(
        bases=[AuditedHistory],
        history_user_id_field=models.IntegerField(null=True, blank=True, db_index=True),
        history_user_getter=_history_user_getter,
        history_user_setter=_history_user_setter,
        history_manager=RegistryHistoryManager,
        **kwargs,
    )


class Team(models.Model):
    """A group of people that owns registered models."""

    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=50, unique=True)
    description = models.TextField(blank=True)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="teams", blank=True
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    history = registry_history()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """A user's membership of a team: contributors act on their own teams' models."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    history = registry_history()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team", "user"], name="membership_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.team}"


class RegisteredModel(models.Model):
    """A named model owned by one team; its versions are the things that get promoted."""

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="registered_models")
    tags = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)
    # The last version number handed out; numbers are never reused.
    last_number = models.PositiveIntegerField(default=0, editable=False)
    # The team registry a mirrored entry came from; "" for this registry's own
    # models. Only federation_app sets it; services refuse changes to entries with one.
    origin = models.CharField(max_length=40, blank=True, default="", db_index=True)
    # How many of the model's versions are in each stage (one column per Stage value, named
    # by stage_count_field). ModelVersion.save() keeps them, in the version's own
    # transaction, so that lists and details read them instead of counting versions.
    staging_count = models.IntegerField(default=0, editable=False)
    production_count = models.IntegerField(default=0, editable=False)
    archived_count = models.IntegerField(default=0, editable=False)
    rolled_back_count = models.IntegerField(default=0, editable=False)
    deprecated_count = models.IntegerField(default=0, editable=False)
    # Kept by the versions, not edited: no history row records them.
    DERIVED_FIELDS = ("last_number", *(f"{stage}_count" for stage in Stage.values))
    history = registry_history(excluded_fields=list(DERIVED_FIELDS))

    class Meta:
        ordering = ["name"]
        permissions = [
            ("create_model", "Can create models and register versions for own teams"),
            ("promote_version", "Can promote a version to production"),
            ("archive_version", "Can archive a version"),
            ("rollback_model", "Can roll a model back"),
            ("deprecate_version", "Can deprecate a version"),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        # A full save of a model read earlier must not write back counts or a last number
        # that its versions have moved on since: an existing row saves every field but those.
        if not self._state.adding and kwargs.get("update_fields") is None:
            kwargs["update_fields"] = [
                f.name
                for f in self._meta.concrete_fields
                if not f.primary_key and f.name not in self.DERIVED_FIELDS
            ]
        super().save(*args, **kwargs)

    @staticmethod
    def stage_count_field(stage: str) -> str:
        """The name of the column that counts a model's versions in `stage`."""
        return f"{stage}_count"

    @property
    def stage_counts(self) -> dict[str, int]:
        """Stage → number of the model's versions in it, for every stage."""
        return {stage: getattr(self, self.stage_count_field(stage)) for stage in Stage.values}

    @property
    def versions_count(self) -> int:
        return sum(self.stage_counts.values())


class ModelVersion(FSMModelMixin, models.Model):
    """One registered version of a model, with its lineage, metrics and lifecycle stage.

    The identity fields are fixed at registration: a different model is a new version.
    `stage` is protected: only the transition methods change it, and only the services
    call those.
    """

    IDENTITY_FIELDS = (
        "registered_model_id",
        "version",
        "number",
        "metrics",
        "data_version",
        "code_version",
        "params",
        "source_run",
    )
    # The artifact may be attached once after registration (an upload), then never again.
    WRITE_ONCE_FIELDS = ("artifact_uri", "artifact_sha256", "artifact_size")

    registered_model = models.ForeignKey(
        RegisteredModel,
        on_delete=models.PROTECT,
        related_name="versions",
        # No index of its own: every index in Meta starts with this column.
        db_index=False,
    )
    version = models.CharField(max_length=64)
    # Hex sort key whose text order is SemVer precedence (validators.SemVer.sort_key).
    precedence = models.CharField(max_length=700, editable=False)
    number = models.PositiveIntegerField(editable=False)
    description = models.TextField(blank=True)
    tags = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    params = models.JSONField(default=dict, blank=True)
    artifact_uri = models.CharField(max_length=2048, blank=True)
    artifact_sha256 = models.CharField(max_length=64, blank=True)
    artifact_size = models.BigIntegerField(null=True, blank=True)
    data_version = models.CharField(max_length=500, blank=True)
    code_version = models.CharField(max_length=500, blank=True)
    source_run = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    stage = FSMField(
        max_length=20, choices=Stage.choices, default=Stage.STAGING, protected=True, db_index=True
    )
    stage_changed_at = models.DateTimeField(default=timezone.now)
    # When the version last entered production; set means "was in production before",
    # which makes it a valid rollback target once archived.
    promoted_at = models.DateTimeField(null=True, blank=True, editable=False)
    history = registry_history()

    class Meta:
        ordering = ["registered_model_id", "-precedence"]
        constraints = [
            models.UniqueConstraint(
                fields=["registered_model", "version"], name="modelversion_unique_version"
            ),
            models.UniqueConstraint(
                fields=["registered_model", "number"], name="modelversion_unique_number"
            ),
            # At most one production version per model, held by the database.
            models.UniqueConstraint(
                fields=["registered_model"],
                condition=Q(stage="production"),
                name="modelversion_one_production",
            ),
            models.CheckConstraint(
                condition=Q(stage__in=Stage.values), name="modelversion_stage_valid"
            ),
            models.CheckConstraint(condition=Q(number__gte=1), name="modelversion_number_positive"),
        ]
        indexes = [
            # The versions list, newest precedence first, paged by (precedence, id).
            models.Index(
                fields=["registered_model", "precedence", "id"], name="modelversion_keyset"
            ),
            # The versions list filtered by stage, in the same order.
            models.Index(
                fields=["registered_model", "stage", "precedence", "id"],
                name="modelversion_stage_keyset",
            ),
            # The production lookup, and the MLflow door's highest number per stage: one
            # probe at the end of the (model, stage) range, however many versions there are.
            models.Index(
                fields=["registered_model", "stage", "number"], name="modelversion_stage_number"
            ),
            # MLflow's default order of versions (last updated first, then number), within
            # one model and across models: each page is a range of one of these.
            models.Index(
                fields=["registered_model", "stage_changed_at", "number"],
                name="modelversion_model_changed",
            ),
            models.Index(fields=["stage_changed_at"], name="modelversion_changed"),
        ]

    def __str__(self) -> str:
        return f"{self.registered_model.name} {self.version}"

    @classmethod
    def from_db(cls, db, field_names, values, **kwargs):
        # kwargs: what newer Django versions pass on (fetch_mode, since 6.1).
        instance = super().from_db(db, field_names, values, **kwargs)
        instance._loaded_values = dict(zip(field_names, values, strict=True))
        return instance

    def changed_identity_fields(self) -> list[str]:
        """Identity fields that differ from what was loaded (empty for a new version)."""
        loaded = getattr(self, "_loaded_values", None)
        if self._state.adding or loaded is None:
            return []
        changed = []
        for name in self.IDENTITY_FIELDS:
            field = self._meta.get_field(name.removesuffix("_id"))
            if name in loaded and field.get_prep_value(getattr(self, name)) != field.to_python(
                loaded[name]
            ):
                changed.append(name)
        for name in self.WRITE_ONCE_FIELDS:
            if loaded.get(name) not in ("", None) and getattr(self, name) != loaded[name]:
                changed.append(name)
        return changed

    def save(self, *args, **kwargs):
        changed = self.changed_identity_fields()
        if changed:
            from django.core.exceptions import ValidationError

            raise ValidationError(
                f"{', '.join(changed)} cannot change after registration; register a new "
                "version instead."
            )
        adding = self._state.adding
        loaded_stage = (getattr(self, "_loaded_values", None) or {}).get("stage")
        super().save(*args, **kwargs)
        self._loaded_values = {f.attname: getattr(self, f.attname) for f in self._meta.fields}
        self._count_in_model(adding, loaded_stage)

    def _count_in_model(self, adding: bool, loaded_stage: str | None) -> None:
        """Keep the model's derived columns in step with this version, in one UPDATE inside
        the save's transaction: a new version raises the model's last number (a mirrored
        version may bring a higher one), marks it updated and counts in its stage; a stage
        change moves one count. Every writer locks the model row first, so these never race.
        """
        column = RegisteredModel.stage_count_field
        changes: dict = {}
        if adding:
            changes = {
                "last_number": Greatest(F("last_number"), Value(self.number)),
                "updated_at": Greatest(
                    F("updated_at"), Value(self.created_at, output_field=models.DateTimeField())
                ),
                column(self.stage): F(column(self.stage)) + 1,
            }
        elif loaded_stage is not None and loaded_stage != self.stage:
            changes = {
                column(loaded_stage): F(column(loaded_stage)) - 1,
                column(self.stage): F(column(self.stage)) + 1,
            }
        if changes:
            RegisteredModel.objects.filter(pk=self.registered_model_id).update(**changes)

    # --- Transitions (called only by models_app.services) ---------------------------
    #
    # These declarations are the lifecycle graph: which stage allows which change, where
    # it leads and which audit action records it. models_app.lifecycle reads them for
    # everything else (refusals, buttons, the MLflow door's stage names, federation's
    # walks), so a new transition is declared here and nowhere else.

    def _touch(self) -> None:
        self.stage_changed_at = timezone.now()

    @transition(
        field=stage,
        source=Stage.STAGING,
        target=Stage.PRODUCTION,
        custom={"audit_action": Action.VERSION_PROMOTED},
    )
    def promote(self) -> None:
        self._touch()
        self.promoted_at = self.stage_changed_at

    @transition(
        field=stage,
        source=[Stage.STAGING, Stage.PRODUCTION],
        target=Stage.ARCHIVED,
        custom={"audit_action": Action.VERSION_ARCHIVED},
    )
    def archive(self) -> None:
        self._touch()

    @transition(
        field=stage,
        source=Stage.PRODUCTION,
        target=Stage.ROLLED_BACK,
        custom={"audit_action": Action.VERSION_ROLLED_BACK},
    )
    def roll_back(self) -> None:
        self._touch()

    @transition(
        field=stage,
        source=Stage.ARCHIVED,
        target=Stage.PRODUCTION,
        # Only a version that was in production before is a rollback target.
        conditions=[lambda v: v.promoted_at is not None],
        custom={"audit_action": Action.VERSION_RESTORED},
    )
    def restore(self) -> None:
        self._touch()
        self.promoted_at = self.stage_changed_at

    @transition(
        field=stage,
        source=[Stage.STAGING, Stage.ARCHIVED, Stage.ROLLED_BACK],
        target=Stage.DEPRECATED,
        custom={"audit_action": Action.VERSION_DEPRECATED},
    )
    def deprecate(self) -> None:
        self._touch()


class PromotionPolicy(models.Model):
    """The guards a version must pass to reach production.

    One row may belong to a model; the row with `is_site_default` applies to every model
    without its own. Thresholds are `[{"metric": "accuracy", "min": 0.9}, {"metric":
    "latency_ms", "max": 50}]`; key metrics for the no-regression guard are
    `[{"metric": "f1", "direction": "higher", "tolerance": 0.01}]`. Metric directions declare
    which way other metrics improve, for the dashboard's colours: `{"latency_ms": "lower"}`;
    a metric with no direction from any of the three is shown neutral (see `directions`).
    """

    # The card sections a new policy requires (models_app.card_sections).
    DEFAULT_SECTIONS = list(REQUIRED_BY_DEFAULT)

    registered_model = models.OneToOneField(
        RegisteredModel,
        on_delete=models.PROTECT,
        related_name="policy",
        null=True,
        blank=True,
    )
    is_site_default = models.BooleanField(default=False)
    thresholds = models.JSONField(default=list, blank=True)
    key_metrics = models.JSONField(default=list, blank=True)
    required_approvals = models.PositiveSmallIntegerField(default=1)
    required_card_sections = models.JSONField(default=list, blank=True)
    require_checksum = models.BooleanField(default=False)
    metric_directions = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)
    history = registry_history()

    class Meta:
        verbose_name_plural = "promotion policies"
        constraints = [
            models.UniqueConstraint(
                fields=["is_site_default"],
                condition=Q(is_site_default=True),
                name="policy_one_site_default",
            ),
            models.CheckConstraint(
                condition=(Q(is_site_default=True) & Q(registered_model__isnull=True))
                | (Q(is_site_default=False) & Q(registered_model__isnull=False)),
                name="policy_default_xor_model",
            ),
        ]

    def directions(self) -> dict[str, str]:
        """Metric name → "higher" or "lower", the way each metric improves under this
        policy (guards.metric_directions); a metric it does not name has no direction."""
        return metric_directions(
            key_metrics=self.key_metrics,
            declared=self.metric_directions,
            thresholds=self.thresholds,
        )

    def __str__(self) -> str:
        if self.is_site_default:
            return "Site default policy"
        return f"Policy of {self.registered_model}"


class AuditEvent(models.Model):
    """One change, by whom, when and why: the registry's trail and its event stream.

    Append-only in the database (migration 0002). Actor and object are kept as text as
    well as ids so that the record outlives what it names.
    """

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    # One of models_app.enums.Action, but not declared as the field's choices: a new kind
    # of event is a new Action member, with no migration of this append-only table.
    action = models.CharField(max_length=64, db_index=True)
    actor_id = models.IntegerField(null=True, blank=True, db_index=True)
    actor_username = models.CharField(max_length=150, blank=True, db_index=True)
    request_id = models.CharField(max_length=64, blank=True)
    team = models.ForeignKey(
        Team,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="+",
    )
    # No index of their own for these two: audit_by_model and audit_by_version start with
    # them, and every audit row would write one more index entry for nothing.
    registered_model = models.ForeignKey(
        RegisteredModel,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        null=True,
        blank=True,
        related_name="audit_events",
    )
    model_version = models.ForeignKey(
        ModelVersion,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        null=True,
        blank=True,
        related_name="audit_events",
    )
    model_name = models.CharField(max_length=100, blank=True, db_index=True)
    version_label = models.CharField(max_length=64, blank=True)
    object_type = models.CharField(max_length=32)
    object_id = models.CharField(max_length=64, blank=True)
    from_stage = models.CharField(max_length=20, blank=True)
    to_stage = models.CharField(max_length=20, blank=True)
    reason = models.TextField(blank=True)
    changes = models.JSONField(default=dict, blank=True)
    payload = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["registered_model", "-created_at"], name="audit_by_model"),
            models.Index(fields=["model_version", "-created_at"], name="audit_by_version"),
            # The audit lists, newest first, paged by (created_at, id): site-wide and by
            # model name (a model's history).
            models.Index(fields=["created_at", "id"], name="audit_keyset"),
            models.Index(fields=["model_name", "created_at", "id"], name="audit_by_name_keyset"),
            # The events of one request (the audit log's request filter).
            models.Index(fields=["request_id", "created_at", "id"], name="audit_by_request"),
            # The changes of a model and of a version, newest first, without the health
            # signals (the model page's recent changes, the version page's timeline).
            models.Index(
                fields=["registered_model", "-created_at"],
                name="audit_changes_by_model",
                condition=~Q(action__in=SIGNAL_ACTIONS),
            ),
            models.Index(
                fields=["model_version", "-created_at"],
                name="audit_changes_by_version",
                condition=~Q(action__in=SIGNAL_ACTIONS),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor_username} {self.action}"

    @property
    def action_label(self) -> str:
        """The action in words ("Version promoted"), or as stored if Action has no such
        member (an event type from a later release, read by an earlier one)."""
        try:
            return Action(self.action).label
        except ValueError:
            return self.action


class HealthSignal(models.Model):
    """One observation a monitoring system reported on a version in service: a metric's
    value over a window, from a source, observed at a time.

    Kept for REGISTRY_SIGNAL_RETENTION_DAYS (`manage.py prune_signals`). Signals from
    Prometheus Alertmanager carry the alert's fingerprint and stay open until the alert is
    resolved (`resolved_at`).
    """

    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.CASCADE, related_name="signals", db_index=False
    )
    metric = models.CharField(max_length=250)
    value = models.FloatField()
    window_seconds = models.PositiveIntegerField(default=0)
    source = models.CharField(max_length=100, blank=True, default="")
    observed_at = models.DateTimeField(default=timezone.now)
    received_at = models.DateTimeField(default=timezone.now, editable=False)
    posted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    posted_by_username = models.CharField(max_length=150, blank=True, default="")
    fingerprint = models.CharField(max_length=64, blank=True, default="")
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-observed_at", "-id"]
        permissions = [("post_signal", "Can post production health signals")]
        indexes = [
            # A version's signals, newest first, paged by (observed_at, id).
            models.Index(
                fields=["model_version", "observed_at", "id"], name="signal_by_version_keyset"
            ),
            # One metric's recent values (the charts), newest first.
            models.Index(
                fields=["model_version", "metric", "observed_at", "id"], name="signal_by_metric"
            ),
            # Pruning by age.
            models.Index(fields=["observed_at"], name="signal_by_age"),
            # The open signal of an alert, found again when it is resolved.
            models.Index(
                fields=["fingerprint"],
                name="signal_open_by_fingerprint",
                condition=Q(resolved_at__isnull=True) & ~Q(fingerprint=""),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.metric}={self.value:g} on {self.model_version_id}"


class LatestSignal(models.Model):
    """The newest signal of each metric of a version: the panels' and the API's "latest
    value per metric" read these few rows instead of the version's signals."""

    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    metric = models.CharField(max_length=250)
    observed_at = models.DateTimeField()
    # Pruned with its signal: a metric with no signal left in the retention period has no
    # latest value either.
    signal = models.OneToOneField(HealthSignal, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["model_version", "metric"], name="one_latest_signal_per_metric"
            )
        ]

    def __str__(self) -> str:
        return f"latest {self.metric} of {self.model_version_id}"
