"""The dashboard's forms: each action through its service, each refusal explained."""

from __future__ import annotations

import re

from approvals_app.models import CardRevision, Review
from models_app.enums import Stage
from models_app.models import AuditEvent, ModelVersion
from tests.dashboard.conftest import version_url
from tests.factories import FULL_CARD, current_sha256, make_promotable


def refused(client, url: str, data: dict, page: str):
    """POST a refused or invalid action: it redirects to `page` (Post/Redirect/Get), which
    answers with the refusal's status; returns that page's response."""
    response = client.post(url, data, follow=True)
    assert response.redirect_chain == [(page, 302)], response.redirect_chain
    return response


def failing_reasons(html: str) -> list[str]:
    """The reasons of the checks the page marks as failed (✗), wherever they are."""
    return re.findall(
        r'<li class="check check-fail"[^>]*>.*?<span class="reason">([^<]*)</span>', html, re.S
    )


def refusal_panel(html: str) -> str:
    return html.split('class="panel refusal"')[1].split("</section>")[0]


def stage_of(mv) -> str:
    return ModelVersion.objects.get(pk=mv.pk).stage


def shown_sha256(html: str) -> str:
    """The card revision sha256 the page's review form carries (its hidden input)."""
    match = re.search(r'<input type="hidden" name="review-revision_sha256" value="([^"]*)"', html)
    assert match, "the review form carries no revision sha256"
    return match.group(1)


def test_review_approve_records_review_and_confirms(people, scene, login):
    client = login(people.reviewer)
    sha = shown_sha256(client.get(version_url(scene.candidate)).content.decode())
    assert sha == current_sha256(scene.candidate)
    response = client.post(
        version_url(scene.candidate, "review/"),
        {
            "review-decision": "approve",
            "review-comment": "Looks right.",
            "review-revision_sha256": sha,
        },
        follow=True,
    )
    assert response.status_code == 200
    assert "Your review (approve) of card revision 2 was recorded." in response.content.decode()
    review = Review.objects.get(model_version=scene.candidate)
    assert (review.reviewer, review.decision, review.comment) == (
        people.reviewer,
        "approve",
        "Looks right.",
    )


def test_review_reject_with_comment_is_recorded(people, scene, login):
    response = login(people.reviewer).post(
        version_url(scene.candidate, "review/"),
        {"review-decision": "reject", "review-comment": "Evaluation misses Q3."},
    )
    assert response.status_code == 302
    assert Review.objects.get(model_version=scene.candidate).decision == "reject"


