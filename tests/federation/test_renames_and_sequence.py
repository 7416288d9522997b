"""Federation end to end, continued: renames that pass a name from one model to another,
snapshots that arrive out of order (the change sequence), and what the central registry
tells about each origin's pushes."""

from __future__ import annotations

import pytest

from federation_app.models import SyncState
from federation_app.sync import SyncError, change_sequence, pending_items
from models_app import services
from models_app.models import AuditEvent, RegisteredModel
from tests.factories import make_model, make_promotable, register
from tests.federation.test_two_registries import (
    _admin_session,
    _central_shell,
    _push,
    central_versions,
    get,
    sync,
    sync_command,
)

pytestmark = pytest.mark.slow  # a central registry in a subprocess, for every test

ORIGIN = "team-fraud"


def make(people, name: str, *, description: str, version: str, accuracy: float):
    model = make_model(
        actor=people.author,
        team=people.team,
        name=name,
        description=description,
        tags={"about": name},
    )
    register(actor=people.author, model=model, version=version, metrics={"accuracy": accuracy})
    return model


def rename(people, model, new_name: str) -> None:
    services.registered_model_rename(
        actor=people.admin, model=RegisteredModel.objects.get(pk=model.pk), new_name=new_name
    )


def assert_central_matches_team(central) -> None:
    """The central catalog holds each team model under its team name, field by field, and
    nothing else from the origin."""
    team = {m.name: m for m in RegisteredModel.objects.filter(origin="")}
    listed = get(central, "/api/v1/models/", origin=ORIGIN, page_size=200)["results"]
    assert sorted(m["name"] for m in listed) == sorted(f"{ORIGIN}.{name}" for name in team)
    for name, model in team.items():
        qualified = f"{ORIGIN}.{name}"
        central_model = get(central, f"/api/v1/models/{qualified}/")
        assert (central_model["description"], central_model["tags"]) == (
            model.description,
            model.tags,
        ), name
        assert get(central, f"/api/v1/federation/models/{qualified}/")["origin_name"] == name
        assert central_versions(central, qualified) == {
            v.version: (v.stage, v.number, v.metrics) for v in model.versions.all()
        }, name


@pytest.mark.parametrize("batch_size", [None, 1])
def test_renames_in_a_chain_reach_the_central_catalog(central, people, batch_size):
    """chain_b becomes chain_c, then chain_a becomes chain_b: the snapshot of chain_a comes
    first (models go in the order they were created) while the old chain_b still holds
    the name centrally; in one batch or one item per batch."""
    chain_a = make(people, "chain_a", description="first", version="1.0.0", accuracy=0.5)
    chain_b = make(people, "chain_b", description="second", version="2.0.0", accuracy=0.6)
    sync(central)

    rename(people, chain_b, "chain_c")
    rename(people, chain_a, "chain_b")
    out, _err = sync_command(central, **({"batch_size": batch_size} if batch_size else {}))
    assert out.startswith("Pushed"), out

    assert_central_matches_team(central)
    # The old chain_b stood aside under a temporary name, recorded as a mirrored change.
    moved = [
        event
        for event in get(central, "/api/v1/audit/", action="model.changed", page_size=200)[
            "results"
        ]
        if event["changes"].get("name", [None])[0] == f"{ORIGIN}.chain_b"
    ]
    assert [
        (e["changes"]["name"][1], e["payload"]["origin"], e["payload"]["origin_id"], e["actor"])
        for e in moved
    ] == [(f"{ORIGIN}._renaming-{chain_b.pk}", ORIGIN, chain_b.pk, "catalog_sync")]
    assert "temporary name" in moved[0]["reason"]
    assert sync(central).nothing_to_push


@pytest.mark.parametrize("batch_size", [None, 1])
def test_two_models_that_swap_names_swap_them_centrally(central, people, batch_size):
    left = make(people, "left", description="left one", version="1.0.0", accuracy=0.7)
    right = make(people, "right", description="right one", version="3.0.0", accuracy=0.8)
    sync(central)

    # The team swaps them through a name of its own.
    rename(people, left, "swapping")
    rename(people, right, "left")
    rename(people, left, "right")
    sync(central, batch_size=batch_size or 50)

    assert_central_matches_team(central)
    assert get(central, f"/api/v1/models/{ORIGIN}.left/")["description"] == "right one"
    assert get(central, f"/api/v1/models/{ORIGIN}.right/")["description"] == "left one"
    assert sync(central).nothing_to_push


