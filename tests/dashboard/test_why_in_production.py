"""The model page's production panel says why the production version is there: who
promoted it, when, why, the guards' results recorded at promotion and the approving
reviews; a version restored by a rollback shows that rollback instead."""

from __future__ import annotations

from approvals_app.models import Review
from models_app import services
from tests.factories import register


def _panel(html: str) -> str:
    return html.split('class="panel production-panel"')[1].split("</section>")[0]


def test_production_panel_names_the_promotion_its_guards_and_approving_reviews(
    people, model, promote, login
):
    promote(model, "1.0.0", {"accuracy": 0.91})
    production = promote(model, "1.1.0", {"accuracy": 0.93})
    panel = _panel(login(people.viewer).get("/models/fraud_detector/").content.decode())

    assert "Promoted by <strong>release</strong>" in panel
    assert "replacing 1.0.0" in panel
    assert "Reason: <q>ship it</q>" in panel
    assert "Guards at promotion" in panel
    assert (
        '<span class="guard">review</span>: <span class="reason">1 of 1 required approvals '
        "of card revision 2 (reviewer)</span>" in panel
    )
    assert '<span class="guard">model_card</span>' in panel
    [approval] = Review.objects.filter(model_version=production)
    link = f'href="/models/fraud_detector/versions/1.1.0/#review-{approval.pk}"'
    assert link in panel
    assert "Approved by reviewer" in panel
    # The link lands on that review of the version page.
    page = login(people.viewer).get("/models/fraud_detector/versions/1.1.0/").content.decode()
    assert f'id="review-{approval.pk}"' in page


def test_a_restored_version_shows_the_rollback_that_restored_it(people, model, promote, login):
    promote(model, "1.0.0")
    promote(model, "1.1.0")
    services.registered_model_rollback(
        actor=people.release, model=model, reason="1.1.0 drifts on new merchants"
    )
    panel = _panel(login(people.viewer).get("/models/fraud_detector/").content.decode())

    assert "Restored by a rollback" in panel
    assert "that took 1.1.0 out of production" in panel
    assert "rolled back by <strong>release</strong>" in panel
    assert "Reason: <q>1.1.0 drifts on new merchants</q>" in panel
    assert "Promoted by" not in panel
    assert "Guards at promotion" not in panel


def test_no_production_version_shows_no_story(people, model, login):
    register(actor=people.author, model=model, version="1.0.0")
    panel = _panel(login(people.viewer).get("/models/fraud_detector/").content.decode())
    assert "No version is in production." in panel
    assert "Promoted by" not in panel
