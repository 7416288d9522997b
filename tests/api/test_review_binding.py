"""Through the REST API, an approval names the card revision it read, and the reasons and
comments that reach the audit trail hold no terminal escapes or bidirectional overrides."""

from __future__ import annotations

import pytest

from approvals_app.models import Review
from approvals_app.selectors import card_for
from models_app.enums import Action
from models_app.models import AuditEvent
from tests.api.conftest import error_of
from tests.factories import FULL_CARD, register

BASE = "/api/v1/models/fraud_detector/versions/1.0.0"


@pytest.fixture
def version(people, model, client_for):
    mv = register(actor=people.author, model=model, version="1.0.0")
    author = client_for(people.author)
    assert author.put(f"{BASE}/card/", {"sections": FULL_CARD}, format="json").status_code == 200
    assert author.post(f"{BASE}/request-review/", {}, format="json").status_code == 200
    return mv


def _submitted() -> int:
    return AuditEvent.objects.filter(action=Action.REVIEW_SUBMITTED).count()


@pytest.mark.parametrize("sha", ["absent", None, ""])
def test_approval_without_the_revision_read_is_400(people, version, client_for, sha):
    body = {"decision": "approve", "comment": "ok"}
    if sha != "absent":
        body["revision_sha256"] = sha
    r = client_for(people.reviewer).post(f"{BASE}/reviews/", body, format="json")
    assert r.status_code == 400, r.content
    error = error_of(r)
    assert error["code"] == "invalid"
    assert "revision_sha256" in error["details"]
    assert "approval must name the card revision" in error["message"]
    assert not Review.objects.exists()
    assert _submitted() == 0


@pytest.mark.parametrize("sha", ["0" * 63, "A" * 64, "g" * 64, 12, ["x"]])
def test_malformed_revision_sha256_is_400(people, version, client_for, sha):
    r = client_for(people.reviewer).post(
        f"{BASE}/reviews/", {"decision": "approve", "revision_sha256": sha}, format="json"
    )
    assert r.status_code == 400, r.content
    assert "revision_sha256" in error_of(r)["details"]
    assert not Review.objects.exists()


def test_card_edited_between_read_and_approval_is_409_and_nothing_stored(
    people, version, client_for
):
    reviewer, author = client_for(people.reviewer), client_for(people.author)
    read = reviewer.get(f"{BASE}/card/").json()
    edited = author.put(f"{BASE}/card/", {"sections": {"evaluation": "Swapped."}}, format="json")
    current = edited.json()
    assert current["revision"] == read["revision"] + 1
    r = reviewer.post(
        f"{BASE}/reviews/",
        {"decision": "approve", "revision_sha256": read["sha256"]},
        format="json",
    )
    assert r.status_code == 409, r.content
    error = error_of(r)
    assert error["code"] == "conflict"
    assert f"current revision is {current['revision']}" in error["message"]
    assert current["sha256"] in error["message"]
    assert error["details"] == {"revision": current["revision"], "sha256": current["sha256"]}
    assert not Review.objects.exists()
    assert _submitted() == 0
    # Having read the new revision, the reviewer's approval counts for it.
    r = reviewer.post(
        f"{BASE}/reviews/",
        {"decision": "approve", "revision_sha256": current["sha256"]},
        format="json",
    )
    assert r.status_code == 201, r.content
    assert (r.json()["revision"], r.json()["revision_sha256"]) == (3, current["sha256"])


def test_reject_may_come_unbound_but_a_stale_sha256_is_409(people, version, client_for):
    reviewer = client_for(people.reviewer)
    stale = reviewer.get(f"{BASE}/card/").json()["sha256"]
    client_for(people.author).put(
        f"{BASE}/card/", {"sections": {"evaluation": "v3"}}, format="json"
    )
    r = reviewer.post(
        f"{BASE}/reviews/",
        {"decision": "reject", "comment": "No.", "revision_sha256": stale},
        format="json",
    )
    assert r.status_code == 409, r.content
    assert not Review.objects.exists()
    r = reviewer.post(f"{BASE}/reviews/", {"decision": "reject", "comment": "No."}, format="json")
    assert r.status_code == 201, r.content
    assert r.json()["revision"] == 3


HOSTILE = ["ok\x1b[2J\x1b[31mforged", "ok\u202egnp.exe", "ok\x9b31m", "ok\x07"]


@pytest.mark.parametrize("reason", HOSTILE)
def test_card_edit_reason_with_control_characters_is_400(people, version, client_for, reason):
    r = client_for(people.author).put(
        f"{BASE}/card/", {"sections": {"evaluation": "v3"}, "reason": reason}, format="json"
    )
    assert r.status_code == 400, r.content
    assert "reason" in error_of(r)["details"]
    assert card_for(version).current_revision.number == 2


@pytest.mark.parametrize("reason", HOSTILE)
def test_review_request_reason_with_control_characters_is_400(people, version, client_for, reason):
    before = AuditEvent.objects.count()
    r = client_for(people.author).post(f"{BASE}/request-review/", {"reason": reason}, format="json")
    assert r.status_code == 400, r.content
    assert "reason" in error_of(r)["details"]
    assert AuditEvent.objects.count() == before


@pytest.mark.parametrize("comment", HOSTILE)
def test_review_comment_with_control_characters_is_400(people, version, client_for, comment):
    sha = client_for(people.reviewer).get(f"{BASE}/card/").json()["sha256"]
    r = client_for(people.reviewer).post(
        f"{BASE}/reviews/",
        {"decision": "approve", "comment": comment, "revision_sha256": sha},
        format="json",
    )
    assert r.status_code == 400, r.content
    assert "comment" in error_of(r)["details"]
    assert not Review.objects.exists()


def test_multiline_reasons_are_kept_as_for_transitions(people, version, client_for):
    r = client_for(people.author).put(
        f"{BASE}/card/",
        {"sections": {"evaluation": "v3"}, "reason": "New hold-out.\nSee the run."},
        format="json",
    )
    assert r.status_code == 200, r.content
    event = AuditEvent.objects.filter(action=Action.CARD_EDITED).order_by("-id").first()
    assert event.reason == "New hold-out.\nSee the run."
