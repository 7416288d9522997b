"""The central side in-process: the ingest service, the ownership guard on every write
service, the stage walk, and origin in the API and the dashboard."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from rest_framework.test import APIClient

from approvals_app import services as approvals
from approvals_app.models import ModelCard
from federation_app import services as federation
from federation_app.models import MirroredAuditEvent, MirroredModel, SyncState
from federation_app.sync import model_snapshot, pending_items
from models_app import services
from models_app.enums import Action, Stage
from models_app.exceptions import Conflict, NotAllowed
from models_app.models import AuditEvent, ModelVersion, RegisteredModel
from tests.factories import FULL_CARD, make_promotable, register

ROOT = Path(__file__).resolve().parents[2]
OWNED = "fraud_detector is owned by registry team-x; change it there."


@pytest.fixture
def mirrored(people, model, promote):
    """fraud_detector (1.0.0 in production, 1.1.0 approved in staging) mirrored from team-x
    into this same database, as a central catalog would hold it."""
    promote(model, "1.0.0")
    candidate = register(actor=people.author, model=model, version="1.1.0")
    make_promotable(candidate, author=people.author, reviewer=people.reviewer)
    items = pending_items(SyncState.objects.create(central_url="here", registry_id="team-x"))
    federation.catalog_ingest(actor=people.admin, origin="team-x", items=items)
    return RegisteredModel.objects.get(name="team-x.fraud_detector")


def test_ingest_mirrors_the_model_with_its_origin_and_stages(mirrored, model):
    assert mirrored.origin == "team-x"
    assert mirrored.team.name == "Fraud (team-x)"
    stages = dict(mirrored.versions.values_list("version", "stage"))
    assert stages == dict(model.versions.values_list("version", "stage"))
    history = ModelVersion.history.filter(registered_model_id=mirrored.pk, stage="production")
    assert [h.history_user_id for h in history] == [mirrored.created_by_id]


EVENT_FIELDS = ("action", "object_type", "version_label", "from_stage", "to_stage")
HISTORY_FIELDS = ("history_type", "version", "number", "stage", "metrics", "params", "tags")


def _event(mv, action) -> AuditEvent:
    return AuditEvent.objects.get(model_version=mv, action=action)


def test_a_mirrored_registration_is_a_local_one_plus_its_origin(people, mirrored, model):
    """The copy is registered by the core's own registration: the same audit event and
    history row as the origin's, with the origin named and the sync user as the actor."""
    local = model.versions.get(version="1.1.0")
    copy = mirrored.versions.get(version="1.1.0")
    here, there = _event(local, Action.VERSION_REGISTERED), _event(copy, Action.VERSION_REGISTERED)
    assert [getattr(there, f) for f in EVENT_FIELDS] == [getattr(here, f) for f in EVENT_FIELDS]
    assert there.payload == {
        **here.payload,
        "origin": "team-x",
        "origin_id": local.pk,
        "origin_created_by": "author",
    }
    assert (here.reason, there.reason) == ("", "mirrored from team-x")
    assert (here.actor_username, there.actor_username) == ("author", people.admin.username)
    first_here = local.history.order_by("history_id").first()
    first_there = copy.history.order_by("history_id").first()
    assert [getattr(first_there, f) for f in HISTORY_FIELDS] == [
        getattr(first_here, f) for f in HISTORY_FIELDS
    ]
    assert (first_here.history_change_reason, first_there.history_change_reason) == (
        None,
        "mirrored from team-x",
    )
    assert first_there.history_username == people.admin.username
    # The origin's number; no card of its own: the origin's card is mirrored beside it.
    assert (copy.number, copy.created_by_id) == (local.number, people.admin.pk)
    assert ModelCard.objects.filter(model_version=local).exists()
    assert not ModelCard.objects.filter(model_version=copy).exists()


def test_a_mirrored_stage_change_is_the_local_transition_plus_its_origin(people, mirrored, model):
    local = model.versions.get(version="1.0.0")
    copy = mirrored.versions.get(version="1.0.0")
    here, there = _event(local, Action.VERSION_PROMOTED), _event(copy, Action.VERSION_PROMOTED)
    assert [getattr(there, f) for f in EVENT_FIELDS] == [getattr(here, f) for f in EVENT_FIELDS]
    assert there.payload == {
        "origin": "team-x",
        "origin_event_id": here.pk,
        "origin_actor": "release",
    }
    assert there.reason == "mirrored from team-x: ship it"
    [row] = copy.history.filter(stage=Stage.PRODUCTION)
    assert (row.history_change_reason, row.history_username) == (
        there.reason,
        people.admin.username,
    )
    assert copy.promoted_at is not None


def test_a_mirrored_transition_is_refused_where_the_lifecycle_refuses_it(people, mirrored):
    version = mirrored.versions.get(version="1.0.0")  # in production
    mirror = services.Mirror(origin="team-x")
    with pytest.raises(Conflict, match="promote is not allowed from production"):
        services.model_version_mirror_transition(
            actor=people.admin, version=version, transition="promote", mirror=mirror
        )
    with pytest.raises(ValidationError, match="not a lifecycle transition"):
        services.model_version_mirror_transition(
            actor=people.admin, version=version, transition="delete", mirror=mirror
        )
    assert ModelVersion.objects.get(pk=version.pk).stage == Stage.PRODUCTION


