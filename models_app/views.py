"""The dashboard's model pages, the audit log and API tokens.

Views only translate: they read through the selectors, write through the services, and
turn every refusal (NotAllowed, InvalidTransition, GuardsFailed, ValidationError…) into a
redirect to the page the action came from, which shows the refusal once with the 4xx
status models_app.errors gives it (refuse_and_redirect, take_refusal), never a 500. The
version page and the lifecycle's actions on it are in models_app.lifecycle_views, which
builds on the helpers here.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import BadRequest
from django.db.models import Exists, OuterRef, Q, Subquery
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods
from knox.models import AuthToken

from . import accounts, selectors, services
from .card_sections import SECTION_TITLES
from .charts import metric_charts, signal_sparkline
from .enums import SIGNAL_ACTIONS, Action, Direction, Stage
from .errors import REFUSALS, answer_for
from .exceptions import GuardsFailed
from .forms import AuditFilterForm, ModelFilterForm, RollbackForm, TokenCreateForm
from .guards import Readiness
from .keyset import keyset_page
from .models import AuditEvent, ModelVersion, RegisteredModel, Team
from .paging import CappedPaginator
from .permissions import can, require_permission
from .validators import MODEL_NAME_RE, SEMVER_RE

MODELS_PER_PAGE = 25
EVENTS_PER_PAGE = 50
# Rows the audit log reads past a page to keep the events of one request together.
GROUP_EXTRA = 20
CHART_METRICS = 4
# The model page: versions per page of its table, versions in its chart (by default and at
# most, `?chart=N`) and the rollback targets offered.
VERSIONS_PER_PAGE = 25
CHART_VERSIONS, CHART_VERSIONS_MAX = 50, 1000
ROLLBACK_TARGETS = 50

# --- Translating refusals ----------------------------------------------------------------
# Every view catches REFUSALS (models_app.errors) around its service calls: each refusal
# is shown once on the page the action came from, with the 4xx that models_app.errors
# gives it, never a 500.


def refusal_status(exc: Exception) -> int:
    return answer_for(exc).status


def refusal_text(exc: Exception) -> str:
    return answer_for(exc).text


def failed_guards(exc: Exception) -> list[dict]:
    """Each failed guard of a refused promotion, with its reason."""
    if isinstance(exc, GuardsFailed):
        return [d for d in exc.details if not d["passed"]]
    return []


# --- Refusals across a redirect ------------------------------------------------------------
# A refused or invalid POST answers with a redirect to the page it came from
# (Post/Redirect/Get): that page can be reloaded and bookmarked, and a reload never repeats
# the action. What the page needs to show the refusal once (its words or each failed guard,
# the form as it was filled in with its errors, the refusal's status) waits in the session
# until that page takes it, on the next request.

_REFUSAL_KEY = "dashboard_refusal"


def posted(request, form) -> dict[str, str]:
    """The values a form was POSTed with (its own fields only), to fill it in again."""
    values = {}
    for name in form.fields:
        key = form.add_prefix(name)
        if key in request.POST:
            values[key] = request.POST.get(key)
    return values


def refuse_and_redirect(
    request,
    to: str,
    *,
    page: str,
    action: str,
    data: dict,
    exc: Exception | None = None,
    invalid: str = "Nothing was changed: correct the form below.",
    status: int = 400,
):
    """Keep a refusal of `action` for `page` (a key naming the page, as take_refusal is
    asked) and redirect to `to`, its address.

    Without `exc` the form was invalid (`status`, 400 by default); so is a refusal that
    names fields (a ValidationError): the fields show the errors, and the messages say
    `invalid` once.
    Any other refusal is shown by the page itself, once, with each failed guard."""
    answer = answer_for(exc) if exc is not None else None
    fields: dict[str, list[str]] = {}
    message = ""
    if answer is not None and answer.fields is not None:
        fields = {field: [str(text) for text in texts] for field, texts in answer.fields.items()}
    elif answer is not None:
        message = answer.text
    if not message:
        messages.error(request, invalid)
    request.session[_REFUSAL_KEY] = {
        "page": page,
        "action": action,
        "status": answer.status if answer is not None else status,
        "message": message,
        "failed_guards": failed_guards(exc) if exc is not None else [],
        "fields": fields,
        "data": data,
    }
    return redirect(to)


def take_refusal(request, page: str) -> dict | None:
    """The refusal kept for `page`, once: the next request to the page shows none."""
    refusal = request.session.get(_REFUSAL_KEY)
    if not isinstance(refusal, dict) or refusal.get("page") != page:
        return None
    del request.session[_REFUSAL_KEY]
    return refusal


def refused_form(form_class, refusal: dict, **kwargs):
    """The refused form as it was filled in, with its errors."""
    form = form_class(refusal["data"], **kwargs)
    form.is_valid()
    for field, errors in refusal["fields"].items():
        form.add_error(field if field in form.fields else None, errors)
    return form


# --- Metrics and deltas ------------------------------------------------------------------


def key_metric_specs(policy, versions: list[ModelVersion]) -> list[tuple[str, str]]:
    """The metrics to show, each with the direction in which it improves ("" for none).

    The policy's key metrics and thresholds come first; without a policy that ranks any,
    the first metrics the versions carry, those with a declared direction first. Every
    direction comes from the policy (PromotionPolicy.directions): a metric without one is
    neutral, since "higher" is not "better" for every metric.
    """
    directions = policy.directions()
    names = [rule["metric"] for rule in (policy.key_metrics or [])]
    names += [rule["metric"] for rule in (policy.thresholds or [])]
    if not names:
        carried = sorted({name for v in versions for name in (v.metrics or {})})
        names = sorted(carried, key=lambda name: name not in directions)[:CHART_METRICS]
    return metric_specs(policy, list(dict.fromkeys(names)), directions)


def metric_specs(policy, names: list[str], directions: dict | None = None) -> list[tuple[str, str]]:
    """(name, direction) for each of `names`, the direction from the policy ("" for none):
    the one place the dashboard's tables, compare page and chart learn which way is better."""
    if directions is None:
        directions = policy.directions()
    return [(name, directions.get(name, "")) for name in names]


