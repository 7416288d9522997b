"""Model cards and reviews, and approvals bound to the content they approve.

An approval names the card revision and its sha256; reviews are taken only in staging;
nobody approves their own version or card revision; each reviewer has an inbox.
"""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from approvals_app import services as approvals
from approvals_app.cards import content_sha256, parse_markdown, render_markdown, to_markdown
from approvals_app.models import CardRevision, Review
from approvals_app.selectors import card_for, review_inbox, reviews_of
from models_app import services
from models_app.enums import Action, Stage
from models_app.exceptions import Conflict, InvalidTransition, NotAllowed
from models_app.models import AuditEvent
from tests.factories import (
    FULL_CARD,
    approve,
    current_sha256,
    make_promotable,
    make_user,
    register,
)


@pytest.fixture
def version(people, model):
    v = register(actor=people.author, model=model, version="1.0.0")
    approvals.card_update(actor=people.author, version=v, sections=FULL_CARD)
    approvals.review_request(actor=people.author, version=v)
    return v


# --- Approvals bound to the card's content ------------------------------------------


def test_review_carries_revision_and_its_sha256(people, version):
    review = approve(version, reviewer=people.reviewer)
    revision = card_for(version).current_revision
    assert review.revision_id == revision.pk
    assert review.revision_sha256 == revision.sha256 == content_sha256(FULL_CARD)
    assert review.reviewer_username == "reviewer"
    event = AuditEvent.objects.get(model_version=version, action=Action.REVIEW_SUBMITTED)
    assert event.payload["sha256"] == revision.sha256
    assert (event.payload["decision"], event.actor_username) == ("approve", "reviewer")


def test_review_of_content_that_changed_since_read_is_refused(people, version):
    read_sha = card_for(version).current_revision.sha256
    approvals.card_update(actor=people.author, version=version, sections={"evaluation": "New."})
    with pytest.raises(Conflict, match="card changed"):
        approvals.review_submit(
            actor=people.reviewer, version=version, decision="approve", revision_sha256=read_sha
        )
    assert not Review.objects.exists()
    current = card_for(version).current_revision.sha256
    review = approvals.review_submit(
        actor=people.reviewer, version=version, decision="approve", revision_sha256=current
    )
    assert review.revision.number == 3


def test_conflict_names_the_current_revision_in_message_and_details(people, version):
    read_sha = current_sha256(version)
    approvals.card_update(actor=people.author, version=version, sections={"evaluation": "New."})
    current = card_for(version).current_revision
    with pytest.raises(Conflict) as excinfo:
        approvals.review_submit(
            actor=people.reviewer, version=version, decision="approve", revision_sha256=read_sha
        )
    assert "revision is 3" in excinfo.value.message
    assert current.sha256 in excinfo.value.message
    assert excinfo.value.details == {"revision": 3, "sha256": current.sha256}
    assert not Review.objects.exists()
    assert not AuditEvent.objects.filter(action=Action.REVIEW_SUBMITTED).exists()


@pytest.mark.parametrize("sha", [None, ""])
def test_approval_without_the_revision_read_is_refused(people, version, sha):
    with pytest.raises(ValidationError) as excinfo:
        approvals.review_submit(
            actor=people.reviewer, version=version, decision="approve", revision_sha256=sha
        )
    assert "revision_sha256" in excinfo.value.message_dict
    assert "approval must name the card revision" in str(excinfo.value)
    assert not Review.objects.exists()
    assert not AuditEvent.objects.filter(action=Action.REVIEW_SUBMITTED).exists()


@pytest.mark.parametrize("sha", ["abc", "A" * 64, "0" * 63 + "\n", 42, ["x"]])
def test_malformed_revision_sha256_is_refused(people, version, sha):
    with pytest.raises(ValidationError) as excinfo:
        approvals.review_submit(
            actor=people.reviewer,
            version=version,
            decision="reject",
            comment="no",
            revision_sha256=sha,
        )
    assert "revision_sha256" in excinfo.value.message_dict
    assert not Review.objects.exists()


