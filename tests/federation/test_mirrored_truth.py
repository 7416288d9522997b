"""A mirrored version tells its origin's truth at the normal endpoints and pages: the card,
the reviews and the checks recorded at the origin's promotion, marked as the origin's; the
writes stay refused, and nothing offers to review it here."""

from __future__ import annotations

import pytest
from django.urls import reverse
from knox.models import AuthToken
from rest_framework.test import APIClient

from approvals_app import services as approvals
from approvals_app.models import Review
from approvals_app.selectors import card_for, review_inbox
from federation_app import services as federation
from federation_app.models import SyncState
from federation_app.sync import pending_items
from models_app import services
from models_app.enums import Action, Stage
from models_app.models import AuditEvent, RegisteredModel
from tests.factories import FULL_CARD, make_promotable, register

MIRRORED = "team-x.fraud_detector"
BASE = f"/api/v1/models/{MIRRORED}/versions"


def _sync(people, *, kinds=("model", "audit")) -> RegisteredModel:
    state, _ = SyncState.objects.get_or_create(central_url="here", registry_id="team-x")
    items = pending_items(state)
    items = [item for item in items if item["kind"] in kinds]
    federation.catalog_ingest(actor=people.admin, origin="team-x", items=items)
    return RegisteredModel.objects.get(name=MIRRORED)


@pytest.fixture
def mirrored(people, model, promote):
    """fraud_detector 1.0.0 promoted (card, an approval) and 1.1.0 approved in staging, at
    "team-x", mirrored into this same database as a central catalog would hold them."""
    promote(model, "1.0.0")
    candidate = register(actor=people.author, model=model, version="1.1.0")
    make_promotable(candidate, author=people.author, reviewer=people.reviewer)
    return _sync(people)


@pytest.fixture
def api(people):
    client = APIClient()
    client.force_authenticate(people.viewer)
    return client


# --- REST -----------------------------------------------------------------------------------


def test_card_endpoint_answers_the_origins_card(api, model, mirrored):
    origin = model.versions.get(version="1.0.0")
    revision = card_for(origin).current_revision
    response = api.get(f"{BASE}/1.0.0/card/")
    assert response.status_code == 200
    body = response.json()
    assert body["sections"] == FULL_CARD
    assert (body["revision"], body["sha256"]) == (revision.number, revision.sha256)
    assert body["edited_by"] == "author"
    assert body["edited_at"] is None
    assert body["source"]["origin"] == "team-x"
    assert body["source"]["origin_id"] == card_for(origin).pk
    assert "Intended use text." in body["html"]


def test_card_of_a_local_version_says_it_has_no_source(api, model, mirrored):
    body = api.get("/api/v1/models/fraud_detector/versions/1.0.0/card/").json()
    assert body["source"] is None
    assert body["edited_at"] is not None


def test_reviews_endpoint_answers_the_origins_reviews(api, people, model, mirrored):
    origin_review = Review.objects.get(model_version=model.versions.get(version="1.0.0"))
    response = api.get(f"{BASE}/1.0.0/reviews/")
    assert response.status_code == 200
    [review] = response.json()["results"]
    assert review["reviewer"] == "reviewer"
    assert review["decision"] == "approve"
    assert review["revision"] == origin_review.revision.number
    assert review["revision_sha256"] == origin_review.revision_sha256
    assert review["source"] == {"origin": "team-x", "origin_id": origin_review.pk}
    local = api.get("/api/v1/models/fraud_detector/versions/1.0.0/reviews/").json()
    assert local["results"][0]["source"] is None


def test_checks_endpoint_answers_the_checks_recorded_at_the_origins_promotion(api, model, mirrored):
    promotion = AuditEvent.objects.get(
        model_version=model.versions.get(version="1.0.0"), action=Action.VERSION_PROMOTED
    )
    body = api.get(f"{BASE}/1.0.0/checks/").json()
    assert body["checks"] == promotion.payload["checks"]
    assert body["checks"] and all(check["passed"] for check in body["checks"])
    assert body["ready"] is False
    assert body["source"]["origin"] == "team-x"
    assert body["source"]["event_id"] == promotion.pk
    assert body["source"]["recorded_by"] == "release"
    assert body["source"]["reason"] == "ship it"
    local = api.get("/api/v1/models/fraud_detector/versions/1.0.0/checks/").json()
    assert local["source"] is None


def test_checks_of_a_mirrored_version_not_promoted_there_are_not_a_local_dry_run(api, mirrored):
    body = api.get(f"{BASE}/1.1.0/checks/").json()
    assert body["stage"] == Stage.STAGING
    assert body["checks"] == []
    assert body["ready"] is False
    assert body["source"] == {
        "origin": "team-x",
        "event_id": None,
        "recorded_at": None,
        "recorded_by": "",
        "reason": "",
    }


def test_checks_of_a_version_restored_by_a_rollback_are_those_of_its_promotion(
    api, people, model, promote
):
    promote(model, "1.0.0")
    promote(model, "1.1.0")
    services.registered_model_rollback(actor=people.release, model=model, reason="bad")
    _sync(people)
    first = model.versions.get(version="1.0.0")
    promotion = AuditEvent.objects.get(model_version=first, action=Action.VERSION_PROMOTED)
    body = api.get(f"{BASE}/1.0.0/checks/").json()
    assert body["stage"] == Stage.PRODUCTION
    assert body["source"]["event_id"] == promotion.pk
    assert body["checks"] == promotion.payload["checks"]