def metric_cells(metrics: dict, base: dict | None, specs: list[tuple[str, str]]) -> list[dict]:
    """Each key metric's value and its change against `base` (the production version)."""
    cells = []
    for name, direction in specs:
        value = (metrics or {}).get(name)
        base_value = (base or {}).get(name) if base is not None else None
        change = None
        better = None
        if value is not None and base_value is not None:
            change = value - base_value
            # A metric without a direction gets a neutral colour: "higher" is not
            # "better" for every metric.
            if direction == Direction.HIGHER:
                better = change > 0
            elif direction == Direction.LOWER:
                better = change < 0
        cells.append(
            {
                "name": name,
                "value": value,
                "base": base_value,
                "delta": change,
                "better": better,
                "direction": direction,
            }
        )
    return cells


def policy_in_words(policy, *, own: bool) -> list[str]:
    """The promotion policy as sentences a reviewer can check against."""
    lines = [
        "This model has its own promotion policy."
        if own
        else "This model follows the site's default promotion policy."
    ]
    for rule in policy.thresholds or []:
        if "min" in rule:
            lines.append(f"{rule['metric']} must be at least {rule['min']:g}.")
        else:
            lines.append(f"{rule['metric']} must be at most {rule['max']:g}.")
    for rule in policy.key_metrics or []:
        eps = float(rule.get("tolerance", 0.0))
        if rule.get("direction", Direction.HIGHER) == Direction.LOWER:
            lines.append(
                f"{rule['metric']} (lower is better) may not rise above production's by "
                f"{eps:g} or more."
            )
        else:
            lines.append(
                f"{rule['metric']} (higher is better) may not fall below production's by "
                f"{eps:g} or more."
            )
    ranked = {rule["metric"] for rule in policy.key_metrics or []}
    declared = {
        name: direction
        for name, direction in (policy.metric_directions or {}).items()
        if name not in ranked
    }
    if declared:
        lines.append(
            "Declared directions: "
            + "; ".join(
                f"{name}, {Direction(direction).label.lower()}"
                for name, direction in sorted(declared.items())
            )
            + "."
        )
    n = policy.required_approvals
    if n:
        lines.append(
            f"{n} approval{'s' if n != 1 else ''} of the current model card revision by "
            "reviewers other than the author, and no standing rejection."
        )
    else:
        lines.append("No reviewer approval is required.")
    if policy.required_card_sections:
        from django.utils.text import capfirst

        names = ", ".join(SECTION_TITLES.get(s, s).lower() for s in policy.required_card_sections)
        lines.append(capfirst(f"model card sections that must not be empty: {names}."))
    if policy.require_checksum:
        lines.append("The artifact's checksum must be recorded.")
    return lines


# --- Sign in -------------------------------------------------------------------------------


class LoginView(auth_views.LoginView):
    """Django's sign-in with our template; already signed-in people go to the models."""

    template_name = "registration/login.html"
    redirect_authenticated_user = True

    def form_valid(self, form):
        response = super().form_valid(form)
        messages.success(self.request, f"Signed in as {form.get_user().get_username()}.")
        return response


class LogoutView(auth_views.LogoutView):
    """Sign out by POST only (a link could be triggered by another site)."""

    http_method_names = ["post", "options"]

    def post(self, request, *args, **kwargs):
        response = super().post(request, *args, **kwargs)
        messages.info(request, "You are signed out.")
        return response


