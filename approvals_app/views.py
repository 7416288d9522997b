"""The version workspace of the dashboard: the version page, its forms, compare, the card
editor and the review inbox.

The version page brings together models_app (metadata, checks, transitions, timeline) and
approvals_app (card, reviews), so it lives here: approvals_app imports models_app, never
the reverse. As everywhere in the dashboard, views read through selectors, write through
the services, and turn each refusal into a message and a 4xx.
"""

from __future__ import annotations

import difflib
from urllib.parse import quote

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_fsm import can_proceed

from models_app import selectors as model_selectors
from models_app import services as model_services
from models_app import storage as model_storage
from models_app.card_sections import SECTION_TITLES
from models_app.enums import Stage
from models_app.errors import REFUSALS
from models_app.forms import CompareForm, ReasonForm
from models_app.models import ModelVersion
from models_app.permissions import can
from models_app.validators import SEMVER_RE
from models_app.views import (
    add_refusal,
    failed_guards,
    get_model_or_404,
    key_metric_specs,
    metric_cells,
    refusal_text,
)

from . import selectors, services
from .cards import render_sections, to_markdown
from .forms import CardForm, RequestReviewForm, ReviewForm
from .models import ModelCard

INBOX_PER_PAGE = 50
TIMELINE_LIMIT = 200


def get_version_or_404(name: str, version: str) -> ModelVersion:
    model = get_model_or_404(name)
    if not SEMVER_RE.fullmatch(version):
        raise Http404(f"{name} has no version by that name.")
    try:
        return model_selectors.version_get(model=model, version=version)
    except ModelVersion.DoesNotExist as exc:
        raise Http404(f"{name} has no version {version}.") from exc


def artifact_download_url(mv: ModelVersion) -> str:
    """The API's download address for artifacts held in the registry's own storage.

    The registry never links to or fetches a user-given URI; those are shown as text only,
    and so is a `registry:` URI mirrored from a team registry (its file is stored there).
    """
    if model_storage.upload_record(mv) is None:
        return ""
    name = quote(mv.registered_model.name, safe="")
    version = quote(mv.version, safe="")
    return f"/api/v1/models/{name}/versions/{version}/artifact/"


def _version_context(request, mv: ModelVersion, *, refusal=None, **forms) -> dict:
    """Everything the version page shows; `forms` replaces a blank form with a bound one."""
    user = request.user
    model = mv.registered_model
    card = selectors.card_for(mv)
    revision = card.current_revision if card is not None else None
    checks = model_selectors.promotion_checks(version=mv)
    production = model_selectors.production_version(model=model)
    policy = model_selectors.effective_policy(model=model)
    specs = key_metric_specs(policy, [mv])
    base = production.metrics if production is not None and production.pk != mv.pk else None
    # Key metrics first, then any others the version carries, each against production.
    other = sorted(set(mv.metrics or {}) - {name for name, _d in specs})
    metric_rows = metric_cells(mv.metrics, base, specs + [(n, "") for n in other])
    authors = {mv.created_by_id, revision.author_id if revision else None}
    staging = mv.stage == Stage.STAGING
    # The lifecycle's transitions say which buttons the version's stage allows.
    may = {
        "review": staging and can(user, "review.submit", mv) and user.pk not in authors,
        "request_review": staging and can(user, "review.request", mv),
        "edit_card": mv.stage != Stage.DEPRECATED and can(user, "card.edit", mv),
        "promote": can_proceed(mv.promote) and can(user, "version.promote", mv),
        "archive": can_proceed(mv.archive) and can(user, "version.archive", mv),
        "deprecate": can_proceed(mv.deprecate) and can(user, "version.deprecate", mv),
    }
    is_author = user.pk in authors
    context = {
        "model": model,
        "mv": mv,
        "production": production,
        "metric_rows": metric_rows,
        "checks": checks,
        "checks_pass": all(c.passed for c in checks),
        "card": card,
        "revision": revision,
        # render_sections returns nh3-sanitised HTML: the only markup marked safe here.
        "card_html": mark_safe(render_sections(revision.sections())) if revision else "",  # noqa: S308
        "reviews": list(selectors.reviews_of(mv)),
        "timeline": list(model_selectors.audit_events(version=mv)[:TIMELINE_LIMIT]),
        "artifact_url": artifact_download_url(mv),
        "may": may,
        "is_author": is_author,
        "refusal": refusal,
        "review_form": ReviewForm(prefix="review"),
        "request_form": RequestReviewForm(prefix="request"),
        "promote_form": ReasonForm(prefix="promote"),
        "archive_form": ReasonForm(prefix="archive"),
        "deprecate_form": ReasonForm(prefix="deprecate"),
    }
    context.update(forms)
    # The review form approves exactly the revision this page shows.
    context["review_form"].show_revision(revision)
    return context


