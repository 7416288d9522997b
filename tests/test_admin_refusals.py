"""The admin door: names, versions and tag keys with invisible characters are form errors
and store nothing (the admin's forms strip surrounding whitespace, so a trailing newline
never reaches the store); transitions by a user without the permission reveal nothing
about the stage, while a permitted user is told what is wrong."""

from __future__ import annotations

import json

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from models_app import selectors
from models_app.enums import Stage
from models_app.models import AuditEvent, ModelVersion, RegisteredModel, Team
from tests.factories import make_user

INVISIBLE = {"zwsp": "\u200b", "bom": "\ufeff", "rlo": "\u202e", "wj": "\u2060"}


def admin_url(name: str, *args) -> str:
    return reverse(f"admin:{name}", args=args)


def message_texts(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


@pytest.fixture
def su(client, people):
    client.force_login(people.admin)
    return client


def _model_form(people, **overrides) -> dict:
    return {"name": "churn", "team": people.team.pk, "description": "", "tags": "", **overrides}


@pytest.mark.parametrize("char", INVISIBLE.values(), ids=INVISIBLE.keys())
def test_model_add_with_invisible_character_in_name_or_tag_key(su, people, char):
    for data in (
        _model_form(people, name=f"churn{char}"),
        _model_form(people, tags=json.dumps({f"owner{char}": "x"})),
    ):
        response = su.post(admin_url("models_app_registeredmodel_add"), data)
        assert response.status_code == 200
        errors = response.context["adminform"].form.errors
        assert errors.get("name") or errors.get("tags"), errors
    assert not RegisteredModel.objects.exists()


@pytest.mark.parametrize("suffix", ["\n", "\r\n"])
def test_model_add_stores_a_name_without_its_trailing_newline(su, people, suffix):
    response = su.post(
        admin_url("models_app_registeredmodel_add"), _model_form(people, name="churn" + suffix)
    )
    assert response.status_code == 302
    assert list(RegisteredModel.objects.values_list("name", flat=True)) == ["churn"]


@pytest.mark.parametrize("char", INVISIBLE.values(), ids=INVISIBLE.keys())
def test_version_add_with_invisible_character_in_version_or_tag_key(su, people, model, char):
    base = {
        "registered_model": model.pk,
        "version": "2.0.0",
        "description": "",
        "metrics": "{}",
        "params": "{}",
        "tags": "",
        "artifact_uri": "",
        "artifact_sha256": "",
        "artifact_size": "",
        "data_version": "",
        "code_version": "",
        "source_run": "",
    }
    for overrides in (
        {"version": f"2.0.0{char}"},
        {"tags": json.dumps({f"{char}owner": "x"})},
        {"metrics": json.dumps({f"acc{char}": 0.9})},
    ):
        response = su.post(admin_url("models_app_modelversion_add"), {**base, **overrides})
        assert response.status_code == 200
        assert response.context["adminform"].form.errors
    assert not ModelVersion.objects.exists()


@pytest.mark.parametrize("char", INVISIBLE.values(), ids=INVISIBLE.keys())
def test_team_add_and_change_with_invisible_character_in_name(su, people, char):
    response = su.post(
        admin_url("models_app_team_add"), {"name": f"Risk{char}", "slug": "risk", "description": ""}
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    assert not Team.objects.filter(slug="risk").exists()
    response = su.post(
        admin_url("models_app_team_change", people.team.pk),
        {"name": f"Fraud{char}", "description": "", "members": []},
    )
    assert response.status_code == 200
    people.team.refresh_from_db()
    assert people.team.name == "Fraud"


def test_transition_actions_without_the_permission_say_nothing_of_the_stage(
    client, people, model, promote
):
    archived = promote(model, "1.0.0")
    production = promote(model, "1.1.0")
    staff = make_user("staff_contrib", "contributor")
    staff.is_staff = True
    staff.save()
    client.force_login(staff)
    events = AuditEvent.objects.count()
    for action, mv in (
        ("promote_versions", production),
        ("archive_versions", archived),
        ("deprecate_versions", production),
    ):
        response = client.post(
            admin_url("models_app_modelversion_changelist"),
            {"action": action, "_selected_action": [mv.pk], "confirm": "yes", "reason": "x"},
            follow=True,
        )
        texts = " ".join(message_texts(response))
        assert "stage" not in texts and "Cannot" not in texts, texts
    response = client.post(
        admin_url("models_app_registeredmodel_changelist"),
        {
            "action": "rollback_models",
            "_selected_action": [model.pk],
            "confirm": "yes",
            "reason": "x",
        },
        follow=True,
    )
    assert "Cannot" not in " ".join(message_texts(response))
    assert AuditEvent.objects.count() == events
    assert selectors.production_version(model=model).version == "1.1.0"


def test_transition_actions_tell_a_permitted_user_the_wrong_stage(su, people, model, promote):
    archived = promote(model, "1.0.0")
    production = promote(model, "1.1.0")
    for action, mv, verb in (
        ("promote_versions", production, "promote"),
        ("archive_versions", archived, "archive"),
        ("deprecate_versions", production, "deprecate"),
    ):
        response = su.post(
            admin_url("models_app_modelversion_changelist"),
            {"action": action, "_selected_action": [mv.pk], "confirm": "yes", "reason": "x"},
            follow=True,
        )
        assert any(f"Cannot {verb}" in text for text in message_texts(response))
    assert ModelVersion.objects.get(pk=production.pk).stage == Stage.PRODUCTION