# --- Models --------------------------------------------------------------------------------


# The models list shows this many of each model's staging versions (the newest by SemVer
# precedence), each with its review's state and its guards, and how many more there are.
STAGING_SHOWN = 3


def _model_list_queryset():
    """Models with their team, production version (and since when), latest version, newest
    staging versions and last change, each a subquery that probes an index once per model
    on the page; the versions per stage are the model's own counts. A page costs the same
    for models with one version or a hundred thousand."""
    versions = ModelVersion.objects.filter(registered_model=OuterRef("pk"))
    production = versions.filter(stage=Stage.PRODUCTION)
    # (model, stage, precedence, id): the modelversion_stage_keyset index, read backwards.
    staging = versions.filter(stage=Stage.STAGING).order_by("-precedence", "-id").values("pk")
    return selectors.model_list().annotate(
        production_label=Subquery(production.values("version")[:1]),
        production_since=Subquery(production.values("promoted_at")[:1]),
        latest_label=Subquery(versions.order_by("-precedence").values("version")[:1]),
        last_change=Subquery(
            AuditEvent.objects.filter(registered_model=OuterRef("pk"))
            .order_by("-created_at")
            .values("created_at")[:1]
        ),
        **{f"staging_{i}": Subquery(staging[i : i + 1]) for i in range(STAGING_SHOWN)},
    )


def staging_readiness(versions: list[ModelVersion], **known) -> dict[int, Readiness]:
    """Every guard of each staging version in `versions` (the others are left out), by
    version id, in a bounded number of queries however many there are; `known` passes on
    the policies and production versions the caller has read already."""
    staging = [v for v in versions if v.stage == Stage.STAGING]
    return selectors.promotion_readiness(versions=staging, **known) if staging else {}


# What the guards read of a staging version shown in a list.
STAGING_FIELDS = (
    "registered_model_id",
    "version",
    "number",
    "stage",
    "metrics",
    "artifact_sha256",
    "created_by_id",
)


def _attach_staging(models: list[RegisteredModel]) -> None:
    """Give each model of a page `waiting`: its newest staging versions (the ids the list's
    subqueries found), each with its readiness, and `more_waiting`, how many of its staging
    versions are not shown. Two reads for the whole page, then the guards' own few."""
    ids = [
        pk
        for m in models
        for pk in (getattr(m, f"staging_{i}") for i in range(STAGING_SHOWN))
        if pk is not None
    ]
    found = (
        {
            v.pk: v
            for v in ModelVersion.objects.filter(pk__in=ids).only(
                "registered_model_id",
                "version",
                "number",
                "stage",
                "metrics",
                "artifact_sha256",
                "created_by_id",
            )
        }
        if ids
        else {}
    )
    readiness = staging_readiness(list(found.values()))
    for m in models:
        shown = [
            found[pk]
            for pk in (getattr(m, f"staging_{i}") for i in range(STAGING_SHOWN))
            if pk in found
        ]
        m.waiting = [{"version": v, "readiness": readiness.get(v.pk)} for v in shown]
        m.more_waiting = max(m.staging_count - len(shown), 0)


@login_required
@require_GET
def model_list(request):
    """Every model with its team, production version and its age, latest version, its
    newest staging versions with their review's state and guards, its number of versions
    and the stages they are in, and its last change; search, filter by team and stage,
    paginated (the page count counts models only)."""
    teams = [(t.slug, t.name) for t in Team.objects.order_by("name")]
    form = ModelFilterForm(request.GET or None, teams=teams)
    qs = _model_list_queryset()
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        if data["q"]:
            qs = qs.filter(Q(name__icontains=data["q"]) | Q(description__icontains=data["q"]))
        if data["team"]:
            qs = qs.filter(team__slug=data["team"])
        if data["stage"]:
            qs = qs.filter(
                Exists(
                    ModelVersion.objects.filter(
                        registered_model=OuterRef("pk"), stage=data["stage"]
                    )
                )
            )
    origin = request.GET.get("origin", "")
    if origin:  # entries mirrored from one team registry; "local": our own
        qs = qs.filter(origin="" if origin == "local" else origin[:40])
    page = CappedPaginator(qs.order_by("name"), MODELS_PER_PAGE).get_page(request.GET.get("page"))
    page.object_list = list(page.object_list)
    _attach_staging(page.object_list)
    return render(
        request,
        "models_app/model_list.html",
        {"form": form, "page": page, "stages": Stage.choices},
    )