def test_ingest_twice_changes_nothing(people, mirrored, model):
    items = pending_items(SyncState.objects.create(central_url="again", registry_id="team-x"))
    applied = federation.catalog_ingest(actor=people.admin, origin="team-x", items=items)
    assert applied["unchanged"] == len(items)
    assert sum(v for k, v in applied.items() if k != "unchanged") == 0
    assert MirroredModel.objects.count() == 1
    assert MirroredAuditEvent.objects.filter(origin="team-x").count() == len(items) - 1


@pytest.mark.parametrize(
    "call",
    [
        lambda p, m, v: services.registered_model_update(actor=p.admin, model=m, description="x"),
        lambda p, m, v: services.registered_model_rename(actor=p.admin, model=m, new_name="y"),
        lambda p, m, v: services.model_version_register(actor=p.admin, model=m, version="9.0.0"),
        lambda p, m, v: services.model_version_update(actor=p.admin, version=v, description="x"),
        lambda p, m, v: services.model_version_attach_artifact(
            actor=p.admin, version=v, uri="s3://b/k", sha256="a" * 64, size=1
        ),
        lambda p, m, v: services.model_version_promote(actor=p.admin, version=v, reason="r"),
        lambda p, m, v: services.model_version_archive(actor=p.admin, version=v, reason="r"),
        lambda p, m, v: services.model_version_deprecate(actor=p.admin, version=v, reason="r"),
        lambda p, m, v: services.registered_model_rollback(actor=p.admin, model=m, reason="r"),
        lambda p, m, v: services.policy_update(actor=p.admin, model=m, required_approvals=2),
        lambda p, m, v: approvals.card_update(actor=p.admin, version=v, sections=FULL_CARD),
        lambda p, m, v: approvals.review_request(actor=p.admin, version=v),
        # A mirrored entry has no card here: any well-formed sha256 reaches the refusal.
        lambda p, m, v: approvals.review_submit(
            actor=p.reviewer2, version=v, decision="approve", revision_sha256="0" * 64
        ),
    ],
    ids=[
        "model_update",
        "model_rename",
        "version_register",
        "version_update",
        "attach_artifact",
        "promote",
        "archive",
        "deprecate",
        "rollback",
        "policy_update",
        "card_update",
        "review_request",
        "review_submit",
    ],
)
def test_write_service_on_a_mirrored_entry_is_refused(people, mirrored, call):
    version = mirrored.versions.get(version="1.1.0")
    with pytest.raises(Conflict) as refused:
        call(people, mirrored, version)
    assert refused.value.message == OWNED
    assert refused.value.status == 409


def test_only_a_mirror_of_the_entrys_own_origin_lifts_the_guard(people, mirrored, model):
    version = mirrored.versions.get(version="1.1.0")
    services.model_version_mirror_transition(
        actor=people.admin,
        version=version,
        transition="archive",
        mirror=services.Mirror(origin="team-x"),
    )
    assert ModelVersion.objects.get(pk=version.pk).stage == Stage.ARCHIVED
    with pytest.raises(Conflict, match="not a mirror of registry team-y"):
        services.model_version_register(
            actor=people.admin,
            model=mirrored,
            version="9.0.0",
            mirror=services.Mirror(origin="team-y", number=9),
        )
    # A push never changes this registry's own models.
    with pytest.raises(Conflict, match="not a mirror of registry team-x"):
        services.model_version_register(
            actor=people.admin,
            model=model,
            version="9.0.0",
            mirror=services.Mirror(origin="team-x", number=9),
        )
    with pytest.raises(Conflict) as refused:
        services.model_version_archive(actor=people.admin, version=version, reason="r")
    assert refused.value.message == OWNED


def test_local_models_stay_writable_on_the_central_registry(people, mirrored, model):
    services.registered_model_update(actor=people.author, model=model, description="mine")
    assert RegisteredModel.objects.get(pk=model.pk).description == "mine"


def test_ingest_requires_the_push_permission(people, model):
    data = model_snapshot(model)
    with pytest.raises(NotAllowed, match="push_catalog"):
        federation.catalog_ingest(
            actor=people.release, origin="team-x", items=[{"kind": "model", "id": 1, "data": data}]
        )


@pytest.mark.parametrize("origin", ["local", "Team X", "a.b", "", "x" * 41])
def test_ingest_refuses_a_bad_origin(people, model, origin):
    data = model_snapshot(model)
    with pytest.raises(ValidationError):
        federation.catalog_ingest(
            actor=people.admin, origin=origin, items=[{"kind": "model", "id": 1, "data": data}]
        )


