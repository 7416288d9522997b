"""The central side of renames, the change sequence and the origin's status, in-process
(the two-registry versions are in test_renames_and_sequence.py)."""

from __future__ import annotations

import copy

import pytest
from django.core.exceptions import ValidationError

from federation_app import services as federation
from federation_app.models import MirroredModel, OriginRegistry, SyncState
from federation_app.sync import pending_items
from models_app import services
from models_app.exceptions import Conflict, NotAllowed
from models_app.models import RegisteredModel
from tests.factories import make_model, make_user, register


def items_of(origin: str = "team-x") -> list[dict]:
    """Everything the team registry would push now (a sync state of its own each time)."""
    url = f"central-{SyncState.objects.count()}"
    return pending_items(SyncState.objects.create(central_url=url, registry_id=origin))


def model_items(items: list[dict]) -> list[dict]:
    return [item for item in items if item["kind"] == "model"]


def test_items_without_a_sequence_are_applied_as_before(people, model):
    items = items_of()
    federation.catalog_ingest(actor=people.admin, origin="team-x", items=items)
    [item] = model_items(items)
    assert MirroredModel.objects.get(origin_id=model.pk).seq == item["seq"]

    older = copy.deepcopy(item)
    del older["seq"]
    older["data"]["description"] = "from an older team registry"
    applied = federation.catalog_ingest(actor=people.admin, origin="team-x", items=[older])

    assert (applied["models"], applied["stale"]) == (1, 0)
    mirrored = RegisteredModel.objects.get(name="team-x.fraud_detector")
    assert mirrored.description == "from an older team registry"
    # The sequence held stays: a later snapshot with a lower one is still older.
    assert MirroredModel.objects.get(origin_id=model.pk).seq == item["seq"]


def test_a_lower_sequence_is_skipped_an_equal_one_applied(people, model):
    [item] = model_items(items_of())
    federation.catalog_ingest(actor=people.admin, origin="team-x", items=[item])
    older = {**copy.deepcopy(item), "seq": item["seq"] - 1}
    older["data"]["description"] = "older"
    same = {**copy.deepcopy(item)}
    same["data"]["description"] = "same snapshot, another part"

    result = federation.catalog_push(actor=people.admin, origin="team-x", items=[older, same])

    assert result.applied["stale"] == 1
    assert result.stale == [
        {"kind": "model", "id": model.pk, "seq": item["seq"] - 1, "held_seq": item["seq"]}
    ]
    assert RegisteredModel.objects.get(name="team-x.fraud_detector").description == (
        "same snapshot, another part"
    )
    registry = OriginRegistry.objects.get(name="team-x")
    assert (registry.stale_items, registry.last_seq) == (1, item["seq"])
    assert registry.last_stale_at is not None


@pytest.mark.parametrize("seq", [-1, "7", 1.5, True])
def test_a_sequence_that_is_not_a_whole_number_is_refused(people, model, seq):
    [item] = model_items(items_of())
    with pytest.raises(ValidationError, match="seq"):
        federation.catalog_ingest(actor=people.admin, origin="team-x", items=[{**item, "seq": seq}])
    assert not RegisteredModel.objects.filter(origin="team-x").exists()


def test_a_refused_push_is_recorded_on_its_origin_after_the_rollback(people, model):
    register(actor=people.author, model=model, version="1.0.0")
    federation.catalog_ingest(actor=people.admin, origin="team-x", items=items_of())
    [item] = model_items(items_of())
    bad = copy.deepcopy(item)
    bad["data"]["versions"][0]["stage"] = "nowhere"  # found after the description is written
    bad["data"]["description"] = "must not be stored"

    with pytest.raises(ValidationError):
        federation.catalog_ingest(actor=people.admin, origin="team-x", items=[bad])

    registry = OriginRegistry.objects.get(name="team-x")
    assert registry.last_refusal_status == 400
    assert "stage must be one of" in registry.last_refusal
    assert registry.last_refused_at is not None
    assert registry.batches == 1
    assert RegisteredModel.objects.get(name="team-x.fraud_detector").description == ""

    # Someone who may not push this origin leaves no trace on it.
    other = make_user("other_sync")
    with pytest.raises(NotAllowed):
        federation.catalog_ingest(actor=other, origin="team-x", items=[bad])
    assert OriginRegistry.objects.get(name="team-x").last_refused_at == registry.last_refused_at


