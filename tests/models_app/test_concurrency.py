"""Concurrent writers with real threads, on the file SQLite test
database and on PostgreSQL.

Each thread has its own database connection, waits at a barrier so that all start
together, and closes its connection at the end. Committed data is needed for the
threads to see each other's work, hence `transaction=True`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.db import connection, transaction

from models_app import services
from models_app.enums import Action, Stage
from models_app.exceptions import Conflict, RegistryError
from models_app.models import AuditEvent, ModelVersion, Team
from tests.factories import make_model, make_promotable, register

THREADS = 8


def _run_together(work: Callable[[int], object]) -> tuple[list, list, list]:
    """Run work(0…7) in 8 threads at once; return (results, clean refusals, other errors)."""
    barrier = threading.Barrier(THREADS)
    results, refusals, errors = [], [], []
    lock = threading.Lock()

    def target(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            outcome = work(i)
            with lock:
                results.append(outcome)
        except RegistryError as exc:
            with lock:
                refusals.append(exc)
        except Exception as exc:  # anything else is a failure of the test
            with lock:
                errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=target, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    return results, refusals, errors


@pytest.mark.django_db(transaction=True)
def test_concurrent_promotions_leave_exactly_one_production(people, model):
    versions = []
    for i in range(THREADS):
        v = register(actor=people.author, model=model, version=f"1.{i}.0")
        versions.append(make_promotable(v, author=people.author, reviewer=people.reviewer))
    release_id = people.release.pk

    def promote(i: int):
        actor = User.objects.get(pk=release_id)
        return services.model_version_promote(
            actor=actor, version=versions[i], reason=f"thread {i}"
        )

    results, refusals, errors = _run_together(promote)
    assert errors == [], [repr(e) for e in errors]
    assert len(results) + len(refusals) == THREADS
    assert all(type(r).__name__ in {"InvalidTransition", "GuardsFailed"} for r in refusals)

    stages = list(
        ModelVersion.objects.filter(registered_model=model).values_list("stage", flat=True)
    )
    assert stages.count(Stage.PRODUCTION) == 1
    # Every successful promotion but the last was superseded by a later one.
    assert stages.count(Stage.ARCHIVED) == len(results) - 1
    assert stages.count(Stage.STAGING) == len(refusals)
    promoted = AuditEvent.objects.filter(registered_model=model, action=Action.VERSION_PROMOTED)
    assert promoted.count() == len(results)
    superseded = AuditEvent.objects.filter(
        registered_model=model, action=Action.VERSION_ARCHIVED, reason__startswith="superseded by"
    )
    assert superseded.count() == len(results) - 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_registrations_get_distinct_numbers(people, model):
    author_id = people.author.pk

    def register_one(i: int):
        actor = User.objects.get(pk=author_id)
        return register(actor=actor, model=model, version=f"2.0.{i}")

    results, refusals, errors = _run_together(register_one)
    assert errors == [], [repr(e) for e in errors]
    assert refusals == []
    numbers = sorted(
        ModelVersion.objects.filter(registered_model=model).values_list("number", flat=True)
    )
    assert numbers == list(range(1, THREADS + 1))
    assert sorted(v.number for v in results) == numbers
    model.refresh_from_db()
    assert model.last_number == THREADS


@pytest.mark.django_db(transaction=True)
def test_concurrent_registrations_of_same_version_leave_one_row(people, model):
    author_id = people.author.pk

    def register_same(i: int):
        actor = User.objects.get(pk=author_id)
        return register(actor=actor, model=model, version="3.0.0", metrics={"accuracy": i / 10})

    results, refusals, errors = _run_together(register_same)
    assert errors == [], [repr(e) for e in errors]
    assert len(results) == 1
    assert len(refusals) == THREADS - 1
    assert all(isinstance(r, Conflict) and r.status == 409 for r in refusals)
    assert all("already has a version 3.0.0" in r.message for r in refusals)
    rows = ModelVersion.objects.filter(registered_model=model)
    assert rows.count() == 1
    assert rows.get().number == 1
    registered = AuditEvent.objects.filter(registered_model=model, action=Action.VERSION_REGISTERED)
    assert registered.count() == 1


@pytest.mark.django_db(transaction=True)
def test_writing_one_model_does_not_lock_its_team_or_the_teams_other_models(people, model):
    """A writer holds its model's row lock; a second connection writes another model of the
    same team meanwhile. On PostgreSQL the second one must not wait for the first (it runs
    with a short lock_timeout, so waiting would fail it); SQLite has one writer at a time,
    so there the second write waits for the first to commit and both succeed."""
    other = make_model(actor=people.author, team=people.team, name="fraud_scorer")
    author_id = people.author.pk
    postgres = connection.vendor == "postgresql"
    first_locked, first_may_commit = threading.Event(), threading.Event()
    outcomes: dict[str, object] = {}

    def first() -> None:
        try:
            with transaction.atomic():
                services.registered_model_update(
                    actor=User.objects.get(pk=author_id), model=model, description="first"
                )
                first_locked.set()
                first_may_commit.wait(timeout=30)
            outcomes["first"] = "ok"
        except Exception as exc:
            outcomes["first"] = exc
        finally:
            first_locked.set()
            connection.close()

    def second() -> None:
        try:
            with transaction.atomic():
                if postgres:
                    with connection.cursor() as cursor:
                        cursor.execute("SET LOCAL lock_timeout = '2s'")
                    # The team row stays free: nobody holds it.
                    Team.objects.select_for_update(nowait=True).get(pk=people.team.pk)
                services.registered_model_update(
                    actor=User.objects.get(pk=author_id), model=other, description="second"
                )
            outcomes["second"] = "ok"
        except Exception as exc:
            outcomes["second"] = exc
        finally:
            connection.close()

    one = threading.Thread(target=first)
    one.start()
    assert first_locked.wait(timeout=30)
    two = threading.Thread(target=second)
    two.start()
    if postgres:
        # The second writer finishes while the first still holds its model's lock.
        two.join(timeout=30)
        assert not two.is_alive()
        assert "first" not in outcomes
        first_may_commit.set()
    else:
        first_may_commit.set()
        two.join(timeout=30)
    one.join(timeout=30)
    assert outcomes == {"first": "ok", "second": "ok"}, outcomes
    model.refresh_from_db()
    other.refresh_from_db()
    assert (model.description, other.description) == ("first", "second")
