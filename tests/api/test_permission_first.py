"""The REST API answers 403 to a user without the permission whatever the version's stage
or the rollback target (a nonexistent one included); a permitted user still gets the 409
or 404 that says what is wrong. Nothing changes either way."""

from __future__ import annotations

import pytest

from models_app import services
from models_app.models import AuditEvent, ModelVersion
from tests.api.conftest import error_of
from tests.factories import current_sha256, register

BASE = "/api/v1/models/fraud_detector"


@pytest.fixture
def history(people, model, promote):
    """1.0.0 archived (was in production), 1.1.0 in production, 1.2.0 deprecated."""
    promote(model, "1.0.0")
    promote(model, "1.1.0")
    old = register(actor=people.author, model=model, version="1.2.0")
    services.model_version_deprecate(actor=people.release, version=old, reason="old")
    return model


def _state():
    return (
        sorted(ModelVersion.objects.values_list("version", "stage")),
        AuditEvent.objects.count(),
    )


WRONG_STAGE = [
    ("promote", "1.1.0"),
    ("promote", "1.0.0"),
    ("promote", "2"),  # by number
    ("archive", "1.0.0"),
    ("archive", "1.2.0"),
    ("deprecate", "1.1.0"),
    ("deprecate", "1.2.0"),
]


@pytest.mark.parametrize("action,version", WRONG_STAGE)
def test_wrong_stage_is_403_without_the_permission_and_409_with_it(
    people, history, client_for, action, version
):
    url = f"{BASE}/versions/{version}/{action}/"
    before = _state()
    for who in (people.author, people.reviewer, people.viewer, people.outsider):
        r = client_for(who).post(url, {"reason": "try"}, format="json")
        assert r.status_code == 403, (who, r.content)
        assert error_of(r)["code"] == "permission_denied"
    r = client_for(people.release).post(url, {"reason": "try"}, format="json")
    assert r.status_code == 409
    assert error_of(r)["code"] == "invalid_transition"
    assert _state() == before


@pytest.mark.parametrize(
    "to_version,status",
    [
        ("9.9.9", 404),
        ("42", 404),  # a number no version has
        ("1.1.0", 409),  # the production version itself
        ("1.2.0", 409),  # deprecated
        ("3", 409),  # 1.2.0 by number
        (None, 200),  # the last known good version
    ],
)
def test_rollback_is_403_whatever_the_target_without_the_permission(
    people, history, client_for, to_version, status
):
    body = {"reason": "bad"} if to_version is None else {"reason": "bad", "to_version": to_version}
    before = _state()
    for who in (people.author, people.reviewer, people.viewer, people.outsider):
        r = client_for(who).post(f"{BASE}/rollback/", body, format="json")
        assert r.status_code == 403, (who, to_version, r.content)
        assert error_of(r)["code"] == "permission_denied"
    assert _state() == before
    r = client_for(people.release).post(f"{BASE}/rollback/", body, format="json")
    assert r.status_code == status, r.content


def test_rollback_by_number_restores_that_version(people, history, client_for):
    r = client_for(people.release).post(
        f"{BASE}/rollback/", {"reason": "bad", "to_version": "1"}, format="json"
    )
    assert r.status_code == 200, r.content
    assert (r.json()["restored"]["version"], r.json()["rolled_back"]) == ("1.0.0", "1.1.0")


def test_rollback_with_nothing_in_production_is_403_without_the_permission(
    people, model, client_for
):
    register(actor=people.author, model=model, version="1.0.0")
    r = client_for(people.author).post(f"{BASE}/rollback/", {"reason": "bad"}, format="json")
    assert r.status_code == 403
    r = client_for(people.release).post(f"{BASE}/rollback/", {"reason": "bad"}, format="json")
    assert r.status_code == 409


def test_review_outside_staging_is_403_for_a_user_who_may_not_review(people, history, client_for):
    url = f"{BASE}/versions/1.1.0/reviews/"
    body = {
        "decision": "approve",
        "revision_sha256": current_sha256(history.versions.get(version="1.1.0")),
    }
    r = client_for(people.outsider).post(url, body, format="json")
    assert r.status_code == 403
    r = client_for(people.reviewer2).post(url, body, format="json")
    assert r.status_code == 409