def test_checks_before_the_origins_events_arrive_say_nothing_recorded(api, people, model, promote):
    promote(model, "1.0.0")
    _sync(people, kinds=("model",))
    body = api.get(f"{BASE}/1.0.0/checks/").json()
    assert body["stage"] == Stage.PRODUCTION
    assert (body["checks"], body["source"]["event_id"]) == ([], None)


def test_writes_to_a_mirrored_card_and_reviews_stay_refused(people, mirrored):
    client = APIClient()
    client.force_authenticate(people.admin)
    card = client.get(f"{BASE}/1.1.0/card/").json()
    put = client.put(f"{BASE}/1.1.0/card/", {"sections": FULL_CARD}, format="json")
    assert put.status_code == 409
    assert "owned by registry team-x" in put.json()["error"]["message"]
    review = {"decision": "approve", "revision_sha256": card["sha256"]}
    post = client.post(f"{BASE}/1.1.0/reviews/", review, format="json")
    assert post.status_code == 409
    assert client.get(f"{BASE}/1.1.0/card/").json() == card
    assert len(client.get(f"{BASE}/1.1.0/reviews/").json()["results"]) == 1


# --- Dashboard ------------------------------------------------------------------------------


def test_version_page_shows_the_origins_card_reviews_and_checks(client, people, mirrored):
    client.force_login(people.viewer)
    response = client.get(reverse("approvals:version", args=[MIRRORED, "1.0.0"]))
    assert response.status_code == 200
    page = response.content.decode()
    assert page.count("from team-x") >= 3  # the card, the reviews, the checklist
    assert "Intended use text." in page
    assert "<strong>reviewer</strong>" in page
    assert "recorded when it promoted this version" in page
    assert "check-fail" not in page


def test_version_page_offers_no_review_or_lifecycle_form_on_a_mirrored_version(
    client, people, mirrored
):
    url = reverse("approvals:version", args=[MIRRORED, "1.1.0"])
    client.force_login(people.reviewer2)
    page = client.get(url).content.decode()
    assert 'id="review-form"' not in page
    assert "Request review" not in page
    client.force_login(people.admin)
    page = client.get(url).content.decode()
    assert 'id="review-form"' not in page
    assert "Edit card" not in page
    assert reverse("approvals:promote", args=[MIRRORED, "1.1.0"]) not in page


def test_review_inbox_never_offers_a_mirrored_version(people, model, mirrored):
    local = register(actor=people.author, model=model, version="1.2.0")
    approvals.card_update(actor=people.author, version=local, sections=FULL_CARD)
    approvals.review_request(actor=people.author, version=local)
    assert mirrored.versions.get(version="1.1.0").stage == Stage.STAGING
    inbox = list(review_inbox(user=people.reviewer2))
    assert sorted(mv.pk for mv in inbox) == sorted(
        [model.versions.get(version="1.1.0").pk, local.pk]
    )


def test_compare_diffs_the_origins_cards(client, people, model, mirrored):
    approvals.card_update(
        actor=people.author,
        version=model.versions.get(version="1.1.0"),
        sections={**FULL_CARD, "limitations": "Newer limits."},
    )
    _sync(people)
    client.force_login(people.viewer)
    url = reverse("approvals:compare", args=[MIRRORED])
    page = client.get(url, {"a": "1.0.0", "b": "1.1.0"}).content.decode()
    assert "from team-x" in page
    assert "+Newer limits." in page
    assert "-Limitations text." in page


# --- The MLflow door ------------------------------------------------------------------------


def test_mlflow_door_shows_the_mirrored_production_version_as_production(client, people, mirrored):
    token = AuthToken.objects.create(people.viewer)[1]
    response = client.get(
        "/api/2.0/mlflow/model-versions/get",
        {"name": MIRRORED, "version": "1"},
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 200
    version = response.json()["model_version"]
    assert version["current_stage"] == "Production"
    tags = {tag["key"]: tag["value"] for tag in version["tags"]}
    assert tags["registry.stage"] == Stage.PRODUCTION


# --- The admin ------------------------------------------------------------------------------


def test_admin_shows_the_origins_recorded_checks_and_runs_no_dry_run(client, people, mirrored):
    client.force_login(people.admin)
    production = mirrored.versions.get(version="1.0.0")
    page = client.get(reverse("admin:models_app_modelversion_change", args=[production.pk]))
    assert page.status_code == 200
    text = page.content.decode()
    assert "From team-x: the checks it recorded when it promoted this version" in text
    assert "<strong>FAIL</strong>" not in text
    staging = mirrored.versions.get(version="1.1.0")
    response = client.post(
        reverse("admin:models_app_modelversion_changelist"),
        {"action": "check_promotion", "index": "0", "_selected_action": [staging.pk]},
        follow=True,
    )
    text = response.content.decode()
    assert "owned by registry team-x; it is checked and promoted there" in text
    assert "promotion would be refused" not in text
