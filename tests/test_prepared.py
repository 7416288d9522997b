"""Prepared queries (registry_site/prepared.py): compiled once, the same rows as the ORM."""

from __future__ import annotations

import pytest
from django.db import models, transaction
from django.db.models import Max
from django.db.transaction import TransactionManagementError

from models_app.models import ModelVersion, RegisteredModel
from registry_site.prepared import Param, PreparedQuery, numbered, one_of
from tests.factories import register

NAME, NUMBER, ID = models.CharField(), models.PositiveIntegerField(), models.BigIntegerField()


def _version_query():
    return (
        ModelVersion.objects.select_related("registered_model__team", "created_by")
        .filter(registered_model__name=Param("name", NAME), number=Param("number", NUMBER))
        .order_by("pk")
    )


def _fields(obj) -> dict:
    return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields}


def test_objects_are_those_the_queryset_gives(people, model):
    mv = register(
        actor=people.author, model=model, version="1.2.0", metrics={"f1": 0.5}, tags={"a": "b"}
    )
    prepared = PreparedQuery(_version_query)
    got = prepared.first(name=model.name, number=mv.number)
    expected = (
        ModelVersion.objects.select_related("registered_model__team", "created_by")
        .filter(pk=mv.pk)
        .get()
    )
    assert _fields(got) == _fields(expected)
    assert got.created_at.tzinfo is not None  # the ORM's converters ran
    assert got.metrics == {"f1": 0.5} and got.tags == {"a": "b"}
    assert _fields(got.registered_model) == _fields(expected.registered_model)
    assert got.registered_model.team.slug == "fraud"
    assert got.created_by.username == "author"
    assert got._state.adding is False and got._state.db == "default"
    assert got.changed_identity_fields() == []  # from_db kept the loaded values


def test_a_shape_is_compiled_once_and_runs_in_one_query(people, model, django_assert_num_queries):
    first = register(actor=people.author, model=model, version="1.0.0")
    second = register(actor=people.author, model=model, version="2.0.0")
    builds = []

    def build():
        builds.append(1)
        return _version_query()

    prepared = PreparedQuery(build)
    assert prepared.first(name=model.name, number=1) == first
    with django_assert_num_queries(1):
        assert prepared.first(name=model.name, number=2) == second
    assert prepared(name="no such model", number=1) == []
    assert len(builds) == 1


def test_each_call_must_give_exactly_the_params_of_the_sql(people, model):
    prepared = PreparedQuery(_version_query)
    with pytest.raises(TypeError, match="given"):
        prepared(name=model.name)
    with pytest.raises(TypeError, match="given"):
        prepared(name=model.name, number=1, stage="staging")


def test_an_integer_outside_its_column_matches_nothing_without_a_query(
    people, model, django_assert_num_queries
):
    register(actor=people.author, model=model, version="1.0.0")
    prepared = PreparedQuery(_version_query)
    prepared(name=model.name, number=1)
    with django_assert_num_queries(0):
        assert prepared(name=model.name, number=10**30) == []
        assert prepared(name=model.name, number=-1) == []


def test_values_list_rows_are_tuples_with_annotations_last(people, model):
    for label in ("1.0.0", "1.1.0", "2.0.0"):
        register(actor=people.author, model=model, version=label)
    prepared = PreparedQuery(
        lambda count: (
            ModelVersion.objects.filter(one_of("registered_model_id", numbered("m", count, ID)))
            .values_list("registered_model_id", "stage")
            .annotate(top=Max("number"))
        )
    )
    assert prepared(shape={"count": 1}, m0=model.pk) == [(model.pk, "staging", 3)]


def test_shapes_are_compiled_apart_and_the_oldest_is_dropped(people, model):
    prepared = PreparedQuery(
        lambda count: RegisteredModel.objects.filter(
            one_of("pk", numbered("id", count, ID))
        ).order_by("pk"),
        shapes=2,
    )
    assert prepared(shape={"count": 1}, id0=model.pk) == [model]
    assert prepared(shape={"count": 2}, id0=model.pk, id1=-5) == [model]
    assert prepared(shape={"count": 3}, id0=1, id1=2, id2=3) == list(
        RegisteredModel.objects.filter(pk__in=[1, 2, 3]).order_by("pk")
    )
    assert [key[2] for key in prepared._compiled] == [(("count", 2),), (("count", 3),)]


