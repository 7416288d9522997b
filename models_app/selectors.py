"""Reads that matter: each with explicit select_related so list pages stay constant-cost."""

from __future__ import annotations

from django.db.models import F, Q, QuerySet, Value

from .enums import SIGNAL_ACTIONS, Action, Stage
from .guards import (
    GuardResult,
    Readiness,
    bulk_guard_providers,
    checksum_result,
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


def effective_policies(*, model_ids: list[int]) -> dict[int, PromotionPolicy]:
    """effective_policy of each model in `model_ids`, by model id: one query (the models'
    own policies and the site default together)."""
    own: dict[int, PromotionPolicy] = {}
    site = None
    rows = PromotionPolicy.objects.filter(
        Q(registered_model_id__in=model_ids) | Q(is_site_default=True)
    )
    for policy in rows:
        if policy.is_site_default:
            site = policy
        else:
            own[policy.registered_model_id] = policy
    if site is None:
        site = PromotionPolicy(
            is_site_default=True,
            required_approvals=1,
            required_card_sections=list(PromotionPolicy.DEFAULT_SECTIONS),
        )
    return {pk: own.get(pk, site) for pk in model_ids}


def production_versions(*, model_ids: list[int]) -> dict[int, ModelVersion]:
    """The production version of each model in `model_ids` that has one, by model id, with
    its label and metrics only: one query, one index probe per model. A model has at most
    one production version (a partial unique constraint), so the query is limited to one
    row per model asked about and never reads more, whatever the number of versions."""
    if not model_ids:
        return {}
    rows = ModelVersion.objects.filter(
        registered_model_id__in=model_ids, stage=Stage.PRODUCTION
    ).only("registered_model_id", "version", "metrics")[: len(set(model_ids))]
    return {v.registered_model_id: v for v in rows}


def promotion_readiness(
    *,
    versions: list[ModelVersion],
    policies: dict[int, PromotionPolicy] | None = None,
    productions: dict[int, ModelVersion | None] | None = None,
) -> dict[int, Readiness]:
    """Every promotion guard of each of `versions`, passed or not, with the facts the
    guard providers add (the review's state), by version id. A bounded number of queries
    whatever the number of versions: the policies, the production versions, and each
    provider's own few. promotion_checks is this for one version, so a list and the
    promotion itself always agree. A caller that has already read the models' policies
    or production versions (by model id; None for a model without one) passes them."""
    model_ids = sorted({v.registered_model_id for v in versions})
    if policies is None:
        policies = effective_policies(model_ids=model_ids)
    if productions is None:
        productions = production_versions(model_ids=model_ids)
    pairs = [(v, policies[v.registered_model_id]) for v in versions]
    reports = [many(pairs) for many in bulk_guard_providers()]
    answers = {}
    for version, policy in pairs:
        production = productions.get(version.registered_model_id)
        if production is not None and production.pk == version.pk:
            production = None
        results = threshold_results(version.metrics, policy.thresholds)
        results += no_regression_results(
            version.metrics,
            production.metrics if production is not None else None,
            production.version if production is not None else "",
            policy.key_metrics,
        )
        facts: dict = {}
        for report in reports:
            results += report[version.pk].results
            facts.update(report[version.pk].facts)
        results += checksum_result(version.artifact_sha256, policy.require_checksum)
        answers[version.pk] = Readiness(results, facts)
    return answers


def promotion_checks(*, version: ModelVersion) -> list[GuardResult]:
    """Every promotion guard for `version`, passed or not: the dry run."""
    return promotion_readiness(versions=[version])[version.pk].results


def production_event(*, version: ModelVersion) -> AuditEvent | None:
    """The event that last put `version` in production: its promotion, or the rollback
    that restored it. One probe of the audit_by_version index."""
    return first_row(
        AuditEvent.objects.filter(
            model_version=version, action__in=[Action.VERSION_PROMOTED, Action.VERSION_RESTORED]
        ).order_by("-created_at", "-id")
    )


def audit_events(
    *,
    model_name: str | None = None,
    version: ModelVersion | None = None,
    actor: str | None = None,
    action: str | None = None,
    request_id: str | None = None,
    since=None,
    until=None,
    without_signals: bool = False,
) -> QuerySet[AuditEvent]:
    """Audit events newest first; the events of one transaction in the order they were
    written (their ids break ties of time). `without_signals` leaves out the health
    signals' events (read through the indexes that hold none)."""
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
    if request_id:
        qs = qs.filter(request_id=request_id)
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