def test_review_reject_without_comment_shows_error_in_place(people, scene, login):
    response = refused(
        login(people.reviewer),
        version_url(scene.candidate, "review/"),
        {"review-decision": "reject"},
        version_url(scene.candidate),
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="id_review-comment_error">A comment is required to reject' in html
    assert not Review.objects.filter(model_version=scene.candidate).exists()


def test_review_request_changes_is_recorded(people, scene, login):
    response = login(people.reviewer).post(
        version_url(scene.candidate, "review/"),
        {"review-decision": "request_changes", "review-comment": "Add the bias table."},
    )
    assert response.status_code == 302
    assert Review.objects.get(model_version=scene.candidate).decision == "request_changes"


def test_author_approving_own_version_is_refused(people, scene, login):
    client = login(people.author)
    page = client.get(version_url(scene.candidate)).content.decode()
    assert 'id="review-form"' not in page
    assert "You are this version's author, so you cannot review it." in page
    response = refused(
        client,
        version_url(scene.candidate, "review/"),
        {"review-decision": "approve", "review-revision_sha256": current_sha256(scene.candidate)},
        version_url(scene.candidate),
    )
    assert response.status_code == 403
    assert "author may not review model cards" in response.content.decode()
    assert not Review.objects.filter(model_version=scene.candidate).exists()


def test_reviewer_of_own_card_revision_is_refused(people, scene, login):
    """A reviewer who wrote the card revision is an author too (admin edits, then reviews)."""
    from approvals_app import services as approvals

    approvals.card_update(
        actor=people.admin, version=scene.candidate, sections={"limitations": "New text."}
    )
    response = refused(
        login(people.admin),
        version_url(scene.candidate, "review/"),
        {"review-decision": "approve", "review-revision_sha256": current_sha256(scene.candidate)},
        version_url(scene.candidate),
    )
    assert response.status_code == 403
    assert "Authors cannot review their own version or card revision." in response.content.decode()
    assert not Review.objects.filter(model_version=scene.candidate).exists()


def test_card_edited_between_reading_and_approving_is_refused_and_shows_the_new_revision(
    people, scene, login
):
    from approvals_app import services as approvals

    client = login(people.reviewer)
    read = shown_sha256(client.get(version_url(scene.candidate)).content.decode())
    approvals.card_update(
        actor=people.author, version=scene.candidate, sections={"evaluation": "Swapped numbers."}
    )
    current = current_sha256(scene.candidate)
    response = refused(
        client,
        version_url(scene.candidate, "review/"),
        {"review-decision": "approve", "review-revision_sha256": read},
        version_url(scene.candidate),
    )
    assert response.status_code == 409
    html = response.content.decode()
    assert "The card changed since it was read: the current revision is 3" in html
    assert current in html
    assert not Review.objects.filter(model_version=scene.candidate).exists()
    # The page now shows revision 3, and its form is bound to revision 3.
    assert "Swapped numbers." in html
    assert "Your review of card revision 3" in html
    assert shown_sha256(html) == current
    response = client.post(
        version_url(scene.candidate, "review/"),
        {"review-decision": "approve", "review-revision_sha256": shown_sha256(html)},
    )
    assert response.status_code == 302
    review = Review.objects.get(model_version=scene.candidate)
    assert (review.revision.number, review.revision_sha256) == (3, current)


def test_approval_posted_without_the_revision_read_is_refused(people, scene, login):
    response = refused(
        login(people.reviewer),
        version_url(scene.candidate, "review/"),
        {"review-decision": "approve"},
        version_url(scene.candidate),
    )
    assert response.status_code == 400
    assert "An approval must name the card revision it approves" in response.content.decode()
    assert not Review.objects.filter(model_version=scene.candidate).exists()


def test_card_edit_reason_with_terminal_escape_is_refused(people, scene, login):
    response = refused(
        login(people.author),
        version_url(scene.candidate, "card/"),
        {**FULL_CARD, "evaluation": "New.", "reason": "fix\x1b[2J\x1b[32mapproved by admin"},
        version_url(scene.candidate, "card/"),
    )
    assert response.status_code == 400
    assert "reason contains a control or bidirectional-override character (U+001B)" in (
        response.content.decode()
    )
    assert CardRevision.objects.filter(card__model_version=scene.candidate).count() == 2


def test_review_request_reason_with_bidi_override_is_refused(people, scene, login):
    before = AuditEvent.objects.count()
    response = refused(
        login(people.author),
        version_url(scene.candidate, "request-review/"),
        {"request-reason": "see \u202egnp.exe"},
        version_url(scene.candidate),
    )
    assert response.status_code == 400
    assert "(U+202E)" in response.content.decode()
    assert AuditEvent.objects.count() == before


def test_promote_failing_version_shows_each_failed_guard(people, scene, login):
    response = refused(
        login(people.release),
        version_url(scene.candidate, "promote/"),
        {"promote-reason": "Ship it"},
        version_url(scene.candidate),
    )
    assert response.status_code == 409
    html = response.content.decode()
    refusal = refusal_panel(html)
    assert "Promotion was refused: 1 check failed." in refusal
    assert '<span class="guard">review</span>' in refusal
    # The reason is said once: in the checklist, where the panel points.
    reason = "0 of 1 required approvals of card revision 2"
    assert html.count(reason) == 1
    assert [r for r in failing_reasons(html) if r.startswith(reason)]
    assert "Refused:" not in html.split('class="panel refusal"')[0]  # no message above
    assert stage_of(scene.candidate) == Stage.STAGING
    assert stage_of(scene.production) == Stage.PRODUCTION


def test_promote_failing_several_guards_lists_each(people, model, login):
    from models_app import services
    from tests.factories import register

    services.policy_update(
        actor=people.admin,
        model=model,
        thresholds=[{"metric": "accuracy", "min": 0.9}, {"metric": "latency_ms", "max": 50}],
    )
    mv = register(actor=people.author, model=model, version="0.1.0", metrics={"accuracy": 0.87})
    response = refused(
        login(people.release),
        version_url(mv, "promote/"),
        {"promote-reason": "go"},
        version_url(mv),
    )
    assert response.status_code == 409
    html = response.content.decode()
    assert "Promotion was refused: 4 checks failed." in refusal_panel(html)
    for reason in [
        "accuracy 0.87 &lt; required 0.9",
        "latency_ms is missing (allowed ≤ 50)",
        "review not requested: card revision 1 needs 1 approval",
        "model card sections empty: intended use, training data, evaluation",
    ]:
        assert html.count(reason) == 1, reason
        assert [r for r in failing_reasons(html) if r.startswith(reason)], reason
    assert stage_of(mv) == Stage.STAGING


def test_a_refusal_the_checklist_no_longer_shows_keeps_its_reason(people, scene, login):
    """Approved between the refusal and the page that shows it: the checklist now passes
    the review, so the panel gives the reason the promotion was refused for."""
    client = login(people.release)
    response = client.post(version_url(scene.candidate, "promote/"), {"promote-reason": "x"})
    assert response.status_code == 302
    make_promotable(scene.candidate, author=people.author, reviewer=people.reviewer)
    html = client.get(version_url(scene.candidate)).content.decode()
    refusal = refusal_panel(html)
    assert "The checklist below has changed since; the checks that failed then:" in refusal
    assert "0 of 1 required approvals of card revision 2" in refusal
    assert html.count("0 of 1 required approvals of card revision 2") == 1


def test_promote_passing_moves_badge_and_archives_old_production(people, scene, login):
    make_promotable(scene.candidate, author=people.author, reviewer=people.reviewer)
    client = login(people.release)
    response = client.post(
        version_url(scene.candidate, "promote/"), {"promote-reason": "Better F1"}, follow=True
    )
    html = response.content.decode()
    assert "fraud_detector 1.2.0 is now in production." in html
    assert stage_of(scene.candidate) == Stage.PRODUCTION
    assert stage_of(scene.production) == Stage.ARCHIVED
    model_page = client.get("/models/fraud_detector/").content.decode()
    panel = model_page.split('class="panel production-panel"')[1].split("</section>")[0]
    assert ">1.2.0</a>" in panel and "badge-production" in panel
    event = AuditEvent.objects.filter(action="version.promoted").latest("id")
    assert (event.actor_username, event.reason) == ("release", "Better F1")


def test_promote_without_reason_shows_error_in_place(people, scene, login):
    make_promotable(scene.candidate, author=people.author, reviewer=people.reviewer)
    response = refused(
        login(people.release),
        version_url(scene.candidate, "promote/"),
        {"promote-reason": "  "},
        version_url(scene.candidate),
    )
    assert response.status_code == 400
    assert 'id="id_promote-reason_error">This field is required.' in response.content.decode()
    assert stage_of(scene.candidate) == Stage.STAGING


def test_reviewer_promoting_is_refused(people, scene, login):
    make_promotable(scene.candidate, author=people.author, reviewer=people.reviewer2)
    client = login(people.reviewer)
    assert "/promote/" not in client.get(version_url(scene.candidate)).content.decode()
    response = refused(
        client,
        version_url(scene.candidate, "promote/"),
        {"promote-reason": "x"},
        version_url(scene.candidate),
    )
    assert response.status_code == 403
    html = response.content.decode()
    # Said once, in the refusal's panel: not again in the messages or on the form.
    assert html.count("reviewer may not promote versions") == 1
    refusal = html.split('class="panel refusal"')[1].split("</section>")[0]
    assert "reviewer may not promote versions: the role does not allow it." in refusal
    assert "Nothing was changed." in refusal
    assert stage_of(scene.candidate) == Stage.STAGING


def test_rollback_asks_for_confirmation_then_restores_last_known_good(people, scene, login):
    client = login(people.release)
    page = client.get("/models/fraud_detector/").content.decode()
    assert '<option value="1.0.0" selected>1.0.0</option>' in page  # last known good
    first = client.post(
        "/models/fraud_detector/rollback/", {"to_version": "1.0.0", "reason": "Alert storm"}
    )
    assert first.status_code == 200
    assert "Confirm rollback of fraud_detector" in first.content.decode()
    assert stage_of(scene.production) == Stage.PRODUCTION  # nothing happened yet
    second = client.post(
        "/models/fraud_detector/rollback/",
        {"to_version": "1.0.0", "reason": "Alert storm", "confirm": "on"},
        follow=True,
    )
    assert "1.0.0 is in production again." in second.content.decode()
    assert stage_of(scene.production) == Stage.ROLLED_BACK
    restored = ModelVersion.objects.get(registered_model=scene.model, version="1.0.0")
    assert restored.stage == Stage.PRODUCTION


def test_rollback_without_reason_is_refused_in_place(people, scene, login):
    response = refused(
        login(people.release),
        "/models/fraud_detector/rollback/",
        {"to_version": "1.0.0", "confirm": "on"},
        "/models/fraud_detector/",
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="id_reason_error">This field is required.' in html
    # The form shown again asks for the confirmation again.
    assert 'name="confirm" value="True"' not in html
    assert stage_of(scene.production) == Stage.PRODUCTION


def test_rollback_by_viewer_is_refused_at_confirmation(people, scene, login):
    for confirm in ("", "on"):
        response = refused(
            login(people.viewer),
            "/models/fraud_detector/rollback/",
            {"to_version": "1.0.0", "reason": "x", "confirm": confirm},
            "/models/fraud_detector/",
        )
        assert response.status_code == 403
        assert response.content.decode().count("Refused: viewer may not roll models back") == 1
    assert stage_of(scene.production) == Stage.PRODUCTION


def test_archive_with_reason(people, scene, login):
    response = login(people.release).post(
        version_url(scene.candidate, "archive/"), {"archive-reason": "Superseded by 1.3"}
    )
    assert response.status_code == 302
    assert stage_of(scene.candidate) == Stage.ARCHIVED


def test_deprecate_with_reason_and_refused_from_production(people, scene, login):
    client = login(people.release)
    answer = refused(
        client,
        version_url(scene.production, "deprecate/"),
        {"deprecate-reason": "old"},
        version_url(scene.production),
    )
    assert answer.status_code == 409
    assert "deprecate is allowed from staging, archived or rolled_back" in answer.content.decode()
    assert stage_of(scene.production) == Stage.PRODUCTION
    url = version_url(scene.candidate, "deprecate/")
    asked = client.post(url, {"deprecate-reason": "Leak"})
    assert asked.status_code == 200  # the confirmation page; nothing changed yet
    assert stage_of(scene.candidate) == Stage.STAGING
    done = client.post(url, {"deprecate-reason": "Leak", "deprecate-confirm": "on"})
    assert done.status_code == 302
    assert stage_of(scene.candidate) == Stage.DEPRECATED


def test_card_edit_creates_revision(people, scene, login):
    client = login(people.author)
    form = client.get(version_url(scene.candidate, "card/")).content.decode()
    assert "Intended use text." in form
    response = client.post(
        version_url(scene.candidate, "card/"),
        {
            "intended_use": "Scoring payments.",
            "training_data": "Two years.",
            "evaluation": "AUC 0.97.",
            "limitations": "None known.",
            "ethical_considerations": "Bias audit done.",
            "reason": "Clearer card",
        },
        follow=True,
    )
    assert "Card revision 3 saved." in response.content.decode()
    latest = CardRevision.objects.filter(card__model_version=scene.candidate).latest("number")
    assert (latest.number, latest.intended_use, latest.author) == (
        3,
        "Scoring payments.",
        people.author,
    )


def test_card_edit_by_other_team_contributor_is_refused(people, scene, login):
    client = login(people.outsider)
    assert client.get(version_url(scene.candidate, "card/")).status_code == 302
    before = CardRevision.objects.count()
    response = refused(
        client,
        version_url(scene.candidate, "card/"),
        {"intended_use": "Hijacked.", "reason": ""},
        version_url(scene.candidate, "card/"),
    )
    assert response.status_code == 403
    assert "not a member of that team" in response.content.decode()
    assert CardRevision.objects.count() == before


def test_request_review_puts_version_in_inbox(people, model, login):
    from tests.factories import register

    mv = register(actor=people.author, model=model, version="2.0.0")
    client = login(people.author)
    page = client.get(version_url(mv)).content.decode()
    assert "Request review</button>" in page
    response = client.post(version_url(mv, "request-review/"), {"request-reason": "Please"})
    assert response.status_code == 302
    inbox = login(people.reviewer).get("/reviews/").content.decode()
    assert "fraud_detector 2.0.0" in inbox


def test_request_review_by_reviewer_is_refused(people, scene, login):
    response = refused(
        login(people.reviewer),
        version_url(scene.candidate, "request-review/"),
        {},
        version_url(scene.candidate),
    )
    assert response.status_code == 403
    assert "Refused" in response.content.decode()


def test_inbox_oldest_first_and_empty_for_non_reviewers(people, model, login):
    from approvals_app import services as approvals
    from tests.factories import register

    for label in ["1.0.0", "0.9.0"]:
        mv = register(actor=people.author, model=model, version=label)
        approvals.review_request(actor=people.author, version=mv)
    html = login(people.reviewer).get("/reviews/").content.decode()
    assert html.index("fraud_detector 1.0.0") < html.index("fraud_detector 0.9.0")
    viewer = login(people.viewer).get("/reviews/").content.decode()
    assert "You do not have the reviewer role" in viewer


def test_token_created_shown_once_listed_and_revoked(people, login):
    from knox.models import AuthToken

    client = login(people.viewer)
    response = client.post("/account/tokens/", {"expiry_days": "7"})
    assert response.status_code == 200
    token = response.context["new_token"]
    assert token in response.content.decode()
    stored = AuthToken.objects.get(user=people.viewer)
    assert stored.token_key == token[: len(stored.token_key)]
    listing = client.get("/account/tokens/").content.decode()
    assert token not in listing
    assert stored.token_key in listing
    revoked = client.post("/account/tokens/revoke/", {"token_key": stored.token_key}, follow=True)
    assert "revoked" in revoked.content.decode()
    assert not AuthToken.objects.filter(user=people.viewer).exists()


def test_token_of_another_user_cannot_be_revoked(people, login):
    from knox.models import AuthToken

    other, _secret = AuthToken.objects.create(people.reviewer)
    response = refused(
        login(people.viewer),
        "/account/tokens/revoke/",
        {"token_key": other.token_key},
        "/account/tokens/",
    )
    assert response.status_code == 404
    assert "Refused: you have no token with that key." in response.content.decode()
    assert AuthToken.objects.filter(pk=other.pk).exists()


def test_post_without_csrf_token_is_refused(people, scene):
    from django.test import Client

    client = Client(enforce_csrf_checks=True, **{"wsgi.url_scheme": "https"})
    client.force_login(people.reviewer)
    response = client.post(version_url(scene.candidate, "review/"), {"review-decision": "approve"})
    assert response.status_code == 403
    assert not Review.objects.filter(model_version=scene.candidate).exists()
