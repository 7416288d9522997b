"""Acceptance: the unmodified MLflow client (mlflow-skinny) against a live registry.

Each test drives `MlflowClient` over HTTP, then checks what the registry stored and what
the audit trail says, through the registry's own models and selectors.
"""

from __future__ import annotations

import pytest
import requests
from knox.models import AuthToken
from mlflow.exceptions import MlflowException

from approvals_app import services as approvals
from mlflow_app.models import DeletedModel, DeletedVersion
from models_app import selectors, services
from models_app.enums import Action, Stage
from models_app.models import AuditEvent, ModelVersion, RegisteredModel
from tests.factories import FULL_CARD, approve, make_promotable


def _code(exc_info) -> str:
    return exc_info.value.error_code


def _make(client, name="fraud_scorer", versions=2, **kwargs):
    client.create_registered_model(name, **kwargs)
    return [
        client.create_model_version(name, source=f"s3://bucket/{name}/{i}", run_id=f"run-{i}")
        for i in range(1, versions + 1)
    ]


def test_client_creates_model_and_versions_with_semver_labels(mlflow, people):
    client = mlflow.as_user(people.author)
    rm = client.create_registered_model(
        "fraud_scorer", tags={"owner": "risk"}, description="Scores card payments."
    )
    assert rm.name == "fraud_scorer"
    assert rm.tags == {"owner": "risk", "registry.team": "fraud"}
    first = client.create_model_version("fraud_scorer", source="s3://bucket/m/1", run_id="r1")
    second = client.create_model_version(
        "fraud_scorer", source="runs:/r2/model", run_id="r2", tags={"semver": "2.1.0-rc.1"}
    )
    third = client.create_model_version("fraud_scorer", source="models:/m-abc")

    assert [first.version, second.version, third.version] == ["1", "2", "3"]
    assert {first.status, first.current_stage, first.user_id} == {"READY", "Staging", "author"}
    assert first.tags == {"registry.semver": "1.0.0", "registry.stage": "staging"}
    assert second.tags["registry.semver"] == "2.1.0-rc.1"
    assert "semver" not in second.tags
    model = RegisteredModel.objects.get(name="fraud_scorer")
    assert model.team == people.team
    stored = {mv.number: mv for mv in ModelVersion.objects.filter(registered_model=model)}
    assert [stored[n].version for n in (1, 2, 3)] == ["1.0.0", "2.1.0-rc.1", "3.0.0"]
    assert stored[1].artifact_uri == "s3://bucket/m/1"
    assert stored[1].source_run == "r1"
    assert stored[2].tags == {}
    registered = AuditEvent.objects.filter(action=Action.VERSION_REGISTERED, model_name=model.name)
    assert registered.count() == 3
    assert set(registered.values_list("actor_username", flat=True)) == {"author"}
    # The registration made each version's empty model card, as in every other door.
    assert all(mv.card.current_revision.number == 1 for mv in stored.values())


def test_client_updates_descriptions_and_tags(mlflow, people):
    client = mlflow.as_user(people.author)
    _make(client, versions=1)
    client.update_registered_model("fraud_scorer", description="v2 of the scorer")
    client.set_registered_model_tag("fraud_scorer", "domain", "payments")
    client.set_registered_model_tag("fraud_scorer", "tmp", "x")
    client.delete_registered_model_tag("fraud_scorer", "tmp")
    client.update_model_version("fraud_scorer", "1", description="first cut")
    client.set_model_version_tag("fraud_scorer", "1", "dataset", "2026-11")
    client.set_model_version_tag("fraud_scorer", "1", "tmp", "y")
    client.delete_model_version_tag("fraud_scorer", "1", "tmp")

    rm = client.get_registered_model("fraud_scorer")
    mv = client.get_model_version("fraud_scorer", "1")
    assert rm.description == "v2 of the scorer"
    assert rm.tags == {"domain": "payments", "registry.team": "fraud"}
    assert mv.description == "first cut"
    assert mv.tags == {
        "dataset": "2026-11",
        "registry.semver": "1.0.0",
        "registry.stage": "staging",
    }
    model = RegisteredModel.objects.get(name="fraud_scorer")
    assert model.tags == {"domain": "payments"}
    changes = AuditEvent.objects.filter(action=Action.MODEL_CHANGED, model_name="fraud_scorer")
    assert changes.count() == 4
    assert AuditEvent.objects.filter(action=Action.VERSION_CHANGED).count() == 4
    assert model.history.filter(history_username="author").count() >= 5


