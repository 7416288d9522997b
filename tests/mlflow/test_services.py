"""The MLflow door's own services, called as any door would call them."""

from __future__ import annotations

import pytest

from mlflow_app import services as door
from mlflow_app.models import ModelAlias
from models_app.exceptions import NotFound
from models_app.models import AuditEvent
from tests.factories import register


def test_version_delete_twice_is_not_found(people, model):
    mv = register(actor=people.author, model=model, version="1.0.0")
    door.model_version_delete(actor=people.release, version=mv)
    with pytest.raises(NotFound):
        door.model_version_delete(actor=people.release, version=mv)
    assert AuditEvent.objects.filter(model_version=mv, action="version.deleted").count() == 1


def test_model_delete_twice_is_not_found(people, model):
    register(actor=people.author, model=model, version="1.0.0")
    door.registered_model_delete(actor=people.release, model=model)
    with pytest.raises(NotFound):
        door.registered_model_delete(actor=people.release, model=model)


def test_release_manager_may_move_an_alias(people, model):
    first = register(actor=people.author, model=model, version="1.0.0")
    second = register(actor=people.author, model=model, version="2.0.0")
    door.alias_set(actor=people.author, version=first, alias="shadow")
    door.alias_set(actor=people.release, version=second, alias="shadow")
    alias = ModelAlias.objects.get(registered_model=model, alias="shadow")
    assert alias.model_version == second
    assert [h.history_username for h in alias.history.order_by("history_id")] == [
        "author",
        "release",
    ]


def test_setting_an_alias_to_the_same_version_records_nothing(people, model):
    mv = register(actor=people.author, model=model, version="1.0.0")
    door.alias_set(actor=people.author, version=mv, alias="shadow")
    door.alias_set(actor=people.author, version=mv, alias="shadow")
    assert AuditEvent.objects.filter(action="alias.set").count() == 1
