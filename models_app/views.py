"""The dashboard's model pages, the audit log and API tokens.

Views only translate: they read through the selectors, write through the services, and
turn every refusal (NotAllowed, InvalidTransition, GuardsFailed, ValidationError…) into a
message next to the form and the 4xx status models_app.errors gives it, never a 500. The
version page and the lifecycle's actions on it are in models_app.lifecycle_views, which
builds on the helpers here.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import BadRequest
from django.db.models import Exists, OuterRef, Q, Subquery
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from knox.models import AuthToken

from . import accounts, selectors, services
from .card_sections import SECTION_TITLES
from .charts import metrics_chart, signal_sparkline
from .enums import SIGNAL_ACTIONS, Direction, Stage
from .errors import REFUSALS, answer_for
from .exceptions import GuardsFailed
from .forms import AuditFilterForm, ModelFilterForm, RollbackForm, TokenCreateForm
from .keyset import keyset_page
from .models import AuditEvent, ModelVersion, RegisteredModel, Team
from .paging import CappedPaginator
from .permissions import can, require_permission
from .validators import MODEL_NAME_RE

MODELS_PER_PAGE = 25
EVENTS_PER_PAGE = 50
CHART_METRICS = 4
# The model page: versions per page of its table, versions in its chart (by default and at
# most, `?chart=N`) and the rollback targets offered.
VERSIONS_PER_PAGE = 25
CHART_VERSIONS, CHART_VERSIONS_MAX = 50, 1000
ROLLBACK_TARGETS = 50

# --- Translating refusals ----------------------------------------------------------------
# Every view catches REFUSALS (models_app.errors) around its service calls: each refusal
# becomes a message and the 4xx that models_app.errors gives it, never a 500.


def refusal_status(exc: Exception) -> int:
    return answer_for(exc).status


def refusal_text(exc: Exception) -> str:
    return answer_for(exc).text


def add_refusal(request, form, exc: Exception) -> int:
    """Show why an action was refused, in the form and in the page's messages.

    A ValidationError naming fields lands on those fields; anything else on the form as
    a whole. Returns the HTTP status the page is answered with.
    """
    answer = answer_for(exc)
    if form is not None:
        if answer.fields is not None:
            for field, errors in answer.fields.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            form.add_error(None, answer.text)
    messages.error(request, f"Refused: {answer.text}")
    return answer.status


def failed_guards(exc: Exception) -> list[dict]:
    """Each failed guard of a refused promotion, with its reason."""
    if isinstance(exc, GuardsFailed):
        return [d for d in exc.details if not d["passed"]]
    return []


# --- Metrics and deltas ------------------------------------------------------------------


def key_metric_specs(policy, versions: list[ModelVersion]) -> list[tuple[str, str]]:
    """The metrics to show, with the direction in which they improve.

    The policy's key metrics and thresholds come first (a `max` threshold means lower is
    better); without a policy that names any, the first metrics the versions carry.
    """
    specs: dict[str, str] = {}
    for rule in policy.key_metrics or []:
        specs.setdefault(rule["metric"], rule.get("direction", Direction.HIGHER))
    for rule in policy.thresholds or []:
        specs.setdefault(rule["metric"], Direction.LOWER if "max" in rule else Direction.HIGHER)
    if not specs:
        names = sorted({name for v in versions for name in (v.metrics or {})})
        specs = {name: Direction.HIGHER for name in names[:CHART_METRICS]}
    return list(specs.items())


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
            # Metrics the policy does not rank get a neutral colour: "higher" is not
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


def _model_list_queryset():
    """Models with their team, production and latest version and their last change, each
    a subquery that probes an index once per model on the page; the versions per stage are
    the model's own counts. A page costs the same for models with one version or a hundred
    thousand."""
    versions = ModelVersion.objects.filter(registered_model=OuterRef("pk"))
    return selectors.model_list().annotate(
        production_label=Subquery(versions.filter(stage=Stage.PRODUCTION).values("version")[:1]),
        latest_label=Subquery(versions.order_by("-precedence").values("version")[:1]),
        last_change=Subquery(
            AuditEvent.objects.filter(registered_model=OuterRef("pk"))
            .order_by("-created_at")
            .values("created_at")[:1]
        ),
    )


@login_required
@require_GET
def model_list(request):
    """Every model with its team, production and latest version, its number of versions
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


def _stage_counts(model: RegisteredModel) -> list[tuple[str, int, str]]:
    """(label, count, stage) per stage, from the model's own counts."""
    counts = model.stage_counts
    return [(label, counts[value], value) for value, label in Stage.choices]


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


def _model_context(request, model: RegisteredModel, *, rollback_form=None) -> dict:
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
    rows = [
        {"version": v, "cells": metric_cells(v.metrics, None if v is production else base, specs)}
        for v in table["versions"]
    ]
    chart = metrics_chart(
        [(v.version, v.metrics or {}) for v in reversed(latest)], [n for n, _d in specs]
    )
    may_rollback = can(request.user, "model.rollback", model)
    targets = list(
        ModelVersion.objects.filter(
            registered_model=model, stage=Stage.ARCHIVED, promoted_at__isnull=False
        )
        .order_by("-stage_changed_at", "-id")
        .values_list("version", flat=True)[:ROLLBACK_TARGETS]
    )
    # Asked whenever the user may roll back, so the page's query count depends on the
    # user's role only, never on the data.
    good = selectors.last_known_good(model=model) if may_rollback else None
    if rollback_form is None and may_rollback and production is not None and targets:
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
        "rows": rows,
        "older": table["older"],
        "newer": table["newer"],
        "first_page": table["first_page"],
        "specs": specs,
        "counts": _stage_counts(model),
        "chart": chart,
        "chart_shown": len(latest),
        "chart_more": min(chart_size * 4, CHART_VERSIONS_MAX) if chart_more else None,
        "policy_lines": policy_in_words(policy, own=policy.registered_model_id == model.pk),
        "may_rollback": may_rollback and production is not None,
        "rollback_targets": targets,
        "rollback_form": rollback_form,
        "recent": list(recent),
        "health": health_context(production),
        "compare_default": [v.version for v in latest[:2]],
    }


