"""The review and model-card guards, added to models_app's promotion checks."""

from __future__ import annotations

from models_app.card_sections import SECTION_TITLES
from models_app.guards import GuardResult

from .models import Decision
from .selectors import card_authors, card_for, standing_decisions


def review_result(
    *, version, revision, decisions: dict, required: int, card_authors: frozenset = frozenset()
) -> GuardResult:
    """Enough approvals of the current revision by others than the author, no rejection.

    `decisions` maps each reviewer to their latest review of `revision`. An approval
    counts only when its sha256 matches the revision's content and its
    reviewer is neither the version's author nor the author of the revision or of any
    earlier revision of the card (`card_authors`).
    """
    if revision is None:
        return GuardResult("review", required == 0, "the model card has no revision yet")
    authors = {version.created_by_id, revision.author_id, *card_authors}
    valid = {
        user_id: review
        for user_id, review in decisions.items()
        if user_id not in authors and review.revision_sha256 == revision.sha256
    }
    blocking = [r for r in valid.values() if r.decision != Decision.APPROVE]
    if blocking:
        who = ", ".join(
            f"{r.reviewer_username} ({r.get_decision_display().lower()})" for r in blocking
        )
        return GuardResult(
            "review", False, f"card revision {revision.number} has a standing objection by {who}"
        )
    approvals = sorted(r.reviewer_username for r in valid.values())
    if len(approvals) < required:
        return GuardResult(
            "review",
            False,
            f"{len(approvals)} of {required} required approvals of card revision {revision.number}",
        )
    names = ", ".join(approvals) if approvals else "none needed"
    return GuardResult(
        "review",
        True,
        f"{len(approvals)} of {required} required approvals of card revision "
        f"{revision.number} ({names})",
    )


def card_result(*, revision, required_sections: list[str]) -> GuardResult:
    sections = revision.sections() if revision is not None else {}
    empty = [
        SECTION_TITLES[key].lower()
        for key in required_sections
        if not sections.get(key, "").strip()
    ]
    if empty:
        return GuardResult("model_card", False, f"model card sections empty: {', '.join(empty)}")
    return GuardResult("model_card", True, "model card has every required section")


def approval_guards(*, version, policy) -> list[GuardResult]:
    card = card_for(version)
    revision = card.current_revision if card is not None else None
    decisions = standing_decisions(revision) if revision is not None else {}
    return [
        review_result(
            version=version,
            revision=revision,
            decisions=decisions,
            required=policy.required_approvals,
            card_authors=card_authors(card) if card is not None else frozenset(),
        ),
        card_result(revision=revision, required_sections=policy.required_card_sections),
    ]
