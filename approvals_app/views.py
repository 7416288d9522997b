"""The version workspace of the dashboard: the version page, its forms, compare, the card
editor and the review inbox.

The version page itself and the lifecycle's actions on it are models_app's
(models_app.lifecycle_views); the model card and its reviews are this app's part of that
page (CARD_PART, registered in ApprovalsAppConfig.ready): approvals_app imports models_app,
never the reverse. As everywhere in the dashboard, views read through selectors, write
through the services, and turn each refusal into a message and a 4xx.
"""

from __future__ import annotations

import difflib

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_http_methods

from models_app import selectors as model_selectors
from models_app.card_sections import SECTION_TITLES
from models_app.enums import Stage
from models_app.errors import REFUSALS
from models_app.forms import CompareForm
from models_app.lifecycle_views import VersionPart, get_version_or_404, version_action
from models_app.models import ModelVersion
from models_app.paging import CappedPaginator
from models_app.permissions import can
from models_app.views import (
    get_model_or_404,
    key_metric_specs,
    metric_cells,
    posted,
    refuse_and_redirect,
    refused_form,
    take_refusal,
)

from . import selectors, services
from .cards import render_sections, to_markdown
from .forms import CardForm, RequestReviewForm, ReviewForm
from .models import ModelCard

INBOX_PER_PAGE = 50


# --- The model card and its reviews on the version page -----------------------------------


def _card_part(request, mv: ModelVersion, context: dict) -> None:
    """The card and its reviews, with their forms and buttons, on the version page
    (models_app.lifecycle_views, which shows the rest of the version)."""
    user = request.user
    card = selectors.card_for(mv)
    revision = card.current_revision if card is not None else None
    authors = {mv.created_by_id, revision.author_id if revision else None}
    staging = mv.stage == Stage.STAGING
    context["may"].update(
        {
            "review": staging and can(user, "review.submit", mv) and user.pk not in authors,
            "request_review": staging and can(user, "review.request", mv),
            "edit_card": mv.stage != Stage.DEPRECATED and can(user, "card.edit", mv),
        }
    )
    context.update(
        {
            "card": card,
            "revision": revision,
            # render_sections returns nh3-sanitised HTML: the only markup marked safe here.
            "card_html": mark_safe(render_sections(revision.sections())) if revision else "",  # noqa: S308
            "reviews": list(selectors.reviews_of(mv)),
            "is_author": user.pk in authors,
        }
    )
    context.setdefault("review_form", ReviewForm(prefix="review"))
    context.setdefault("request_form", RequestReviewForm(prefix="request"))
    # The review form approves exactly the revision this page shows.
    context["review_form"].show_revision(revision)


CARD_PART = VersionPart(
    "approvals_app/_version_card.html",
    _card_part,
    forms=(("review", ReviewForm), ("request", RequestReviewForm)),
)


@login_required
@require_http_methods(["GET", "POST"])
def version_review(request, name: str, version: str):
    return version_action(
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
@require_http_methods(["GET", "POST"])
def version_request_review(request, name: str, version: str):
    return version_action(
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
@require_http_methods(["GET", "POST"])
def card_edit(request, name: str, version: str):
    """Edit the model card: each save makes a new revision, which voids earlier approvals.

    A refused or invalid save redirects back to this page (Post/Redirect/Get), which
    shows the card as it was filled in, with the refusal once; a reload saves nothing."""
    mv = get_version_or_404(name, version)
    card = selectors.card_for(mv)
    revision = card.current_revision if card is not None else None
    here = reverse("approvals:card_edit", kwargs={"name": name, "version": version})
    page = f"card:{mv.pk}"
    if request.method == "POST":
        form = CardForm(request.POST)
        data = posted(request, form)
        if not form.is_valid():
            return refuse_and_redirect(
                request,
                here,
                page=page,
                action="card",
                data=data,
                invalid="The card was not saved: correct the form below.",
            )
        try:
            card = services.card_update(
                actor=request.user,
                version=mv,
                sections=form.sections(),
                reason=form.cleaned_data["reason"],
            )
        except REFUSALS as exc:
            return refuse_and_redirect(
                request,
                here,
                page=page,
                action="card",
                data=data,
                exc=exc,
                invalid="The card was not saved: correct the form below.",
            )
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
    refusal = take_refusal(request, page)
    if refusal is None and not can(request.user, "card.edit", mv):
        messages.error(
            request,
            "You cannot edit this card: only contributors of the model's team can.",
        )
        return redirect("approvals:version", name=name, version=version)
    if refusal is None:
        form = CardForm(initial=revision.sections() if revision else {})
    else:
        form = refused_form(CardForm, refusal)
        if refusal["message"]:  # shown once, above the form
            form.add_error(None, refusal["message"])
    return render(
        request,
        "approvals_app/card_edit.html",
        {
            "model": mv.registered_model,
            "mv": mv,
            "form": form,
            "revision": revision,
        },
        status=refusal["status"] if refusal else 200,
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
    page = CappedPaginator(qs, INBOX_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "approvals_app/inbox.html",
        {"page": page, "is_reviewer": can(request.user, "review.submit")},
    )