def get_model_or_404(name: str) -> RegisteredModel:
    # A name that could never be valid (NUL, control characters) is simply not found;
    # PostgreSQL would refuse a NUL in the query with an error.
    if not MODEL_NAME_RE.fullmatch(name):
        raise Http404("No model by that name.")
    try:
        return selectors.model_get(name=name)
    except RegisteredModel.DoesNotExist as exc:
        raise Http404(f"No model named {name}.") from exc


def _count_param(request, name: str, default: int, maximum: int) -> int:
    """A whole number from 1 to `maximum` given in the query string, else `default`."""
    text = request.GET.get(name)
    if text is None or text == "":
        return default
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= maximum:
        raise BadRequest(f"'{name}' must be a whole number from 1 to {maximum}.")
    return int(text)


def _page_link(request, *, digits: int, what: str) -> tuple[str, int | None]:
    """("older" or "newer", the whole number the page link carries), or ("", None) for the
    first page; a 400 for both at once or anything but a number of at most `digits` digits."""
    older, newer = request.GET.get("older"), request.GET.get("newer")
    if older and newer:
        raise BadRequest("Give 'older' or 'newer', not both.")
    direction, text = ("older", older) if older else ("newer", newer) if newer else ("", "")
    if not direction:
        return "", None
    if not (text.isascii() and text.isdigit() and len(text) <= digits):
        raise BadRequest(f"'{direction}' must be {what}.")
    return direction, int(text)


def _version_cursor(request, model: RegisteredModel) -> tuple[str, ModelVersion | None]:
    """("older" or "newer", the version whose number the page link carries), or ("", None)
    for the first page. The cursor is a version number: short, and the page it names can
    be reloaded."""
    direction, number = _page_link(request, digits=10, what="a version number")
    if not direction:
        return "", None
    cursor = selectors.version_by_number(model=model, number=number)
    if cursor is None:
        raise Http404(f"{model.name} has no version #{number}.")
    return direction, cursor


def _version_page(request, model: RegisteredModel, production: ModelVersion | None) -> dict:
    """One page of the versions table, newest SemVer precedence first (the number breaks
    ties of precedence), read by keyset from the (model, precedence) index; the production
    version is pinned above the first page instead of taking its place in the pages."""
    direction, cursor = _version_cursor(request, model)
    # The model (with its team) is known: only the authors are joined.
    rows = ModelVersion.objects.filter(registered_model=model).select_related("created_by")
    if production is not None:
        rows = rows.exclude(pk=production.pk)
    at = None if cursor is None else (cursor.precedence, cursor.number)
    page, more_older, more_newer = keyset_page(
        rows, ("precedence", "number"), VERSIONS_PER_PAGE, direction, at
    )
    for version in page:
        version.registered_model = model
    pinned = [production] if production is not None and cursor is None else []
    return {
        "versions": pinned + page,
        "older": page[-1].number if more_older and page else None,
        "newer": page[0].number if more_newer and page else None,
        "first_page": cursor is None,
    }


# --- Why is this in production? ----------------------------------------------------------
#
# The model page's production panel shows the event that put the production version there
# (who, when, why, and the guards' results recorded at promotion). Other apps add what they
# know of that decision: approvals_app links the approving reviews. Each is a function
# (version, event) -> [{"text": …, "url": …, "when": a datetime or None}], registered with
# register_production_evidence (as approvals_app registers its guards).

ProductionEvidence = Callable[[ModelVersion, AuditEvent], list[dict]]
_evidence: list[ProductionEvidence] = []


def register_production_evidence(reader: ProductionEvidence) -> None:
    if reader not in _evidence:
        _evidence.append(reader)


def production_story(production: ModelVersion | None) -> dict | None:
    """Why `production` is in production: the promotion (or the rollback that restored
    it) with its actor, time, reason and recorded guard results, and the other apps'
    evidence. None without a production version; `event` None when no event records it."""
    if production is None:
        return None
    event = selectors.production_event(version=production)
    if event is None:
        return {"event": None, "checks": [], "evidence": [], "restored": False}
    payload = event.payload or {}
    checks = [c for c in payload.get("checks") or [] if isinstance(c, dict) and "guard" in c]
    restored = event.action == Action.VERSION_RESTORED
    evidence = [] if restored else [e for read in _evidence for e in read(production, event)]
    return {
        "event": event,
        "restored": restored,
        "rolled_back": payload.get("rolled_back") if restored else None,
        "previous": payload.get("previous"),
        "origin": payload.get("origin"),
        "origin_actor": payload.get("origin_actor"),
        "checks": checks,
        "evidence": evidence,
    }


def _stage_counts(model: RegisteredModel) -> list[tuple[str, int, str]]:
    """(label, count, stage) per stage, from the model's own counts."""
    counts = model.stage_counts
    return [(label, counts[value], value) for value, label in Stage.choices]


