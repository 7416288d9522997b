"""Known traps of the libraries we build on, and version identity, each by trying the attack.

Concurrent promotions are in test_concurrency.py, approvals bound to the card's content
in tests/approvals_app/test_approvals.py, invalid input in test_validators.py.
Every attack that must fail in the database runs in its own atomic block, so that the
refusal rolls back only the attempt and the test can look at what is left.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import ProtectedError

from approvals_app.models import CardRevision, HistoricalModelCard, HistoricalReview, Review
from models_app import selectors, services
from models_app.enums import Action, Stage
from models_app.exceptions import Conflict, InvalidTransition, NotAllowed
from models_app.models import (
    AuditEvent,
    HistoricalMembership,
    HistoricalModelVersion,
    HistoricalPromotionPolicy,
    HistoricalRegisteredModel,
    HistoricalTeam,
    ModelVersion,
)
from models_app.validators import SemVer
from tests.factories import make_promotable, make_user, register


def _production_count(model) -> int:
    return ModelVersion.objects.filter(registered_model=model, stage=Stage.PRODUCTION).count()


# --- writes that skip the state machine ------------------------------------------


def test_queryset_update_to_second_production_is_refused_by_database(people, model, promote):
    promote(model, "1.0.0")
    other = register(actor=people.author, model=model, version="1.1.0")
    with pytest.raises(IntegrityError), transaction.atomic():
        ModelVersion.objects.filter(pk=other.pk).update(stage="production")
    assert _production_count(model) == 1
    other.refresh_from_db()
    assert other.stage == Stage.STAGING


def test_orm_create_of_second_production_is_refused_by_database(people, model, promote):
    current = promote(model, "1.0.0")
    with pytest.raises(IntegrityError), transaction.atomic():
        ModelVersion.objects.create(
            registered_model=model,
            version="9.0.0",
            precedence=SemVer.parse("9.0.0").sort_key,
            number=99,
            created_by=people.author,
            stage="production",
        )
    assert list(ModelVersion.objects.filter(stage=Stage.PRODUCTION)) == [current]


def test_orm_create_with_unknown_stage_is_refused_by_check_constraint(people, model):
    with pytest.raises(IntegrityError), transaction.atomic():
        ModelVersion.objects.create(
            registered_model=model,
            version="1.0.0",
            precedence=SemVer.parse("1.0.0").sort_key,
            number=1,
            created_by=people.author,
            stage="bogus",
        )
    assert not ModelVersion.objects.exists()


def test_queryset_update_to_unknown_stage_is_refused_by_check_constraint(people, model):
    v = register(actor=people.author, model=model, version="1.0.0")
    with pytest.raises(IntegrityError), transaction.atomic():
        ModelVersion.objects.filter(pk=v.pk).update(stage="bogus")
    v.refresh_from_db()
    assert v.stage == Stage.STAGING


def test_assigning_stage_directly_is_refused(people, model):
    v = register(actor=people.author, model=model, version="1.0.0")
    with pytest.raises(AttributeError):
        v.stage = Stage.PRODUCTION
    fresh = ModelVersion.objects.get(pk=v.pk)
    with pytest.raises(AttributeError):
        fresh.stage = Stage.PRODUCTION
    assert ModelVersion.objects.get(pk=v.pk).stage == Stage.STAGING


def test_duplicate_version_or_number_is_refused_by_database(people, model):
    v = register(actor=people.author, model=model, version="1.0.0")
    for version, number in (("1.0.0", 50), ("2.0.0", v.number)):
        with pytest.raises(IntegrityError), transaction.atomic():
            ModelVersion.objects.create(
                registered_model=model,
                version=version,
                precedence=SemVer.parse(version).sort_key,
                number=number,
                created_by=people.author,
            )
    assert ModelVersion.objects.count() == 1


# --- transition methods do not check permissions -------------------------------


@pytest.mark.parametrize("who", ["viewer", "author", "reviewer", "outsider"])
def test_promote_by_user_without_role_is_refused(people, model, who):
    v = register(actor=people.author, model=model, version="1.0.0")
    make_promotable(v, author=people.author, reviewer=people.reviewer)
    events = AuditEvent.objects.count()
    with pytest.raises(NotAllowed) as excinfo:
        services.model_version_promote(actor=getattr(people, who), version=v, reason="sneak")
    assert excinfo.value.status == 403
    assert "promote" in excinfo.value.message
    v.refresh_from_db()
    assert v.stage == Stage.STAGING
    assert AuditEvent.objects.count() == events


@pytest.mark.parametrize(
    ("call", "stage"),
    [
        ("promote", Stage.ARCHIVED),
        ("archive", Stage.DEPRECATED),
        ("deprecate", Stage.PRODUCTION),
    ],
)
def test_permission_is_checked_before_state(people, model, promote, call, stage):
    """An unprivileged user asking for an impossible transition gets 403 and learns nothing
    about the stage; a permitted user gets the 409 that names it."""
    v = promote(model, "1.0.0")
    if stage == Stage.ARCHIVED:
        services.model_version_archive(actor=people.release, version=v, reason="x")
    elif stage == Stage.DEPRECATED:
        services.model_version_archive(actor=people.release, version=v, reason="x")
        services.model_version_deprecate(actor=people.release, version=v, reason="x")
    service = getattr(services, f"model_version_{call}")
    with pytest.raises(NotAllowed):
        service(actor=people.viewer, version=v, reason="sneak")
    with pytest.raises(InvalidTransition, match=f"'{stage}'"):
        service(actor=people.release, version=v, reason="sneak")


def test_rollback_by_user_without_role_is_refused(people, model, promote):
    promote(model, "1.0.0")
    current = promote(model, "1.1.0")
    for who in ("viewer", "author", "reviewer"):
        with pytest.raises(NotAllowed):
            services.registered_model_rollback(
                actor=getattr(people, who), model=model, reason="sneak"
            )
    assert selectors.production_version(model=model).pk == current.pk


def test_inactive_release_manager_is_refused(people, model):
    v = register(actor=people.author, model=model, version="1.0.0")
    make_promotable(v, author=people.author, reviewer=people.reviewer)
    people.release.is_active = False
    with pytest.raises(NotAllowed):
        services.model_version_promote(actor=people.release, version=v, reason="x")


# --- SQLite's deferred transactions ------------------------------------------------


def test_database_is_configured_for_concurrent_writers(db):
    """SQLite: WAL and BEGIN IMMEDIATE (writers queue instead of failing); PostgreSQL: row
    locks, which the services take on the model row before every transition."""
    if connection.vendor == "sqlite":
        assert connection.settings_dict["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
        assert connection.settings_dict["OPTIONS"]["timeout"] >= 5
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA journal_mode")
            assert cursor.fetchone()[0] == "wal"
            cursor.execute("PRAGMA synchronous")
            assert cursor.fetchone()[0] == 1  # NORMAL: the log is synced at checkpoints
            cursor.execute("PRAGMA wal_autocheckpoint")
            assert cursor.fetchone()[0] == 10000
    else:
        assert connection.vendor == "postgresql"
        assert connection.features.has_select_for_update


# --- history and audit rows are ordinary rows ------------------------------------

APPEND_ONLY = [
    HistoricalModelVersion,
    HistoricalRegisteredModel,
    HistoricalTeam,
    HistoricalMembership,
    HistoricalPromotionPolicy,
    AuditEvent,
    HistoricalModelCard,
    HistoricalReview,
    CardRevision,
    Review,
]
ATTACKS = [
    "queryset_update",
    "queryset_delete",
    "instance_save",
    "instance_delete",
    "raw_update",
    "raw_delete",
]


@pytest.fixture
def trail(people, model, promote):
    """A promoted version with a policy: every append-only table holds rows."""
    services.policy_update(actor=people.admin, model=model, required_approvals=1, reason="p")
    promote(model, "1.0.0")
    return model


def _attack(model_cls, attack: str) -> None:
    row = model_cls.objects.order_by("pk").first()
    assert row is not None, f"{model_cls.__name__} has no rows to attack"
    table = model_cls._meta.db_table
    pk_column = model_cls._meta.pk.column
    text_field = next(
        f
        for f in model_cls._meta.concrete_fields
        if f.get_internal_type() in ("CharField", "TextField") and not f.primary_key
    )
    if attack == "queryset_update":
        model_cls.objects.filter(pk=row.pk).update(**{text_field.name: "forged"})
    elif attack == "queryset_delete":
        model_cls.objects.filter(pk=row.pk).delete()
    elif attack == "instance_save":
        setattr(row, text_field.attname, "forged")
        row.save()
    elif attack == "instance_delete":
        row.delete()
    elif attack == "raw_update":
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} SET {text_field.column} = %s WHERE {pk_column} = %s",
                ["forged", row.pk],
            )
    else:
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {table} WHERE {pk_column} = %s", [row.pk])


@pytest.mark.parametrize("attack", ATTACKS)
@pytest.mark.parametrize("model_cls", APPEND_ONLY, ids=lambda m: m.__name__)
def test_append_only_rows_cannot_be_changed_or_deleted(trail, model_cls, attack):
    before = list(model_cls.objects.order_by("pk").values())
    with pytest.raises((IntegrityError, ProtectedError)), transaction.atomic():
        _attack(model_cls, attack)
    assert list(model_cls.objects.order_by("pk").values()) == before


def test_deleted_user_is_still_named_in_history_and_audit(people, model):
    """Deactivating is the rule, but even a deleted account keeps its name in the trail."""
    temp = make_user("temp_release", "release_manager")
    v = register(actor=people.author, model=model, version="1.0.0")
    make_promotable(v, author=people.author, reviewer=people.reviewer)
    services.model_version_promote(actor=temp, version=v, reason="temporary cover")
    temp_id = temp.pk
    User.objects.filter(pk=temp_id).delete()

    row = ModelVersion.history.filter(id=v.pk).order_by("-history_id").first()
    assert (row.history_user_id, row.history_username) == (temp_id, "temp_release")
    assert row.history_user is None  # the account is gone; the name and id remain
    event = AuditEvent.objects.get(model_version=v, action=Action.VERSION_PROMOTED)
    assert (event.actor_id, event.actor_username) == (temp_id, "temp_release")
    assert event.reason == "temporary cover"


def test_user_with_reviews_cannot_be_deleted(people, model):
    v = register(actor=people.author, model=model, version="1.0.0")
    make_promotable(v, author=people.author, reviewer=people.reviewer)
    with pytest.raises((ProtectedError, IntegrityError)), transaction.atomic():
        User.objects.filter(pk=people.reviewer.pk).delete()
    assert Review.objects.get(model_version=v).reviewer_username == "reviewer"


# --- full_clean with a protected FSM field --------------------------------------


def test_full_clean_excluding_stage_works(people, model, promote):
    for v in (register(actor=people.author, model=model, version="1.0.0"), promote(model, "2.0.0")):
        fresh = ModelVersion.objects.get(pk=v.pk)
        fresh.full_clean(exclude=["stage"])
        assert fresh.stage in (Stage.STAGING, Stage.PRODUCTION)


# --- Identity fields and numbers -------------------------------------------------------

IDENTITY_CHANGES = {
    "version": "1.0.1",
    "metrics": {"accuracy": 0.99},
    "params": {"lr": 0.5},
    "data_version": "data-v2",
    "code_version": "deadbeef",
    "source_run": "run-2",
    "artifact_uri": "s3://bucket/other/model.pkl",
    "artifact_sha256": "b" * 64,
    "artifact_size": 999,
}


@pytest.fixture
def full_version(people, model):
    return register(
        actor=people.author,
        model=model,
        version="1.0.0",
        metrics={"accuracy": 0.95},
        params={"lr": 0.1},
        data_version="data-v1",
        code_version="abc123",
        source_run="run-1",
        artifact_uri="s3://bucket/fraud/1.0.0/model.pkl",
        artifact_sha256="a" * 64,
        artifact_size=1234,
    )


@pytest.mark.parametrize(("field", "value"), IDENTITY_CHANGES.items())
def test_identity_field_cannot_change_through_save(full_version, field, value):
    v = ModelVersion.objects.get(pk=full_version.pk)
    setattr(v, field, value)
    with pytest.raises(ValidationError, match=field):
        v.save()
    assert getattr(ModelVersion.objects.get(pk=v.pk), field) == getattr(full_version, field)


@pytest.mark.parametrize(
    ("field", "value"),
    [*IDENTITY_CHANGES.items(), ("number", 7), ("precedence", "00"), ("created_by_id", None)],
)
def test_identity_field_cannot_change_through_queryset_update(people, full_version, field, value):
    if field == "created_by_id":
        value = people.release.pk
    with pytest.raises(IntegrityError), transaction.atomic():
        ModelVersion.objects.filter(pk=full_version.pk).update(**{field: value})
    assert getattr(ModelVersion.objects.get(pk=full_version.pk), field) == getattr(
        full_version, field
    )


def test_mutable_fields_still_change_through_the_service(people, full_version):
    v = services.model_version_update(
        actor=people.author, version=full_version, description="better words", tags={"a": "b"}
    )
    v.refresh_from_db()
    assert (v.description, v.tags) == ("better words", {"a": "b"})


def test_artifact_is_write_once(people, model):
    v = register(actor=people.author, model=model, version="1.0.0")
    services.model_version_attach_artifact(
        actor=people.author, version=v, uri="registry://fraud/1.0.0", sha256="c" * 64, size=10
    )
    with pytest.raises(Conflict, match="write-once"):
        services.model_version_attach_artifact(
            actor=people.author, version=v, uri="registry://evil", sha256="d" * 64, size=11
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        ModelVersion.objects.filter(pk=v.pk).update(artifact_sha256="d" * 64)
    v.refresh_from_db()
    assert v.artifact_sha256 == "c" * 64


def test_version_numbers_are_never_reused(people, model):
    first = register(actor=people.author, model=model, version="1.0.0")
    second = register(actor=people.author, model=model, version="2.0.0")
    assert (first.number, second.number) == (1, 2)
    # Refused registrations consume no number and leave none behind.
    with pytest.raises(Conflict):
        register(actor=people.author, model=model, version="2.0.0")
    with pytest.raises(ValidationError):
        register(actor=people.author, model=model, version="3.0.0", metrics={"a": "x"})
    with pytest.raises(NotAllowed):
        register(actor=people.outsider, model=model, version="3.0.0")
    # A version cannot be removed to free its number: its card and reviews protect it.
    with pytest.raises((ProtectedError, IntegrityError)), transaction.atomic():
        ModelVersion.objects.filter(pk=second.pk).delete()
    third = register(actor=people.author, model=model, version="0.5.0")
    assert third.number == 3
    model.refresh_from_db()
    assert model.last_number == 3
    assert sorted(ModelVersion.objects.values_list("number", flat=True)) == [1, 2, 3]
