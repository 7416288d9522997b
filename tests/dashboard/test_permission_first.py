"""The dashboard's transition and rollback forms answer 403 to a user without the permission
whatever the version's stage or the rollback target, with nothing changed; a permitted user
still learns what is wrong (409, or 400 for a target the form does not offer). A refusal
redirects to the page the form is on, which answers with the refusal's status."""

from __future__ import annotations

import pytest

from models_app.enums import Stage
from models_app.models import AuditEvent, ModelVersion
from tests.dashboard.conftest import version_url
from tests.factories import current_sha256


def _state():
    return sorted(ModelVersion.objects.values_list("version", "stage")), AuditEvent.objects.count()


@pytest.mark.parametrize(
    "action,which",
    [("promote", "production"), ("promote", "archived"), ("archive", "archived"),
     ("deprecate", "production")],
)  # fmt: skip
def test_version_action_in_the_wrong_stage(people, scene, login, action, which):
    mv = {
        "production": scene.production,
        "archived": ModelVersion.objects.get(version="1.0.0"),
    }[which]
    url, data = version_url(mv, f"{action}/"), {f"{action}-reason": "try"}
    before = _state()
    for who in (people.author, people.reviewer, people.viewer):
        response = login(who).post(url, data, follow=True)
        assert response.status_code == 403, who
        assert f"{who.username} may not" in response.content.decode()
    assert login(people.release).post(url, data, follow=True).status_code == 409
    assert _state() == before


def test_review_outside_staging_is_403_for_a_user_who_may_not_review(people, scene, login):
    url = version_url(scene.production, "review/")
    data = {
        "review-decision": "approve",
        "review-comment": "",
        "review-revision_sha256": current_sha256(scene.production),
    }
    assert login(people.viewer).post(url, data, follow=True).status_code == 403
    assert login(people.reviewer2).post(url, data, follow=True).status_code == 409


@pytest.mark.parametrize("to_version", ["9.9.9", "1.2.0", "1.1.0", "", "1.0.0"])
@pytest.mark.parametrize("confirm", ["", "on"])
def test_rollback_is_403_whatever_the_target(people, scene, login, to_version, confirm):
    data = {"to_version": to_version, "reason": "Alert storm", "confirm": confirm}
    before = _state()
    for who in (people.author, people.reviewer, people.viewer):
        response = login(who).post("/models/fraud_detector/rollback/", data, follow=True)
        assert response.status_code == 403, (who, response.status_code)
        html = response.content.decode()
        assert f"Refused: {who.username} may not roll models back" in html
        assert "Select a valid choice" not in html
    assert _state() == before


def test_rollback_to_a_target_not_offered_is_400_for_a_release_manager(people, scene, login):
    response = login(people.release).post(
        "/models/fraud_detector/rollback/",
        {"to_version": "9.9.9", "reason": "Alert storm", "confirm": "on"},
        follow=True,
    )
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    assert ModelVersion.objects.get(version="1.1.0").stage == Stage.PRODUCTION