def test_push_endpoint_answers_bad_items_with_400(people, model):
    client = APIClient()
    client.force_authenticate(people.admin)
    data = model_snapshot(model)
    data["name"] = "../etc"
    response = client.post(
        "/api/v1/federation/push/",
        {"origin": "team-x", "items": [{"kind": "model", "id": 1, "data": data}]},
        format="json",
    )
    assert response.status_code == 400
    assert "items[0]" in response.json()["error"]["details"]
    response = client.post(
        "/api/v1/federation/push/",
        {"origin": "team-x", "items": [{"kind": "nonsense", "id": 1, "data": {}}]},
        format="json",
    )
    assert response.status_code == 400
    assert not RegisteredModel.objects.filter(origin="team-x").exists()


def test_push_endpoint_refuses_anonymous_and_unpermitted_users(people):
    body = {"origin": "team-x", "items": [{"kind": "audit", "id": 1, "data": {}}]}
    assert APIClient().post("/api/v1/federation/push/", body, format="json").status_code == 401
    client = APIClient()
    client.force_authenticate(people.release)
    assert client.post("/api/v1/federation/push/", body, format="json").status_code == 403


@pytest.mark.parametrize(
    ("start", "promoted", "target", "want_promoted", "steps"),
    [
        (Stage.STAGING, False, Stage.STAGING, False, []),
        (Stage.STAGING, False, Stage.PRODUCTION, True, ["promote"]),
        (Stage.STAGING, False, Stage.ARCHIVED, False, ["archive"]),
        (Stage.STAGING, False, Stage.ARCHIVED, True, ["promote", "archive"]),
        (Stage.STAGING, False, Stage.ROLLED_BACK, True, ["promote", "roll_back"]),
        (Stage.ARCHIVED, True, Stage.PRODUCTION, True, ["restore"]),
        (Stage.PRODUCTION, True, Stage.DEPRECATED, True, ["archive", "deprecate"]),
    ],
)
def test_stage_path_walks_the_lifecycle(start, promoted, target, want_promoted, steps):
    path = federation.stage_path(start, promoted, target, want_promoted)
    assert [step[0] for step in path] == steps


def test_stage_path_refuses_an_impossible_mirror():
    with pytest.raises(Conflict):
        federation.stage_path(Stage.DEPRECATED, False, Stage.PRODUCTION, True)


def test_api_lists_and_filters_models_by_origin(people, mirrored, model):
    client = APIClient()
    client.force_authenticate(people.viewer)
    everything = client.get("/api/v1/models/").json()["results"]
    assert sorted((m["name"], m["origin"]) for m in everything) == [
        ("fraud_detector", ""),
        ("team-x.fraud_detector", "team-x"),
    ]
    local = client.get("/api/v1/models/", {"origin": "local"}).json()["results"]
    assert [m["name"] for m in local] == ["fraud_detector"]
    remote = client.get("/api/v1/models/", {"origin": "team-x"}).json()["results"]
    assert [m["name"] for m in remote] == ["team-x.fraud_detector"]


def test_dashboard_shows_the_origin(client, people, mirrored):
    client.force_login(people.viewer)
    listing = client.get(reverse("models:list")).content.decode()
    assert "from team-x" in listing
    only_mirrored = client.get(reverse("models:list"), {"origin": "team-x"}).content.decode()
    assert "team-x.fraud_detector" in only_mirrored
    assert 'href="/models/fraud_detector/"' not in only_mirrored
    only_local = client.get(reverse("models:list"), {"origin": "local"}).content.decode()
    assert 'href="/models/fraud_detector/"' in only_local
    assert "team-x.fraud_detector" not in only_local
    page = client.get(reverse("models:model", args=[mirrored.name])).content.decode()
    assert "Mirrored from registry team-x" in page
    # A mirrored version has no local card: the page shows its origin's.
    version_page = client.get(reverse("approvals:version", args=[mirrored.name, "1.0.0"]))
    assert version_page.status_code == 200


def test_dashboard_promote_of_a_mirrored_version_shows_the_refusal(client, people, mirrored):
    client.force_login(people.admin)
    url = reverse("approvals:promote", args=[mirrored.name, "1.1.0"])
    response = client.post(url, {"promote-reason": "from the dashboard"}, follow=True)
    assert response.status_code == 409
    assert OWNED in response.content.decode()
    assert mirrored.versions.get(version="1.1.0").stage == Stage.STAGING


def test_admin_shows_origin_registries_and_sync_state_read_only(client, people, mirrored):
    client.force_login(people.admin)
    for name in ("originregistry", "mirroredauditevent", "syncstate"):
        page = client.get(reverse(f"admin:federation_app_{name}_changelist"))
        assert page.status_code == 200
    assert (
        "team-x"
        in client.get(reverse("admin:federation_app_originregistry_changelist")).content.decode()
    )
    assert client.get(reverse("admin:federation_app_syncstate_add")).status_code == 403


