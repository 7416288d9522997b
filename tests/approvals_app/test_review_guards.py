"""The review and model-card guards, through model_version_promote.

Each case is refused with GuardsFailed naming the review or model_card guard with its
reason, and passes once fixed the way a team would fix it.
"""

from __future__ import annotations

import pytest

from approvals_app import services as approvals
from approvals_app.guards import card_result, review_result
from approvals_app.models import CardRevision, Decision, Review
from approvals_app.selectors import card_authors, card_for, standing_decisions
from models_app import selectors, services
from models_app.enums import Stage
from models_app.exceptions import GuardsFailed, NotAllowed
from tests.factories import FULL_CARD, make_user, register


@pytest.fixture
def version(people, model):
    """A staging version with a complete card, review requested, not yet reviewed."""
    v = register(actor=people.author, model=model, version="1.0.0")
    approvals.card_update(actor=people.author, version=v, sections=FULL_CARD)
    approvals.review_request(actor=people.author, version=v)
    return v


def _guards(people, v) -> dict[str, dict]:
    with pytest.raises(GuardsFailed) as excinfo:
        services.model_version_promote(actor=people.release, version=v, reason="go")
    v.refresh_from_db()
    assert v.stage == Stage.STAGING
    return {d["guard"]: d for d in excinfo.value.details}


def _promotes(people, v) -> None:
    assert services.model_version_promote(actor=people.release, version=v, reason="go").stage == (
        Stage.PRODUCTION
    )


def _approve(user, v, decision: str = "approve", comment: str = ""):
    return approvals.review_submit(
        actor=user,
        version=v,
        decision=decision,
        comment=comment,
        revision_sha256=card_for(v).current_revision.sha256,
    )


def test_version_without_approval_is_refused_then_passes(people, version):
    guards = _guards(people, version)
    assert set(guards) == {"review", "model_card"}
    assert guards["review"] == {
        "guard": "review",
        "passed": False,
        "reason": "0 of 1 required approvals of card revision 2",
    }
    assert guards["model_card"]["passed"] is True
    _approve(people.reviewer, version)
    checks = {r.guard: r for r in selectors.promotion_checks(version=version)}
    assert checks["review"].reason == "1 of 1 required approvals of card revision 2 (reviewer)"
    _promotes(people, version)


def test_author_cannot_approve_own_version(people, version):
    author = make_user("author", "reviewer")  # the author also holds the reviewer role
    with pytest.raises(NotAllowed, match="Authors cannot review"):
        _approve(author, version)
    assert not Review.objects.filter(model_version=version).exists()
    assert _guards(people, version)["review"]["reason"] == (
        "0 of 1 required approvals of card revision 2"
    )
    _approve(people.reviewer, version)
    _promotes(people, version)


def test_card_revision_author_cannot_approve(people, model, version):
    """A teammate with the reviewer role who edited the card is its author too."""
    teammate = make_user("teammate", "contributor", "reviewer")
    services.team_member_add(actor=people.admin, team=people.team, user=teammate)
    approvals.card_update(
        actor=teammate, version=version, sections={"limitations": "Edited by teammate."}
    )
    with pytest.raises(NotAllowed, match="Authors cannot review"):
        _approve(teammate, version)
    assert _guards(people, version)["review"]["passed"] is False


def test_earlier_card_writer_cannot_approve_after_a_teammates_edit(people, version):
    """A reviewer who wrote the card stays its author when a teammate edits it later."""
    dual = make_user("dual", "contributor", "reviewer")
    services.team_member_add(actor=people.admin, team=people.team, user=dual)
    approvals.card_update(actor=dual, version=version, sections={"evaluation": "By dual."})
    approvals.card_update(actor=people.author, version=version, sections={"limitations": "Tweak."})
    with pytest.raises(NotAllowed, match="Authors cannot review"):
        _approve(dual, version)
    # Even a stored approval by the earlier writer does not count.
    revision = card_for(version).current_revision
    forged = Review(
        reviewer=dual,
        reviewer_username="dual",
        revision_sha256=revision.sha256,
        decision=Decision.APPROVE,
    )
    result = review_result(
        version=version,
        revision=revision,
        decisions={dual.pk: forged},
        required=1,
        card_authors=card_authors(card_for(version)),
    )
    assert result.passed is False
    assert card_authors(card_for(version)) == {people.author.pk, dual.pk}
    _approve(people.reviewer, version)
    _promotes(people, version)


def test_review_by_author_does_not_count_even_if_stored(people, version):
    """review_result ignores an approval by the author, however it got into the data."""
    card = card_for(version)
    revision = card.current_revision
    forged = Review(
        model_version=version,
        revision=revision,
        revision_sha256=revision.sha256,
        reviewer=people.author,
        reviewer_username="author",
        decision=Decision.APPROVE,
    )
    result = review_result(
        version=version, revision=revision, decisions={people.author.pk: forged}, required=1
    )
    assert result.passed is False
    assert result.reason == "0 of 1 required approvals of card revision 2"

    # The same approval by a reviewer counts, so it is the author that is ignored.
    honest = Review(
        model_version=version,
        revision=revision,
        revision_sha256=revision.sha256,
        reviewer=people.reviewer,
        reviewer_username="reviewer",
        decision=Decision.APPROVE,
    )
    result = review_result(
        version=version,
        revision=revision,
        decisions={people.author.pk: forged, people.reviewer.pk: honest},
        required=1,
    )
    assert result.passed is True
    assert result.reason == "1 of 1 required approvals of card revision 2 (reviewer)"