def _rollback_targets(model: RegisteredModel, *, also: str = "") -> list[str]:
    """The labels of the versions a rollback may restore (archived after being in
    production), most recently archived first: the latest ROLLBACK_TARGETS, and `also`
    (the one a form posted) when it is one of them, so that a model with thousands of
    such versions is never read whole."""
    candidates = ModelVersion.objects.filter(
        registered_model=model, stage=Stage.ARCHIVED, promoted_at__isnull=False
    )
    targets = list(
        candidates.order_by("-stage_changed_at", "-id").values_list("version", flat=True)[
            :ROLLBACK_TARGETS
        ]
    )
    wanted = also and also not in targets and SEMVER_RE.fullmatch(also)
    if wanted and candidates.filter(version=also).exists():
        targets.append(also)
    return targets


def _newest_staging(model: RegisteredModel, shown: list[ModelVersion]) -> ModelVersion | None:
    """The model's newest staging version by SemVer precedence: the one the page shows
    if it is there, else one probe of the (model, stage, precedence) index; no read at
    all when the model's own counts say none is in staging."""
    if not model.stage_counts[Stage.STAGING]:
        return None
    found = selectors.first_row(
        ModelVersion.objects.filter(registered_model=model, stage=Stage.STAGING)
        .order_by("-precedence", "-id")
        .only(*STAGING_FIELDS)
    )
    if found is None:
        return None
    for version in shown:
        if version.pk == found.pk:
            return version
    found.registered_model = model
    return found


def _guard_count(readiness: Readiness | None) -> dict | None:
    if readiness is None:
        return None
    return {"passing": readiness.passing, "total": readiness.total, "recorded": False}


# The health panel: how many of a version's metrics get a small chart of recent values.
HEALTH_CHARTS = 12


def window_words(seconds: int) -> str:
    """A signal's window as people write it: "10m", "1h30m", "instant"."""
    if not seconds:
        return "instant"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts)


def health_context(version: ModelVersion | None) -> dict | None:
    """The health panel of `version`: the latest value of each metric monitoring systems
    reported, with a small chart of its recent values. Two queries, whatever the number
    of signals stored (selectors.signals_latest and selectors.signal_series)."""
    if version is None:
        return None
    latest = selectors.signals_latest(version=version)
    series = selectors.signal_series(version=version) if latest else {}
    rows = []
    for i, signal in enumerate(latest):
        points = [
            (s.observed_at.strftime("%Y-%m-%d %H:%M UTC"), s.value)
            for s in series.get(signal.metric, [])
        ]
        values = [value for _when, value in points]
        rows.append(
            {
                "signal": signal,
                "low": min(values, default=None),
                "high": max(values, default=None),
                "window": window_words(signal.window_seconds),
                "open_alert": bool(signal.fingerprint) and signal.resolved_at is None,
                "chart": signal_sparkline(signal.metric, points) if i < HEALTH_CHARTS else "",
            }
        )
    return {"version": version, "rows": rows}


