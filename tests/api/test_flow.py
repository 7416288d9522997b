"""The whole governed flow through the API: register, card, review, checks, promote,
rollback; and the 409 of failed guards listing each guard with its reason."""

from __future__ import annotations

from approvals_app.cards import SECTION_TITLES
from models_app.models import AuditEvent
from tests.api.conftest import error_of
from tests.factories import FULL_CARD

BASE = "/api/v1/models/fraud_detector"
CARD_DOC = "\n".join(f"## {title}\n\n{title} text.\n" for title in SECTION_TITLES.values())


def test_flow_register_review_promote_rollback(people, model, client_for):
    author, reviewer, release = (
        client_for(u) for u in (people.author, people.reviewer, people.release)
    )

    r = author.post(
        f"{BASE}/versions/", {"version": "1.0.0", "metrics": {"accuracy": 0.95}}, format="json"
    )
    assert r.status_code == 201, r.json()
    assert r.json()["stage"] == "staging" and r.json()["number"] == 1

    r = release.get(f"{BASE}/versions/1.0.0/checks/")
    assert r.status_code == 200
    assert r.json()["ready"] is False
    assert any(not c["passed"] for c in r.json()["checks"])

    r = author.put(f"{BASE}/versions/1.0.0/card/", {"sections": FULL_CARD}, format="json")
    assert r.status_code == 200, r.json()
    card = r.json()
    assert card["revision"] == 2 and len(card["sha256"]) == 64
    assert "<h2>Intended use</h2>" in card["html"]

    r = author.post(f"{BASE}/versions/1.0.0/request-review/", {}, format="json")
    assert r.status_code == 200, r.json()
    assert r.json()["review_requested_at"] is not None

    r = reviewer.post(
        f"{BASE}/versions/1.0.0/reviews/",
        {"decision": "approve", "comment": "fine", "revision_sha256": card["sha256"]},
        format="json",
    )
    assert r.status_code == 201, r.json()
    assert r.json()["reviewer"] == "reviewer" and r.json()["revision"] == 2

    assert release.get(f"{BASE}/versions/1.0.0/checks/").json()["ready"] is True
    r = release.post(f"{BASE}/versions/1.0.0/promote/", {"reason": "ship"}, format="json")
    assert r.status_code == 200, r.json()
    assert r.json()["stage"] == "production"

    r = release.get(f"{BASE}/")
    assert r.json()["production"]["version"] == "1.0.0"

    # A second version, promoted, then rolled back to 1.0.0.
    author.post(
        f"{BASE}/versions/", {"version": "1.1.0", "metrics": {"accuracy": 0.96}}, format="json"
    )
    card = author.put(
        f"{BASE}/versions/1.1.0/card/",
        {"markdown": CARD_DOC},
        format="json",
    ).json()
    reviewer.post(
        f"{BASE}/versions/1.1.0/reviews/",
        {"decision": "approve", "revision_sha256": card["sha256"]},
        format="json",
    )
    assert (
        release.post(
            f"{BASE}/versions/1.1.0/promote/", {"reason": "better"}, format="json"
        ).status_code
        == 200
    )
    assert release.get(f"{BASE}/versions/1.0.0/").json()["stage"] == "archived"

    r = release.post(f"{BASE}/rollback/", {"reason": "1.1.0 misbehaves"}, format="json")
    assert r.status_code == 200, r.json()
    assert r.json()["restored"]["version"] == "1.0.0"
    assert r.json()["rolled_back"] == "1.1.0"
    assert release.get(f"{BASE}/production/").json()["version"] == "1.0.0"

    history = release.get(f"{BASE}/history/").json()
    actions = [e["action"] for e in history["results"]]
    assert "version.rolled_back" in actions and "version.promoted" in actions