@pytest.mark.parametrize("decision", ["reject", "request_changes"])
def test_objection_may_come_unbound_but_a_given_sha256_is_checked(people, version, decision):
    read_sha = current_sha256(version)
    approvals.card_update(actor=people.author, version=version, sections={"evaluation": "New."})
    with pytest.raises(Conflict, match="card changed"):
        approvals.review_submit(
            actor=people.reviewer,
            version=version,
            decision=decision,
            comment="no",
            revision_sha256=read_sha,
        )
    assert not Review.objects.exists()
    review = approvals.review_submit(
        actor=people.reviewer, version=version, decision=decision, comment="no"
    )
    assert (review.revision.number, review.revision_sha256) == (3, current_sha256(version))


def test_card_revisions_are_append_only_history(people, version):
    approvals.card_update(actor=people.author, version=version, sections={"evaluation": "v2"})
    revisions = list(CardRevision.objects.filter(card__model_version=version))
    assert [r.number for r in revisions] == [1, 2, 3]
    assert revisions[1].evaluation == FULL_CARD["evaluation"]
    assert revisions[2].evaluation == "v2"
    assert all(r.sha256 == content_sha256(r.sections()) for r in revisions)
    assert card_for(version).current_revision_id == revisions[2].pk


@pytest.mark.parametrize("stage", [Stage.PRODUCTION, Stage.ARCHIVED, Stage.DEPRECATED])
def test_no_review_outside_staging(people, model, promote, stage):
    v = promote(model, "1.0.0")
    if stage != Stage.PRODUCTION:
        services.model_version_archive(actor=people.release, version=v, reason="x")
    if stage == Stage.DEPRECATED:
        services.model_version_deprecate(actor=people.release, version=v, reason="x")
    reviews = Review.objects.count()
    for decision, comment in (("approve", ""), ("reject", "late objection")):
        with pytest.raises(InvalidTransition, match=f"'{stage}'"):
            approvals.review_submit(
                actor=people.reviewer2,
                version=v,
                decision=decision,
                comment=comment,
                revision_sha256=current_sha256(v),
            )
    assert Review.objects.count() == reviews


def test_no_review_of_rolled_back_version(people, model, promote):
    promote(model, "1.0.0")
    bad = promote(model, "1.1.0")
    services.registered_model_rollback(actor=people.release, model=model, reason="bad")
    with pytest.raises(InvalidTransition, match="'rolled_back'"):
        approve(bad, reviewer=people.reviewer2)


def test_author_cannot_reapprove_after_promotion(people, model, promote):
    """The attack on content-bound approvals: promotion done, the author slips in an approval."""
    v = promote(model, "1.0.0")
    author = make_user("author", "reviewer")
    with pytest.raises((InvalidTransition, NotAllowed)):
        approve(v, reviewer=author)
    assert not Review.objects.filter(reviewer=author).exists()


def test_admin_who_edited_the_card_cannot_approve_it(people, version):
    approvals.card_update(actor=people.admin, version=version, sections={"limitations": "Admin."})
    with pytest.raises(NotAllowed, match="Authors cannot review"):
        approve(version, reviewer=people.admin)


def test_admin_may_review_others_cards(people, version):
    review = approve(version, reviewer=people.admin)
    assert review.reviewer_username == "admin_user"


def test_version_author_superuser_cannot_approve(people, model):
    v = register(actor=people.admin, model=model, version="1.0.0")
    approvals.card_update(actor=people.author, version=v, sections=FULL_CARD)
    with pytest.raises(NotAllowed, match="Authors cannot review"):
        approve(v, reviewer=people.admin)


# --- Review input --------------------------------------------------------------------------


@pytest.mark.parametrize("decision", ["reject", "request_changes"])
def test_objection_needs_a_comment(people, version, decision):
    with pytest.raises(ValidationError) as excinfo:
        approvals.review_submit(actor=people.reviewer, version=version, decision=decision)
    assert "comment" in excinfo.value.message_dict


@pytest.mark.parametrize("decision", ["", "APPROVE", "lgtm", None])
def test_unknown_decision_is_refused(people, version, decision):
    with pytest.raises(ValidationError) as excinfo:
        approvals.review_submit(actor=people.reviewer, version=version, decision=decision)
    assert "decision" in excinfo.value.message_dict


def test_comment_with_control_characters_is_refused(people, version):
    with pytest.raises(ValidationError):
        approvals.review_submit(
            actor=people.reviewer,
            version=version,
            decision="approve",
            comment="ok\u202e",
            revision_sha256=current_sha256(version),
        )


