"""The SQLite backend's writer queue (registry_site/db/sqlite3/base.py).

Every transaction on SQLite starts with BEGIN IMMEDIATE; before it, the connection takes an
exclusive flock on `<database>-writer.lock` and gives it back at COMMIT, ROLLBACK or close,
so that a waiting writer is woken (through `<database>-writer.wake`) as soon as the lock is
free instead of sleeping in SQLite's busy handler. These tests open their own SQLite
database with the project's backend, whatever database the suite runs on, and watch the
lock file from outside with a second open file (flock locks conflict between open files,
also within one process).
"""

from __future__ import annotations

import fcntl
import os
import threading
import time

import pytest
from django.db import connections, transaction

from registry_site.db.sqlite3.base import CursorWrapper, DatabaseWrapper

ALIAS = "writer_queue_test"


def _configured(name: str, options: dict) -> dict:
    """A complete DATABASES entry (Django's defaults filled in) for the project's backend."""
    databases = {
        "default": {"ENGINE": "django.db.backends.dummy"},
        "new": {"ENGINE": "registry_site.db.sqlite3", "NAME": name, "OPTIONS": options},
    }
    return connections.configure_settings(databases)["new"]


@pytest.fixture
def sqlite_alias(tmp_path, django_db_blocker, settings):
    """A file SQLite database under the alias ALIAS, with the project's SQLite options."""
    path = tmp_path / "queue.sqlite3"
    options = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA busy_timeout=20000;",
    }
    connections.settings[ALIAS] = _configured(str(path), options)
    with django_db_blocker.unblock():
        with connections[ALIAS].cursor() as cursor:
            cursor.execute("CREATE TABLE entry (who TEXT)")
        yield path
        connections[ALIAS].close()
    del connections.settings[ALIAS]
    delattr(connections._connections, ALIAS)


def _lock_is_free(db_path) -> bool:
    """Whether an outside open file could take the writer lock right now."""
    fd = os.open(f"{db_path}-writer.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return True
    finally:
        os.close(fd)


def test_the_backend_is_the_projects(sqlite_alias):
    assert isinstance(connections[ALIAS], DatabaseWrapper)


def test_a_transaction_holds_the_writer_lock_until_commit(sqlite_alias):
    connection = connections[ALIAS]
    with transaction.atomic(using=ALIAS):
        connection.cursor().execute("INSERT INTO entry VALUES ('a')")
        assert connection._writer_lock_held
        assert not _lock_is_free(sqlite_alias)
    assert not connection._writer_lock_held
    assert _lock_is_free(sqlite_alias)
    with connection.cursor() as cursor:
        cursor.execute("SELECT who FROM entry")
        assert cursor.fetchall() == [("a",)]


def test_rollback_gives_the_lock_back(sqlite_alias):
    connection = connections[ALIAS]
    with pytest.raises(RuntimeError), transaction.atomic(using=ALIAS):
        connection.cursor().execute("INSERT INTO entry VALUES ('gone')")
        assert not _lock_is_free(sqlite_alias)
        raise RuntimeError("roll back")
    assert _lock_is_free(sqlite_alias)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM entry")
        assert cursor.fetchone() == (0,)


def test_nested_atomic_blocks_keep_the_lock_until_the_outer_one_ends(sqlite_alias):
    connection = connections[ALIAS]
    with transaction.atomic(using=ALIAS):
        with transaction.atomic(using=ALIAS):
            connection.cursor().execute("INSERT INTO entry VALUES ('inner')")
        assert not _lock_is_free(sqlite_alias)  # a savepoint's release is not the commit
    assert _lock_is_free(sqlite_alias)


def test_closing_the_connection_gives_the_lock_back(sqlite_alias):
    connection = connections[ALIAS]
    # What atomic() does on entry, without the exit that would commit or roll back.
    connection.set_autocommit(False, force_begin_transaction_with_broken_autocommit=True)
    connection.cursor().execute("INSERT INTO entry VALUES ('x')")
    assert not _lock_is_free(sqlite_alias)
    connection.close()
    assert _lock_is_free(sqlite_alias)
    assert connection._writer_lock_fd is None


def test_reads_outside_transactions_do_not_take_the_lock(sqlite_alias):
    connection = connections[ALIAS]
    fd = os.open(f"{sqlite_alias}-writer.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM entry")
            assert cursor.fetchone() == (0,)
    finally:
        os.close(fd)


def test_a_second_writer_waits_for_the_first_to_commit(sqlite_alias):
    events: list[str] = []
    first_inside, second_trying = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def first() -> None:
        try:
            with transaction.atomic(using=ALIAS):
                connections[ALIAS].cursor().execute("INSERT INTO entry VALUES ('first')")
                events.append("first in")
                first_inside.set()
                second_trying.wait(10)
                time.sleep(0.2)  # time for the second writer to reach the queue
                events.append("first commits")
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)
        finally:
            connections[ALIAS].close()

    def second() -> None:
        try:
            first_inside.wait(10)
            second_trying.set()
            with transaction.atomic(using=ALIAS):
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
    assert events == ["first in", "first commits", "second in"]
    with connections[ALIAS].cursor() as cursor:
        cursor.execute("SELECT who FROM entry ORDER BY rowid")
        assert cursor.fetchall() == [("first",), ("second",)]