def test_plain_values_use_in_and_params_an_or():
    assert one_of("pk", [1, 2]) == models.Q(pk__in=[1, 2])
    params = numbered("p", 2, ID)
    assert [p.name for p in params] == ["p0", "p1"]
    assert one_of("pk", params) == models.Q(pk=params[0]) | models.Q(pk=params[1])


def test_select_for_update_needs_a_transaction_on_every_run(transactional_db, people, model):
    from django.db import connection

    prepared = PreparedQuery(
        lambda: RegisteredModel.objects.select_for_update().filter(pk=Param("pk", ID))
    )
    with transaction.atomic():
        assert prepared(pk=model.pk) == [model]
    if connection.features.has_select_for_update:
        with pytest.raises(TransactionManagementError):
            prepared(pk=model.pk)
    else:  # SQLite: Django ignores select_for_update, and so does the prepared query
        assert prepared(pk=model.pk) == [model]


# --- Writes (PreparedWrites) -----------------------------------------------------------------


def _writes_for(model) -> list:
    from registry_site import prepared

    return [key for key in prepared._WRITES if key[1] is model]


def test_inserts_and_updates_reuse_one_statement_per_model_and_columns(
    people, django_assert_num_queries
):
    from models_app.models import Team

    Team.objects.create(name="First", slug="first")
    inserts = _writes_for(Team)
    with django_assert_num_queries(2):  # the team and its history row
        second = Team.objects.create(name="Second", slug="second", description="two")
    assert _writes_for(Team) == inserts  # nothing compiled anew
    assert second.history.get().name == "Second"
    assert second.pk is not None
    stored = Team.objects.get(pk=second.pk)
    assert (stored.name, stored.slug, stored.description) == ("Second", "second", "two")
    assert stored.created_at == second.created_at

    second.description = "changed"
    second.save_without_historical_record()
    second.description = "again"
    with django_assert_num_queries(1):
        second.save_without_historical_record(update_fields=["description"])
    assert Team.objects.get(pk=second.pk).description == "again"


def test_json_none_and_foreign_keys_round_trip(people, model):
    mv = register(
        actor=people.author,
        model=model,
        version="1.0.0",
        metrics={"f1": 0.75},
        tags={"k": "v"},
        artifact_size=None,
    )
    stored = ModelVersion.objects.get(pk=mv.pk)
    assert stored.metrics == {"f1": 0.75} and stored.tags == {"k": "v"}
    assert stored.artifact_size is None
    assert stored.registered_model_id == model.pk and stored.created_by_id == people.author.pk
    model.tags = {"a": {"nested": [1, 2]}}
    model.save_without_historical_record(update_fields=["tags"])
    assert RegisteredModel.objects.get(pk=model.pk).tags == {"a": {"nested": [1, 2]}}


def test_expressions_as_values_go_djangos_way(people, model):
    from django.db.models import F, Value
    from django.db.models.functions import Concat

    model.description = Concat(F("name"), Value(" described"))
    model.save_without_historical_record(update_fields=["description"])
    assert RegisteredModel.objects.get(pk=model.pk).description == "fraud_detector described"


def test_an_update_of_a_missing_row_is_reported_as_django_reports_it(people, model):
    from django.db import DatabaseError

    from models_app.models import Team

    team = Team.objects.create(name="Gone", slug="gone")
    Team.objects.filter(pk=team.pk).delete()
    team.description = "x"
    with pytest.raises(DatabaseError, match="did not affect any rows"):
        team.save_without_historical_record(update_fields=["description"])


def test_an_insert_with_an_expression_goes_djangos_way(people, monkeypatch):
    from django.db import transaction
    from django.db.models import F, Value

    from models_app.models import Team

    Team.objects.create(name="Plain", slug="plain")  # the reusable INSERT exists
    team = Team.objects.create(name="Valued", slug="valued", description=Value("by value"))
    assert Team.objects.get(pk=team.pk).description == "by value"
    with (
        pytest.raises(ValueError, match="F\\(\\) expressions can only be used to update"),
        transaction.atomic(),
    ):
        Team.objects.create(name="Ref", slug="ref", description=F("name"))
    assert not Team.objects.filter(slug="ref").exists()
    # A field whose pre_save gives an expression (as a custom field may) is written too.
    field = Team._meta.get_field("description")
    monkeypatch.setattr(field, "pre_save", lambda obj, add: Value("from pre_save"))
    team = Team.objects.create(name="Hooked", slug="hooked")
    assert Team.objects.get(pk=team.pk).description == "from pre_save"
