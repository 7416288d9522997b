"""Concurrent writers on SQLite, with only the options Django documents for it.

The settings give SQLite `transaction_mode: IMMEDIATE` and a `timeout`: every atomic block
starts with BEGIN IMMEDIATE and so holds the write lock from its first statement to its
COMMIT or ROLLBACK, and a writer that finds the lock taken waits (SQLite's busy handler)
instead of failing with "database is locked". These tests open their own SQLite database
with the project's backend and settings' options, whatever database the suite runs on,
and watch the lock from outside with a plain sqlite3 connection that never waits.
"""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest
from django.conf import settings
from django.db import OperationalError, connections, transaction

from registry_site.db.sqlite3.base import DatabaseWrapper

ALIAS = "sqlite_writers_test"
WRITERS = 8


def _project_sqlite_options() -> dict:
    """The SQLite OPTIONS of the project's settings, whatever database the suite runs on."""
    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        return dict(settings.DATABASES["default"]["OPTIONS"])
    # The PostgreSQL leg: the same options as registry_site/settings.py writes for SQLite.
    return {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000; "
            "PRAGMA wal_autocheckpoint=10000;"
        ),
    }


def _configured(name: str, options: dict) -> dict:
    """A complete DATABASES entry (Django's defaults filled in) for the project's backend."""
    databases = {
        "default": {"ENGINE": "django.db.backends.dummy"},
        "new": {"ENGINE": "registry_site.db.sqlite3", "NAME": name, "OPTIONS": options},
    }
    return connections.configure_settings(databases)["new"]


@pytest.fixture
def sqlite_alias(tmp_path, django_db_blocker):
    """A file SQLite database under the alias ALIAS, with the project's SQLite options."""
    path = tmp_path / "writers.sqlite3"
    connections.settings[ALIAS] = _configured(str(path), _project_sqlite_options())
    with django_db_blocker.unblock():
        with connections[ALIAS].cursor() as cursor:
            cursor.execute("CREATE TABLE entry (who TEXT)")
        yield path
        connections[ALIAS].close()
    del connections.settings[ALIAS]
    del connections[ALIAS]


def _write_lock_is_free(db_path) -> bool:
    """Whether another connection could start a write transaction right now, without waiting."""
    outside = sqlite3.connect(db_path, timeout=0, isolation_level=None)
    try:
        outside.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        assert "locked" in str(exc)
        return False
    else:
        outside.execute("ROLLBACK")
        return True
    finally:
        outside.close()


def test_the_backend_is_the_projects(sqlite_alias):
    assert isinstance(connections[ALIAS], DatabaseWrapper)


def test_a_transaction_holds_the_write_lock_from_its_start_until_commit(sqlite_alias):
    connection = connections[ALIAS]
    with transaction.atomic(using=ALIAS):
        # Not a statement yet: BEGIN IMMEDIATE alone took the lock.
        connection.cursor().execute("SELECT count(*) FROM entry")
        assert not _write_lock_is_free(sqlite_alias)
        connection.cursor().execute("INSERT INTO entry VALUES ('a')")
        assert not _write_lock_is_free(sqlite_alias)
    assert _write_lock_is_free(sqlite_alias)
    with connection.cursor() as cursor:
        cursor.execute("SELECT who FROM entry")
        assert cursor.fetchall() == [("a",)]


def test_rollback_gives_the_lock_back(sqlite_alias):
    connection = connections[ALIAS]
    with pytest.raises(RuntimeError), transaction.atomic(using=ALIAS):
        connection.cursor().execute("INSERT INTO entry VALUES ('gone')")
        assert not _write_lock_is_free(sqlite_alias)
        raise RuntimeError("roll back")
    assert _write_lock_is_free(sqlite_alias)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM entry")
        assert cursor.fetchone() == (0,)


def test_nested_atomic_blocks_keep_the_lock_until_the_outer_one_ends(sqlite_alias):
    connection = connections[ALIAS]
    with transaction.atomic(using=ALIAS):
        with transaction.atomic(using=ALIAS):
            connection.cursor().execute("INSERT INTO entry VALUES ('inner')")
        assert not _write_lock_is_free(sqlite_alias)  # a savepoint's release is not the commit
    assert _write_lock_is_free(sqlite_alias)