@login_required
@require_GET
def version_detail(request, name: str, version: str):
    """A version: metadata, lineage, artifact, checklist, card, reviews, forms, timeline."""
    mv = get_version_or_404(name, version)
    return render(request, "approvals_app/version_detail.html", _version_context(request, mv))


def _version_action(request, name, version, *, key, form_class, run, done):
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
    context = _version_context(request, mv, refusal=refusal, **{f"{key}_form": form})
    return render(request, "approvals_app/version_detail.html", context, status=status)


@login_required
@require_POST
def version_review(request, name: str, version: str):
    return _version_action(
        request,
        name,
        version,
        key="review",
        form_class=ReviewForm,
        run=lambda mv, data: services.review_submit(
            actor=request.user,
            version=mv,
            decision=data["decision"],
            comment=data["comment"],
            revision_sha256=data["revision_sha256"] or None,
        ),
        done=lambda mv, review: (
            f"Your review ({review.get_decision_display().lower()}) of card revision "
            f"{review.revision.number} was recorded."
        ),
    )


@login_required
@require_POST
def version_request_review(request, name: str, version: str):
    return _version_action(
        request,
        name,
        version,
        key="request",
        form_class=RequestReviewForm,
        run=lambda mv, data: services.review_request(
            actor=request.user, version=mv, reason=data["reason"]
        ),
        done=lambda mv, card: f"Review requested: {mv} is in the reviewers' inboxes.",
    )


@login_required
@require_POST
def version_promote(request, name: str, version: str):
    return _version_action(
        request,
        name,
        version,
        key="promote",
        form_class=ReasonForm,
        run=lambda mv, data: model_services.model_version_promote(
            actor=request.user, version=mv, reason=data["reason"]
        ),
        done=lambda mv, result: f"{mv} is now in production.",
    )


@login_required
@require_POST
def version_archive(request, name: str, version: str):
    return _version_action(
        request,
        name,
        version,
        key="archive",
        form_class=ReasonForm,
        run=lambda mv, data: model_services.model_version_archive(
            actor=request.user, version=mv, reason=data["reason"]
        ),
        done=lambda mv, result: f"{mv} archived.",
    )


@login_required
@require_POST
def version_deprecate(request, name: str, version: str):
    return _version_action(
        request,
        name,
        version,
        key="deprecate",
        form_class=ReasonForm,
        run=lambda mv, data: model_services.model_version_deprecate(
            actor=request.user, version=mv, reason=data["reason"]
        ),
        done=lambda mv, result: f"{mv} deprecated.",
    )