def test_an_artifact_attached_at_the_origin_after_a_sync_is_mirrored(people, mirrored, model):
    local = model.versions.get(version="1.1.0")
    services.model_version_attach_artifact(
        actor=people.author,
        version=local,
        uri="s3://models/fraud/1.1.0.bin",
        sha256="b" * 64,
        size=42,
    )
    items = pending_items(SyncState.objects.get(registry_id="team-x"))
    applied = federation.catalog_ingest(actor=people.admin, origin="team-x", items=items)
    assert applied["versions"] == 1
    copy = mirrored.versions.get(version="1.1.0")
    assert (copy.artifact_uri, copy.artifact_sha256, copy.artifact_size) == (
        "s3://models/fraud/1.1.0.bin",
        "b" * 64,
        42,
    )


def test_promotion_and_rollback_between_two_syncs_are_mirrored(people, mirrored, model):
    """1.1.0 promoted and rolled back at the origin before the next sync: centrally 1.0.0
    must leave production for 1.1.0's walk and come back, as at the origin."""
    local = model.versions.get(version="1.1.0")
    services.model_version_promote(actor=people.release, version=local, reason="try 1.1.0")
    services.registered_model_rollback(actor=people.release, model=model, reason="too slow")
    items = pending_items(SyncState.objects.get(registry_id="team-x"))

    applied = federation.catalog_ingest(actor=people.admin, origin="team-x", items=items)

    stages = dict(mirrored.versions.values_list("version", "stage"))
    assert stages == dict(model.versions.values_list("version", "stage"))
    assert stages == {"1.0.0": "production", "1.1.0": "rolled_back"}
    # 1.0.0 archived, 1.1.0 promoted, 1.1.0 rolled back, 1.0.0 restored.
    assert applied["stage_changes"] == 4
    steps = mirrored.audit_events.filter(payload__origin="team-x").exclude(to_stage="")
    assert [(e.version_label, e.to_stage) for e in steps.order_by("id")][-4:] == [
        ("1.0.0", "archived"),
        ("1.1.0", "production"),
        ("1.1.0", "rolled_back"),
        ("1.0.0", "production"),
    ]


@pytest.mark.parametrize("in_parts", [False, True], ids=["whole", "in_parts"])
@pytest.mark.parametrize("seed", range(4))
def test_random_lifecycles_mirror_exactly_at_every_sync(people, model, seed, in_parts):
    """Random registrations and transitions at the origin, synced at random moments: after
    every sync the central stages equal the origin's, with one production at most. In
    parts, every version is a part of its own (but those that were in production, all in
    the first) and the parts arrive one by one, last first."""
    import random

    from federation_app.sync import Limits, _acknowledge
    from models_app.exceptions import RegistryError

    rng = random.Random(seed)
    state = SyncState.objects.create(central_url="here", registry_id="team-x")
    minor = 0

    def staged(*stages):
        return list(model.versions.filter(stage__in=stages).order_by("id"))

    for _step in range(14):
        op = rng.choice(
            ["register", "promote", "promote", "archive", "deprecate", "rollback", "sync"]
        )
        try:
            if op == "register" or not model.versions.exists():
                minor += 1
                register(actor=people.author, model=model, version=f"1.{minor}.0")
            elif op == "promote" and staged(Stage.STAGING):
                mv = rng.choice(staged(Stage.STAGING))
                make_promotable(mv, author=people.author, reviewer=people.reviewer)
                services.model_version_promote(actor=people.release, version=mv, reason="go")
            elif op == "archive" and staged(Stage.STAGING, Stage.PRODUCTION):
                mv = rng.choice(staged(Stage.STAGING, Stage.PRODUCTION))
                services.model_version_archive(actor=people.release, version=mv, reason="old")
            elif op == "deprecate" and staged(Stage.STAGING, Stage.ARCHIVED, Stage.ROLLED_BACK):
                mv = rng.choice(staged(Stage.STAGING, Stage.ARCHIVED, Stage.ROLLED_BACK))
                services.model_version_deprecate(actor=people.release, version=mv, reason="no")
            elif op == "rollback":
                services.registered_model_rollback(actor=people.release, model=model, reason="r")
        except RegistryError:
            pass  # e.g. a rollback with nothing to restore: the origin refused it too
        if op == "sync" or _step == 13:
            items = pending_items(state, limits=Limits(max_bytes=4) if in_parts else None)
            batches = [[item] for item in reversed(items)] if in_parts else [items]
            for batch in batches if items else []:
                federation.catalog_ingest(actor=people.admin, origin="team-x", items=batch)
            if items:
                _acknowledge(state, items)
            copy = RegisteredModel.objects.get(name="team-x.fraud_detector")
            assert dict(copy.versions.values_list("version", "stage")) == dict(
                model.versions.values_list("version", "stage")
            )