def test_client_refuses_registry_owned_tags(mlflow, people):
    client = mlflow.as_user(people.author)
    _make(client, versions=1)
    with pytest.raises(MlflowException) as semver:
        client.set_model_version_tag("fraud_scorer", "1", "semver", "9.9.9")
    with pytest.raises(MlflowException) as team:
        client.set_registered_model_tag("fraud_scorer", "team", "pricing")
    with pytest.raises(MlflowException) as synthetic:
        client.set_model_version_tag("fraud_scorer", "1", "registry.stage", "production")
    assert _code(semver) == _code(team) == _code(synthetic) == "INVALID_PARAMETER_VALUE"
    assert "cannot change" in semver.value.message
    assert ModelVersion.objects.get(number=1).stage == Stage.STAGING


def test_client_search_with_filters_and_paging(mlflow, people):
    client = mlflow.as_user(people.author)
    for name in ("fraud_a", "fraud_b", "fraud_c", "Fraud_upper"):
        client.create_registered_model(name, tags={"kind": "tree" if name < "fraud_c" else "nn"})
    other = mlflow.as_user(people.outsider)
    other.create_registered_model("pricing_a")
    client = mlflow.as_user(people.author)

    page = client.search_registered_models(filter_string="name LIKE 'fraud%'", max_results=2)
    assert [m.name for m in page] == ["fraud_a", "fraud_b"]
    assert page.token
    rest = client.search_registered_models(
        filter_string="name LIKE 'fraud%'", max_results=2, page_token=page.token
    )
    assert [m.name for m in rest] == ["fraud_c"]
    assert not rest.token
    insensitive = client.search_registered_models(filter_string="name ILIKE 'fraud%'")
    assert sorted(m.name for m in insensitive) == ["Fraud_upper", "fraud_a", "fraud_b", "fraud_c"]
    tagged = client.search_registered_models(filter_string="tags.kind = 'tree'")
    assert sorted(m.name for m in tagged) == ["Fraud_upper", "fraud_a", "fraud_b"]
    not_tree = client.search_registered_models(filter_string="tag.`kind` != 'tree'")
    assert [m.name for m in not_tree] == ["fraud_c"]
    both = client.search_registered_models(filter_string="name LIKE 'fraud_%' AND tags.kind = 'nn'")
    assert [m.name for m in both] == ["fraud_c"]
    exact = client.search_registered_models(filter_string="name = 'pricing_a'")
    assert [m.name for m in exact] == ["pricing_a"]
    desc = client.search_registered_models(order_by=["name DESC"], max_results=3)
    assert [m.name for m in desc] == ["pricing_a", "fraud_c", "fraud_b"]

    for i in range(1, 4):
        client.create_model_version("fraud_a", source=f"s3://b/a/{i}", run_id=f"run-{i % 2}")
    client.create_model_version("fraud_b", source="s3://b/b/1", run_id="run-1")
    client.set_model_version_tag("fraud_a", "2", "validated", "yes")
    by_name = client.search_model_versions("name = 'fraud_a'", max_results=2)
    assert len(by_name) == 2
    assert by_name.token
    more = client.search_model_versions("name = 'fraud_a'", max_results=2, page_token=by_name.token)
    assert len(more) == 1
    assert sorted(v.version for v in [*by_name, *more]) == ["1", "2", "3"]
    by_run = client.search_model_versions("run_id = 'run-1'")
    assert sorted((v.name, v.version) for v in by_run) == [
        ("fraud_a", "1"),
        ("fraud_a", "3"),
        ("fraud_b", "1"),
    ]
    by_tag = client.search_model_versions("name = 'fraud_a' AND tag.validated = 'yes'")
    assert [v.version for v in by_tag] == ["2"]
    ordered = client.search_model_versions(
        "name = 'fraud_a'", order_by=["version_number ASC"], max_results=10
    )
    assert [v.version for v in ordered] == ["1", "2", "3"]