def test_card_markdown_document_fills_every_section(people, model, client_for):
    author = client_for(people.author)
    author.post(f"{BASE}/versions/", {"version": "1.0.0"}, format="json")
    doc = "\n".join(f"## {title}\n\n{key} text\n" for key, title in SECTION_TITLES.items())
    r = author.put(f"{BASE}/versions/1.0.0/card/", {"markdown": doc}, format="json")
    assert r.status_code == 200, r.json()
    assert r.json()["sections"] == {key: f"{key} text" for key in SECTION_TITLES}


def test_card_with_both_sections_and_markdown_is_refused(people, model, client_for):
    author = client_for(people.author)
    author.post(f"{BASE}/versions/", {"version": "1.0.0"}, format="json")
    r = author.put(f"{BASE}/versions/1.0.0/card/", {"markdown": "x", "sections": {}}, format="json")
    assert r.status_code == 400
    assert "exactly one" in error_of(r)["message"]


def test_card_html_is_sanitised(people, model, client_for):
    author = client_for(people.author)
    author.post(f"{BASE}/versions/", {"version": "1.0.0"}, format="json")
    evil = {
        "intended_use": "<script>alert(1)</script>[x](javascript:alert(1)) "
        '<img src=x onerror="alert(1)">'
    }
    html = author.put(f"{BASE}/versions/1.0.0/card/", {"sections": evil}, format="json").json()[
        "html"
    ]
    assert "<script" not in html and "javascript:" not in html and "onerror" not in html


def test_promote_with_failed_guards_lists_each_guard_with_reason(people, model, client_for):
    admin = client_for(people.admin)
    admin.put(
        f"{BASE}/policy/",
        {"thresholds": [{"metric": "accuracy", "min": 0.9}], "reason": "bar"},
        format="json",
    )
    client_for(people.author).post(
        f"{BASE}/versions/", {"version": "1.0.0", "metrics": {"accuracy": 0.87}}, format="json"
    )
    r = client_for(people.release).post(
        f"{BASE}/versions/1.0.0/promote/", {"reason": "try"}, format="json"
    )
    assert r.status_code == 409
    error = error_of(r)
    assert error["code"] == "guards_failed"
    guards = {g["guard"]: g for g in error["details"]}
    assert guards["threshold:accuracy"] == {
        "guard": "threshold:accuracy",
        "passed": False,
        "reason": "accuracy 0.87 < required 0.9",
    }
    failed = [g for g in error["details"] if not g["passed"]]
    assert len(failed) >= 2  # the threshold, and at least the missing approval
    assert all(g["reason"] for g in error["details"])
    assert "accuracy 0.87 < required 0.9" in error["message"]


def test_review_of_stale_revision_is_409(people, model, client_for):
    author = client_for(people.author)
    author.post(f"{BASE}/versions/", {"version": "1.0.0"}, format="json")
    old = author.get(f"{BASE}/versions/1.0.0/card/").json()["sha256"]
    author.put(f"{BASE}/versions/1.0.0/card/", {"sections": FULL_CARD}, format="json")
    r = client_for(people.reviewer).post(
        f"{BASE}/versions/1.0.0/reviews/",
        {"decision": "approve", "revision_sha256": old},
        format="json",
    )
    assert r.status_code == 409
    assert "changed since it was read" in error_of(r)["message"]


def test_reviews_list_shows_decisions(people, model, client_for):
    author = client_for(people.author)
    author.post(f"{BASE}/versions/", {"version": "1.0.0"}, format="json")
    client_for(people.reviewer).post(
        f"{BASE}/versions/1.0.0/reviews/",
        {"decision": "request_changes", "comment": "fill the card"},
        format="json",
    )
    r = client_for(people.viewer).get(f"{BASE}/versions/1.0.0/reviews/")
    assert r.status_code == 200
    assert [(x["reviewer"], x["decision"]) for x in r.json()["results"]] == [
        ("reviewer", "request_changes")
    ]
    assert (
        AuditEvent.objects.filter(action="review.submitted", actor_username="reviewer").count() == 1
    )