def test_an_event_committed_after_the_cursor_passed_its_id_is_pushed_later(people, model, promote):
    """PostgreSQL hands out ids at insert: an event whose transaction commits after a later
    one was pushed is missing below the cursor; the next sync sends it."""
    from federation_app.sync import _acknowledge

    promote(model, "1.0.0")
    state = SyncState.objects.create(central_url="here", registry_id="team-x")
    items = pending_items(state)
    audit = [item for item in items if item["kind"] == "audit"]
    late = audit[-3]  # as if its transaction had not committed when the sync read
    sent = [item for item in items if item is not late]
    federation.catalog_ingest(actor=people.admin, origin="team-x", items=sent)
    _acknowledge(state, sent)
    state.refresh_from_db()
    assert state.audit_cursor == audit[-1]["id"]
    assert [gap[0] for gap in state.gaps] == [late["id"]]

    again = pending_items(state)
    assert [(item["kind"], item["id"]) for item in again] == [("audit", late["id"])]
    federation.catalog_ingest(actor=people.admin, origin="team-x", items=again)
    _acknowledge(state, again)
    assert state.gaps == []
    assert pending_items(state) == []
    assert MirroredAuditEvent.objects.filter(origin="team-x").count() == len(audit)


def test_a_gap_that_never_fills_is_dropped_after_the_gap_time(people, model, settings):
    import time

    from federation_app.sync import _acknowledge

    settings.REGISTRY_SYNC_GAP_SECONDS = 600
    state = SyncState.objects.create(central_url="here", registry_id="team-x")
    _acknowledge(state, pending_items(state))
    never = 10**12  # ids of inserts that rolled back: they never appear
    state.gaps = [[never, time.time() - 601], [never + 1, time.time()]]
    state.save()
    register(actor=people.author, model=model, version="3.0.0")
    newer = pending_items(state)
    assert {item["kind"] for item in newer} == {"model", "audit"}
    _acknowledge(state, newer)
    assert [gap[0] for gap in state.gaps] == [never + 1]