def test_review_result_ignores_approval_of_other_content(people, version):
    revision = card_for(version).current_revision
    stale = Review(
        reviewer=people.reviewer,
        reviewer_username="reviewer",
        revision_sha256="0" * 64,
        decision=Decision.APPROVE,
    )
    result = review_result(
        version=version, revision=revision, decisions={people.reviewer.pk: stale}, required=1
    )
    assert result.passed is False


def test_card_changed_after_approval_voids_it(people, version):
    _approve(people.reviewer, version)
    approvals.card_update(
        actor=people.author, version=version, sections={"evaluation": "New numbers."}
    )
    guards = _guards(people, version)
    assert guards["review"]["reason"] == "0 of 1 required approvals of card revision 3"
    # The old approval stays, bound to the revision it approved.
    [old] = Review.objects.filter(model_version=version)
    assert old.revision.number == 2
    assert old.revision_sha256 == old.revision.sha256 != card_for(version).current_revision.sha256
    _approve(people.reviewer, version)
    _promotes(people, version)


def test_card_edit_that_changes_nothing_keeps_approval(people, version):
    _approve(people.reviewer, version)
    approvals.card_update(actor=people.author, version=version, sections=dict(FULL_CARD))
    assert card_for(version).current_revision.number == 2
    _promotes(people, version)


def test_standing_rejection_blocks_until_withdrawn(people, version):
    _approve(people.reviewer2, version)
    _approve(people.reviewer, version, "reject", "Bias section is thin.")
    guards = _guards(people, version)
    assert guards["review"]["reason"] == (
        "card revision 2 has a standing objection by reviewer (reject)"
    )
    # The reviewer's latest decision is what stands.
    _approve(people.reviewer, version)
    _promotes(people, version)


def test_request_changes_blocks_until_card_revised_and_approved(people, version):
    _approve(people.reviewer, version, "request_changes", "Add limitations.")
    assert _guards(people, version)["review"]["reason"] == (
        "card revision 2 has a standing objection by reviewer (request changes)"
    )
    approvals.card_update(
        actor=people.author, version=version, sections={"limitations": "Fails on new merchants."}
    )
    assert _guards(people, version)["review"]["reason"] == (
        "0 of 1 required approvals of card revision 3"
    )
    _approve(people.reviewer, version)
    _promotes(people, version)


def test_comment_does_not_block(people, version):
    _approve(people.reviewer, version)
    _approve(people.reviewer2, version, "approve", "Nice work.")
    _promotes(people, version)


def test_two_required_approvals_need_two_distinct_reviewers(people, model, version):
    services.policy_update(actor=people.admin, model=model, required_approvals=2)
    _approve(people.reviewer, version)
    _approve(people.reviewer, version)  # the same reviewer twice is still one approval
    assert _guards(people, version)["review"]["reason"] == (
        "1 of 2 required approvals of card revision 2"
    )
    _approve(people.reviewer2, version)
    checks = {r.guard: r for r in selectors.promotion_checks(version=version)}
    assert checks["review"].reason == (
        "2 of 2 required approvals of card revision 2 (reviewer, reviewer2)"
    )
    _promotes(people, version)


def test_zero_required_approvals_passes_without_review(people, model, version):
    services.policy_update(actor=people.admin, model=model, required_approvals=0)
    _promotes(people, version)


def test_empty_required_card_sections_refused_then_passes(people, model):
    v = register(actor=people.author, model=model, version="1.0.0")
    # A fresh card is empty: revision 1, every section blank.
    revision = card_for(v).current_revision
    assert revision.number == 1
    assert set(revision.sections().values()) == {""}
    approvals.card_update(actor=people.author, version=v, sections={"intended_use": "Scoring."})
    _approve(people.reviewer, v)
    guards = _guards(people, v)
    assert guards["model_card"] == {
        "guard": "model_card",
        "passed": False,
        "reason": "model card sections empty: training data, evaluation, limitations, "
        "ethical considerations",
    }
    assert guards["review"]["passed"] is True
    # A policy may require fewer sections…
    services.policy_update(
        actor=people.admin, model=model, required_card_sections=["intended_use", "evaluation"]
    )
    assert _guards(people, v)["model_card"]["reason"] == "model card sections empty: evaluation"
    # …and whitespace is empty.
    approvals.card_update(actor=people.author, version=v, sections={"evaluation": "  \n "})
    _approve(people.reviewer, v)
    assert _guards(people, v)["model_card"]["passed"] is False
    approvals.card_update(actor=people.author, version=v, sections={"evaluation": "AUC 0.97."})
    _approve(people.reviewer, v)
    _promotes(people, v)


def test_card_result_names_every_empty_section():
    assert card_result(revision=None, required_sections=["evaluation"]).passed is False
    full = CardRevision(**FULL_CARD)
    assert card_result(revision=full, required_sections=list(FULL_CARD)).passed is True


def test_standing_decisions_keep_latest_per_reviewer(people, version):
    _approve(people.reviewer, version, "reject", "No.")
    _approve(people.reviewer, version)
    _approve(people.reviewer2, version, "request_changes", "Hmm.")
    decisions = standing_decisions(card_for(version).current_revision)
    assert {uid: r.decision for uid, r in decisions.items()} == {
        people.reviewer.pk: Decision.APPROVE,
        people.reviewer2.pk: Decision.REQUEST_CHANGES,
    }
