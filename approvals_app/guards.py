"""The review and model-card guards, added to models_app's promotion checks.

`approval_reports` answers for many versions at once (the dashboard's lists), in three
queries whatever their number; `approval_guards`, the provider the promotion itself
calls, is the same code for one version, so every door shows the same words.
"""

from __future__ import annotations

from models_app.card_sections import SECTION_TITLES
from models_app.guards import GuardReport, GuardResult

from .models import Decision
from .selectors import card_authors_of, cards_for, standing_decisions_of


def _counting(*, version, revision, decisions: dict, card_authors: frozenset) -> dict:
    """The reviews that count: each reviewer's latest review of `revision`, when its sha256
    matches the revision's content and its reviewer is neither the version's author nor
    the author of the revision or of any earlier revision of the card."""
    authors = {version.created_by_id, revision.author_id, *card_authors}
    return {
        user_id: review
        for user_id, review in decisions.items()
        if user_id not in authors and review.revision_sha256 == revision.sha256
    }


def review_result(
    *,
    version,
    revision,
    decisions: dict,
    required: int,
    card_authors: frozenset = frozenset(),
    requested: bool = True,
) -> GuardResult:
    """Enough approvals of the current revision by others than the author, no rejection.

    `decisions` maps each reviewer to their latest review of `revision`; only those
    `_counting` keeps count. `requested` says whether anyone asked for review: when nobody
    did and the approvals are short, the guard says so rather than counting approvals
    that nobody was asked for.
    """
    if revision is None:
        return GuardResult("review", required == 0, "the model card has no revision yet")
    valid = _counting(
        version=version, revision=revision, decisions=decisions, card_authors=card_authors
    )
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
        if not requested:
            needed = f"{required} approval{'s' if required != 1 else ''}"
            return GuardResult(
                "review",
                False,
                f"review not requested: card revision {revision.number} needs {needed}",
            )
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


def review_state(
    *, version, revision, decisions: dict, required: int, card_authors: frozenset, requested: bool
) -> str:
    """Where the review stands (a key of models_app.guards.REVIEW_STATES): a standing
    rejection, then a standing request for changes, then enough approvals; else awaiting
    once asked for (or once someone reviewed), else not requested."""
    valid = (
        _counting(
            version=version, revision=revision, decisions=decisions, card_authors=card_authors
        )
        if revision is not None
        else {}
    )
    found = {r.decision for r in valid.values()}
    if Decision.REJECT in found:
        return "rejected"
    if Decision.REQUEST_CHANGES in found:
        return "changes_requested"
    if revision is not None and valid and len(valid) >= required:
        return "approved"
    if requested or valid:
        return "awaiting"
    return "not_requested"


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


def approval_reports(pairs: list[tuple]) -> dict[int, GuardReport]:
    """The review and card guards of each (version, policy), with the review's state in
    the facts: three queries (the cards with their current revisions, the cards' authors,
    the reviews of those revisions) whatever the number of versions."""
    cards = cards_for([version for version, _policy in pairs])
    authors = card_authors_of(list(cards.values()))
    revisions = [c.current_revision for c in cards.values() if c.current_revision is not None]
    decisions = standing_decisions_of(revisions)
    reports = {}
    for version, policy in pairs:
        card = cards.get(version.pk)
        revision = card.current_revision if card is not None else None
        facts = {
            "version": version,
            "revision": revision,
            "decisions": decisions.get(revision.pk, {}) if revision is not None else {},
            "required": policy.required_approvals,
            "card_authors": authors.get(card.pk, frozenset()) if card is not None else frozenset(),
            "requested": card is not None and card.review_requested_at is not None,
        }
        reports[version.pk] = GuardReport(
            [
                review_result(**facts),
                card_result(revision=revision, required_sections=policy.required_card_sections),
            ],
            {"review_state": review_state(**facts)},
        )
    return reports


def approval_guards(*, version, policy) -> list[GuardResult]:
    return approval_reports([(version, policy)])[version.pk].results
