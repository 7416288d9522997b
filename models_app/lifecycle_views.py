"""The dashboard's version page and the lifecycle's actions on it: promote, archive and
deprecate (a model's rollback is on the model page, in models_app.views).

The page shows what the core knows of a version: metadata and lineage, metrics against
production, the promotion checklist (only where the stage allows a promotion; elsewhere,
why the version cannot move and what it still can do), the lifecycle's forms and the
timeline. Other apps
add their own parts to it with `register_version_part`, as they add guards with
register_guard_provider: approvals_app adds the model card and its reviews. models_app
never imports them.

Each action goes through its service. A refusal redirects to the version page
(Post/Redirect/Get), which shows it once: the refusal in its own panel (a refused
promotion lists each failed guard), the form as it was filled in, and the refusal's 4xx
status; a reload shows the plain page and repeats nothing. Other apps' actions on a
version (a review, a review request) go through `version_action` too. Deprecating, which
can never be undone, asks first on a page of its own, as a rollback does.

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
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods
from django_fsm import can_proceed

from . import lifecycle, selectors, services, storage
from .enums import Stage
from .errors import REFUSALS
from .forms import DeprecateForm, ReasonForm
from .mirrors import mirror_reader
from .models import ModelVersion
from .permissions import can
from .validators import SEMVER_RE
from .views import (
    get_model_or_404,
    health_context,
    key_metric_specs,
    metric_cells,
    metric_specs,
    posted,
    refuse_and_redirect,
    refused_form,
    staging_readiness,
    take_refusal,
)

TIMELINE_LIMIT = 200
VERSION_PAGE = "models_app/version_detail.html"
DEPRECATE_CONFIRM_PAGE = "models_app/deprecate_confirm.html"


# --- Parts other apps add to the page ------------------------------------------------------


@dataclass(frozen=True)
class VersionPart:
    """A part of the version page that another app adds.

    `template` is included after the lifecycle's forms, before the timeline; `sections`
    names the ids of its section headings for the summary's jump links.
    `add_context(request, mv, context)` adds what the part shows to the page's context:
    it keeps a form that is already there (the bound form of a refused action of its
    own), and adds the buttons it offers to context["may"]. `forms` names the form class
    of each action of the part (its `version_action` key), so that the page can fill a
    refused form in again after the redirect.
    """

    template: str
    add_context: Callable[[HttpRequest, ModelVersion, dict], None]
    forms: tuple[tuple[str, type], ...] = ()
    # (heading id, short title) of each section the part shows, for the page's jump links.
    sections: tuple[tuple[str, str], ...] = ()


_parts: list[VersionPart] = []


def register_version_part(part: VersionPart) -> None:
    if part not in _parts:
        _parts.append(part)


def version_parts() -> list[VersionPart]:
    return list(_parts)


# The lifecycle's own actions and their forms; the parts add theirs (VersionPart.forms).
LIFECYCLE_FORMS = {"promote": ReasonForm, "archive": ReasonForm, "deprecate": DeprecateForm}


def action_forms() -> dict[str, type]:
    forms = dict(LIFECYCLE_FORMS)
    for part in _parts:
        forms.update(part.forms)
    return forms


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


# What a version may still do, as the page says it; a transition declared later without
# words here is named by its method and the stage it leads to.
MOVE_WORDS = {
    "promote": "be promoted to production",
    "archive": "be archived",
    "roll_back": "be rolled back on the model page, which restores an earlier production version",
    "restore": "be restored to production by a rollback of the model",
    "deprecate": "be deprecated",
}


def move_words(step: lifecycle.Step) -> str:
    return MOVE_WORDS.get(step.name, f"be moved by {step.name} to {step.target}")


def _either(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} or {items[-1]}"


def stage_outlook(mv: ModelVersion) -> list[str]:
    """Why a version that cannot be promoted stays where it is, and what it still can do,
    as sentences for the place of the promotion checklist; from the lifecycle graph."""
    label = mv.get_stage_display()
    promote_to = lifecycle.targets("promote")
    if mv.stage in promote_to:
        why = f"{label}: it is already in production, so there is nothing to promote."
    else:
        allowed = lifecycle.allowed_from("promote")
        why = f"{label}: it cannot be promoted; promotion is only from {allowed}."
    can_do = lifecycle.moves(mv.stage, mv.promoted_at is not None)
    if not can_do:
        return [f"{label}: no further transitions; {label.lower()} is final."]
    lines = [why]
    if lifecycle.allows(mv.stage, "restore") and "restore" not in {s.name for s in can_do}:
        lines.append("It was never in production, so a rollback cannot restore it.")
    lines.append(f"It can {_either([move_words(step) for step in can_do])}.")
    return lines


def deprecation_losses(mv: ModelVersion) -> list[str]:
    """What deprecating `mv` makes impossible for good, as sentences."""
    lost = [
        f"It can no longer {move_words(step)}."
        for step in lifecycle.moves(mv.stage, mv.promoted_at is not None)
        if step.name != "deprecate"
    ]
    lost.append(
        "It can never move to any other stage: no transition leaves deprecated, and its "
        "model card can no longer change."
    )
    return lost


def version_summary(mv, *, production, readiness, recorded, sections) -> dict:
    """What the top of the version page says at a glance: the stage, the production
    version, the review's state and how many guards pass (a staging version's readiness,
    as the lists show it; for a mirrored version, the checks its origin recorded), and
    links to the page's sections."""
    guards = None
    if readiness is not None:
        guards = {"passing": readiness.passing, "total": readiness.total, "recorded": False}
    elif recorded is not None and recorded.results:
        results = recorded.results
        passing = sum(1 for r in results if r.passed)
        guards = {"passing": passing, "total": len(results), "recorded": True}
    return {
        "model_name": mv.registered_model.name,
        "stage": mv.stage,
        "production": production,
        "is_production": production is not None and production.pk == mv.pk,
        "readiness": readiness,
        "guards": guards,
        "sections": sections,
    }


