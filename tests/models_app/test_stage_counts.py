"""Each model stores how many of its versions are in each stage. The version's save keeps
those counts in its own transaction, whichever service saved it; lists and details read
them instead of counting versions, and `manage.py recount_versions` repairs them."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from models_app import services
from models_app.enums import Stage
from models_app.exceptions import Conflict, GuardsFailed
from models_app.models import ModelVersion, RegisteredModel
from tests.factories import make_model, register


def counted(model: RegisteredModel) -> dict[str, int]:
    """The model's versions per stage, counted from the versions themselves."""
    found = dict.fromkeys(Stage.values, 0)
    for stage in ModelVersion.objects.filter(registered_model=model).values_list(
        "stage", flat=True
    ):
        found[stage] += 1
    return found


def stored(model: RegisteredModel) -> dict[str, int]:
    return RegisteredModel.objects.get(pk=model.pk).stage_counts


def test_every_transition_moves_one_count(people, model, promote):
    assert stored(model) == dict.fromkeys(Stage.values, 0)
    first = promote(model, "1.0.0")
    second = promote(model, "2.0.0")  # archives 1.0.0
    register(actor=people.author, model=model, version="3.0.0")
    doomed = register(actor=people.author, model=model, version="4.0.0")
    services.model_version_deprecate(actor=people.release, version=doomed, reason="bad data")
    services.registered_model_rollback(actor=people.release, model=model, reason="regression")
    assert ModelVersion.objects.get(pk=first.pk).stage == Stage.PRODUCTION
    assert ModelVersion.objects.get(pk=second.pk).stage == Stage.ROLLED_BACK
    assert (
        stored(model)
        == counted(model)
        == {
            "staging": 1,
            "production": 1,
            "archived": 0,
            "rolled_back": 1,
            "deprecated": 1,
        }
    )
    fresh = RegisteredModel.objects.get(pk=model.pk)
    assert fresh.versions_count == 4 and fresh.last_number == 4


def test_registration_keeps_number_time_and_count_in_memory_and_stored(people, model):
    mv = register(actor=people.author, model=model, version="1.0.0")
    fresh = RegisteredModel.objects.get(pk=model.pk)
    assert (fresh.last_number, fresh.staging_count) == (1, 1)
    assert fresh.updated_at == mv.created_at


def test_refused_writes_leave_the_counts_alone(people, model):
    register(actor=people.author, model=model, version="1.0.0")
    before = stored(model)
    with pytest.raises(Conflict):  # a label already taken
        register(actor=people.author, model=model, version="1.0.0")
    staging = ModelVersion.objects.get(registered_model=model, version="1.0.0")
    with pytest.raises(GuardsFailed):  # no approvals
        services.model_version_promote(actor=people.release, version=staging, reason="try")
    assert stored(model) == before == counted(model)


def test_a_stale_full_save_of_the_model_does_not_undo_the_counts(people, model):
    stale = RegisteredModel.objects.get(pk=model.pk)  # read before the registrations
    register(actor=people.author, model=model, version="1.0.0")
    register(actor=people.author, model=model, version="2.0.0")
    stale.description = "edited on an old copy"
    stale.save()
    fresh = RegisteredModel.objects.get(pk=model.pk)
    assert fresh.description == "edited on an old copy"
    assert (fresh.staging_count, fresh.last_number) == (2, 2)


def test_recount_repairs_counts_written_around_the_application(people, model):
    other = make_model(actor=people.author, team=people.team, name="pricing_model")
    register(actor=people.author, model=model, version="1.0.0")
    register(actor=people.author, model=other, version="1.0.0")
    RegisteredModel.objects.filter(pk=model.pk).update(staging_count=7, archived_count=-1)
    out = io.StringIO()
    call_command("recount_versions", stdout=out)
    assert out.getvalue().splitlines() == ["corrected fraud_detector", "1 model(s) corrected."]
    assert stored(model) == counted(model) and stored(other) == counted(other)
    out = io.StringIO()
    call_command("recount_versions", stdout=out)
    assert out.getvalue().splitlines() == ["0 model(s) corrected."]


def test_the_rest_api_and_the_admin_show_the_stored_counts(people, model, promote, client):
    promote(model, "1.0.0")
    for i in range(3):
        register(actor=people.author, model=model, version=f"2.{i}.0")
    api = APIClient()
    api.force_authenticate(user=people.viewer)
    expected = {"staging": 3, "production": 1, "archived": 0, "rolled_back": 0, "deprecated": 0}
    detail = api.get(f"/api/v1/models/{model.name}/").json()
    assert (detail["versions_count"], detail["stage_counts"]) == (4, expected)
    listed = api.get("/api/v1/models/").json()["results"]
    assert [(m["name"], m["versions_count"], m["stage_counts"]) for m in listed] == [
        (model.name, 4, expected)
    ]
    client.force_login(people.admin)
    page = client.get("/admin/models_app/registeredmodel/?o=4").content.decode()
    assert '<td class="field-n_versions">4</td>' in page


def test_recount_repairs_a_mirrored_model_too(people, model):
    """The counts are derived rows, not an edit of the entry: a central registry recounts
    the models mirrored from team registries as well as its own."""
    register(actor=people.author, model=model, version="1.0.0")
    RegisteredModel.objects.filter(pk=model.pk).update(origin="team-x", staging_count=5)
    out = io.StringIO()
    call_command("recount_versions", stdout=out)
    assert out.getvalue().splitlines() == ["corrected fraud_detector", "1 model(s) corrected."]
    assert stored(model) == counted(model)
