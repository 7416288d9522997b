"""Promotion, rollback and deprecation each leave history rows and an audit event.

History rows come from django-simple-history, with the acting user's id and name and the
reason set by the services; the audit event names actor, reason and from → to stage.
"""

from __future__ import annotations

import pytest

from models_app import selectors, services
from models_app.context import reset_request_id, set_request_id
from models_app.enums import Action, Stage
from models_app.models import AuditEvent, ModelVersion
from tests.factories import register


def _last_history(version: ModelVersion):
    return ModelVersion.history.filter(id=version.pk).order_by("-history_id").first()


def _event(version: ModelVersion, action: str) -> AuditEvent:
    return AuditEvent.objects.get(model_version=version, action=action)


def test_promotion_archives_superseded_version_with_history_and_events(people, model, promote):
    first = promote(model, "1.0.0")
    token = set_request_id("req-promote-42")
    try:
        second = promote(model, "1.1.0")
    finally:
        reset_request_id(token)
    first.refresh_from_db()
    assert (first.stage, second.stage) == (Stage.ARCHIVED, Stage.PRODUCTION)

    promoted = _last_history(second)
    assert promoted.stage == Stage.PRODUCTION
    assert promoted.history_type == "~"
    assert promoted.history_user_id == people.release.pk
    assert promoted.history_username == "release"
    assert promoted.history_change_reason == "ship it"
    assert promoted.history_request_id == "req-promote-42"

    archived = _last_history(first)
    assert archived.stage == Stage.ARCHIVED
    assert archived.history_username == "release"
    assert archived.history_change_reason == "superseded by 1.1.0: ship it"

    event = _event(second, Action.VERSION_PROMOTED)
    assert (event.actor_id, event.actor_username) == (people.release.pk, "release")
    assert (event.from_stage, event.to_stage) == (Stage.STAGING, Stage.PRODUCTION)
    assert event.reason == "ship it"
    assert event.request_id == "req-promote-42"
    assert event.payload["previous"] == "1.0.0"
    assert {c["guard"] for c in event.payload["checks"]} >= {"review", "model_card"}

    superseded = AuditEvent.objects.filter(
        model_version=first, action=Action.VERSION_ARCHIVED
    ).get()
    assert superseded.actor_username == "release"
    assert (superseded.from_stage, superseded.to_stage) == (Stage.PRODUCTION, Stage.ARCHIVED)
    assert superseded.reason == "superseded by 1.1.0: ship it"
    assert superseded.payload == {"superseded_by": "1.1.0"}


def test_rollback_leaves_history_and_events_for_both_versions(people, model, promote):
    first = promote(model, "1.0.0")
    second = promote(model, "1.1.0")
    services.registered_model_rollback(
        actor=people.release, model=model, reason="error rate doubled"
    )
    first.refresh_from_db()
    second.refresh_from_db()

    for version, stage in ((second, Stage.ROLLED_BACK), (first, Stage.PRODUCTION)):
        row = _last_history(version)
        assert row.stage == stage
        assert row.history_username == "release"
        assert row.history_user_id == people.release.pk
        assert row.history_change_reason == "error rate doubled"

    out = _event(second, Action.VERSION_ROLLED_BACK)
    assert (out.from_stage, out.to_stage) == (Stage.PRODUCTION, Stage.ROLLED_BACK)
    assert (out.actor_username, out.reason) == ("release", "error rate doubled")
    assert out.payload == {"restored": "1.0.0"}
    back = _event(first, Action.VERSION_RESTORED)
    assert (back.from_stage, back.to_stage) == (Stage.ARCHIVED, Stage.PRODUCTION)
    assert (back.actor_username, back.reason) == ("release", "error rate doubled")
    assert back.payload == {"rolled_back": "1.1.0"}
    assert back.model_name == model.name and back.version_label == "1.0.0"


def test_deprecation_leaves_history_and_event(people, model):
    v = register(actor=people.author, model=model, version="1.0.0")
    services.model_version_deprecate(actor=people.admin, version=v, reason="  data leak  ")
    row = _last_history(v)
    assert row.stage == Stage.DEPRECATED
    assert row.history_username == "admin_user"
    assert row.history_change_reason == "data leak"
    event = _event(v, Action.VERSION_DEPRECATED)
    assert (event.from_stage, event.to_stage) == (Stage.STAGING, Stage.DEPRECATED)
    assert (event.actor_id, event.actor_username) == (people.admin.pk, "admin_user")
    assert event.reason == "data leak"


def test_archive_leaves_history_and_event(people, model, promote):
    v = promote(model, "1.0.0")
    services.model_version_archive(actor=people.release, version=v, reason="model retired")
    row = _last_history(v)
    assert (row.stage, row.history_change_reason) == (Stage.ARCHIVED, "model retired")
    event = _event(v, Action.VERSION_ARCHIVED)
    assert (event.from_stage, event.to_stage, event.reason) == (
        Stage.PRODUCTION,
        Stage.ARCHIVED,
        "model retired",
    )


def test_registration_history_names_the_author(people, model):
    v = register(actor=people.author, model=model, version="1.0.0")
    rows = list(ModelVersion.history.filter(id=v.pk))
    assert [r.history_type for r in rows] == ["+"]
    assert rows[0].history_username == "author"
    event = _event(v, Action.VERSION_REGISTERED)
    assert (event.to_stage, event.actor_username) == (Stage.STAGING, "author")
    assert event.payload["number"] == 1


def test_refused_transition_writes_no_history_or_event(people, model):
    from models_app.exceptions import GuardsFailed

    v = register(actor=people.author, model=model, version="1.0.0")
    history_before = ModelVersion.history.count()
    events_before = AuditEvent.objects.count()
    with pytest.raises(GuardsFailed):
        services.model_version_promote(actor=people.release, version=v, reason="try")
    assert ModelVersion.history.count() == history_before
    assert AuditEvent.objects.count() == events_before


def test_audit_selector_filters_by_model_actor_and_action(people, model, promote):
    promote(model, "1.0.0")
    promote(model, "1.1.0")
    promoted = selectors.audit_events(
        model_name=model.name, actor="release", action=Action.VERSION_PROMOTED
    )
    assert [e.version_label for e in promoted] == ["1.1.0", "1.0.0"]


def test_no_op_updates_write_no_history_or_event(people, model):
    """A save that changes nothing must not copy the row into history."""
    v = register(actor=people.author, model=model, version="1.0.0", description="same")
    counts = (ModelVersion.history.count(), AuditEvent.objects.count())
    services.model_version_update(actor=people.author, version=v, description="same", tags={})
    services.registered_model_update(actor=people.author, model=model, description="")
    assert (ModelVersion.history.count(), AuditEvent.objects.count()) == counts
    services.model_version_update(actor=people.author, version=v, description="changed")
    event = AuditEvent.objects.get(model_version=v, action=Action.VERSION_CHANGED)
    assert event.changes == {"description": ["same", "changed"]}
    assert ModelVersion.history.count() == counts[0] + 1