def test_client_sets_and_resolves_aliases_with_audit(mlflow, people):
    client = mlflow.as_user(people.author)
    _make(client, versions=2)
    client.set_registered_model_alias("fraud_scorer", "shadow", "1")
    assert client.get_model_version_by_alias("fraud_scorer", "shadow").version == "1"
    client.set_registered_model_alias("fraud_scorer", "shadow", "2")
    client.set_registered_model_alias("fraud_scorer", "challenger", "1")
    resolved = client.get_model_version_by_alias("fraud_scorer", "shadow")
    assert (resolved.version, resolved.aliases) == ("2", ["shadow"])
    assert client.get_registered_model("fraud_scorer").aliases == {
        "challenger": "1",
        "shadow": "2",
    }
    assert client.get_model_version_by_alias("fraud_scorer", "latest").version == "2"
    client.delete_registered_model_alias("fraud_scorer", "challenger")
    with pytest.raises(MlflowException) as gone:
        client.get_model_version_by_alias("fraud_scorer", "challenger")
    assert _code(gone) == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException) as reserved:
        client.set_registered_model_alias("fraud_scorer", "latest", "1")
    assert _code(reserved) == "INVALID_PARAMETER_VALUE"

    events = AuditEvent.objects.filter(model_name="fraud_scorer", action__startswith="alias.")
    trail = [
        (e.action, e.payload["alias"], e.version_label, e.actor_username)
        for e in events.order_by("id")
    ]
    assert trail == [
        ("alias.set", "shadow", "1.0.0", "author"),
        ("alias.set", "shadow", "2.0.0", "author"),
        ("alias.set", "challenger", "1.0.0", "author"),
        ("alias.deleted", "challenger", "1.0.0", "author"),
    ]
    assert events.order_by("id")[1].payload["previous_version"] == "1.0.0"


def test_client_alias_refused_for_other_team(mlflow, people):
    client = mlflow.as_user(people.author)
    _make(client, versions=1)
    other = mlflow.as_user(people.outsider)
    with pytest.raises(MlflowException) as refused:
        other.set_registered_model_alias("fraud_scorer", "shadow", "1")
    assert _code(refused) == "PERMISSION_DENIED"
    assert not AuditEvent.objects.filter(action="alias.set").exists()


def test_client_get_latest_versions_by_stage(mlflow, people):
    client = mlflow.as_user(people.author)
    _make(client, versions=3)
    model = RegisteredModel.objects.get(name="fraud_scorer")
    v1 = ModelVersion.objects.get(registered_model=model, number=1)
    make_promotable(v1, author=people.author, reviewer=people.reviewer)
    services.model_version_promote(actor=people.release, version=v1, reason="first release")

    latest = {v.current_stage: v.version for v in client.get_latest_versions("fraud_scorer")}
    assert latest == {"Staging": "3", "Production": "1"}
    only = client.get_latest_versions("fraud_scorer", stages=["production"])
    assert [(v.version, v.current_stage) for v in only] == [("1", "Production")]
    assert client.get_latest_versions("fraud_scorer", stages=["Archived"]) == []


