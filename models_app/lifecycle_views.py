"""The dashboard's version page and the lifecycle's actions on it: promote, archive and
deprecate (a model's rollback is on the model page, in models_app.views).

The page shows what the core knows of a version: metadata and lineage, metrics against
production, the promotion checklist, the lifecycle's forms and the timeline. Other apps
add their own parts to it with `register_version_part`, as they add guards with
register_guard_provider: approvals_app adds the model card and its reviews. models_app
never imports them.

Each action goes through its service. A refusal shows the page again with the form bound,
the reason in place and in the messages, and the refusal's 4xx status; a refused
promotion lists each failed guard. Other apps' actions on a version (a review, a review
request) go through `version_action` too.

The routes keep their names (approvals:version, approvals:promote, approvals:archive,
approvals:deprecate) and stay in approvals_app/urls.py beside the other routes under a
version, so that links in templates and in people's bookmarks do not change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST
from django_fsm import can_proceed

from . import selectors, services, storage
from .errors import REFUSALS
from .forms import ReasonForm
from .mirrors import mirror_reader
from .models import ModelVersion
from .permissions import can
from .validators import SEMVER_RE
from .views import (
    add_refusal,
    failed_guards,
    get_model_or_404,
    health_context,
    key_metric_specs,
    metric_cells,
    refusal_text,
)

TIMELINE_LIMIT = 200
VERSION_PAGE = "models_app/version_detail.html"


# --- Parts other apps add to the page ------------------------------------------------------


@dataclass(frozen=True)
class VersionPart:
    """A part of the version page that another app adds.

    `template` is included after the lifecycle's forms, before the timeline.
    `add_context(request, mv, context)` adds what the part shows to the page's context:
    it keeps a form that is already there (the bound form of a refused action of its
    own), and adds the buttons it offers to context["may"].
    """

    template: str
    add_context: Callable[[HttpRequest, ModelVersion, dict], None]


_parts: list[VersionPart] = []


def register_version_part(part: VersionPart) -> None:
    if part not in _parts:
        _parts.append(part)


def version_parts() -> list[VersionPart]:
    return list(_parts)


# --- The page ------------------------------------------------------------------------------


def get_version_or_404(name: str, version: str) -> ModelVersion:
    model = get_model_or_404(name)
    if not SEMVER_RE.fullmatch(version):
        raise Http404(f"{name} has no version by that name.")
    try:
        return selectors.version_get(model=model, version=version)
    except ModelVersion.DoesNotExist as exc:
        raise Http404(f"{name} has no version {version}.") from exc


def artifact_download_url(mv: ModelVersion) -> str:
    """The API's download address for artifacts held in the registry's own storage.

    The registry never links to or fetches a user-given URI; those are shown as text only,
    and so is a `registry:` URI mirrored from a team registry (its file is stored there).
    """
    if storage.upload_record(mv) is None:
        return ""
    name = quote(mv.registered_model.name, safe="")
    version = quote(mv.version, safe="")
    return f"/api/v1/models/{name}/versions/{version}/artifact/"


def version_context(request, mv: ModelVersion, *, refusal=None, **forms) -> dict:
    """Everything the version page shows; `forms` replaces a blank form with a bound one."""
    user = request.user
    model = mv.registered_model
    reader = mirror_reader(mv)
    # A mirrored version was checked and promoted at its origin: the checks it recorded
    # then, never a dry run against this registry's policy, which does not apply to it.
    recorded = reader.checks(mv) if reader is not None else None
    checks = recorded.results if recorded is not None else selectors.promotion_checks(version=mv)
    production = selectors.production_version(model=model)
    policy = selectors.effective_policy(model=model)
    specs = key_metric_specs(policy, [mv])
    base = production.metrics if production is not None and production.pk != mv.pk else None
    # Key metrics first, then any others the version carries, each against production.
    other = sorted(set(mv.metrics or {}) - {name for name, _d in specs})
    metric_rows = metric_cells(mv.metrics, base, specs + [(n, "") for n in other])
    parts = version_parts()
    # The lifecycle's transitions say which buttons the version's stage allows.
    # A mirrored version changes at its origin only: no button offers what is refused.
    here = reader is None
    may = {
        "promote": here and can_proceed(mv.promote) and can(user, "version.promote", mv),
        "archive": here and can_proceed(mv.archive) and can(user, "version.archive", mv),
        "deprecate": here and can_proceed(mv.deprecate) and can(user, "version.deprecate", mv),
    }
    context = {
        "model": model,
        "mv": mv,
        "production": production,
        "metric_rows": metric_rows,
        "checks": checks,
        "recorded_checks": recorded,
        "checks_pass": all(c.passed for c in checks),
        # Health signals are in their own panel (and in the audit log), not in the timeline.
        "timeline": list(selectors.audit_events(version=mv, without_signals=True)[:TIMELINE_LIMIT]),
        "artifact_url": artifact_download_url(mv),
        "may": may,
        "refusal": refusal,
        "promote_form": ReasonForm(prefix="promote"),
        "archive_form": ReasonForm(prefix="archive"),
        "deprecate_form": ReasonForm(prefix="deprecate"),
        "version_parts": [part.template for part in parts],
        "health": health_context(mv),
    }
    context.update(forms)
    for part in parts:
        part.add_context(request, mv, context)
    return context


@login_required
@require_GET
def version_detail(request, name: str, version: str):
    """A version: metadata, lineage, artifact, checklist, forms, the other apps' parts
    (card, reviews) and the timeline."""
    mv = get_version_or_404(name, version)
    return render(request, VERSION_PAGE, version_context(request, mv))


def version_action(request, name, version, *, key, form_class, run, done):
    """Run one POSTed action on a version through its service.

    Success: a message and a redirect to the version page. Refusal: the version page
    again with the form bound, the reason in place and in the messages, and the refusal's
    4xx status; a refused promotion lists each failed guard.
    """
    mv = get_version_or_404(name, version)
    form = form_class(request.POST, prefix=key)
    refusal = None
    if form.is_valid():
        try:
            result = run(mv, form.cleaned_data)
        except REFUSALS as exc:
            status = add_refusal(request, form, exc)
            refusal = {
                "action": key,
                "message": refusal_text(exc),
                "failed_guards": failed_guards(exc),
            }
        else:
            messages.success(request, done(mv, result))
            return redirect("approvals:version", name=name, version=version)
    else:
        status = 400
        messages.error(request, "Nothing was changed: correct the form below.")
    mv = get_version_or_404(name, version)  # the state after the refused attempt
    context = version_context(request, mv, refusal=refusal, **{f"{key}_form": form})
    return render(request, VERSION_PAGE, context, status=status)


# --- The lifecycle's actions ---------------------------------------------------------------


@login_required
@require_POST
def version_promote(request, name: str, version: str):
    return version_action(
        request,
        name,
        version,
        key="promote",
        form_class=ReasonForm,
        run=lambda mv, data: services.model_version_promote(
            actor=request.user, version=mv, reason=data["reason"]
        ),
        done=lambda mv, result: f"{mv} is now in production.",
    )


@login_required
@require_POST
def version_archive(request, name: str, version: str):
    return version_action(
        request,
        name,
        version,
        key="archive",
        form_class=ReasonForm,
        run=lambda mv, data: services.model_version_archive(
            actor=request.user, version=mv, reason=data["reason"]
        ),
        done=lambda mv, result: f"{mv} archived.",
    )


@login_required
@require_POST
def version_deprecate(request, name: str, version: str):
    return version_action(
        request,
        name,
        version,
        key="deprecate",
        form_class=ReasonForm,
        run=lambda mv, data: services.model_version_deprecate(
            actor=request.user, version=mv, reason=data["reason"]
        ),
        done=lambda mv, result: f"{mv} deprecated.",
    )
