"""Reads that matter: each with explicit select_related so list pages stay constant-cost."""

from __future__ import annotations

from django.db.models import F, QuerySet, Value

from .enums import SIGNAL_ACTIONS, Stage
from .guards import (
    GuardResult,
    checksum_result,
    guard_providers,
    no_regression_results,
    threshold_results,
)
from .models import (
    AuditEvent,
    HealthSignal,
    LatestSignal,
    ModelVersion,
    PromotionPolicy,
    RegisteredModel,
    Team,
)


def model_list() -> QuerySet[RegisteredModel]:
    """Models with their team and author, and `n_versions`: the sum of the model's own
    per-stage counts (no version is read), so that a list can sort by it."""
    total = sum((F(RegisteredModel.stage_count_field(stage)) for stage in Stage.values), Value(0))
    return RegisteredModel.objects.select_related("team", "created_by").annotate(n_versions=total)


def first_row(queryset: QuerySet):
    """The first row of `queryset` in its own order, or None: one query, LIMIT 1."""
    for obj in queryset[:1]:
        return obj
    return None


def model_by_name(*, name: str) -> RegisteredModel | None:
    """One model with its team and author (its per-stage counts are its own columns), or
    None."""
    return first_row(RegisteredModel.objects.select_related("team", "created_by").filter(name=name))


def model_for_update(*, pk: int) -> RegisteredModel:
    """The model with its team, its row locked until the transaction ends (every write
    service starts here); raises RegisteredModel.DoesNotExist.

    Only the model's own row is locked (`of=("self",)`): the team row read alongside it
    stays free, so writers of two models of the same team do not wait for each other.
    PostgreSQL honours `of`; SQLite has no row locks and ignores it."""
    return RegisteredModel.objects.select_for_update(of=("self",)).select_related("team").get(pk=pk)


def version_by_pk(*, pk: int) -> ModelVersion:
    """The version with its model, team and author (the services re-read it here under the
    model's lock); raises ModelVersion.DoesNotExist."""
    return version_list().get(pk=pk)


def team_by_pk(*, pk: int) -> Team | None:
    return first_row(Team.objects.filter(pk=pk))


def model_get(*, name: str) -> RegisteredModel:
    """The model with its team and author; raises RegisteredModel.DoesNotExist."""
    return RegisteredModel.objects.select_related("team", "created_by").get(name=name)


def version_list(*, model: RegisteredModel | None = None) -> QuerySet[ModelVersion]:
    """Versions, newest SemVer precedence first."""
    qs = ModelVersion.objects.select_related("registered_model__team", "created_by")
    if model is not None:
        qs = qs.filter(registered_model=model)
    return qs.order_by("registered_model_id", "-precedence")


def version_get(*, model: RegisteredModel, version: str) -> ModelVersion:
    """The version labelled `version`; raises ModelVersion.DoesNotExist."""
    return version_list().get(registered_model_id=model.pk, version=version)


def version_by_number(*, model: RegisteredModel, number: int) -> ModelVersion | None:
    return first_row(version_list().filter(registered_model_id=model.pk, number=number))


def production_version(*, model: RegisteredModel) -> ModelVersion | None:
    """What serving systems poll: one indexed query."""
    return first_row(version_list().filter(registered_model_id=model.pk, stage=Stage.PRODUCTION))


def last_known_good(*, model: RegisteredModel) -> ModelVersion | None:
    """The most recently archived version that had been in production before."""
    return (
        ModelVersion.objects.filter(
            registered_model=model, stage=Stage.ARCHIVED, promoted_at__isnull=False
        )
        .order_by("-stage_changed_at", "-id")
        .first()
    )


def effective_policy(*, model: RegisteredModel) -> PromotionPolicy:
    """The model's own policy, else the site default, else the built-in default."""
    own = PromotionPolicy.objects.filter(registered_model=model).first()
    if own is not None:
        return own
    site = PromotionPolicy.objects.filter(is_site_default=True).first()
    if site is not None:
        return site
    return PromotionPolicy(
        is_site_default=True,
        required_approvals=1,
        required_card_sections=list(PromotionPolicy.DEFAULT_SECTIONS),
    )


def promotion_checks(*, version: ModelVersion) -> list[GuardResult]:
    """Every promotion guard for `version`, passed or not: the dry run."""
    model = version.registered_model
    policy = effective_policy(model=model)
    production = production_version(model=model)
    if production is not None and production.pk == version.pk:
        production = None
    results = threshold_results(version.metrics, policy.thresholds)
    results += no_regression_results(
        version.metrics,
        production.metrics if production is not None else None,
        production.version if production is not None else "",
        policy.key_metrics,
    )
    for provider in guard_providers():
        results += provider(version=version, policy=policy)
    results += checksum_result(version.artifact_sha256, policy.require_checksum)
    return results


def audit_events(
    *,
    model_name: str | None = None,
    version: ModelVersion | None = None,
    actor: str | None = None,
    action: str | None = None,
    since=None,
    until=None,
    without_signals: bool = False,
) -> QuerySet[AuditEvent]:
    """Audit events, newest first; `without_signals` leaves out the health signals' events
    (read through the indexes that hold none)."""
    qs = AuditEvent.objects.all()
    if without_signals:
        qs = qs.exclude(action__in=SIGNAL_ACTIONS)
    if model_name:
        qs = qs.filter(model_name=model_name)
    if version is not None:
        qs = qs.filter(model_version=version)
    if actor:
        qs = qs.filter(actor_username=actor)
    if action:
        qs = qs.filter(action=action)
    if since is not None:
        qs = qs.filter(created_at__gte=since)
    if until is not None:
        qs = qs.filter(created_at__lt=until)
    return qs.order_by("-created_at", "-id")


# --- Production health signals ---------------------------------------------------------

# The most metrics a version's "latest value per metric" lists, and the most recent
# signals its charts read (one query each, whatever the number of signals stored).
LATEST_METRICS_MAX = 100
SERIES_SIGNALS_MAX = 400


def signals_of_version(*, version: ModelVersion, metric: str | None = None) -> QuerySet:
    """A version's signals (newest first with the list's keyset ordering), maybe of one
    metric only."""
    qs = HealthSignal.objects.filter(model_version=version)
    if metric is not None:
        qs = qs.filter(metric=metric)
    return qs


def signals_latest(*, version: ModelVersion) -> list[HealthSignal]:
    """The newest signal of each metric of `version`, by metric name: one query."""
    rows = (
        LatestSignal.objects.filter(model_version=version)
        .select_related("signal")
        .order_by("metric")[:LATEST_METRICS_MAX]
    )
    return [row.signal for row in rows]


def signal_series(*, version: ModelVersion) -> dict[str, list[HealthSignal]]:
    """Metric → its recent signals, oldest first, from the version's last
    SERIES_SIGNALS_MAX signals: one query."""
    recent = list(
        HealthSignal.objects.filter(model_version=version)
        .only("metric", "value", "observed_at", "window_seconds")
        .order_by("-observed_at", "-id")[:SERIES_SIGNALS_MAX]
    )
    series: dict[str, list[HealthSignal]] = {}
    for signal in reversed(recent):
        series.setdefault(signal.metric, []).append(signal)
    return series


def signal_open(*, fingerprint: str) -> HealthSignal | None:
    """The newest signal an alert opened and no resolution closed yet, or None."""
    if not fingerprint:
        return None
    return first_row(
        HealthSignal.objects.filter(fingerprint=fingerprint, resolved_at__isnull=True).order_by(
            "-observed_at", "-id"
        )
    )