def test_client_transition_refused_by_guards_then_accepted_after_review(mlflow, people):
    author = mlflow.as_user(people.author)
    _make(author, versions=1)
    mv = ModelVersion.objects.get(registered_model__name="fraud_scorer", number=1)
    failed = [r.reason for r in selectors.promotion_checks(version=mv) if not r.passed]
    assert failed  # an empty card and no approval fail the default policy

    with pytest.raises(MlflowException) as not_allowed:
        author.transition_model_version_stage("fraud_scorer", "1", "Production")
    assert _code(not_allowed) == "PERMISSION_DENIED"
    release = mlflow.as_user(people.release)
    with pytest.raises(MlflowException) as refused:
        release.transition_model_version_stage("fraud_scorer", "1", "Production")
    assert _code(refused) == "INVALID_STATE"
    for reason in failed:
        assert reason in refused.value.message
    mv.refresh_from_db()
    assert mv.stage == Stage.STAGING
    assert not AuditEvent.objects.filter(action=Action.VERSION_PROMOTED).exists()

    approvals.card_update(actor=people.author, version=mv, sections=FULL_CARD)
    approvals.review_request(actor=people.author, version=mv)
    approve(mv, reviewer=people.reviewer)
    promoted = release.transition_model_version_stage(
        "fraud_scorer", "1", "Production", archive_existing_versions=True
    )
    assert promoted.current_stage == "Production"
    mv.refresh_from_db()
    assert mv.stage == Stage.PRODUCTION

    # The next promotion archives the previous production version, as the core does.
    mlflow.as_user(people.author).create_model_version("fraud_scorer", source="s3://b/f/2")
    v2 = ModelVersion.objects.get(registered_model__name="fraud_scorer", number=2)
    make_promotable(v2, author=people.author, reviewer=people.reviewer)
    release = mlflow.as_user(people.release)
    release.transition_model_version_stage("fraud_scorer", "2", "Production")
    assert release.get_model_version("fraud_scorer", "1").current_stage == "Archived"
    archived = release.transition_model_version_stage("fraud_scorer", "2", "Archived")
    assert archived.current_stage == "Archived"
    with pytest.raises(MlflowException) as back:
        release.transition_model_version_stage("fraud_scorer", "2", "Staging")
    assert _code(back) == "INVALID_STATE"
    assert "never return" in back.value.message


def test_mlflow_transition_leaves_same_audit_event_as_native_service(mlflow, people):
    author = mlflow.as_user(people.author)
    _make(author, name="via_mlflow", versions=1)
    _make(author, name="via_service", versions=1)
    for name in ("via_mlflow", "via_service"):
        mv = ModelVersion.objects.get(registered_model__name=name, number=1)
        make_promotable(mv, author=people.author, reviewer=people.reviewer)
    reason = "transition-stage via MLflow API"
    mlflow.as_user(people.release).transition_model_version_stage("via_mlflow", "1", "Production")
    native = ModelVersion.objects.get(registered_model__name="via_service", number=1)
    services.model_version_promote(actor=people.release, version=native, reason=reason)

    def event(name):
        e = AuditEvent.objects.get(model_name=name, action=Action.VERSION_PROMOTED)
        return e, {
            "action": e.action,
            "actor_id": e.actor_id,
            "actor_username": e.actor_username,
            "team": e.team_id,
            "version_label": e.version_label,
            "object_type": e.object_type,
            "from_stage": e.from_stage,
            "to_stage": e.to_stage,
            "reason": e.reason,
            "payload": e.payload,
        }

    via_mlflow, fields = event("via_mlflow")
    _, native_fields = event("via_service")
    assert fields == native_fields
    assert via_mlflow.request_id  # the HTTP request's id ties the event to the call
    history = ModelVersion.history.filter(
        registered_model_id=via_mlflow.registered_model_id, stage=Stage.PRODUCTION
    ).get()
    assert (history.history_username, history.history_change_reason) == ("release", reason)


def test_client_download_uri(mlflow, people):
    client = mlflow.as_user(people.author)
    _make(client, versions=1)
    assert (
        client.get_model_version_download_uri("fraud_scorer", "1") == "s3://bucket/fraud_scorer/1"
    )


