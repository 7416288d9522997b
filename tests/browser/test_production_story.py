"""In a real browser: the models list shows what waits for review and how long production
has been there; the model page says why its production version is in production and
leads to the approving review."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from approvals_app import services as approvals
from approvals_app.models import Review
from models_app import services
from tests.browser.conftest import sign_in
from tests.factories import FULL_CARD, register

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_release_manager_sees_what_waits_and_why_production_is_there(
    people, model, promote, new_page
):
    promote(model, "1.0.0", {"accuracy": 0.91})
    production = promote(model, "1.1.0", {"accuracy": 0.93})
    waiting = register(actor=people.author, model=model, version="1.2.0")
    approvals.card_update(actor=people.author, version=waiting, sections=FULL_CARD)
    approvals.review_request(actor=people.author, version=waiting)
    page = new_page()
    sign_in(page, "release")

    row = page.locator("tr", has=page.get_by_role("link", name="fraud_detector", exact=True))
    expect(row.locator(".production-age")).to_contain_text("0 minutes")
    expect(row.locator(".waiting")).to_contain_text("1.2.0 awaiting review · 1 of 2 guards pass")

    row.get_by_role("link", name="fraud_detector", exact=True).click()
    panel = page.locator(".production-panel")
    expect(panel).to_contain_text("Promoted by release")
    expect(panel).to_contain_text("replacing 1.0.0")
    expect(panel).to_contain_text("Reason: ship it")
    expect(panel.locator(".promotion-checks .check-pass")).to_have_count(2)
    expect(page.locator(".versions-table")).to_contain_text("awaiting review · 1 of 2 guards pass")

    panel.get_by_role("link", name="Approved by reviewer").click()
    [review] = Review.objects.filter(model_version=production)
    expect(page.locator(f"#review-{review.pk}")).to_contain_text("reviewer Approve")
    assert page.url.endswith(f"/models/fraud_detector/versions/1.1.0/#review-{review.pk}")

    services.registered_model_rollback(actor=people.release, model=model, reason="drift")
    page.goto("/models/fraud_detector/")
    expect(panel).to_contain_text("Restored by a rollback that took 1.1.0 out of production")
    expect(panel).to_contain_text("Reason: drift")