def test_the_temporary_name_steps_around_a_model_of_the_central_registry(people):
    first = make_model(actor=people.author, team=people.team, name="first")
    second = make_model(actor=people.author, team=people.team, name="second")
    federation.catalog_ingest(actor=people.admin, origin="team-x", items=items_of())
    squatter = f"team-x._renaming-{second.pk}"
    make_model(actor=people.admin, team=people.other_team, name=squatter)
    services.registered_model_rename(actor=people.admin, model=second, new_name="third")
    services.registered_model_rename(actor=people.admin, model=first, new_name="second")
    # (This registry is its own team registry here: the squatter is pushed too.)
    renamed_first, renamed_second, _squatter = model_items(items_of())
    assert (renamed_first["data"]["name"], renamed_second["data"]["name"]) == ("second", "third")

    # Only the first snapshot: the old "second" stands aside and waits for its own.
    federation.catalog_ingest(actor=people.admin, origin="team-x", items=[renamed_first])

    assert RegisteredModel.objects.get(mirror__origin_id=first.pk).name == "team-x.second"
    assert RegisteredModel.objects.get(mirror__origin_id=second.pk).name == f"{squatter}-2"
    assert RegisteredModel.objects.get(name=squatter).origin == ""


def test_a_name_held_by_a_model_of_the_central_registry_is_refused(people, model):
    make_model(actor=people.admin, team=people.other_team, name="team-x.fraud_detector")
    with pytest.raises(Conflict, match="held by a model of this central registry") as refused:
        federation.catalog_ingest(actor=people.admin, origin="team-x", items=items_of())
    assert "run sync_catalog again" in str(refused.value)
    assert OriginRegistry.objects.get(name="team-x").last_refusal_status == 409


def test_one_origin_status_answers_404_for_an_unknown_origin(people, model):
    from rest_framework.test import APIClient

    federation.catalog_ingest(actor=people.admin, origin="team-x", items=items_of())
    client = APIClient()
    client.force_authenticate(people.viewer)
    found = client.get("/api/v1/federation/registries/team-x/")
    assert found.status_code == 200
    assert (found.json()["name"], found.json()["models"]) == ("team-x", 1)
    for name in ("team-nope", "team%00x"):
        missing = client.get(f"/api/v1/federation/registries/{name}/")
        assert missing.status_code == 404, name
        assert "has pushed here" in missing.json()["error"]["message"]


def test_a_refused_first_push_shows_the_origin_without_binding_it(people, model):
    bad = [{"kind": "nothing", "id": 1, "data": {}}]
    with pytest.raises(ValidationError, match="does not know that kind"):
        federation.catalog_ingest(actor=people.admin, origin="team-new", items=bad)

    registry = OriginRegistry.objects.get(name="team-new")
    assert (registry.bound_user, registry.batches, registry.last_refusal_status) == (None, 0, 400)
    sync_user = make_user("team_new_sync", superuser=True)
    federation.catalog_ingest(actor=sync_user, origin="team-new", items=items_of("team-new"))
    assert OriginRegistry.objects.get(name="team-new").bound_user == sync_user


def test_the_sync_summary_says_when_the_central_skipped_stale_snapshots():
    from collections import Counter

    from federation_app.sync import SyncResult

    fresh = SyncResult(batches_total=1, batches_sent=1, items=3, applied=Counter(models=3))
    assert "skipped" not in fresh.summary()
    stale = SyncResult(batches_total=1, batches_sent=1, items=3, applied=Counter(stale=2))
    assert stale.summary().endswith("It skipped 2 model snapshots older than the ones it holds.")