# --- Cards ---------------------------------------------------------------------------------


def test_card_update_refuses_unknown_sections_and_control_characters(people, version):
    with pytest.raises(ValidationError) as excinfo:
        approvals.card_update(actor=people.author, version=version, sections={"bogus": "x"})
    assert "sections" in excinfo.value.message_dict
    with pytest.raises(ValidationError):
        approvals.card_update(actor=people.author, version=version, sections={"evaluation": "\x00"})
    with pytest.raises(ValidationError):
        approvals.card_update(actor=people.author, version=version, sections=["evaluation"])
    assert card_for(version).current_revision.number == 2


HOSTILE_TEXT = [
    "ok\x1b[2J\x1b[1;31mFAKE",  # ANSI escape: clears a terminal, paints forged text
    "ok\x9b2J",  # the one-byte C1 form of the same escape
    "ok\u202efdp.exe",  # right-to-left override
    "ok\u2066hidden\u2069",  # bidi isolate
    "ok\x00",
    "ok\x08\x08forged",  # backspaces
]


@pytest.mark.parametrize("reason", HOSTILE_TEXT)
def test_card_edit_reason_with_control_characters_is_refused(people, version, reason):
    events = AuditEvent.objects.count()
    with pytest.raises(ValidationError) as excinfo:
        approvals.card_update(
            actor=people.author, version=version, sections={"evaluation": "v3"}, reason=reason
        )
    assert "reason" in excinfo.value.message_dict
    assert card_for(version).current_revision.number == 2
    assert AuditEvent.objects.count() == events


@pytest.mark.parametrize("reason", HOSTILE_TEXT)
def test_review_request_reason_with_control_characters_is_refused(people, model, reason):
    v = register(actor=people.author, model=model, version="2.0.0")
    events = AuditEvent.objects.count()
    with pytest.raises(ValidationError) as excinfo:
        approvals.review_request(actor=people.author, version=v, reason=reason)
    assert "reason" in excinfo.value.message_dict
    assert card_for(v).review_requested_at is None
    assert AuditEvent.objects.count() == events


@pytest.mark.parametrize("comment", HOSTILE_TEXT)
def test_review_comment_with_control_characters_is_refused(people, version, comment):
    with pytest.raises(ValidationError) as excinfo:
        approvals.review_submit(
            actor=people.reviewer,
            version=version,
            decision="reject",
            comment=comment,
            revision_sha256=current_sha256(version),
        )
    assert "comment" in excinfo.value.message_dict
    assert not Review.objects.exists()


def test_reasons_may_span_lines_as_transition_reasons_do(people, version):
    """A reason or comment may hold line breaks (as a promotion's reason may): every view
    of the audit trail keeps it inside its own record, so it cannot forge another."""
    text = "First line.\r\nSecond line.\tTabbed."
    approvals.card_update(
        actor=people.author, version=version, sections={"evaluation": "v3"}, reason=text
    )
    approvals.review_request(actor=people.author, version=version, reason=text)
    approvals.review_submit(
        actor=people.reviewer,
        version=version,
        decision="request_changes",
        comment=text,
        revision_sha256=current_sha256(version),
    )
    reasons = AuditEvent.objects.filter(
        model_version=version,
        action__in=[Action.CARD_EDITED, Action.REVIEW_REQUESTED, Action.REVIEW_SUBMITTED],
    )
    assert list(reasons.order_by("id").values_list("reason", flat=True))[-3:] == [text] * 3
    with pytest.raises(ValidationError):
        services.model_version_promote(actor=people.release, version=version, reason="x\x1b[0m")


def test_card_of_deprecated_version_cannot_change(people, version):
    services.model_version_deprecate(actor=people.release, version=version, reason="gone")
    with pytest.raises(InvalidTransition, match="deprecated"):
        approvals.card_update(actor=people.author, version=version, sections={"evaluation": "x"})


def test_review_request_only_in_staging(people, model, promote):
    v = promote(model, "1.0.0")
    with pytest.raises(InvalidTransition, match="'production'"):
        approvals.review_request(actor=people.author, version=v)