def test_client_deletes_refused_for_once_production_version(mlflow, people):
    author = mlflow.as_user(people.author)
    _make(author, versions=3)
    v1 = ModelVersion.objects.get(registered_model__name="fraud_scorer", number=1)
    make_promotable(v1, author=people.author, reviewer=people.reviewer)
    services.model_version_promote(actor=people.release, version=v1, reason="release")
    services.model_version_archive(actor=people.release, version=v1, reason="out")
    release = mlflow.as_user(people.release)
    release.set_registered_model_alias("fraud_scorer", "candidate", "3")

    with pytest.raises(MlflowException) as contributor:
        mlflow.as_user(people.author).delete_model_version("fraud_scorer", "3")
    assert _code(contributor) == "PERMISSION_DENIED"
    release = mlflow.as_user(people.release)
    with pytest.raises(MlflowException) as once_production:
        release.delete_model_version("fraud_scorer", "1")
    assert _code(once_production) == "INVALID_STATE"
    assert "was in production" in once_production.value.message
    with pytest.raises(MlflowException) as whole_model:
        release.delete_registered_model("fraud_scorer")
    assert "1.0.0" in whole_model.value.message

    release.delete_model_version("fraud_scorer", "3")
    with pytest.raises(MlflowException) as missing:
        release.get_model_version("fraud_scorer", "3")
    assert _code(missing) == "RESOURCE_DOES_NOT_EXIST"
    remaining = release.search_model_versions("name = 'fraud_scorer'")
    assert sorted(v.version for v in remaining) == ["1", "2"]
    assert release.get_registered_model("fraud_scorer").aliases == {}
    # Soft delete: the version is deprecated by the core and stays in the registry.
    v3 = ModelVersion.objects.get(registered_model__name="fraud_scorer", number=3)
    assert v3.stage == Stage.DEPRECATED
    assert DeletedVersion.objects.filter(model_version=v3).exists()
    deprecated = AuditEvent.objects.get(model_version=v3, action=Action.VERSION_DEPRECATED)
    assert deprecated.actor_username == "release"
    assert deprecated.reason == "deleted via the MLflow API"
    assert AuditEvent.objects.filter(model_version=v3, action="version.deleted").exists()
    assert AuditEvent.objects.filter(model_version=v3, action="alias.deleted").exists()
    v1.refresh_from_db()
    assert v1.stage == Stage.ARCHIVED


def test_client_deletes_a_never_promoted_model(mlflow, people):
    author = mlflow.as_user(people.author)
    _make(author, name="scratch", versions=2)
    release = mlflow.as_user(people.release)
    release.delete_registered_model("scratch")
    with pytest.raises(MlflowException) as missing:
        release.get_registered_model("scratch")
    assert _code(missing) == "RESOURCE_DOES_NOT_EXIST"
    assert [m.name for m in release.search_registered_models()] == []
    model = RegisteredModel.objects.get(name="scratch")
    assert DeletedModel.objects.filter(registered_model=model).exists()
    assert set(model.versions.values_list("stage", flat=True)) == {Stage.DEPRECATED}
    with pytest.raises(MlflowException) as again:
        mlflow.as_user(people.author).create_registered_model("scratch")
    assert _code(again) == "RESOURCE_ALREADY_EXISTS"
    assert "deleted through the MLflow API" in again.value.message


def test_client_raises_for_unknown_models_and_duplicates(mlflow, people):
    client = mlflow.as_user(people.author)
    _make(client, versions=1)
    with pytest.raises(MlflowException) as no_model:
        client.get_registered_model("no_such_model")
    with pytest.raises(MlflowException) as no_version:
        client.get_model_version("fraud_scorer", "42")
    with pytest.raises(MlflowException) as no_model_for_version:
        client.create_model_version("no_such_model", source="s3://bucket/x")
    assert _code(no_model) == _code(no_version) == "RESOURCE_DOES_NOT_EXIST"
    assert _code(no_model_for_version) == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as duplicate:
        client.create_registered_model("fraud_scorer")
    assert _code(duplicate) == "RESOURCE_ALREADY_EXISTS"
    with pytest.raises(MlflowException) as duplicate_label:
        client.create_model_version(
            "fraud_scorer", source="s3://bucket/y", tags={"semver": "1.0.0"}
        )
    assert _code(duplicate_label) == "RESOURCE_ALREADY_EXISTS"
    assert "semver" in duplicate_label.value.message
    assert RegisteredModel.objects.filter(name="fraud_scorer").count() == 1


def test_client_refuses_bad_names_and_sources(mlflow, people):
    client = mlflow.as_user(people.author)
    with pytest.raises(MlflowException) as bad_name:
        client.create_registered_model("fraud scorer with spaces")
    assert _code(bad_name) == "INVALID_PARAMETER_VALUE"
    assert "letters, digits" in bad_name.value.message
    client.create_registered_model("fraud_scorer")
    with pytest.raises(MlflowException) as local:
        client.create_model_version("fraud_scorer", source="/home/ds/mlruns/0/abc/artifacts/model")
    assert _code(local) == "INVALID_PARAMETER_VALUE"
    assert "local path" in local.value.message
    with pytest.raises(MlflowException) as traversal:
        client.create_model_version("fraud_scorer", source="s3://bucket/%2e%2e/secrets")
    assert _code(traversal) == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException) as file_uri:
        client.create_model_version("fraud_scorer", source="file:///etc/shadow")
    assert "not allowed" in file_uri.value.message
    assert not ModelVersion.objects.exists()