def _model_context(request, model: RegisteredModel, *, refusal: dict | None = None) -> dict:
    """Everything the model page shows, from a fixed number of indexed queries: the
    production version, the page of versions, the latest versions for the chart, capped
    stage counts (the model's own) and the rollback targets are each one bounded read,
    never all versions."""
    production = selectors.production_version(model=model)
    chart_size = _count_param(request, "chart", CHART_VERSIONS, CHART_VERSIONS_MAX)
    table = _version_page(request, model, production)
    # The chart needs only labels and metrics.
    latest = list(
        ModelVersion.objects.filter(registered_model=model)
        .only("version", "metrics", "precedence", "number")
        .order_by("-precedence", "-number")[: chart_size + 1]
    )
    chart_more = len(latest) > chart_size and chart_size < CHART_VERSIONS_MAX
    latest = latest[:chart_size]
    policy = selectors.effective_policy(model=model)
    specs = key_metric_specs(policy, latest + table["versions"])
    base = production.metrics if production is not None else None
    candidate = _newest_staging(model, table["versions"])
    extra = [candidate] if candidate is not None and candidate not in table["versions"] else []
    readiness = staging_readiness(
        table["versions"] + extra,
        policies={model.pk: policy},
        productions={model.pk: production},
    )
    rows = [
        {
            "version": v,
            "cells": metric_cells(v.metrics, None if v is production else base, specs),
            "readiness": readiness.get(v.pk),
        }
        for v in table["versions"]
    ]
    charts = metric_charts(
        [(v.version, v.metrics or {}) for v in reversed(latest)],
        specs,
        production=(production.version, production.metrics) if production else None,
        thresholds=policy.thresholds or [],
    )
    may_rollback = can(request.user, "model.rollback", model)
    targets = _rollback_targets(model)
    # Asked whenever the user may roll back, so the page's query count depends on the
    # user's role only, never on the data.
    good = selectors.last_known_good(model=model) if may_rollback else None
    rollback_form = None
    if refusal is not None and may_rollback and production is not None and targets:
        rollback_form = refused_form(RollbackForm, refusal, targets=targets)
    elif may_rollback and production is not None and targets:
        rollback_form = RollbackForm(
            targets=targets, initial={"to_version": good.version if good else targets[0]}
        )
    # Health signals are in their own panel (and in the audit log), not among the changes.
    recent = (
        AuditEvent.objects.filter(registered_model=model)
        .exclude(action__in=SIGNAL_ACTIONS)
        .order_by("-created_at", "-id")[:10]
    )
    return {
        "model": model,
        "production": production,
        "story": production_story(production),
        "rows": rows,
        "older": table["older"],
        "newer": table["newer"],
        "first_page": table["first_page"],
        "specs": specs,
        "counts": _stage_counts(model),
        "charts": charts,
        "chart_shown": len(latest),
        "chart_more": min(chart_size * 4, CHART_VERSIONS_MAX) if chart_more else None,
        "policy_lines": policy_in_words(policy, own=policy.registered_model_id == model.pk),
        "may_rollback": may_rollback and production is not None,
        "rollback_targets": targets,
        "rollback_form": rollback_form,
        "recent": list(recent),
        "health": health_context(production),
        "compare_default": [v.version for v in latest[:2]],
        "summary": {
            "model_name": model.name,
            "production": production,
            "candidate_label": candidate.version if candidate else "",
            "more_staging": max(model.stage_counts[Stage.STAGING] - 1, 0),
            "readiness": readiness.get(candidate.pk) if candidate else None,
            "guards": _guard_count(readiness.get(candidate.pk)) if candidate else None,
            "sections": [
                ("prod-h", "Production"),
                ("versions-h", "Versions"),
                *([("chart-h", "Charts")] if charts else []),
                ("policy-h", "Policy"),
                *([("rollback-h", "Roll back")] if may_rollback and production else []),
                ("recent-h", "Recent changes"),
            ],
        },
    }


@login_required
@require_GET
def model_detail(request, name: str):
    """One model: production first, every version with metric deltas, a chart of the key
    metrics, the policy in words and (for those allowed) the rollback form."""
    model = get_model_or_404(name)
    refusal = take_refusal(request, _rollback_page(model))
    if refusal is None:
        return render(request, "models_app/model_detail.html", _model_context(request, model))
    if refusal["message"]:  # shown once, in this page's messages
        messages.error(request, f"Refused: {refusal['message']}")
    context = _model_context(request, model, refusal=refusal)
    return render(request, "models_app/model_detail.html", context, status=refusal["status"])


def _rollback_page(model: RegisteredModel) -> str:
    """The key under which a refused rollback waits for the model page."""
    return f"model:{model.pk}"


@login_required
@require_http_methods(["GET", "POST"])
def model_rollback(request, name: str):
    """Roll back in two steps: the first POST shows what will happen, the second acts.

    A refusal or an invalid form redirects to the model page, which shows it once with
    the form as it was filled in; a GET of this address (a reload) goes there too."""
    model = get_model_or_404(name)
    here = reverse("models:model", kwargs={"name": model.name})
    if request.method != "POST":
        return redirect(here)
    form = RollbackForm(
        request.POST, targets=_rollback_targets(model, also=request.POST.get("to_version", ""))
    )
    # Never the confirmation: the form shown again asks for it again.
    data = {k: v for k, v in posted(request, form).items() if k != form.add_prefix("confirm")}

    def refused(exc=None):
        return refuse_and_redirect(
            request,
            here,
            page=_rollback_page(model),
            action="rollback",
            data=data,
            exc=exc,
            invalid="The rollback was not done: correct the form below.",
        )

    # Refused before the form is read, as the service refuses before it looks up the
    # target: the answer is the same 403 whatever version was asked for. A model mirrored
    # from a team registry is refused first, naming that registry, before any preview.
    try:
        services.require_owned_here(model)
        require_permission(request.user, "model.rollback", model)
    except REFUSALS as exc:
        return refused(exc)
    if not form.is_valid():
        return refused()
    chosen = form.cleaned_data
    try:
        if not chosen["confirm"]:
            production = selectors.production_version(model=model)
            return render(
                request,
                "models_app/rollback_confirm.html",
                {
                    "model": model,
                    "production": production,
                    "target": chosen["to_version"],
                    "reason": chosen["reason"],
                },
            )
        restored = services.registered_model_rollback(
            actor=request.user,
            model=model,
            reason=chosen["reason"],
            to_version=chosen["to_version"],
        )
    except REFUSALS as exc:
        return refused(exc)
    messages.success(
        request, f"Rolled {model.name} back: {restored.version} is in production again."
    )
    return redirect(here)


