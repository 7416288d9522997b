"""The reviewer and release-manager flows, walked in a real browser."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from approvals_app import services as approvals
from approvals_app.models import Review
from models_app import services
from models_app.enums import Stage
from models_app.models import ModelVersion
from tests.browser.conftest import sign_in
from tests.factories import FULL_CARD, current_sha256, make_promotable, register

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def stage(model, version: str) -> str:
    return ModelVersion.objects.get(registered_model=model, version=version).stage


@pytest.fixture
def candidate(people, model, promote):
    """fraud_detector: 1.0.0 archived, 1.1.0 in production, 1.2.0 waiting for review."""
    promote(model, "1.0.0", {"accuracy": 0.91})
    promote(model, "1.1.0", {"accuracy": 0.93})
    mv = register(actor=people.author, model=model, version="1.2.0", metrics={"accuracy": 0.95})
    approvals.card_update(actor=people.author, version=mv, sections=FULL_CARD)
    approvals.review_request(actor=people.author, version=mv, reason="Please review")
    return mv


def test_reviewer_signs_in_and_approves_card(people, candidate, new_page):
    page = new_page()
    sign_in(page, "reviewer")
    expect(page.locator("#inbox-count")).to_have_text("1")
    page.get_by_role("link", name="Review inbox").click()
    page.get_by_role("link", name="fraud_detector 1.2.0").click()
    expect(page.get_by_role("heading", name="Model card")).to_be_visible()
    page.get_by_label("Approve").check()
    page.get_by_label("Comment").fill("Card and metrics are convincing.")
    page.get_by_role("button", name="Submit review").click()
    expect(page.get_by_role("status").first).to_contain_text(
        "Your review (approve) of card revision 2 was recorded."
    )
    expect(page.locator(".reviews")).to_contain_text("Card and metrics are convincing.")
    review = Review.objects.get(model_version=candidate)
    assert (review.reviewer_username, review.decision) == ("reviewer", "approve")
    expect(page.locator("#inbox-count")).to_have_text("0")


def test_author_sees_no_approve_button_and_crafted_post_is_refused(people, candidate, new_page):
    page = new_page()
    sign_in(page, "author")
    page.goto(f"/models/fraud_detector/versions/{candidate.version}/")
    expect(
        page.get_by_text("You are this version's author, so you cannot review it.")
    ).to_be_visible()
    expect(page.get_by_role("button", name="Submit review")).to_have_count(0)
    expect(page.get_by_label("Approve")).to_have_count(0)
    csrf = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    response = page.request.post(
        f"/models/fraud_detector/versions/{candidate.version}/review/",
        form={
            "csrfmiddlewaretoken": csrf,
            "review-decision": "approve",
            "review-revision_sha256": current_sha256(candidate),
        },
    )
    # Redirected to the version page (Post/Redirect/Get), which answers with the 403.
    assert response.status == 403
    assert response.url.endswith(f"/models/fraud_detector/versions/{candidate.version}/")
    assert "author may not review model cards" in response.text()
    assert not Review.objects.filter(model_version=candidate).exists()


def test_release_manager_promotion_rollback_and_audit(people, model, candidate, new_page):
    services.policy_update(
        actor=people.admin,
        model=model,
        thresholds=[{"metric": "accuracy", "min": 0.9}],
        reason="Fraud needs 90%",
    )
    failing = register(
        actor=people.author, model=model, version="1.3.0", metrics={"accuracy": 0.87}
    )
    page = new_page()
    sign_in(page, "release")

    # While guards fail, the Promote button is disabled, right below the checklist that
    # gives each failing reason once; the button is described by those reasons.
    page.goto("/models/fraud_detector/versions/1.3.0/")
    promote = page.get_by_role("button", name="Promote")
    expect(promote).to_be_disabled()
    checks = page.locator("section", has=page.get_by_role("heading", name="Promotion checklist"))
    expect(checks.get_by_role("button", name="Promote")).to_be_disabled()
    expect(checks.locator("#promote-blocked")).to_contain_text("Failing now: 3 checks")
    for reason in [
        "accuracy 0.87 < required 0.9",
        "review not requested: card revision 1 needs 1 approval",
        "model card sections empty: intended use",
    ]:
        expect(promote).to_have_accessible_description(re.compile(re.escape(reason)))
        expect(page.get_by_text(reason)).to_have_count(1)
    expect(checks.locator(".check-fail")).to_have_count(3)

    # A promotion forced past the disabled button is refused by the server; nothing moves.
    csrf = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    forced = page.request.post(
        "/models/fraud_detector/versions/1.3.0/promote/",
        form={"csrfmiddlewaretoken": csrf, "promote-reason": "Try 1.3.0"},
    )
    assert forced.status == 409
    assert "accuracy 0.87 &lt; required 0.9" in forced.text()
    assert stage(model, failing.version) == Stage.STAGING

    # A passing promotion moves the production badge and archives the old production.
    make_promotable(candidate, author=people.author, reviewer=people.reviewer)
    page.goto("/models/fraud_detector/versions/1.2.0/")
    page.get_by_label("Reason").first.fill("Better accuracy")
    page.get_by_role("button", name="Promote").click()
    expect(page.get_by_role("status").first).to_contain_text("is now in production")
    expect(page.locator("h1 .badge")).to_have_text("Production")
    page.goto("/models/fraud_detector/")
    expect(page.locator(".production-panel")).to_contain_text("1.2.0")
    row = page.locator("tr", has=page.get_by_role("link", name="1.1.0", exact=True))
    expect(row.locator(".badge")).to_have_text("Archived")
    assert stage(model, "1.1.0") == Stage.ARCHIVED

    # A rollback, after its confirmation step, restores the last known good (1.1.0).
    expect(page.get_by_label("Restore version")).to_have_value("1.1.0")
    page.locator("#id_reason").fill("Spike in false positives")
    page.get_by_role("button", name="Review rollback").click()
    expect(page.get_by_role("heading", name="Confirm rollback of fraud_detector")).to_be_visible()
    page.get_by_role("button", name="Confirm rollback").click()
    expect(page.get_by_role("status").first).to_contain_text("1.1.0 is in production again.")
    expect(page.locator(".production-panel")).to_contain_text("1.1.0")
    assert stage(model, "1.1.0") == Stage.PRODUCTION
    assert stage(model, "1.2.0") == Stage.ROLLED_BACK

    # The audit page shows each step with the user and the reason.
    page.get_by_role("link", name="Audit log", exact=True).click()
    page.get_by_label("Model").fill("fraud_detector")
    page.get_by_label("User").fill("release")
    page.get_by_role("button", name="Filter").click()
    rows = page.locator("table.audit-table tbody tr")
    for what, version, reason in [
        ("Version restored by rollback", "1.1.0", "Spike in false positives"),
        ("Version rolled back", "1.2.0", "Spike in false positives"),
        ("Version promoted", "1.2.0", "Better accuracy"),
        ("Version archived", "1.1.0", "superseded by 1.2.0: Better accuracy"),
    ]:
        row = rows.filter(has_text=what).filter(has_text=f"fraud_detector {version}")
        expect(row.first).to_contain_text("release")
        expect(row.first).to_contain_text(reason)
