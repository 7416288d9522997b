"""Writes for model cards and reviews; the same rules for every door."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from models_app import selectors
from models_app.audit import diff, record_event, tag_change
from models_app.card_sections import SECTION_NAMES, SECTION_TITLES
from models_app.enums import Action, Stage
from models_app.exceptions import Conflict, InvalidTransition, NotAllowed
from models_app.models import ModelVersion
from models_app.permissions import require_permission
from models_app.services import clean_reason, require_owned_here
from models_app.validators import validate_plain_text

from .cards import content_sha256
from .models import CardRevision, Decision, ModelCard, Review

SECTION_MAX = 20000
COMMENT_MAX = 5000
SHA256_RE = re.compile(r"[0-9a-f]{64}")


def _lock(version: ModelVersion) -> ModelVersion:
    selectors.model_for_update(pk=version.registered_model_id)
    mv = selectors.version_by_pk(pk=version.pk)
    # Cards and reviews of an entry mirrored from a team registry change only there.
    require_owned_here(mv.registered_model)
    return mv


def _new_revision(*, card: ModelCard, sections: dict[str, str], actor) -> CardRevision:
    number = (card.current_revision.number if card.current_revision else 0) + 1
    return CardRevision.objects.create(
        card=card,
        number=number,
        sha256=content_sha256(sections),
        author=actor,
        author_username=actor.get_username() if actor else "",
        **{key: sections.get(key, "") for key in SECTION_NAMES},
    )


def card_create_for_new_version(*, version: ModelVersion, actor, **kwargs) -> ModelCard:
    """Create the empty card of a newly registered version.

    Runs inside model_version_register's transaction through the version_registered signal.
    """
    # The card's history starts with one row ("+") that already names its first revision:
    # the card is stored without history, then its revision, and the save that links the
    # two writes the card's creation row.
    card = ModelCard(model_version=version)
    card.save_without_historical_record()
    card.current_revision = _new_revision(card=card, sections={}, actor=actor)
    tag_change(card, actor=actor)
    card._history_created = True
    try:
        card.save(update_fields=["current_revision"])
    finally:
        del card._history_created
    return card


@transaction.atomic
def card_update(*, actor, version: ModelVersion, sections: dict, reason: str = "") -> ModelCard:
    """Write a new card revision; earlier approvals stay with the revision they approved.

    `sections` maps section keys to Markdown; missing keys keep their current text. An edit
    that changes nothing makes no revision.
    """
    mv = _lock(version)
    require_permission(actor, "card.edit", mv)
    if mv.stage == Stage.DEPRECATED:
        raise InvalidTransition(f"{mv} is deprecated; its card can no longer change.")
    if not isinstance(sections, dict):
        raise ValidationError({"sections": ["Sections must be an object of section → text."]})
    errors: dict = {}
    try:
        reason = clean_reason(reason, required=False)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    unknown = set(sections) - set(SECTION_NAMES)
    if unknown:
        errors["sections"] = [f"Unknown card sections: {', '.join(sorted(map(str, unknown)))}."]
    for key, text in sections.items():
        if key in SECTION_TITLES:
            try:
                validate_plain_text(
                    text, field=SECTION_TITLES[key], max_length=SECTION_MAX, multiline=True
                )
            except ValidationError as exc:
                errors.setdefault(key, []).extend(exc.messages)
    if errors:
        raise ValidationError(errors)
    card = ModelCard.objects.select_related("current_revision").get(model_version=mv)
    current = card.current_revision.sections() if card.current_revision else {}
    merged = {key: sections.get(key, current.get(key, "")) for key in SECTION_NAMES}
    if card.current_revision and content_sha256(merged) == card.current_revision.sha256:
        return card
    revision = _new_revision(card=card, sections=merged, actor=actor)
    card.current_revision = revision
    tag_change(card, actor=actor, reason=reason)
    card.save()
    record_event(
        action=Action.CARD_EDITED,
        actor=actor,
        obj=mv,
        reason=reason,
        changes=diff(current, merged),
        payload={"revision": revision.number, "sha256": revision.sha256},
    )
    return card


@transaction.atomic
def review_request(*, actor, version: ModelVersion, reason: str = "") -> ModelCard:
    """Put a staging version in the reviewers' inboxes."""
    mv = _lock(version)
    require_permission(actor, "review.request", mv)
    reason = clean_reason(reason, required=False)
    if mv.stage != Stage.STAGING:
        raise InvalidTransition(
            f"Reviews are requested only for versions in staging; {mv} is in '{mv.stage}'."
        )
    card = ModelCard.objects.select_related("current_revision").get(model_version=mv)
    card.review_requested_at = timezone.now()
    card.review_requested_by = actor
    tag_change(card, actor=actor, reason=reason)
    card.save()
    record_event(
        action=Action.REVIEW_REQUESTED,
        actor=actor,
        obj=mv,
        reason=reason,
        payload={"revision": card.current_revision.number},
    )
    return card