def test_mlflow_door_refuses_changes_to_a_mirrored_model(client, people, mirrored):
    """The MLflow-compatible door meets the same ownership guard as every other door."""
    import json

    from knox.models import AuthToken

    token = AuthToken.objects.create(people.admin)[1]
    before = dict(mirrored.tags)

    response = client.post(
        "/api/2.0/mlflow/registered-models/set-tag",
        data=json.dumps({"name": mirrored.name, "key": "owner", "value": "central"}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )

    assert response.status_code == 409
    assert response.json()["error_code"] == "INVALID_STATE"
    assert "owned by registry team-x" in response.json()["message"]
    mirrored.refresh_from_db()
    assert mirrored.tags == before


def test_a_mirrored_registry_uri_is_kept_as_metadata_and_never_served(
    people, mirrored, model, settings, tmp_path
):
    """A team registry's upload reaches the catalog as its `registry:` URI: recorded, but
    it names a file in the team registry's storage, so the central registry never serves
    it from its own, even when a file of that name exists here."""
    from models_app import storage

    settings.MEDIA_ROOT = str(tmp_path)
    local = model.versions.get(version="1.1.0")
    stored = storage.store_stream(local, [b"team weights"], limit=1000)
    services.model_version_attach_artifact(
        actor=people.author, version=local, uri=stored.uri, sha256=stored.sha256, size=12
    )
    items = pending_items(SyncState.objects.get(registry_id="team-x"))
    federation.catalog_ingest(actor=people.admin, origin="team-x", items=items)
    copy = mirrored.versions.get(version="1.1.0")
    assert (copy.artifact_uri, copy.artifact_sha256, copy.artifact_size) == (
        stored.uri,
        stored.sha256,
        12,
    )
    client = APIClient()
    client.force_authenticate(user=people.viewer)
    answer = client.get("/api/v1/models/team-x.fraud_detector/versions/1.1.0/")
    assert answer.json()["artifact_stored"] is False
    download = client.get("/api/v1/models/team-x.fraud_detector/versions/1.1.0/artifact/")
    assert download.status_code == 404
    assert "no artifact uploaded to this registry" in download.json()["error"]["message"]
    assert client.get("/api/v1/models/fraud_detector/versions/1.1.0/artifact/").status_code == 200


def test_a_rename_in_the_team_registry_is_mirrored_even_after_production(people, mirrored):
    """The rename rule (admins only, never after production) is the owning registry's to
    apply; the catalog mirrors what it pushes."""
    assert mirrored.versions.filter(promoted_at__isnull=False).exists()
    items = pending_items(SyncState.objects.create(central_url="again", registry_id="team-x"))
    for item in items:
        if item["kind"] == "model":
            item["data"]["name"] = "fraud_scorer"
            item["fingerprint"] = "renamed"
    federation.catalog_ingest(actor=people.admin, origin="team-x", items=items)
    mirrored.refresh_from_db()
    assert mirrored.name == "team-x.fraud_scorer"
    # Here the copy is renamed by pushes only, never by the catalog's own rename.
    with pytest.raises(Conflict):
        services.registered_model_rename(
            actor=people.admin, model=mirrored, new_name="team-x.fraud_scorer2"
        )
    assert RegisteredModel.objects.get(pk=mirrored.pk).name == "team-x.fraud_scorer"


class _WatchedBody:
    """A request body that remembers whether anything read it."""

    def __init__(self, data: bytes) -> None:
        self.data, self.reads = data, 0

    def read(self, size: int = -1) -> bytes:
        self.reads += 1
        chunk, self.data = (self.data, b"") if size < 0 else (self.data[:size], self.data[size:])
        return chunk

    def readline(self, size: int = -1) -> bytes:
        return self.read(size)


@pytest.mark.parametrize("user", ["admin", "author"])
def test_an_artifact_upload_to_a_mirrored_version_is_refused_before_the_body_is_read(
    people, mirrored, settings, tmp_path, user
):
    """The refusal names the owning registry and comes before the body is read or stored,
    whoever uploads (even one whose body would be too large for this registry)."""
    settings.MEDIA_ROOT = str(tmp_path)
    version = mirrored.versions.get(version="1.1.0")
    assert (version.artifact_uri, version.artifact_sha256) == ("", "")
    client = APIClient()
    client.force_authenticate(user=getattr(people, user))
    url = f"/api/v1/models/{mirrored.name}/versions/1.1.0/artifact/"
    for length in (12, 10**12):
        body = _WatchedBody(b"team weights")
        answer = client.generic(
            "PUT",
            url,
            content_type="application/octet-stream",
            CONTENT_LENGTH=str(length),
            **{"wsgi.input": body},
        )
        assert answer.status_code == 409, answer.content
        assert answer.json()["error"]["message"] == OWNED
        assert answer.json()["error"]["details"] == {
            "origin": "team-x",
            "model": "team-x.fraud_detector",
        }
        assert body.reads == 0
    assert [f for _, _, files in os.walk(tmp_path) for f in files] == []
    version.refresh_from_db()
    assert (version.artifact_uri, version.artifact_sha256) == ("", "")


def test_a_push_over_the_push_limit_gets_413_naming_the_limit_and_its_setting(
    people, model, settings
):
    """The push endpoint's limit is REGISTRY_MAX_PUSH_BYTES, not the site-wide JSON limit:
    a push between the two is applied, one over it refused with a clear 413."""
    items = pending_items(SyncState.objects.create(central_url="here", registry_id="team-x"))
    body = json.dumps({"origin": "team-x", "items": items})
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100  # far below the push: not what limits it
    settings.REGISTRY_MAX_PUSH_BYTES = len(body)
    client = APIClient()
    client.force_authenticate(people.admin)
    push = "/api/v1/federation/push/"
    assert client.post(push, body, content_type="application/json").status_code == 200
    settings.REGISTRY_MAX_PUSH_BYTES = len(body) - 1
    answer = client.post(push, body, content_type="application/json")
    assert answer.status_code == 413
    error = answer.json()["error"]
    assert error["code"] == "too_large"
    assert error["details"] == {"limit": len(body) - 1, "setting": "REGISTRY_MAX_PUSH_BYTES"}
    assert f"at most {len(body) - 1} bytes" in error["message"]
    assert "REGISTRY_MAX_PUSH_BYTES" in error["message"]
    # Other JSON bodies keep the site-wide limit, named in their own 413.
    other = client.patch(f"/api/v1/models/{model.name}/", {"description": "x" * 200}, format="json")
    assert other.status_code == 413
    assert other.json()["error"]["details"] == {
        "limit": 100,
        "setting": "DATA_UPLOAD_MAX_MEMORY_SIZE",
    }


def _push_limit_in_a_fresh_process(value: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    env["DEBUG"] = "1"
    if value is not None:
        env["REGISTRY_MAX_PUSH_BYTES"] = value
    code = "from registry_site import settings as s; print(s.REGISTRY_MAX_PUSH_BYTES)"
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )


@pytest.mark.slow  # settings read in a subprocess
def test_the_push_limit_comes_from_the_environment_and_is_checked():
    assert _push_limit_in_a_fresh_process(None).stdout.strip() == str(2_621_440)
    assert _push_limit_in_a_fresh_process("10485760").stdout.strip() == "10485760"
    for bad in ("0", "-1", "10MB", "1.5"):
        result = _push_limit_in_a_fresh_process(bad)
        assert result.returncode != 0
        assert "ImproperlyConfigured" in result.stderr
        assert "REGISTRY_MAX_PUSH_BYTES" in result.stderr


# --- Every door names the owning registry first -------------------------------------------

OWNED_NAME = "team-x.fraud_detector is owned by registry team-x"


def _mlflow(client, user, path: str, body: dict):
    from knox.models import AuthToken

    return client.post(
        f"/api/2.0/mlflow/{path}",
        data=json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {AuthToken.objects.create(user)[1]}",
    )


@pytest.mark.parametrize("user", ["admin", "author"])
def test_mlflow_refusals_of_mirrored_entries_name_the_owner_first(client, people, mirrored, user):
    """A version created on a mirrored model, a rename of it or onto its name, and a new
    model of its name: each is INVALID_STATE (409) and says who owns the entry first."""
    actor = getattr(people, user)
    churn = services.registered_model_create(actor=people.admin, name="churn", team=people.team)
    versions_before = ModelVersion.objects.count()

    created = _mlflow(
        client, actor, "model-versions/create", {"name": mirrored.name, "source": "s3://b/m"}
    )
    assert (created.status_code, created.json()["error_code"]) == (409, "INVALID_STATE")
    assert created.json()["message"] == OWNED

    renamed = _mlflow(
        client, actor, "registered-models/rename", {"name": mirrored.name, "new_name": "mine"}
    )
    assert (renamed.status_code, renamed.json()["error_code"]) == (409, "INVALID_STATE")
    assert renamed.json()["message"] == OWNED

    model = _mlflow(client, actor, "registered-models/create", {"name": mirrored.name})
    assert (model.status_code, model.json()["error_code"]) == (409, "INVALID_STATE")
    assert model.json()["message"].startswith(OWNED_NAME)

    assert ModelVersion.objects.count() == versions_before
    assert RegisteredModel.objects.get(pk=mirrored.pk).name == mirrored.name
    onto = _mlflow(
        client,
        people.admin,
        "registered-models/rename",
        {"name": churn.name, "new_name": mirrored.name},
    )
    assert (onto.status_code, onto.json()["error_code"]) == (409, "INVALID_STATE")
    assert onto.json()["message"].startswith(OWNED_NAME)
    assert RegisteredModel.objects.get(pk=churn.pk).name == "churn"


def test_rest_refusals_of_mirrored_names_name_the_owner_first(people, mirrored):
    admin, author = APIClient(), APIClient()
    admin.force_authenticate(people.admin)
    author.force_authenticate(people.author)
    services.registered_model_create(actor=people.admin, name="churn", team=people.team)

    created = author.post(
        "/api/v1/models/", {"name": mirrored.name, "team": "fraud"}, format="json"
    )
    assert created.status_code == 409, created.content
    assert created.json()["error"]["message"].startswith(OWNED_NAME)
    assert created.json()["error"]["details"] == {"origin": "team-x", "model": mirrored.name}

    onto = admin.post("/api/v1/models/churn/rename/", {"new_name": mirrored.name}, format="json")
    assert onto.status_code == 409
    assert onto.json()["error"]["message"].startswith(OWNED_NAME)

    # Renaming the mirrored model itself: its owner first, even for a non-admin.
    own = author.post(f"/api/v1/models/{mirrored.name}/rename/", {"new_name": "x"}, format="json")
    assert own.status_code == 409
    assert own.json()["error"]["message"] == OWNED
    assert RegisteredModel.objects.filter(name="churn", origin="").exists()


@pytest.mark.parametrize("user", ["admin", "viewer"])
def test_dashboard_rollback_of_a_mirrored_model_names_the_owner_before_any_preview(
    client, people, mirrored, user
):
    client.force_login(getattr(people, user))
    response = client.post(reverse("models:rollback", args=[mirrored.name]), {}, follow=True)
    assert response.status_code == 409
    assert OWNED in response.content.decode()
    assert "models_app/rollback_confirm.html" not in [t.name for t in response.templates]


def test_admin_add_of_a_mirrored_models_name_names_the_owner(client, people, mirrored):
    client.force_login(people.admin)
    response = client.post(
        reverse("admin:models_app_registeredmodel_add"),
        {"name": mirrored.name, "team": people.team.pk, "description": "", "tags": ""},
    )
    assert response.status_code == 200
    errors = [str(e) for e in response.context["adminform"].form.non_field_errors()]
    assert any(e.startswith(OWNED_NAME) for e in errors), errors
    assert RegisteredModel.objects.filter(name=mirrored.name).count() == 1


MIRRORED = "team-x.fraud_detector"
MLFLOW_WRITES = [
    ("POST", "registered-models/set-tag", {"name": MIRRORED, "key": "k", "value": "v"}),
    ("DELETE", "registered-models/delete-tag", {"name": MIRRORED, "key": "k"}),
    ("PATCH", "registered-models/update", {"name": MIRRORED, "description": "x"}),
    ("DELETE", "registered-models/delete", {"name": MIRRORED}),
    ("POST", "registered-models/alias", {"name": MIRRORED, "alias": "champion", "version": "2"}),
    ("DELETE", "registered-models/alias", {"name": MIRRORED, "alias": "champion"}),
    ("PATCH", "model-versions/update", {"name": MIRRORED, "version": "2", "description": "x"}),
    ("DELETE", "model-versions/delete", {"name": MIRRORED, "version": "2"}),
    (
        "POST",
        "model-versions/set-tag",
        {"name": MIRRORED, "version": "2", "key": "k", "value": "v"},
    ),
    ("DELETE", "model-versions/delete-tag", {"name": MIRRORED, "version": "2", "key": "k"}),
    (
        "POST",
        "model-versions/transition-stage",
        {"name": MIRRORED, "version": "2", "stage": "Archived"},
    ),
]


@pytest.mark.parametrize("user", ["admin", "author"])
@pytest.mark.parametrize(("method", "path", "body"), MLFLOW_WRITES, ids=lambda x: str(x)[:40])
def test_every_mlflow_write_to_a_mirrored_entry_names_the_owner_first(
    client, people, mirrored, user, method, path, body
):
    from knox.models import AuthToken

    token = AuthToken.objects.create(getattr(people, user))[1]
    before = (
        AuditEvent.objects.count(),
        sorted(ModelVersion.objects.values_list("pk", "stage", "description")),
    )
    response = client.generic(
        method,
        f"/api/2.0/mlflow/{path}",
        json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 409, response.content
    assert response.json()["error_code"] == "INVALID_STATE"
    assert response.json()["message"] == OWNED
    after = (
        AuditEvent.objects.count(),
        sorted(ModelVersion.objects.values_list("pk", "stage", "description")),
    )
    assert after == before


SERVICE_WRITES = {
    "model_update": lambda a, m, v: services.registered_model_update(
        actor=a, model=m, description="x"
    ),
    "model_rename": lambda a, m, v: services.registered_model_rename(
        actor=a, model=m, new_name="y"
    ),
    "version_register": lambda a, m, v: services.model_version_register(
        actor=a, model=m, version="9.0.0"
    ),
    "version_update": lambda a, m, v: services.model_version_update(
        actor=a, version=v, description="x"
    ),
    "attach_artifact": lambda a, m, v: services.model_version_attach_artifact(
        actor=a, version=v, uri="s3://b/k", sha256="a" * 64, size=1
    ),
    "promote": lambda a, m, v: services.model_version_promote(actor=a, version=v, reason="r"),
    "archive": lambda a, m, v: services.model_version_archive(actor=a, version=v, reason="r"),
    "deprecate": lambda a, m, v: services.model_version_deprecate(actor=a, version=v, reason="r"),
    "rollback": lambda a, m, v: services.registered_model_rollback(actor=a, model=m, reason="r"),
    "policy_update": lambda a, m, v: services.policy_update(actor=a, model=m, required_approvals=2),
    "card_update": lambda a, m, v: approvals.card_update(actor=a, version=v, sections=FULL_CARD),
    "review_request": lambda a, m, v: approvals.review_request(actor=a, version=v),
    "review_submit": lambda a, m, v: approvals.review_submit(
        actor=a, version=v, decision="approve", revision_sha256="0" * 64
    ),
}


@pytest.mark.parametrize("who", ["viewer", "outsider", "reviewer2"])
@pytest.mark.parametrize("call", SERVICE_WRITES.values(), ids=SERVICE_WRITES.keys())
def test_a_user_without_the_right_is_told_the_owner_first(people, mirrored, who, call):
    """Ownership comes before the permission check: whoever asks learns where to go."""
    version = mirrored.versions.get(version="1.1.0")
    with pytest.raises(Conflict) as refused:
        call(getattr(people, who), mirrored, version)
    assert refused.value.message == OWNED


def test_a_model_in_parts_is_mirrored_whatever_the_order_of_its_parts(people, model, promote):
    """Every version that is or was in production travels in the first part, so the
    parts may arrive in any order and the stage walks still keep one production."""
    from federation_app.sync import Limits

    promote(model, "1.0.0")
    versions = [register(actor=people.author, model=model, version=f"1.{i}.0") for i in (1, 2)]
    versions += [register(actor=people.author, model=model, version=f"1.{i}.0") for i in (3, 4, 5)]
    state = SyncState.objects.create(central_url="here", registry_id="team-x")
    limits = Limits(max_bytes=4)  # parts of at most 1 byte: one version each, or more

    def parts() -> list[dict]:
        return [item for item in pending_items(state, limits=limits) if item["kind"] == "model"]

    def stages(model) -> dict:
        return dict(model.versions.values_list("version", "stage"))

    first = parts()
    assert [(p["part"], p["parts"]) for p in first] == [(n, 6) for n in range(1, 7)]
    assert [v["version"] for v in first[0]["data"]["versions"]] == ["1.0.0"]
    for part in reversed(first):
        federation.catalog_ingest(actor=people.admin, origin="team-x", items=[part])
    mirrored = RegisteredModel.objects.get(name="team-x.fraud_detector")
    assert stages(mirrored) == stages(model)

    # 1.5.0, sent in a later part so far, replaces 1.0.0 in production: both now travel in
    # the first part, whatever order the parts arrive in.
    make_promotable(versions[-1], author=people.author, reviewer=people.reviewer)
    services.model_version_promote(actor=people.release, version=versions[-1], reason="next")
    second = parts()
    assert [v["version"] for v in second[0]["data"]["versions"]] == ["1.0.0", "1.5.0"]
    for part in reversed(second):
        federation.catalog_ingest(actor=people.admin, origin="team-x", items=[part])
    assert stages(mirrored) == stages(model)
    assert stages(mirrored)["1.5.0"] == Stage.PRODUCTION

    # A part sent again changes nothing: the last one applied is known by its fingerprint,
    # any other one is applied again to the same result.
    again = federation.catalog_ingest(actor=people.admin, origin="team-x", items=[second[0]])
    assert again["unchanged"] == 1 and sum(again.values()) == 1
    again = federation.catalog_ingest(actor=people.admin, origin="team-x", items=[second[-1]])
    assert sum(again.values()) == 0
    assert stages(mirrored) == stages(model)