def test_the_wait_for_the_lock_is_bounded_by_the_database_timeout(sqlite_alias):
    """A lock file held by something that is not a transaction (a stuck process, say) does
    not stop writers: after `timeout` seconds they go ahead and SQLite alone decides."""
    connection = connections[ALIAS]
    connection.close()
    connection.settings_dict["OPTIONS"]["timeout"] = 0.3
    fd = os.open(f"{sqlite_alias}-writer.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        with transaction.atomic(using=ALIAS):
            connection.cursor().execute("INSERT INTO entry VALUES ('went ahead')")
            assert not connection._writer_lock_held
    finally:
        os.close(fd)
    with connection.cursor() as cursor:
        cursor.execute("SELECT who FROM entry")
        assert cursor.fetchall() == [("went ahead",)]


def test_in_memory_databases_have_no_lock_file():
    wrapper = DatabaseWrapper(
        _configured(":memory:", {"transaction_mode": "IMMEDIATE"}), alias="memory"
    )
    assert wrapper._writer_lock_path() is None


def test_a_release_wakes_a_waiting_writer_through_the_pipe(sqlite_alias):
    """The waiter sleeps on `<db>-writer.wake` (up to 2 ms a time); each release writes to it."""
    connection = connections[ALIAS]
    with transaction.atomic(using=ALIAS):
        connection.cursor().execute("INSERT INTO entry VALUES ('a')")
        wake = connection._writer_wake_fd
        assert wake is not None
        assert os.path.exists(f"{sqlite_alias}-writer.wake")
    # The commit above released the lock and left a byte for any waiter.
    assert os.read(wake, 16) == b"\0"


def test_a_waiting_writer_goes_as_soon_as_the_lock_is_released(sqlite_alias, monkeypatch):
    """With the fallback poll made slow, only the wake-up can explain a prompt hand-over."""
    monkeypatch.setattr(DatabaseWrapper, "_WAIT_MAX", 5.0)
    holder = connections[ALIAS]
    took: list[float] = []
    holding = threading.Event()

    def waiter() -> None:
        try:
            holding.wait(10)
            with transaction.atomic(using=ALIAS):
                took.append(time.monotonic())
                connections[ALIAS].cursor().execute("INSERT INTO entry VALUES ('waiter')")
        finally:
            connections[ALIAS].close()

    thread = threading.Thread(target=waiter)
    thread.start()
    with transaction.atomic(using=ALIAS):
        holder.cursor().execute("INSERT INTO entry VALUES ('holder')")
        holding.set()
        time.sleep(0.3)  # the waiter is in its wait by now
        released_at = time.monotonic()
    thread.join(30)
    assert len(took) == 1
    assert took[0] - released_at < 1.0  # far below the 5 s fallback poll


def test_the_cursor_rewrites_placeholders_once_per_query_text(sqlite_alias):
    connection = connections[ALIAS]
    sql = "SELECT %s, '100%%', %s /* cursor cache test */"
    CursorWrapper._converted.pop(sql, None)
    for value in ("first", "second"):
        with connection.cursor() as cursor:
            cursor.execute(sql, [value, 7])
            assert cursor.fetchall() == [(value, "100%", 7)]
    assert CursorWrapper._converted[sql] == "SELECT ?, '100%', ? /* cursor cache test */"
    # Named ("pyformat") parameters are not cached: their text depends on the names given.
    with connection.cursor() as cursor:
        cursor.execute("SELECT %(a)s, %(b)s", {"a": 1, "b": 2})
        assert cursor.fetchall() == [(1, 2)]
    assert "SELECT %(a)s, %(b)s" not in CursorWrapper._converted


def test_the_cursor_cache_is_bounded(sqlite_alias, monkeypatch):
    monkeypatch.setattr(CursorWrapper, "_converted", {})
    monkeypatch.setattr(CursorWrapper, "_CONVERTED_MAX", 3)
    with connections[ALIAS].cursor() as cursor:
        for n in range(10):
            cursor.execute(f"SELECT %s + {n}", [1])
            assert cursor.fetchall() == [(1 + n,)]
    assert len(CursorWrapper._converted) <= 3
    # A very long statement is rewritten as usual but not kept.
    long_sql = "SELECT %s" + " " * 9000
    with connections[ALIAS].cursor() as cursor:
        cursor.execute(long_sql, [5])
        assert cursor.fetchall() == [(5,)]
    assert long_sql not in CursorWrapper._converted