def test_a_name_held_by_a_model_of_the_central_registry_is_refused_and_shown(central, people):
    make(people, "scorer", description="team scorer", version="1.0.0", accuracy=0.5)
    sync(central)
    _central_shell(
        central,
        "import json; from django.contrib.auth.models import User;"
        "from models_app import services;"
        "admin = User.objects.get(username='central_admin');"
        "team = services.team_create(actor=admin, name='Central', slug='central');"
        "services.registered_model_create(actor=admin, team=team, name='team-fraud.wanted');"
        "print(json.dumps({}))",
    )
    [before] = get(central, "/api/v1/federation/registries/")["results"]
    assert (before["last_refused_at"], before["last_refusal_status"]) == (None, None)

    rename(people, RegisteredModel.objects.get(name="scorer"), "wanted")
    with pytest.raises(SyncError, match="refused with 409") as refused:
        sync(central)

    message = str(refused.value)
    assert "team-fraud.wanted is held by a model of this central registry" in message
    assert "run sync_catalog again" in message
    # The refused batch changed nothing, but the origin's status says why it is stuck.
    assert get(central, f"/api/v1/models/{ORIGIN}.scorer/")["origin"] == ORIGIN
    status = get(central, f"/api/v1/federation/registries/{ORIGIN}/")
    assert status["last_refusal_status"] == 409
    assert "is held by a model of this central registry" in status["last_refusal"]
    assert status["last_refused_at"] is not None
    assert status["batches"] == before["batches"]
    [listed] = get(central, "/api/v1/federation/registries/")["results"]
    assert listed.pop("seconds_since_last_push") >= 0
    assert listed == {k: v for k, v in status.items() if k != "seconds_since_last_push"}
    ids = _central_shell(
        central,
        "import json; from federation_app.models import OriginRegistry;"
        "print(json.dumps({'pk': OriginRegistry.objects.get(name='team-fraud').pk}))",
    )
    detail = _admin_session(central).get(
        f"{central.url}/admin/federation_app/originregistry/{ids['pk']}/change/"
    )
    assert "is held by a model of this central registry" in detail.text
    assert "Last refusal status" in detail.text


def test_a_replayed_older_snapshot_is_refused_as_stale(central, people, model, promote):
    v1 = promote(model, "1.0.0")
    first = pending_items(SyncState.objects.create(central_url="replay", registry_id=ORIGIN))
    first_seq = change_sequence()
    assert {item["seq"] for item in first if item["kind"] == "model"} == {first_seq}
    assert _push(central, central.tokens.sync_token, first).status_code == 200

    services.model_version_archive(actor=people.release, version=v1, reason="retired")
    candidate = register(actor=people.author, model=model, version="1.1.0")
    make_promotable(candidate, author=people.author, reviewer=people.reviewer)
    sync(central)
    assert central_versions(central)["1.0.0"][0] == "archived"
    second_seq = get(central, f"/api/v1/federation/registries/{ORIGIN}/")["last_seq"]
    assert second_seq > first_seq

    replayed = _push(central, central.tokens.sync_token, first)

    assert replayed.status_code == 200, replayed.text
    body = replayed.json()
    assert body["applied"]["stale"] == 1
    assert body["applied"]["stage_changes"] == 0
    assert body["stale"] == [
        {"kind": "model", "id": model.pk, "seq": first_seq, "held_seq": second_seq}
    ]
    assert central_versions(central)["1.0.0"][0] == "archived"
    assert central_versions(central) == {
        v.version: (v.stage, v.number, v.metrics) for v in model.versions.all()
    }
    status = get(central, f"/api/v1/federation/registries/{ORIGIN}/")
    assert (status["stale_items"], status["last_seq"]) == (1, second_seq)
    assert status["last_stale_at"] is not None
    # The same snapshot again (an equal sequence) is applied as before: up to date.
    again = pending_items(SyncState.objects.create(central_url="again", registry_id=ORIGIN))
    answer = _push(central, central.tokens.sync_token, again).json()
    assert (answer["applied"]["stale"], answer["stale"]) == (0, [])
    assert AuditEvent.objects.filter(pk__gt=second_seq).count() == 0
