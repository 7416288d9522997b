"""The review guard says "review not requested" while nobody asked for review, and every
door that shows guard results says the same words: the dry run, the REST checks, the
dashboard's checklist and the CLI's lines."""

from __future__ import annotations

from rest_framework.test import APIClient

from approvals_app import services as approvals
from modelreg_cli.main import guard_lines
from models_app import selectors, services
from tests.dashboard.conftest import https_client
from tests.factories import FULL_CARD, register

NOT_REQUESTED = "review not requested: card revision 2 needs 1 approval"


def _review(mv) -> str:
    [review] = [c for c in selectors.promotion_checks(version=mv) if c.guard == "review"]
    assert review.passed is False
    return review.reason


def test_review_guard_says_not_requested_until_someone_asks(people, model):
    mv = register(actor=people.author, model=model, version="1.0.0")
    approvals.card_update(actor=people.author, version=mv, sections=FULL_CARD)
    assert _review(mv) == NOT_REQUESTED
    approvals.review_request(actor=people.author, version=mv)
    assert _review(mv) == "0 of 1 required approvals of card revision 2"


def test_two_required_approvals_not_requested_are_counted_in_the_plural(people, model):
    services.policy_update(actor=people.admin, model=model, required_approvals=2)
    mv = register(actor=people.author, model=model, version="1.0.0")
    assert _review(mv) == "review not requested: card revision 1 needs 2 approvals"


def test_every_door_shows_the_same_review_text(people, model):
    mv = register(actor=people.author, model=model, version="1.0.0")
    approvals.card_update(actor=people.author, version=mv, sections=FULL_CARD)

    rest = APIClient()
    rest.force_authenticate(user=people.release)
    api = rest.get("/api/v1/models/fraud_detector/versions/1.0.0/checks/")
    assert api.status_code == 200
    [review] = [c for c in api.json()["checks"] if c["guard"] == "review"]
    assert review["reason"] == NOT_REQUESTED

    assert f"✗ review: {NOT_REQUESTED}" in guard_lines(api.json()["checks"])

    web = https_client()
    web.force_login(people.release)
    html = web.get("/models/fraud_detector/versions/1.0.0/").content.decode()
    assert f'review</span>: <span class="reason">{NOT_REQUESTED}</span>' in html
