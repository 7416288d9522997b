"""Renaming a model: one rule for every door (models_app.services.registered_model_rename).

Only admins rename, and only models none of whose versions was ever in production; the
permission is checked first, so a non-admin learns nothing from the refusal.
"""

from __future__ import annotations

import pytest

from models_app import services
from models_app.enums import Action
from models_app.exceptions import Conflict, NotAllowed
from models_app.models import AuditEvent, RegisteredModel
from tests.api.conftest import error_of
from tests.factories import register

URL = "/api/v1/models/{}/rename/"


def _rename(client, name, new_name):
    return client.post(URL.format(name), {"new_name": new_name}, format="json")


def test_admin_renames_a_model_never_in_production(people, model, client_for):
    register(actor=people.author, model=model, version="1.0.0")
    r = _rename(client_for(people.admin), "fraud_detector", "fraud_scorer")
    assert r.status_code == 200, r.json()
    assert r.json()["name"] == "fraud_scorer"
    model.refresh_from_db()
    assert model.name == "fraud_scorer"
    assert model.versions.get().version == "1.0.0"
    event = AuditEvent.objects.get(action=Action.MODEL_RENAMED)
    assert event.actor_username == "admin_user"
    assert event.changes == {"name": ["fraud_detector", "fraud_scorer"]}
    assert event.payload == {"old_name": "fraud_detector", "new_name": "fraud_scorer"}
    assert event.reason == "renamed from fraud_detector"
    assert model.history.first().history_change_reason == "renamed from fraud_detector"


@pytest.mark.parametrize("who", ["author", "release", "reviewer", "viewer", "outsider"])
def test_non_admins_may_not_rename(people, model, client_for, who):
    r = _rename(client_for(getattr(people, who)), "fraud_detector", "mine")
    assert r.status_code == 403
    assert "only admins rename" in error_of(r)["message"]
    assert RegisteredModel.objects.filter(name="fraud_detector").exists()
    assert not AuditEvent.objects.filter(action=Action.MODEL_RENAMED).exists()


def test_non_admin_learns_nothing_about_production_or_names(people, model, promote, client_for):
    fresh = services.registered_model_create(actor=people.admin, name="fresh", team=people.team)
    promote(model, "1.0.0")
    messages = set()
    for name, new_name in (
        ("fraud_detector", "other"),
        ("fraud_detector", "fresh"),
        ("fraud_detector", "bad name"),
        ("fresh", "other"),
    ):
        r = _rename(client_for(people.author), name, new_name)
        assert r.status_code == 403, (name, new_name)
        messages.add(error_of(r)["message"])
    assert len(messages) == 1
    assert "1.0.0" not in messages.pop()
    assert fresh.name == RegisteredModel.objects.get(pk=fresh.pk).name


@pytest.mark.parametrize("how", ["production", "archived", "rolled_back"])
def test_a_model_that_was_in_production_is_never_renamed(people, model, promote, client_for, how):
    first = promote(model, "1.0.0")
    if how == "archived":
        services.model_version_archive(actor=people.release, version=first, reason="retire")
    elif how == "rolled_back":
        promote(model, "1.1.0")
        services.registered_model_rollback(actor=people.release, model=model, reason="bad")
        services.model_version_archive(
            actor=people.release, version=model.versions.get(version="1.0.0"), reason="off"
        )
    r = _rename(client_for(people.admin), "fraud_detector", "fraud_scorer")
    assert r.status_code == 409
    error = error_of(r)
    assert error["code"] == "conflict"
    assert "were in production" in error["message"]
    assert "1.0.0" in error["details"]["versions"]
    assert RegisteredModel.objects.filter(name="fraud_detector").exists()
    assert not AuditEvent.objects.filter(action=Action.MODEL_RENAMED).exists()


def test_rename_to_a_taken_or_bad_name_is_refused(people, model, client_for):
    services.registered_model_create(actor=people.admin, name="taken", team=people.team)
    admin = client_for(people.admin)
    taken = _rename(admin, "fraud_detector", "taken")
    assert taken.status_code == 409
    bad = _rename(admin, "fraud_detector", "../etc")
    assert bad.status_code == 400
    assert "new_name" in error_of(bad)["details"]
    unknown = admin.post(URL.format("fraud_detector"), {"name": "x"}, format="json")
    assert unknown.status_code == 400
    assert _rename(admin, "nope", "x").status_code == 404
    assert RegisteredModel.objects.filter(name="fraud_detector").exists()


def test_patch_still_refuses_a_name(people, model, client_for):
    r = client_for(people.admin).patch(
        "/api/v1/models/fraud_detector/", {"name": "x"}, format="json"
    )
    assert r.status_code == 400
    assert RegisteredModel.objects.filter(name="fraud_detector").exists()


def test_service_checks_permission_before_anything_else(people, model, promote):
    promote(model, "1.0.0")
    with pytest.raises(NotAllowed):
        services.registered_model_rename(actor=people.author, model=model, new_name="bad name")
    with pytest.raises(Conflict):
        services.registered_model_rename(actor=people.admin, model=model, new_name="x")