@login_required
@require_http_methods(["GET", "POST"])
def card_edit(request, name: str, version: str):
    """Edit the model card: each save makes a new revision, which voids earlier approvals."""
    mv = get_version_or_404(name, version)
    card = selectors.card_for(mv)
    revision = card.current_revision if card is not None else None
    status = 200
    if request.method == "POST":
        form = CardForm(request.POST)
        if form.is_valid():
            try:
                card = services.card_update(
                    actor=request.user,
                    version=mv,
                    sections=form.sections(),
                    reason=form.cleaned_data["reason"],
                )
            except REFUSALS as exc:
                status = add_refusal(request, form, exc)
            else:
                number = card.current_revision.number
                if revision is not None and number == revision.number:
                    messages.info(request, "The card is unchanged; no new revision was made.")
                else:
                    messages.success(
                        request,
                        f"Card revision {number} saved. Approvals of earlier revisions no "
                        "longer count; ask for review again.",
                    )
                return redirect("approvals:version", name=name, version=version)
        else:
            status = 400
            messages.error(request, "The card was not saved: correct the form below.")
    else:
        if not can(request.user, "card.edit", mv):
            messages.error(
                request,
                "You cannot edit this card: only contributors of the model's team can.",
            )
            return redirect("approvals:version", name=name, version=version)
        form = CardForm(initial=revision.sections() if revision else {})
    return render(
        request,
        "approvals_app/card_edit.html",
        {"model": mv.registered_model, "mv": mv, "form": form, "revision": revision},
        status=status,
    )


def _card_diff(a: ModelVersion, b: ModelVersion, cards: dict) -> list[tuple[str, str]]:
    """A unified diff of the two cards' Markdown, as (kind, line) rows for escaped output."""
    texts = []
    for mv in (a, b):
        card = cards.get(mv.pk)
        revision = card.current_revision if card is not None else None
        texts.append(to_markdown(revision.sections() if revision else {}).splitlines())
    rows = []
    for line in difflib.unified_diff(
        texts[0], texts[1], fromfile=f"{a.version}", tofile=f"{b.version}", lineterm=""
    ):
        if line.startswith(("+++", "---")):
            kind = "file"
        elif line.startswith("@@"):
            kind = "hunk"
        elif line.startswith("+"):
            kind = "add"
        elif line.startswith("-"):
            kind = "del"
        else:
            kind = "ctx"
        rows.append((kind, line))
    return rows


@login_required
@require_GET
def compare(request, name: str):
    """Two versions side by side: metrics with deltas (right against left), card diff."""
    model = get_model_or_404(name)
    versions = list(model_selectors.version_list(model=model))
    labels = [v.version for v in versions]
    initial = {"a": labels[1] if len(labels) > 1 else "", "b": labels[0] if labels else ""}
    form = CompareForm(request.GET or None, versions=labels, initial=initial)
    context = {"model": model, "form": form, "a": None, "b": None}
    if labels:
        if form.is_bound and form.is_valid():
            a_label, b_label = form.cleaned_data["a"], form.cleaned_data["b"]
        else:
            a_label, b_label = initial["a"] or labels[0], initial["b"]
        by_label = {v.version: v for v in versions}
        a, b = by_label[a_label], by_label[b_label]
        cards = {
            c.model_version_id: c
            for c in ModelCard.objects.select_related("current_revision").filter(
                model_version__in=[a, b]
            )
        }
        policy = model_selectors.effective_policy(model=model)
        specs = dict(key_metric_specs(policy, [a, b]))
        names = sorted(set(a.metrics or {}) | set(b.metrics or {}))
        names = [n for n in specs] + [n for n in names if n not in specs]
        rows = metric_cells(b.metrics, a.metrics, [(n, specs.get(n, "")) for n in names])
        context.update(
            {
                "a": a,
                "b": b,
                "rows": rows,
                "diff": _card_diff(a, b, cards),
                "titles": SECTION_TITLES,
            }
        )
    return render(request, "approvals_app/compare.html", context)


@login_required
@require_GET
def inbox(request):
    """Versions waiting for my review, oldest request first."""
    qs = selectors.review_inbox(user=request.user).select_related("card__review_requested_by")
    page = Paginator(qs, INBOX_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "approvals_app/inbox.html",
        {"page": page, "is_reviewer": can(request.user, "review.submit")},
    )
