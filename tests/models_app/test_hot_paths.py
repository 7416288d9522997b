"""What the shortened write paths must still do (the MLflow benchmark's operations, #5).

Registration, tag edits and permission checks were cut to fewer queries; these tests pin
the behaviour that the shortcuts must keep.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission

from models_app import services
from models_app.exceptions import Conflict, NotAllowed
from models_app.models import AuditEvent, ModelVersion, RegisteredModel
from models_app.permissions import can
from tests.factories import make_user, register


def test_permissions_and_teams_are_read_once_per_user_object(
    people, model, django_assert_num_queries
):
    author = make_user("author")  # a fresh object: nothing cached yet
    # 3 = Django's model backend reads the user's own and their groups' permissions (2,
    # then kept on the object by `has_perm`) + the team memberships (1, kept likewise);
    # the later checks cost nothing.
    with django_assert_num_queries(3):
        assert can(author, "version.register", model)
        assert can(author, "model.create", people.team)
        assert not can(author, "model.create", people.other_team)
        assert not can(author, "version.promote", model)


def test_a_permission_given_to_the_user_directly_counts(people, model):
    user = make_user("direct")
    services.team_member_add(actor=people.admin, team=people.team, user=user)
    user = type(user).objects.get(pk=user.pk)
    assert not can(user, "version.register", model)
    user.user_permissions.add(Permission.objects.get(codename="create_model"))
    user = type(user).objects.get(pk=user.pk)
    assert can(user, "version.register", model)
    assert not can(user, "version.promote", model)


def test_an_inactive_user_may_do_nothing(people, model):
    author = make_user("author")
    author.is_active = False
    assert not can(author, "version.register", model)


def test_a_version_without_a_label_is_labelled_after_its_number(people, model):
    first = register(actor=people.author, model=model, version="1.4.0")
    second = services.model_version_register(actor=people.author, model=model, version=None)
    assert (first.number, second.number) == (1, 2)
    assert second.version == "2.0.0"
    assert RegisteredModel.objects.get(pk=model.pk).last_number == 2
    assert AuditEvent.objects.filter(model_version=second, action="version.registered").exists()


def test_a_taken_label_is_refused_and_the_number_is_not_used_up(people, model):
    register(actor=people.author, model=model, version="2.0.0")
    with pytest.raises(Conflict):
        services.model_version_register(actor=people.author, model=model, version="2.0.0")
    assert RegisteredModel.objects.get(pk=model.pk).last_number == 1
    assert register(actor=people.author, model=model, version="3.0.0").number == 2


def test_a_taken_model_name_is_a_conflict(people, model):
    with pytest.raises(Conflict, match="already exists"):
        services.registered_model_create(actor=people.author, team=people.team, name=model.name)
    assert RegisteredModel.objects.filter(name=model.name).count() == 1


def test_tag_changes_edit_single_tags_of_what_is_stored(people, model):
    mv = register(actor=people.author, model=model, version="1.0.0", tags={"a": "1", "b": "2"})
    stale = ModelVersion.objects.get(pk=mv.pk)
    services.model_version_update(actor=people.author, version=mv, tag_changes={"c": "3"})
    # `stale` still has the old tags; the change applies to what is stored now.
    services.model_version_update(actor=people.author, version=stale, tag_changes={"a": None})
    assert ModelVersion.objects.get(pk=mv.pk).tags == {"b": "2", "c": "3"}
    changed = AuditEvent.objects.filter(model_version=mv, action="version.changed")
    assert changed.count() == 2


def test_model_tag_changes_need_the_permission(people, model):
    services.registered_model_update(actor=people.author, model=model, tag_changes={"k": "v"})
    assert RegisteredModel.objects.get(pk=model.pk).tags == {"k": "v"}
    with pytest.raises(NotAllowed):
        services.registered_model_update(
            actor=people.outsider, model=model, tag_changes={"k": None}
        )
    assert RegisteredModel.objects.get(pk=model.pk).tags == {"k": "v"}


def test_history_rows_are_written_and_read_through_one_manager_class(people, model):
    mv = register(actor=people.author, model=model, version="1.0.0")
    services.model_version_update(actor=people.author, version=mv, description="better")
    assert type(mv.history) is type(ModelVersion.objects.get(pk=mv.pk).history)
    assert [row.history_type for row in mv.history.order_by("history_id")] == ["+", "~"]
    assert mv.history.latest().description == "better"
    assert mv.history.latest().history_username == "author"