def test_card_edit_leaves_history_and_event(people, version):
    approvals.card_update(
        actor=people.author, version=version, sections={"evaluation": "v2"}, reason="new eval"
    )
    event = AuditEvent.objects.filter(model_version=version, action=Action.CARD_EDITED).first()
    assert event.reason == "new eval"
    assert event.changes["evaluation"] == [FULL_CARD["evaluation"], "v2"]
    assert event.payload["revision"] == 3
    row = card_for(version).history.order_by("-history_id").first()
    assert (row.history_username, row.history_change_reason) == ("author", "new eval")


def test_markdown_round_trip_and_sanitised_rendering():
    sections = parse_markdown(to_markdown(FULL_CARD))
    assert sections == FULL_CARD
    html = render_markdown(
        "<script>alert(1)</script>[x](javascript:alert(1)) <img src=x onerror=alert(1)>"
    )
    assert "<script" not in html
    assert "javascript:" not in html
    assert "onerror" not in html


# --- Inbox ---------------------------------------------------------------------------------


def test_inbox_lists_requested_versions_oldest_first(people, model, version):
    second = register(actor=people.author, model=model, version="2.0.0")
    approvals.review_request(actor=people.author, version=second)
    unrequested = register(actor=people.author, model=model, version="3.0.0")
    inbox = list(review_inbox(user=people.reviewer))
    assert inbox == [version, second]
    assert unrequested not in inbox


def test_inbox_drops_reviewed_until_card_changes(people, version):
    approve(version, reviewer=people.reviewer)
    assert list(review_inbox(user=people.reviewer)) == []
    assert list(review_inbox(user=people.reviewer2)) == [version]
    approvals.card_update(actor=people.author, version=version, sections={"evaluation": "v3"})
    assert list(review_inbox(user=people.reviewer)) == [version]


def test_inbox_drops_versions_that_left_staging(people, version):
    make_promotable(version, author=people.author, reviewer=people.reviewer)
    services.model_version_promote(actor=people.release, version=version, reason="go")
    assert list(review_inbox(user=people.reviewer2)) == []


def test_inbox_never_shows_own_versions_and_is_empty_for_non_reviewers(people, model, version):
    mine = register(actor=people.admin, model=model, version="9.0.0")
    approvals.review_request(actor=people.admin, version=mine)
    assert mine not in list(review_inbox(user=people.admin))
    assert version in list(review_inbox(user=people.admin))
    for who in ("author", "viewer", "release"):
        assert list(review_inbox(user=getattr(people, who))) == []


def test_inbox_skips_cards_the_reviewer_wrote_earlier(people, version):
    dual = make_user("dual", "contributor", "reviewer")
    services.team_member_add(actor=people.admin, team=people.team, user=dual)
    assert list(review_inbox(user=dual)) == [version]
    approvals.card_update(actor=dual, version=version, sections={"evaluation": "By dual."})
    approvals.card_update(actor=people.author, version=version, sections={"evaluation": "Redo."})
    assert list(review_inbox(user=dual)) == []


def test_reviews_of_lists_every_review_in_order(people, version):
    approvals.review_submit(actor=people.reviewer, version=version, decision="reject", comment="no")
    approve(version, reviewer=people.reviewer2)
    assert [r.reviewer_username for r in reviews_of(version)] == ["reviewer", "reviewer2"]


def test_a_new_versions_card_starts_with_one_history_row_naming_its_revision(people, model):
    from approvals_app.models import ModelCard
    from models_app.context import reset_request_id, set_request_id

    token = set_request_id("req-card-created-1")
    try:
        mv = register(actor=people.author, model=model, version="1.0.0")
    finally:
        reset_request_id(token)
    card = ModelCard.objects.get(model_version=mv)
    revision = card.current_revision
    assert (revision.number, revision.sha256) == (1, content_sha256({}))
    rows = list(ModelCard.history.filter(id=card.pk))
    assert [row.history_type for row in rows] == ["+"]
    assert rows[0].current_revision_id == revision.pk
    assert (rows[0].history_user_id, rows[0].history_username) == (people.author.pk, "author")
    assert rows[0].history_request_id == "req-card-created-1"
    version_row = mv.history.get()
    assert version_row.history_request_id == "req-card-created-1"
