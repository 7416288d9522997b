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
import json

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
from models_app.forms import COMPARE_VERSIONS_LIST, CompareForm
from models_app.lifecycle_views import VersionPart, get_version_or_404, version_action
from models_app.mirrors import mirror_reader
from models_app.models import ModelVersion
from models_app.paging import CappedPaginator
from models_app.permissions import can
from models_app.views import (
    get_model_or_404,
    key_metric_specs,
    metric_cells,
    metric_specs,
    posted,
    refuse_and_redirect,
    refused_form,
    take_refusal,
)

from . import selectors, services
from .cards import diff_line_kind, render_sections, section_diffs, to_markdown
from .forms import CardForm, RequestReviewForm, ReviewForm
from .models import Decision, ModelCard

INBOX_PER_PAGE = 50
# The version fields of the compare page suggest the labels of this many latest versions.
COMPARE_SUGGESTIONS = 50


# --- The model card and its reviews on the version page -----------------------------------


def _card_part(request, mv: ModelVersion, context: dict) -> None:
    """The card and its reviews, with their forms and buttons, on the version page
    (models_app.lifecycle_views, which shows the rest of the version)."""
    reader = mirror_reader(mv)
    if reader is not None:
        _origin_card_part(mv, context, reader)
        return
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
    context["card_changes"] = _card_changes(card, revision, context["reviews"])
    context.setdefault("review_form", ReviewForm(prefix="review"))
    context.setdefault("request_form", RequestReviewForm(prefix="request"))
    # The review form approves exactly the revision this page shows.
    context["review_form"].show_revision(revision)


def _origin_card_part(mv: ModelVersion, context: dict, reader) -> None:
    """The card and reviews of a mirrored version, as its origin recorded them: read-only
    here, with no form (reviews and card edits happen at the origin)."""
    card = reader.card(mv)
    context["may"].update({"review": False, "request_review": False, "edit_card": False})
    context.update(
        {
            "card_origin": mv.registered_model.origin,
            "origin_card": card,
            # render_sections returns nh3-sanitised HTML: the only markup marked safe here.
            "card_html": mark_safe(render_sections(card.sections)) if card else "",  # noqa: S308
            "origin_reviews": [
                (review, DECISION_LABELS.get(review.decision, review.decision))
                for review in reader.reviews(mv)
            ],
        }
    )


DECISION_LABELS = dict(Decision.choices)


def _card_changes(card, revision, reviews: list) -> dict | None:
    """What changed in the card that a reviewer should look at, section by section.

    Since the last "request changes" review: the revision that review saw against the
    current one (nothing, said so, when the card has not changed since). Otherwise the
    previous revision against the current one. None for a card's first revision.
    `reviews` are the version's reviews, oldest first, with their revisions.
    """
    if revision is None:
        return None
    asked = next((r for r in reversed(reviews) if r.decision == Decision.REQUEST_CHANGES), None)
    if asked is not None:
        base = asked.revision
        why = f"since {asked.reviewer_username} asked for changes on revision {base.number}"
    elif revision.number > 1:
        base = card.revisions.filter(number=revision.number - 1).first()
        why = f"since the previous revision, {revision.number - 1}"
    else:
        return None
    if base is None:
        return None
    unchanged = base.pk == revision.pk
    return {
        "base": base,
        "why": why,
        "unchanged": unchanged,
        "sections": [] if unchanged else section_diffs(base.sections(), revision.sections()),
    }


CARD_PART = VersionPart(
    "approvals_app/_version_card.html",
    _card_part,
    forms=(("review", ReviewForm), ("request", RequestReviewForm)),
    sections=(("card-h", "Model card"), ("reviews-h", "Reviews")),
)


def approving_reviews(version: ModelVersion, event) -> list[dict]:
    """The production panel's links to the reviews that approved `version` when `event`
    promoted it (models_app.views.register_production_evidence)."""
    page = reverse("approvals:version", args=[version.registered_model.name, version.version])
    return [
        {
            "text": f"Approved by {r.reviewer_username}",
            "when": r.created_at,
            "url": f"{page}#review-{r.pk}",
        }
        for r in selectors.approvals_at(version=version, at=event.created_at)
    ]


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


def _card_sections(versions: list[ModelVersion]) -> dict[int, dict[str, str]]:
    """The sections of each version's current card, by version id: a mirrored version's
    as its origin holds it (models_app.mirrors), the others' from this registry's cards."""
    sections = {}
    local = []
    for mv in versions:
        reader = mirror_reader(mv)
        if reader is None:
            local.append(mv)
        else:
            card = reader.card(mv)
            sections[mv.pk] = card.sections if card is not None else {}
    for card in ModelCard.objects.select_related("current_revision").filter(
        model_version__in=local
    ):
        revision = card.current_revision
        sections[card.model_version_id] = revision.sections() if revision else {}
    return sections