@transaction.atomic
def review_submit(
    *,
    actor,
    version: ModelVersion,
    decision: str,
    comment: str = "",
    revision_sha256: str | None = None,
) -> Review:
    """Record a reviewer's decision on the current card revision.

    An approval must name, in `revision_sha256`, the sha256 of the card revision the
    reviewer read (400 without it): it then counts only if that is still the current
    revision. A reject or change request may come without it, since an objection to a
    newer revision can only block, never let anything through; when given, it is checked
    all the same. Refused for a user without the reviewer's permission (403, checked
    first), outside staging (409), for the version's or revision's author
    (403), and when `revision_sha256` names content other than the current revision (409,
    with the current revision's number and sha256 in the message and the details).
    """
    revision_sha256 = _validate_review(
        decision=decision, comment=comment, revision_sha256=revision_sha256
    )
    mv = _lock(version)
    # Permission first: a user who may not review learns nothing from the refusal.
    require_permission(actor, "review.submit", mv)
    if mv.stage != Stage.STAGING:
        raise InvalidTransition(
            f"Reviews are taken only while a version is in staging; {mv} is in '{mv.stage}'."
        )
    card = ModelCard.objects.select_related("current_revision").get(model_version=mv)
    revision = card.current_revision
    _refuse_authors(actor, mv=mv, card=card)
    _refuse_stale_read(revision, revision_sha256=revision_sha256)
    review = Review(
        model_version=mv,
        revision=revision,
        revision_sha256=revision.sha256,
        reviewer=actor,
        reviewer_username=actor.get_username(),
        decision=decision,
        comment=comment or "",
    )
    tag_change(review, actor=actor)
    review.save()
    record_event(
        action=Action.REVIEW_SUBMITTED,
        actor=actor,
        obj=mv,
        reason=comment or "",
        payload={
            "decision": decision,
            "revision": revision.number,
            "sha256": revision.sha256,
            "review_id": review.pk,
        },
    )
    return review


def _validate_review(*, decision: str, comment: str, revision_sha256: str | None) -> str | None:
    """Check a review's decision, comment and the revision it names, raising one
    ValidationError that names each bad field; returns `revision_sha256`, None when it
    was not given (or given empty)."""
    errors: dict = {}
    if decision not in Decision.values:
        errors["decision"] = [f"decision must be one of: {', '.join(Decision.values)}."]
    if revision_sha256 == "":
        revision_sha256 = None
    if revision_sha256 is not None and (
        not isinstance(revision_sha256, str) or not SHA256_RE.fullmatch(revision_sha256)
    ):
        errors["revision_sha256"] = [
            "revision_sha256 must be the 64 lowercase hexadecimal characters of a card "
            "revision's sha256."
        ]
    elif revision_sha256 is None and decision == Decision.APPROVE:
        errors["revision_sha256"] = [
            "An approval must name the card revision it approves: send revision_sha256, "
            "the sha256 of the card revision you read."
        ]
    try:
        validate_plain_text(comment or "", field="comment", max_length=COMMENT_MAX, multiline=True)
    except ValidationError as exc:
        errors["comment"] = exc.messages
    if decision in (Decision.REJECT, Decision.REQUEST_CHANGES) and not (comment or "").strip():
        errors["comment"] = ["A comment is required to reject or request changes."]
    if errors:
        raise ValidationError(errors)
    return revision_sha256


def _refuse_authors(actor, *, mv: ModelVersion, card: ModelCard) -> None:
    """Refuse (403) a review by the version's author or by the author of any revision of
    its card."""
    # Whoever wrote any revision of the card is an author of what is being approved, not
    # only the writer of the current one (a teammate's small edit must not launder it).
    if (
        actor.pk in (mv.created_by_id, card.current_revision.author_id)
        or card.revisions.filter(author=actor).exists()
    ):
        raise NotAllowed("Authors cannot review their own version or card revision.")


def _refuse_stale_read(revision: CardRevision, *, revision_sha256: str | None) -> None:
    """Refuse (409) a review of content other than the current revision, naming the
    current revision's number and sha256."""
    if revision_sha256 is not None and revision_sha256 != revision.sha256:
        raise Conflict(
            f"The card changed since it was read: the current revision is {revision.number}, "
            f"sha256 {revision.sha256}. Read it and review again.",
            details={"revision": revision.number, "sha256": revision.sha256},
        )