# --- Audit log -------------------------------------------------------------------------------


def _audit_cursor(request) -> tuple[str, tuple | None, str]:
    """("older" or "newer", the (created_at, id) of the event the page link names, that
    event's request id), or ("", None, "") for the newest page. The cursor is an event's
    id: short, and the page it names can be reloaded. Anything else is a 400, never a 500."""
    direction, number = _page_link(request, digits=18, what="the number of an audit event")
    if not direction:
        return "", None, ""
    found = AuditEvent.objects.filter(pk=number).values_list("created_at", "request_id").first()
    if found is None:
        raise BadRequest(f"There is no audit event #{number}: the link is out of date or wrong.")
    created_at, request_id = found
    return direction, (created_at, number), request_id


def _same_request(a: AuditEvent, b: AuditEvent | str) -> bool:
    other = b if isinstance(b, str) else b.request_id
    return bool(a.request_id) and a.request_id == other


def _keep_request_whole(rows: list[AuditEvent], size: int, *, more: bool) -> list[AuditEvent]:
    """The first `size` of `rows` (read away from the page's cursor), and after them the
    rows of the request the last of those belongs to, so that its events stay together.
    When the table goes on past `rows` (`more`), the last row is kept back to tell whether
    the request goes on."""
    end = min(size, len(rows))
    limit = len(rows) - 1 if more else len(rows)
    while 0 < end < limit and _same_request(rows[end], rows[end - 1]):
        end += 1
    return rows[:end]


def _request_groups(events: list[AuditEvent], *, split_newer: bool, split_older: bool):
    """The page's events (newest first) as entries: the events one request wrote next to
    each other are one entry, whose parts read in the order they were written (by id).
    The first and the last entry say whether their request goes on in the next page."""
    groups: list[dict] = []
    for event in events:
        if groups and _same_request(event, groups[-1]["events"][-1]):
            groups[-1]["events"].append(event)
        else:
            groups.append({"request_id": event.request_id, "events": [event]})
    for group in groups:
        group["events"].sort(key=lambda e: e.pk)
        group["continues_newer"] = group["continues_older"] = False
    if groups:
        groups[0]["continues_newer"] = split_newer
        groups[-1]["continues_older"] = split_older
    return groups


def _audit_page(request, events) -> dict:
    """One page of `events`, newest first by (created_at, id), read by keyset from the
    audit_keyset index (or a filter's own index): every page costs the same, however far
    back it is, and nothing counts the events.

    The events one request wrote stay on one page: the page reads up to GROUP_EXTRA rows
    past its size to finish the request it ends in. A request that wrote more is split
    between two pages, and both say so."""
    direction, cursor, cursor_request = _audit_cursor(request)
    rows, more_older, more_newer = keyset_page(
        events, ("created_at", "id"), EVENTS_PER_PAGE + GROUP_EXTRA, direction, cursor
    )
    if direction == "newer":
        # Read upwards from the cursor: the rows nearest to it are kept.
        rows.reverse()
        page = _keep_request_whole(rows, EVENTS_PER_PAGE, more=more_newer)
        beyond = rows[len(page) :]
        split_far = bool(page and beyond) and _same_request(page[-1], beyond[0])
        more_newer = more_newer or bool(beyond)
        page.reverse()
        split_newer, split_older = split_far, bool(page) and _same_request(page[-1], cursor_request)
    else:
        page = _keep_request_whole(rows, EVENTS_PER_PAGE, more=more_older)
        beyond = rows[len(page) :]
        split_far = bool(page and beyond) and _same_request(page[-1], beyond[0])
        more_older = more_older or bool(beyond)
        split_newer = bool(page) and direction == "older" and _same_request(page[0], cursor_request)
        split_older = split_far
    return {
        "events": page,
        "groups": _request_groups(page, split_newer=split_newer, split_older=split_older),
        "older": page[-1].pk if more_older and page else None,
        "newer": page[0].pk if more_newer and page else None,
        "first_page": cursor is None,
    }


@login_required
@require_GET
def audit_log(request):
    """The site-wide trail with filters, paged by keyset ("Newer" and "Older" links that
    keep the filters); the export links carry the same filters, never the page."""
    form = AuditFilterForm(request.GET or None)
    if form.is_bound:
        form.is_valid()  # invalid fields are reported and left out of the filter
    table = _audit_page(request, selectors.audit_events(**form.filters()))
    filters = request.GET.copy()
    for name in ("older", "newer", "page"):
        filters.pop(name, None)
    return render(
        request,
        "models_app/audit_log.html",
        {"form": form, **table, "query": filters.urlencode()},
    )


