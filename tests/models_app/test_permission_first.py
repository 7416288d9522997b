"""Transitions check the actor's permission before the stage or the target: a user without
the permission gets the same 403 (NotAllowed) for a version in any stage and for a rollback
target that does not exist, so the refusal tells them nothing; a permitted user still gets
the 409 (InvalidTransition, Conflict) or 404 (NotFound) that says what is wrong."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from approvals_app import services as approvals
from mlflow_app import services as mlflow_services
from models_app import services
from models_app.enums import Stage
from models_app.exceptions import Conflict, InvalidTransition, NotAllowed, NotFound
from models_app.models import AuditEvent, ModelVersion
from tests.factories import current_sha256, register


@pytest.fixture
def history(people, model, promote):
    """1.0.0 archived (was in production), 1.1.0 in production, 1.2.0 in staging and
    1.3.0 deprecated."""
    archived = promote(model, "1.0.0")
    production = promote(model, "1.1.0")
    staging = register(actor=people.author, model=model, version="1.2.0")
    deprecated = register(actor=people.author, model=model, version="1.3.0")
    services.model_version_deprecate(actor=people.release, version=deprecated, reason="old")
    archived.refresh_from_db()
    return SimpleNamespace(
        model=model,
        archived=archived,
        production=production,
        staging=staging,
        deprecated=deprecated,
    )


def _stages(model) -> dict[str, str]:
    return dict(ModelVersion.objects.filter(registered_model=model).values_list("version", "stage"))


WRONG_STAGE = [
    ("model_version_promote", "production"),
    ("model_version_promote", "archived"),
    ("model_version_promote", "deprecated"),
    ("model_version_archive", "archived"),
    ("model_version_archive", "deprecated"),
    ("model_version_deprecate", "production"),
    ("model_version_deprecate", "deprecated"),
]


@pytest.mark.parametrize("service,which", WRONG_STAGE)
@pytest.mark.parametrize("who", ["author", "outsider", "reviewer", "viewer"])
def test_wrong_stage_is_403_for_a_user_without_the_permission(people, history, service, which, who):
    before, events = _stages(history.model), AuditEvent.objects.count()
    with pytest.raises(NotAllowed):
        getattr(services, service)(
            actor=getattr(people, who), version=getattr(history, which), reason="try"
        )
    assert _stages(history.model) == before
    assert AuditEvent.objects.count() == events


@pytest.mark.parametrize("service,which", WRONG_STAGE)
def test_wrong_stage_is_still_409_for_a_permitted_user(people, history, service, which):
    with pytest.raises(InvalidTransition):
        getattr(services, service)(
            actor=people.release, version=getattr(history, which), reason="try"
        )


ROLLBACK_TARGETS = ["9.9.9", "42", "1.2.0", "1.3.0", "1.1.0", None]


@pytest.mark.parametrize("to_version", ROLLBACK_TARGETS)
@pytest.mark.parametrize("who", ["author", "outsider", "reviewer", "viewer"])
def test_rollback_is_403_whatever_the_target_for_a_user_without_the_permission(
    people, history, to_version, who
):
    before = _stages(history.model)
    with pytest.raises(NotAllowed):
        services.registered_model_rollback(
            actor=getattr(people, who), model=history.model, reason="try", to_version=to_version
        )
    assert _stages(history.model) == before


def test_rollback_with_nothing_in_production_is_403_without_the_permission(people, model):
    register(actor=people.author, model=model, version="1.0.0")
    with pytest.raises(NotAllowed):
        services.registered_model_rollback(actor=people.author, model=model, reason="try")
    with pytest.raises(InvalidTransition):
        services.registered_model_rollback(actor=people.release, model=model, reason="try")


@pytest.mark.parametrize(
    "to_version,error",
    [
        ("9.9.9", NotFound),
        ("42", NotFound),
        ("1.2.0", InvalidTransition),
        ("1.3.0", InvalidTransition),
        ("1.1.0", InvalidTransition),
    ],
)
def test_rollback_refusals_of_a_permitted_user_still_say_what_is_wrong(
    people, history, to_version, error
):
    before = _stages(history.model)
    with pytest.raises(error):
        services.registered_model_rollback(
            actor=people.release, model=history.model, reason="try", to_version=to_version
        )
    assert _stages(history.model) == before


def test_rollback_target_by_number(people, history):
    restored = services.registered_model_rollback(
        actor=people.release, model=history.model, reason="bad", to_version="1"
    )
    assert restored.pk == history.archived.pk
    assert _stages(history.model)["1.0.0"] == Stage.PRODUCTION
    assert _stages(history.model)["1.1.0"] == Stage.ROLLED_BACK


def test_rollback_target_with_nul_is_400_not_a_database_error(people, history):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as excinfo:
        services.registered_model_rollback(
            actor=people.release, model=history.model, reason="bad", to_version="1.0.0\x00"
        )
    assert "to_version" in excinfo.value.message_dict


def test_review_outside_staging_is_403_for_a_user_who_may_not_review(people, history):
    for version in (history.production, history.archived, history.deprecated):
        with pytest.raises(NotAllowed):
            approvals.review_submit(
                actor=people.outsider,
                version=version,
                decision="approve",
                revision_sha256=current_sha256(version),
            )
        with pytest.raises(InvalidTransition):
            approvals.review_submit(
                actor=people.reviewer2,
                version=version,
                decision="approve",
                revision_sha256=current_sha256(version),
            )


def test_mlflow_delete_of_a_once_production_version_is_403_without_the_permission(people, history):
    for version in (history.production, history.archived):
        with pytest.raises(NotAllowed):
            mlflow_services.model_version_delete(actor=people.author, version=version)
        with pytest.raises(Conflict):
            mlflow_services.model_version_delete(actor=people.release, version=version)


def test_mlflow_alias_delete_is_403_whether_or_not_the_alias_exists(people, history):
    mlflow_services.alias_set(actor=people.author, version=history.production, alias="shadow")
    # A protected alias too: that it is protected is no answer for someone who may not act.
    for alias in ("shadow", "no_such_alias", "champion"):
        with pytest.raises(NotAllowed):
            mlflow_services.alias_delete(actor=people.outsider, model=history.model, alias=alias)
    assert mlflow_services.ModelAlias.objects.filter(alias="shadow").exists()
    mlflow_services.alias_delete(actor=people.author, model=history.model, alias="no_such_alias")
    mlflow_services.alias_delete(actor=people.author, model=history.model, alias="shadow")
    assert not mlflow_services.ModelAlias.objects.exists()