def _card_diff(a: ModelVersion, b: ModelVersion, sections: dict) -> list[tuple[str, str]]:
    """A unified diff of the two cards' Markdown, as (kind, line) rows for escaped output."""
    texts = [to_markdown(sections.get(mv.pk, {})).splitlines() for mv in (a, b)]
    rows = []
    lines = difflib.unified_diff(
        texts[0], texts[1], fromfile=f"{a.version}", tofile=f"{b.version}", lineterm=""
    )
    for number, line in enumerate(lines):
        # The first two lines are the file headers ("--- a", "+++ b").
        rows.append(("file" if number < 2 else diff_line_kind(line), line))
    return rows


def param_changes(a: dict | None, b: dict | None) -> list[dict]:
    """Each parameter of either version: "added" (only in b), "removed" (only in a),
    "changed" or "same"; the differences first, each group by name. Values are compared
    as JSON, so that 1, 1.0 and true are told apart as the versions stored them."""
    a = a if isinstance(a, dict) else {}
    b = b if isinstance(b, dict) else {}
    order = {"changed": 0, "added": 1, "removed": 2, "same": 3}
    rows = []
    for key in set(a) | set(b):
        if key not in a:
            kind = "added"
        elif key not in b:
            kind = "removed"
        elif json.dumps(a[key], sort_keys=True) != json.dumps(b[key], sort_keys=True):
            kind = "changed"
        else:
            kind = "same"
        rows.append({"name": key, "kind": kind, "a": a.get(key), "b": b.get(key)})
    rows.sort(key=lambda row: (order[row["kind"]], row["name"]))
    return rows


def _compare_pair(request, latest: list[tuple[str, str]]):
    """The form and the two labels to compare: by default the two latest versions (the
    older on the left); None when there is nothing to compare or the input is wrong."""
    labels = [label for label, _stage in latest]
    initial = {"a": labels[1] if len(labels) > 1 else "", "b": labels[0] if labels else ""}
    if len(labels) == 1:
        initial["a"] = labels[0]
    form = CompareForm(request.GET or None, initial=initial)
    if form.is_bound:
        if not form.is_valid():
            return form, None
        return form, (form.cleaned_data["a"], form.cleaned_data["b"])
    return form, ((initial["a"], initial["b"]) if labels else None)


@login_required
@require_GET
def compare(request, name: str):
    """Two versions side by side: parameters added, removed and changed, metrics with
    deltas (right against left), and the card diff.

    A model may have any number of versions: the page reads the two it compares, the
    production version and the labels of the latest COMPARE_SUGGESTIONS as suggestions
    for the version fields, never every version; any other label can be typed."""
    model = get_model_or_404(name)
    latest = list(
        ModelVersion.objects.filter(registered_model=model)
        .order_by("-precedence", "-number")
        .values_list("version", "stage")[:COMPARE_SUGGESTIONS]
    )
    form, pair = _compare_pair(request, latest)
    status = 200 if form.is_valid() or not form.is_bound else 400
    context = {"model": model, "form": form, "a": None, "b": None}
    found = {}
    if pair is not None:
        found = {
            v.version: v
            for v in ModelVersion.objects.filter(registered_model=model, version__in=set(pair))
            .select_related("created_by")
            .order_by()[:2]
        }
        for key, label in zip(("a", "b"), pair, strict=True):
            if label not in found and form.is_bound:
                form.add_error(key, f"{model.name} has no version {label}.")
                status = 400
    production = model_selectors.production_version(model=model)
    suggestions = dict(latest)
    for extra in [production, *found.values()]:
        if extra is not None:
            suggestions.setdefault(extra.version, extra.stage)
    context["suggestions"] = list(suggestions.items())
    context["suggestions_id"] = COMPARE_VERSIONS_LIST
    if pair is not None and status == 200:
        a, b = found[pair[0]], found[pair[1]]
        sections = _card_sections([a, b])
        policy = model_selectors.effective_policy(model=model)
        # The key metrics first, then every other metric either version carries; each
        # with the policy's direction, or none.
        names = [n for n, _d in key_metric_specs(policy, [a, b])]
        names += sorted((set(a.metrics or {}) | set(b.metrics or {})) - set(names))
        rows = metric_cells(b.metrics, a.metrics, metric_specs(policy, names))
        params = param_changes(a.params, b.params)
        context.update(
            {
                "a": a,
                "b": b,
                "rows": rows,
                "params": params,
                "params_changed": [p for p in params if p["kind"] != "same"],
                "params_same": [p for p in params if p["kind"] == "same"],
                "diff": _card_diff(a, b, sections),
                "card_origin": model.origin,
                "titles": SECTION_TITLES,
            }
        )
    return render(request, "approvals_app/compare.html", context, status=status)


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