EXPORT_FIELDS = [
    "created_at",
    "actor_username",
    "action",
    "model_name",
    "version_label",
    "from_stage",
    "to_stage",
    "reason",
    "changes",
    "payload",
    "request_id",
    "object_type",
    "object_id",
]


# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection);
# a leading apostrophe keeps it text. Only the CSV export needs this.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _export_row(event: AuditEvent) -> dict:
    row = {field: getattr(event, field) for field in EXPORT_FIELDS}
    row["created_at"] = event.created_at.isoformat()
    return row


class _Echo:
    """A file-like object whose write returns the text, for streaming csv.writer rows."""

    def write(self, value: str) -> str:
        return value


@login_required
@require_GET
def audit_export(request, fmt: str):
    """The filtered trail as CSV or JSON, streamed so that its size does not matter."""
    form = AuditFilterForm(request.GET or None)
    if form.is_bound and not form.is_valid():
        errors = "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items())
        return HttpResponse(f"Invalid filter: {errors}", status=400, content_type="text/plain")
    events = selectors.audit_events(**form.filters()).iterator(chunk_size=500)
    if fmt == "csv":
        writer = csv.writer(_Echo())

        def rows() -> Iterator[str]:
            yield writer.writerow(EXPORT_FIELDS)
            for event in events:
                row = _export_row(event)
                yield writer.writerow(
                    [
                        json.dumps(row[f], sort_keys=True)
                        if f in ("changes", "payload")
                        else _csv_cell(row[f])
                        for f in EXPORT_FIELDS
                    ]
                )

        response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    else:

        def chunks() -> Iterator[str]:
            yield "["
            for i, event in enumerate(events):
                yield ("," if i else "") + "\n" + json.dumps(_export_row(event), sort_keys=True)
            yield "\n]\n"

        response = StreamingHttpResponse(chunks(), content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="audit.{fmt}"'
    return response


# --- API tokens -----------------------------------------------------------------------------


def _tokens_context(request, form=None, new_token: str | None = None) -> dict:
    return {
        "form": form or TokenCreateForm(),
        "tokens": AuthToken.objects.filter(user=request.user).order_by("-created"),
        "now": timezone.now(),
        "new_token": new_token,
    }


@login_required
@require_http_methods(["GET", "POST"])
def tokens(request):
    """The user's API tokens: create one (its secret shown once), list them. A refused or
    invalid creation redirects back here (Post/Redirect/Get) and is shown once."""
    here = reverse("models:tokens")
    if request.method == "POST":
        form = TokenCreateForm(request.POST)
        data = posted(request, form)
        invalid = "The token was not created: correct the form below."
        if not form.is_valid():
            return refuse_and_redirect(
                request, here, page="tokens", action="create", data=data, invalid=invalid
            )
        import datetime as dt

        try:
            _instance, token = accounts.api_token_create(
                actor=request.user,
                user=request.user,
                expiry=dt.timedelta(days=form.cleaned_data["expiry_days"]),
            )
        except REFUSALS as exc:
            return refuse_and_redirect(
                request, here, page="tokens", action="create", data=data, exc=exc, invalid=invalid
            )
        messages.success(
            request, "Token created. Copy it now: it is stored hashed and shown only once."
        )
        # Rendered, not redirected: the secret must not be kept anywhere to show later.
        return render(request, "models_app/tokens.html", _tokens_context(request, new_token=token))
    refusal = take_refusal(request, "tokens")
    if refusal is None:
        return render(request, "models_app/tokens.html", _tokens_context(request))
    form = None
    if refusal["action"] == "create":
        form = refused_form(TokenCreateForm, refusal)
        if refusal["message"]:  # shown once, above the form
            form.add_error(None, refusal["message"])
    context = _tokens_context(request, form)
    return render(request, "models_app/tokens.html", context, status=refusal["status"])


@login_required
@require_http_methods(["GET", "POST"])
def token_revoke(request):
    """Revoke one of the user's own tokens, named by its key prefix."""
    here = reverse("models:tokens")
    if request.method != "POST":
        return redirect(here)
    key = request.POST.get("token_key", "")
    if "\x00" in key:
        key = ""  # never a stored key; PostgreSQL would refuse the NUL in a query
    revoked = 0
    for token in AuthToken.objects.filter(user=request.user, token_key=key):
        try:
            accounts.api_token_revoke(actor=request.user, token=token)
        except REFUSALS:
            continue  # revoked meanwhile by another request
        revoked += 1
    if not revoked:
        return refuse_and_redirect(
            request,
            here,
            page="tokens",
            action="revoke",
            data={},
            invalid="Refused: you have no token with that key.",
            status=404,
        )
    messages.success(request, f"Token {key}… revoked; scripts using it can no longer sign in.")
    return redirect(here)