def test_client_rename_keeps_versions_and_audit(mlflow, people):
    _make(mlflow.as_user(people.author), versions=2)
    for who in (people.author, people.release, people.outsider):
        with pytest.raises(MlflowException) as refused:
            mlflow.as_user(who).rename_registered_model("fraud_scorer", "mine")
        assert _code(refused) == "PERMISSION_DENIED"
        assert "only admins rename" in refused.value.message
    client = mlflow.as_user(people.admin)
    client.rename_registered_model("fraud_scorer", "fraud_scorer_v2")
    assert client.get_registered_model("fraud_scorer_v2").latest_versions[0].version == "2"
    assert client.get_model_version("fraud_scorer_v2", "2").source == "s3://bucket/fraud_scorer/2"
    with pytest.raises(MlflowException) as old:
        client.get_registered_model("fraud_scorer")
    assert _code(old) == "RESOURCE_DOES_NOT_EXIST"
    event = AuditEvent.objects.get(action=Action.MODEL_RENAMED, model_name="fraud_scorer_v2")
    assert event.changes == {"name": ["fraud_scorer", "fraud_scorer_v2"]}
    assert event.actor_username == "admin_user"


def test_client_cannot_rename_a_model_that_was_in_production(mlflow, people):
    _make(mlflow.as_user(people.author), versions=1)
    mv = ModelVersion.objects.get(registered_model__name="fraud_scorer", number=1)
    make_promotable(mv, author=people.author, reviewer=people.reviewer)
    services.model_version_promote(actor=people.release, version=mv, reason="ship")
    services.model_version_archive(actor=people.release, version=mv, reason="retire")
    client = mlflow.as_user(people.admin)
    with pytest.raises(MlflowException) as refused:
        client.rename_registered_model("fraud_scorer", "fraud_scorer_v2")
    assert _code(refused) == "INVALID_STATE"
    assert "were in production" in refused.value.message
    with pytest.raises(MlflowException) as author:
        mlflow.as_user(people.author).rename_registered_model("fraud_scorer", "x")
    assert _code(author) == "PERMISSION_DENIED"
    assert RegisteredModel.objects.filter(name="fraud_scorer").exists()
    assert not AuditEvent.objects.filter(action=Action.MODEL_RENAMED).exists()


def test_client_team_mapping_for_new_models(mlflow, people):
    admin = mlflow.as_user(people.admin)
    with pytest.raises(MlflowException) as no_team:
        admin.create_registered_model("orphan")
    assert _code(no_team) == "INVALID_PARAMETER_VALUE"
    assert "tag 'team'" in no_team.value.message
    admin.create_registered_model("pricing_model", tags={"team": "pricing"})
    assert RegisteredModel.objects.get(name="pricing_model").team == people.other_team
    with pytest.raises(MlflowException) as other_team:
        mlflow.as_user(people.author).create_registered_model("sneaky", tags={"team": "pricing"})
    assert _code(other_team) == "PERMISSION_DENIED"
    with pytest.raises(MlflowException) as viewer:
        mlflow.as_user(people.viewer).create_registered_model("viewer_model")
    assert _code(viewer) == "INVALID_PARAMETER_VALUE"  # a viewer has no team either
    assert not RegisteredModel.objects.filter(name__in=["orphan", "sneaky"]).exists()


def test_client_contributor_of_other_team_cannot_register(mlflow, people):
    _make(mlflow.as_user(people.author), versions=0)
    with pytest.raises(MlflowException) as refused:
        mlflow.as_user(people.outsider).create_model_version("fraud_scorer", source="s3://b/x")
    assert _code(refused) == "PERMISSION_DENIED"
    assert "not a member" in refused.value.message