@login_required
@require_GET
def model_detail(request, name: str):
    """One model: production first, every version with metric deltas, a chart of the key
    metrics, the policy in words and (for those allowed) the rollback form."""
    model = get_model_or_404(name)
    return render(request, "models_app/model_detail.html", _model_context(request, model))


@login_required
@require_POST
def model_rollback(request, name: str):
    """Roll back in two steps: the first POST shows what will happen, the second acts."""
    model = get_model_or_404(name)
    targets = [
        v.version
        for v in selectors.version_list(model=model)
        .filter(stage=Stage.ARCHIVED, promoted_at__isnull=False)
        .order_by("-stage_changed_at")
    ]
    form = RollbackForm(request.POST, targets=targets)
    status = 400
    # Refused before the form is read, as the service refuses before it looks up the
    # target: the answer is the same 403 whatever version was asked for. A model mirrored
    # from a team registry is refused first, naming that registry, before any preview.
    refusal = None
    try:
        services.require_owned_here(model)
        require_permission(request.user, "model.rollback", model)
    except REFUSALS as exc:
        refusal = exc
    if refusal is not None:
        status, form = add_refusal(request, None, refusal), None
    elif form.is_valid():
        data = form.cleaned_data
        try:
            if not data["confirm"]:
                production = selectors.production_version(model=model)
                return render(
                    request,
                    "models_app/rollback_confirm.html",
                    {
                        "model": model,
                        "production": production,
                        "target": data["to_version"],
                        "reason": data["reason"],
                    },
                )
            restored = services.registered_model_rollback(
                actor=request.user,
                model=model,
                reason=data["reason"],
                to_version=data["to_version"],
            )
        except REFUSALS as exc:
            status = add_refusal(request, form, exc)
        else:
            messages.success(
                request, f"Rolled {model.name} back: {restored.version} is in production again."
            )
            return redirect("models:model", name=model.name)
    else:
        messages.error(request, "The rollback was not done: correct the form below.")
    context = _model_context(request, model, rollback_form=form)
    return render(request, "models_app/model_detail.html", context, status=status)


# --- Audit log -------------------------------------------------------------------------------


def _audit_cursor(request) -> tuple[str, tuple | None]:
    """("older" or "newer", the (created_at, id) of the event the page link names), or
    ("", None) for the newest page. The cursor is an event's id: short, and the page it
    names can be reloaded. Anything else is a 400, never a 500."""
    direction, number = _page_link(request, digits=18, what="the number of an audit event")
    if not direction:
        return "", None
    created_at = AuditEvent.objects.filter(pk=number).values_list("created_at", flat=True)
    created_at = created_at.first()
    if created_at is None:
        raise BadRequest(f"There is no audit event #{number}: the link is out of date or wrong.")
    return direction, (created_at, number)


def _audit_page(request, events) -> dict:
    """One page of `events`, newest first by (created_at, id), read by keyset from the
    audit_keyset index (or a filter's own index): every page costs the same, however far
    back it is, and nothing counts the events."""
    direction, cursor = _audit_cursor(request)
    page, more_older, more_newer = keyset_page(
        events, ("created_at", "id"), EVENTS_PER_PAGE, direction, cursor
    )
    return {
        "events": page,
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
    """The user's API tokens: create one (its secret shown once), list them."""
    if request.method == "POST":
        form = TokenCreateForm(request.POST)
        if form.is_valid():
            import datetime as dt

            try:
                _instance, token = accounts.api_token_create(
                    actor=request.user,
                    user=request.user,
                    expiry=dt.timedelta(days=form.cleaned_data["expiry_days"]),
                )
            except REFUSALS as exc:
                status = add_refusal(request, form, exc)
                context = _tokens_context(request, form)
                return render(request, "models_app/tokens.html", context, status=status)
            messages.success(
                request, "Token created. Copy it now: it is stored hashed and shown only once."
            )
            # Rendered, not redirected: the secret must not be kept anywhere to show later.
            return render(
                request, "models_app/tokens.html", _tokens_context(request, new_token=token)
            )
        messages.error(request, "The token was not created: correct the form below.")
        return render(request, "models_app/tokens.html", _tokens_context(request, form), status=400)
    return render(request, "models_app/tokens.html", _tokens_context(request))


@login_required
@require_POST
def token_revoke(request):
    """Revoke one of the user's own tokens, named by its key prefix."""
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
        messages.error(request, "Refused: you have no token with that key.")
        return render(request, "models_app/tokens.html", _tokens_context(request), status=404)
    messages.success(request, f"Token {key}… revoked; scripts using it can no longer sign in.")
    return redirect(reverse("models:tokens"))
