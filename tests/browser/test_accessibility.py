"""Keyboard and label basics on the main pages, checked in the browser."""

from __future__ import annotations

import pytest

from tests.browser.conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

UNLABELLED = """() => Array.from(document.querySelectorAll('input, select, textarea'))
  .filter(el => el.type !== 'hidden' && el.offsetParent !== null)
  .filter(el => el.labels.length === 0 && !el.getAttribute('aria-label'))
  .map(el => el.name || el.id)"""


@pytest.fixture
def staged(people, model, promote):
    from approvals_app import services as approvals
    from tests.factories import FULL_CARD, register

    promote(model, "1.0.0")
    promote(model, "1.1.0")
    mv = register(actor=people.author, model=model, version="1.2.0")
    approvals.card_update(actor=people.author, version=mv, sections=FULL_CARD)
    approvals.review_request(actor=people.author, version=mv)
    return mv


def test_every_form_control_has_a_label(people, staged, new_page):
    page = new_page()
    sign_in(page, "admin_user")
    for url in [
        "/",
        "/models/fraud_detector/",
        "/models/fraud_detector/versions/1.2.0/",
        "/models/fraud_detector/versions/1.2.0/card/",
        "/models/fraud_detector/compare/",
        "/reviews/",
        "/audit/",
        "/account/tokens/",
    ]:
        page.goto(url)
        assert page.evaluate(UNLABELLED) == [], url


def test_keyboard_skip_link_then_review_by_keyboard_only(people, staged, new_page):
    page = new_page()
    sign_in(page, "reviewer")
    page.goto("/models/fraud_detector/versions/1.2.0/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    # From the first decision on, only keys: Space picks "Approve", Tab leaves the radio
    # group for the comment, Tab again reaches the submit button, Enter submits.
    page.locator("#id_review-decision_0").focus()
    page.keyboard.press("Space")
    page.keyboard.press("Tab")
    page.keyboard.type("Reviewed with the keyboard.")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    page.wait_for_url("**/versions/1.2.0/")
    assert "Your review (approve)" in page.content()