def test_closing_the_connection_gives_the_lock_back(sqlite_alias):
    connection = connections[ALIAS]
    # What atomic() does on entry, without the exit that would commit or roll back.
    connection.set_autocommit(False, force_begin_transaction_with_broken_autocommit=True)
    connection.cursor().execute("INSERT INTO entry VALUES ('x')")
    assert not _write_lock_is_free(sqlite_alias)
    connection.close()
    assert _write_lock_is_free(sqlite_alias)


def test_reads_outside_transactions_do_not_wait_for_a_writer(sqlite_alias):
    outside = sqlite3.connect(sqlite_alias, timeout=0, isolation_level=None)
    outside.execute("BEGIN IMMEDIATE")
    outside.execute("INSERT INTO entry VALUES ('uncommitted')")
    try:
        started = time.monotonic()
        with connections[ALIAS].cursor() as cursor:
            cursor.execute("SELECT count(*) FROM entry")
            assert cursor.fetchone() == (0,)  # WAL: the last committed state, at once
        assert time.monotonic() - started < 1.0
    finally:
        outside.execute("ROLLBACK")
        outside.close()


def test_a_second_writer_waits_for_the_first_to_commit(sqlite_alias):
    events: list[str] = []
    first_inside, second_begins = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def first() -> None:
        try:
            with transaction.atomic(using=ALIAS):
                connections[ALIAS].cursor().execute("INSERT INTO entry VALUES ('first')")
                events.append("first in")
                first_inside.set()
                # Commit only once the second writer is starting its transaction.
                assert second_begins.wait(10), "the second writer never began"
                events.append("first commits")
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)
        finally:
            connections[ALIAS].close()

    def announce_begin(execute, sql, params, many, context):
        """Django's documented hook on a connection's statements: this one is the BEGIN
        IMMEDIATE that atomic() starts with."""
        if sql.startswith("BEGIN"):
            events.append("second begins")
            second_begins.set()
        return execute(sql, params, many, context)

    def second() -> None:
        try:
            assert first_inside.wait(10), "the first writer never got in"
            with (
                connections[ALIAS].execute_wrapper(announce_begin),
                transaction.atomic(using=ALIAS),
            ):
                events.append("second in")
                connections[ALIAS].cursor().execute("INSERT INTO entry VALUES ('second')")
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections[ALIAS].close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert events == ["first in", "second begins", "first commits", "second in"]
    with connections[ALIAS].cursor() as cursor:
        cursor.execute("SELECT who FROM entry ORDER BY rowid")
        assert cursor.fetchall() == [("first",), ("second",)]


def test_many_writers_at_once_all_land_and_none_sees_database_is_locked(sqlite_alias):
    """Each writer reads, then writes, in one transaction: the pattern that fails with
    "database is locked" under deferred transactions, when two readers both try to write."""
    barrier = threading.Barrier(WRITERS)
    errors: list[BaseException] = []
    rounds = 10

    def writer(i: int) -> None:
        try:
            barrier.wait(30)
            for n in range(rounds):
                with transaction.atomic(using=ALIAS), connections[ALIAS].cursor() as cursor:
                    cursor.execute("SELECT count(*) FROM entry")
                    cursor.fetchone()
                    cursor.execute("INSERT INTO entry VALUES (%s)", [f"{i}-{n}"])
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)
        finally:
            connections[ALIAS].close()

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    with connections[ALIAS].cursor() as cursor:
        cursor.execute("SELECT count(*), count(DISTINCT who) FROM entry")
        assert cursor.fetchone() == (WRITERS * rounds, WRITERS * rounds)


def test_the_wait_for_the_lock_is_bounded_by_the_database_timeout(sqlite_alias):
    """A writer that never gets the lock fails after `timeout` seconds, not before, and
    writes nothing."""
    connection = connections[ALIAS]
    connection.close()
    connection.settings_dict["OPTIONS"]["timeout"] = 0.3
    # init_command's busy_timeout would override the `timeout` given to the driver.
    connection.settings_dict["OPTIONS"]["init_command"] = "PRAGMA journal_mode=WAL;"
    outside = sqlite3.connect(sqlite_alias, timeout=0, isolation_level=None)
    outside.execute("BEGIN IMMEDIATE")
    try:
        started = time.monotonic()
        with pytest.raises(OperationalError, match="locked"), transaction.atomic(using=ALIAS):
            connection.cursor().execute("INSERT INTO entry VALUES ('never')")
        waited = time.monotonic() - started
        assert 0.25 <= waited < 5
    finally:
        outside.execute("ROLLBACK")
        outside.close()
    connection.close()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM entry")
        assert cursor.fetchone() == (0,)