def test_client_basic_auth_and_anonymous(mlflow, people, monkeypatch):
    _make(mlflow.as_user(people.author), versions=1)
    monkeypatch.delenv("MLFLOW_TRACKING_TOKEN")
    with pytest.raises(MlflowException) as anonymous:
        mlflow.client.get_registered_model("fraud_scorer")
    assert _code(anonymous) == "UNAUTHENTICATED"
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "viewer")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "wrong")
    with pytest.raises(MlflowException) as wrong:
        mlflow.client.get_registered_model("fraud_scorer")
    assert _code(wrong) == "UNAUTHENTICATED"
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "pw")
    assert mlflow.client.get_registered_model("fraud_scorer").name == "fraud_scorer"
    with pytest.raises(MlflowException) as read_only:
        mlflow.client.update_registered_model("fraud_scorer", description="viewer edit")
    assert _code(read_only) == "PERMISSION_DENIED"


def test_client_copies_a_version_to_another_model(mlflow, people):
    client = mlflow.as_user(people.author)
    _make(client, versions=2)
    client.set_model_version_tag("fraud_scorer", "2", "dataset", "2026-11")
    copy = client.copy_model_version("models:/fraud_scorer/2", "fraud_scorer_eu")
    assert (copy.name, copy.version, copy.source) == (
        "fraud_scorer_eu",
        "1",
        "models:/fraud_scorer/2",
    )
    assert copy.run_id == "run-2"
    # The copy gets its own label; the registry's read-only tags of the source are not copied.
    assert copy.tags == {
        "dataset": "2026-11",
        "registry.semver": "1.0.0",
        "registry.stage": "staging",
    }


# --- Protected aliases: `champion` and `production` always name the production version --------


def _native(mlflow, user, method, path, **kwargs):
    """A call of the native REST API (not through `mlflow.as_user`, which would change the
    token the MLflow client sends)."""
    return requests.request(
        method,
        f"{mlflow.url}/api/v1/models/{path}",
        headers={"Authorization": f"Token {AuthToken.objects.create(user)[1]}"},
        timeout=30,
        **kwargs,
    )


def _native_production(mlflow, people, name) -> str | None:
    answer = _native(mlflow, people.viewer, "GET", f"{name}/production/")
    if answer.status_code == 404:
        return None
    assert answer.status_code == 200, answer.text
    return str(answer.json()["number"])


def test_client_champion_on_an_unapproved_version_is_refused_with_the_guards(mlflow, people):
    _make(mlflow.as_user(people.author), versions=1)
    release = mlflow.as_user(people.release)
    with pytest.raises(MlflowException) as refused:
        release.set_registered_model_alias("fraud_scorer", "champion", "1")
    assert _code(refused) == "INVALID_STATE"
    message = refused.value.message
    assert "protected alias 'champion'" in message
    assert "Promotion refused" in message
    assert "review not requested" in message
    assert "model card sections empty" in message
    assert ModelVersion.objects.get(number=1).stage == Stage.STAGING
    with pytest.raises(MlflowException) as no_alias:
        release.get_model_version_by_alias("fraud_scorer", "champion")
    assert _code(no_alias) == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException) as delete:
        release.delete_registered_model_alias("fraud_scorer", "champion")
    assert _code(delete) == "INVALID_STATE"
    assert "archive it or roll the model back" in delete.value.message