def version_context(request, mv: ModelVersion, *, refusal=None, **forms) -> dict:
    """Everything the version page shows; `forms` replaces a blank form with a bound one."""
    user = request.user
    model = mv.registered_model
    reader = mirror_reader(mv)
    # A mirrored version changes at its origin only: no button offers what is refused.
    here = reader is None
    # A mirrored version was checked and promoted at its origin: the checks it recorded
    # then, never a dry run against this registry's policy, which does not apply to it.
    recorded = reader.checks(mv) if reader is not None else None
    # The checklist is a dry run of a promotion: asked only where the stage allows one.
    promotable = here and can_proceed(mv.promote)
    production = selectors.production_version(model=model)
    policy = selectors.effective_policy(model=model)
    # The dry run, with the review's state: the same readiness the lists show, from the
    # policy and production version read just above.
    readiness = (
        staging_readiness(
            [mv], policies={model.pk: policy}, productions={model.pk: production}
        ).get(mv.pk)
        if promotable
        else None
    )
    if recorded is not None:
        checks = recorded.results
    else:
        checks = readiness.results if readiness is not None else []
    specs = key_metric_specs(policy, [mv])
    base = production.metrics if production is not None and production.pk != mv.pk else None
    # Key metrics first, then any others the version carries, each against production.
    other = sorted(set(mv.metrics or {}) - {name for name, _d in specs})
    metric_rows = metric_cells(mv.metrics, base, specs + metric_specs(policy, other))
    parts = version_parts()
    # The lifecycle's transitions say which buttons the version's stage allows.
    may = {
        "promote": promotable and can(user, "version.promote", mv),
        "archive": here and can_proceed(mv.archive) and can(user, "version.archive", mv),
        "deprecate": here and can_proceed(mv.deprecate) and can(user, "version.deprecate", mv),
    }
    failed = [c for c in checks if not c.passed]
    context = {
        "model": model,
        "mv": mv,
        "production": production,
        "metric_rows": metric_rows,
        "promotable": promotable,
        "checks": checks,
        "recorded_checks": recorded,
        "checks_pass": not failed,
        "failed_checks": failed,
        "outlook": [] if promotable or not here else stage_outlook(mv),
        # Health signals are in their own panel (and in the audit log), not in the timeline.
        "timeline": list(selectors.audit_events(version=mv, without_signals=True)[:TIMELINE_LIMIT]),
        "artifact_url": artifact_download_url(mv),
        "may": may,
        "refusal": refusal,
        "promote_form": ReasonForm(prefix="promote"),
        "archive_form": ReasonForm(prefix="archive"),
        "deprecate_form": DeprecateForm(prefix="deprecate"),
        "version_parts": [part.template for part in parts],
        "summary": version_summary(
            mv,
            production=production,
            readiness=readiness,
            recorded=recorded,
            sections=[
                ("meta-h", "Metadata"),
                ("metrics-h", "Metrics"),
                ("checks-h", "Checklist") if promotable or recorded else ("outlook-h", "Outlook"),
                *([("actions-h", "Lifecycle")] if any(may.values()) else []),
                *(section for part in parts for section in part.sections),
                ("timeline-h", "Timeline"),
            ],
        ),
        "health": health_context(mv),
    }
    context.update(forms)
    for part in parts:
        part.add_context(request, mv, context)
    return context


