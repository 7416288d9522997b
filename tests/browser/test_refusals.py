"""A refused action in a real browser: the page it came from shows the reasons once, at
an address that can be reloaded; the reload shows the plain page and repeats nothing."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from models_app import services
from models_app.enums import Stage
from models_app.models import AuditEvent, ModelVersion
from tests.browser.conftest import sign_in
from tests.factories import make_promotable, register

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

REASON = "1 of 2 required approvals of card revision 2"


@pytest.fixture
def approved(people, model, promote):
    """fraud_detector: 1.0.0 in production, 1.1.0 in staging with a card, approved once:
    every guard of the default policy passes."""
    promote(model, "1.0.0", {"accuracy": 0.91})
    mv = register(actor=people.author, model=model, version="1.1.0", metrics={"accuracy": 0.95})
    return make_promotable(mv, author=people.author, reviewer=people.reviewer)


def test_a_refused_promotion_shows_its_reasons_once_and_survives_a_reload(
    people, model, approved, new_page
):
    """The Promote button is live while every guard passes; the policy is tightened while
    the page is open, so the click is refused by the server."""
    page = new_page()
    sign_in(page, "release")
    address = "/models/fraud_detector/versions/1.1.0/"
    page.goto(address)
    expect(page.get_by_role("button", name="Promote")).to_be_enabled()
    services.policy_update(
        actor=people.admin, model=model, required_approvals=2, reason="Two approvals now"
    )
    page.get_by_label("Reason").first.fill("Ship 1.1.0")
    with page.expect_response(lambda r: r.url.endswith(address)) as shown:
        page.get_by_role("button", name="Promote").click()
    assert shown.value.status == 409
    # Back on the version page's own address, not the action's.
    assert page.url.endswith(address)
    expect(page.locator(".refusal")).to_contain_text("Promotion was refused: 1 check failed.")
    expect(page.locator(".refusal")).to_contain_text("review")
    expect(page.get_by_text(REASON)).to_have_count(1)
    expect(page.locator(".messages")).to_have_count(0)
    # The reason typed is still in the form.
    expect(page.get_by_label("Reason").first).to_have_value("Ship 1.1.0")
    events = AuditEvent.objects.count()

    response = page.reload()
    assert response.status == 200  # not 405, not the refusal again
    expect(page.locator(".refusal")).to_have_count(0)
    expect(page.get_by_text(REASON)).to_have_count(1)  # the checklist's, as before
    assert AuditEvent.objects.count() == events
    assert ModelVersion.objects.get(pk=approved.pk).stage == Stage.STAGING

    # The action's own address, loaded by hand, leads to the version page too.
    response = page.goto(address + "promote/")
    assert response.status == 200 and page.url.endswith(address)
    assert AuditEvent.objects.count() == events


def test_a_refused_rollback_is_shown_once_and_survives_a_reload(people, model, promote, new_page):
    promote(model, "1.0.0", {"accuracy": 0.91})
    promote(model, "1.1.0", {"accuracy": 0.93})
    page = new_page()
    sign_in(page, "release")
    page.goto("/models/fraud_detector/")
    page.locator("#id_reason").fill("Alerts")
    page.get_by_role("button", name="Review rollback").click()
    expect(page.get_by_role("heading", name="Confirm rollback of fraud_detector")).to_be_visible()
    # The release manager loses the role before confirming: the confirmation is refused.
    people.release.groups.clear()
    events = AuditEvent.objects.count()
    page.get_by_role("button", name="Confirm rollback").click()
    assert page.url.endswith("/models/fraud_detector/")
    alerts = page.locator(".messages .message-error")
    expect(alerts).to_have_count(1)
    expect(alerts.first).to_contain_text("Refused: release may not roll models back")
    expect(page.get_by_text("may not roll models back")).to_have_count(1)
    expect(page.locator(".form-errors")).to_have_count(0)
    response = page.reload()
    assert response.status == 200
    expect(page.locator(".messages")).to_have_count(0)
    assert AuditEvent.objects.count() == events
    assert ModelVersion.objects.get(registered_model=model, version="1.1.0").stage == (
        Stage.PRODUCTION
    )