def test_client_champion_always_names_the_native_production_version(mlflow, people):
    client = mlflow.as_user(people.author)
    _make(client, versions=3)
    for mv in ModelVersion.objects.filter(registered_model__name="fraud_scorer"):
        make_promotable(mv, author=people.author, reviewer=people.reviewer)
    release = mlflow.as_user(people.release)

    def champion():
        try:
            return release.get_model_version_by_alias("fraud_scorer", "champion").version
        except MlflowException:
            return None

    assert champion() is None is _native_production(mlflow, people, "fraud_scorer")
    # Setting the alias promotes, through the same service as the native promote.
    release.set_registered_model_alias("fraud_scorer", "champion", "1")
    assert champion() == "1" == _native_production(mlflow, people, "fraud_scorer")
    assert release.get_registered_model("fraud_scorer").aliases == {
        "champion": "1",
        "production": "1",
    }
    promoted = AuditEvent.objects.get(action=Action.VERSION_PROMOTED)
    assert promoted.reason == "set alias champion through the MLflow door"
    assert promoted.actor_username == "release"
    # A promotion through the native API moves the alias with it.
    answer = _native(
        mlflow, people.release, "POST", "fraud_scorer/versions/2/promote/", json={"reason": "v2"}
    )
    assert answer.status_code == 200, answer.text
    assert champion() == "2" == _native_production(mlflow, people, "fraud_scorer")
    assert release.get_model_version("fraud_scorer", "2").aliases == ["champion", "production"]
    assert release.get_model_version("fraud_scorer", "1").aliases == []
    # So does a rollback through the native API.
    answer = _native(
        mlflow, people.release, "POST", "fraud_scorer/rollback/", json={"reason": "bad"}
    )
    assert answer.status_code == 200, answer.text
    assert champion() == "1" == _native_production(mlflow, people, "fraud_scorer")
    # Setting it on the production version changes nothing.
    events = AuditEvent.objects.count()
    release.set_registered_model_alias("fraud_scorer", "champion", "1")
    assert AuditEvent.objects.count() == events
    # An unprotected alias stays a free pointer, stored as before.
    client.set_registered_model_alias("fraud_scorer", "shadow", "3")
    assert client.get_model_version_by_alias("fraud_scorer", "shadow").version == "3"
    assert champion() == "1"


# --- MLflow's own contract ----------------------------------------------------------------------


def test_client_second_create_is_already_exists_whatever_the_teams(mlflow, people):
    mlflow.as_user(people.author).create_registered_model("fraud_scorer")
    # The admin belongs to no team and the viewer to none either: still "already exists",
    # which is what mlflow.register_model catches to go on and register the version.
    for who in (people.admin, people.viewer, people.outsider, people.author):
        with pytest.raises(MlflowException) as again:
            mlflow.as_user(who).create_registered_model("fraud_scorer")
        assert _code(again) == "RESOURCE_ALREADY_EXISTS"
    with pytest.raises(MlflowException) as tagged:
        mlflow.as_user(people.admin).create_registered_model(
            "fraud_scorer", tags={"team": "no_such_team"}
        )
    assert _code(tagged) == "RESOURCE_ALREADY_EXISTS"
    assert RegisteredModel.objects.filter(name="fraud_scorer").count() == 1


def test_client_register_model_on_an_existing_model_adds_a_version(mlflow, people, monkeypatch):
    """mlflow.register_model creates the model, takes RESOURCE_ALREADY_EXISTS as "go on",
    and registers the version: for a caller in no team (an admin) as for anyone."""
    import mlflow as mlflow_module

    monkeypatch.setenv("MLFLOW_REGISTRY_URI", mlflow.url)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow.url)
    mlflow.as_user(people.admin).create_registered_model("fraud_scorer", tags={"team": "fraud"})
    mv = mlflow_module.register_model("s3://bucket/fraud_scorer/2", "fraud_scorer")
    assert mv.version == "1"
    stored = ModelVersion.objects.get(registered_model__name="fraud_scorer")
    assert (stored.created_by, stored.artifact_uri) == (people.admin, "s3://bucket/fraud_scorer/2")


def test_client_team_tag_comes_back_as_set(mlflow, people):
    admin = mlflow.as_user(people.admin)
    created = admin.create_registered_model("pricing_model", tags={"team": "Pricing", "o": "x"})
    assert created.tags == {"team": "Pricing", "o": "x", "registry.team": "pricing"}
    read = admin.get_registered_model("pricing_model")
    assert read.tags == {"team": "Pricing", "o": "x", "registry.team": "pricing"}
    assert RegisteredModel.objects.get(name="pricing_model").team == people.other_team
    with pytest.raises(MlflowException) as moved:
        admin.set_registered_model_tag("pricing_model", "team", "fraud")
    assert _code(moved) == "INVALID_PARAMETER_VALUE"
    assert admin.get_registered_model("pricing_model").tags["team"] == "Pricing"