def refusal_page(mv: ModelVersion) -> str:
    """The key under which a refused action on `mv` waits for the version page."""
    return f"version:{mv.pk}"


@login_required
@require_GET
def version_detail(request, name: str, version: str):
    """A version: metadata, lineage, artifact, checklist, forms, the other apps' parts
    (card, reviews) and the timeline; once after a refused action, that refusal."""
    mv = get_version_or_404(name, version)
    refusal = take_refusal(request, refusal_page(mv))
    if refusal is None:
        return render(request, VERSION_PAGE, version_context(request, mv))
    key = refusal["action"]
    forms = {}
    form_class = action_forms().get(key)
    if form_class is not None:
        forms[f"{key}_form"] = refused_form(form_class, refusal, prefix=key)
    # An invalid form shows its errors on its fields; any other refusal, in its panel.
    shown = refusal if refusal["message"] else None
    context = version_context(request, mv, refusal=shown, **forms)
    # Each reason once: a failed guard the checklist shows failing for the same reason is
    # named in the panel and explained in the checklist only.
    failing = {(c.guard, c.reason) for c in context["checks"] if not c.passed}
    refusal["in_checklist"] = [
        g for g in refusal["failed_guards"] if (g["guard"], g["reason"]) in failing
    ]
    refusal["changed_since"] = [
        g for g in refusal["failed_guards"] if (g["guard"], g["reason"]) not in failing
    ]
    return render(request, VERSION_PAGE, context, status=refusal["status"])


def version_action(request, name, version, *, key, form_class, run, done):
    """Run one POSTed action on a version through its service.

    Success: a message and a redirect to the version page. Refusal, or an invalid form:
    a redirect to the version page too, which shows the refusal once with the form as it
    was filled in (see version_detail). A GET of the action's address (a reload, a
    bookmark) is sent to the version page.
    """
    mv = get_version_or_404(name, version)
    page = reverse("approvals:version", kwargs={"name": name, "version": version})
    if request.method != "POST":
        return redirect(page)
    form = form_class(request.POST, prefix=key)
    data = posted(request, form)
    if not form.is_valid():
        return refuse_and_redirect(request, page, page=refusal_page(mv), action=key, data=data)
    try:
        result = run(mv, form.cleaned_data)
    except REFUSALS as exc:
        return refuse_and_redirect(
            request, page, page=refusal_page(mv), action=key, data=data, exc=exc
        )
    messages.success(request, done(mv, result))
    return redirect(page)


# --- The lifecycle's actions ---------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
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
@require_http_methods(["GET", "POST"])
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
@require_http_methods(["GET", "POST"])
def version_deprecate(request, name: str, version: str):
    """Deprecate in two steps, as a rollback: the version page's form (or this address
    opened directly) shows a confirmation page naming the version, its stage and what will
    never be possible again; only the POST of that page's confirmation deprecates. Opening
    or reloading the confirmation changes nothing.
    """
    is_post = request.method == "POST"
    form = DeprecateForm(request.POST if is_post else None, prefix="deprecate")
    if is_post and form.is_valid() and form.cleaned_data["confirm"]:
        return version_action(
            request,
            name,
            version,
            key="deprecate",
            form_class=DeprecateForm,
            run=lambda mv, data: services.model_version_deprecate(
                actor=request.user, version=mv, reason=data["reason"]
            ),
            done=lambda mv, result: f"{mv} deprecated.",
        )
    mv = get_version_or_404(name, version)
    confirm_page = {
        "model": mv.registered_model,
        "mv": mv,
        "form": form,
        "losses": deprecation_losses(mv),
        "final_stage": Stage.DEPRECATED,
    }
    # The same order as the service's: the input (400), the permission (403), the stage.
    # A refusal of the version page's form goes back to that page, which shows it once.
    page = reverse("approvals:version", kwargs={"name": name, "version": version})
    from_version_page = is_post and "deprecate-confirm" not in request.POST
    if is_post and not form.is_valid():
        if from_version_page:
            return refuse_and_redirect(
                request, page, page=refusal_page(mv), action="deprecate", data=posted(request, form)
            )
        messages.error(request, "Nothing was changed: correct the form below.")
        return render(request, DEPRECATE_CONFIRM_PAGE, confirm_page, status=400)
    try:
        services.transition_check(actor=request.user, version=mv, name="deprecate")
    except REFUSALS as exc:
        return refuse_and_redirect(
            request,
            page,
            page=refusal_page(mv),
            action="deprecate",
            data=posted(request, form) if is_post else {},
            exc=exc,
        )
    return render(request, DEPRECATE_CONFIRM_PAGE, confirm_page)
