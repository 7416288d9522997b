"""Django's SQLite backend, with a fair hand-over of the write lock between processes, and a
flush that may clear the append-only audit tables.

Writer hand-over: every atomic block starts with BEGIN IMMEDIATE (settings.py), which takes
SQLite's write lock. A writer that finds it taken is put to sleep by SQLite's busy handler
for 1, 2, 5, 10 … up to 100 ms at a time, and keeps sleeping after the lock is free, so
under concurrent writes most of a request's time went to sleeping. Before BEGIN IMMEDIATE
each connection therefore takes an exclusive OS lock (flock) on `<db>-writer.lock`, and
gives it back right after COMMIT or ROLLBACK. A writer that finds it taken waits on a
named pipe beside it, `<db>-writer.wake`, into which every release writes a byte, so that
it tries again as soon as the lock is free (and at least every 2 ms, should a wake-up be
missed, e.g. from a process that died holding the lock). SQLite's own locking still
guarantees correctness; the file lock only decides who goes next. Readers (WAL) never take
it. The wait is bounded by the database `timeout`, after which the transaction starts
anyway and SQLite's busy handler takes over.

Query text: Django writes its SQL with `%s` placeholders and the SQLite driver wants `?`,
so every statement is rewritten with a regular expression before it runs. The cursor here
remembers the rewritten text of the statements it has seen (the registry runs a few
hundred distinct ones; at most 2,048 of up to 8 KiB each are kept), which spares a
regular-expression pass on every query.

Flush: the audit tables refuse UPDATE and DELETE through triggers (see
models_app/migrations/0002_audit_triggers.py) unless a row sits in the unmanaged table
`registry_maintenance`. Only `flush` (used between tests and by `manage.py flush`, which
empties the whole database anyway) puts one there, inside its own transaction.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import stat
import time

from django.db.backends.sqlite3 import base, creation, operations


class DatabaseCreation(creation.DatabaseCreation):
    def _destroy_test_db(self, test_database_name, verbosity):
        super()._destroy_test_db(test_database_name, verbosity)
        if test_database_name and not self.is_in_memory_db(test_database_name):
            for suffix in ("lock", "wake"):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(f"{test_database_name}-writer.{suffix}")


class DatabaseOperations(operations.DatabaseOperations):
    def execute_sql_flush(self, sql_list):
        sql_list = [
            "INSERT INTO registry_maintenance (reason) VALUES ('flush')",
            *sql_list,
            "DELETE FROM registry_maintenance",
        ]
        return super().execute_sql_flush(sql_list)


class CursorWrapper(base.SQLiteCursorWrapper):
    """Django's SQLite cursor, with the "format" to "qmark" rewrite of each query cached."""

    _converted: dict[str, str] = {}
    _CONVERTED_MAX = 2048  # statements kept
    _CACHED_LENGTH_MAX = 8192  # longer ones (long IN lists, say) are rewritten each time

    def convert_query(self, query, *, param_names=None):
        if param_names is not None or len(query) > self._CACHED_LENGTH_MAX:
            return super().convert_query(query, param_names=param_names)
        converted = self._converted.get(query)
        if converted is None:
            converted = super().convert_query(query)
            if len(self._converted) >= self._CONVERTED_MAX:
                self._converted.clear()  # more distinct statements than expected: start over
            self._converted[query] = converted
        return converted


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations
    creation_class = DatabaseCreation

    # Longest sleep between two tries for the writer lock, should no wake-up come.
    _WAIT_MAX = 0.002

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._writer_lock_fd: int | None = None
        self._writer_wake_fd: int | None = None
        self._writer_lock_held = False

    def create_cursor(self, name=None):
        return self.connection.cursor(factory=CursorWrapper)

    def _writer_lock_path(self) -> str | None:
        mode = str(self.settings_dict["OPTIONS"].get("transaction_mode") or "").upper()
        if mode != "IMMEDIATE" or self.is_in_memory_db():
            return None
        return f"{self.settings_dict['NAME']}-writer.lock"

    def _open_writer_files(self) -> bool:
        """Open the lock file and the wake-up pipe; False if there is no lock to take."""
        if self._writer_lock_fd is not None:
            return True
        path = self._writer_lock_path()
        if path is None:
            return False
        try:
            self._writer_lock_fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError:
            return False  # e.g. a read-only directory: SQLite's busy handler alone decides
        self._writer_wake_fd = _open_wake_pipe(path.removesuffix(".lock") + ".wake")
        return True

    def _try_writer_lock(self) -> bool:
        try:
            fcntl.flock(self._writer_lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        self._writer_lock_held = True
        return True

    def _acquire_writer_lock(self) -> None:
        if self._writer_lock_held or not self._open_writer_files():
            return
        if self._try_writer_lock():
            return
        deadline = time.monotonic() + float(self.settings_dict["OPTIONS"].get("timeout", 5))
        while True:
            if self._writer_wake_fd is not None:
                # Old wake-ups first, then one more try: a release between the failed try
                # and the wait leaves its byte for the wait below.
                _drain(self._writer_wake_fd)
            if self._try_writer_lock():
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return  # give up the queue; BEGIN IMMEDIATE waits its own busy timeout
            if self._writer_wake_fd is not None:
                select.select([self._writer_wake_fd], [], [], min(remaining, self._WAIT_MAX))
            else:
                time.sleep(min(remaining, self._WAIT_MAX / 4))

    def _release_writer_lock(self) -> None:
        if self._writer_lock_held:
            self._writer_lock_held = False
            fcntl.flock(self._writer_lock_fd, fcntl.LOCK_UN)
            if self._writer_wake_fd is not None:
                with contextlib.suppress(BlockingIOError):  # full: waiters are awake anyway
                    os.write(self._writer_wake_fd, b"\0")

    def _start_transaction_under_autocommit(self):
        self._acquire_writer_lock()
        try:
            super()._start_transaction_under_autocommit()
        except BaseException:
            self._release_writer_lock()
            raise

    def _commit(self):
        try:
            return super()._commit()
        finally:
            self._release_writer_lock()

    def _rollback(self):
        try:
            return super()._rollback()
        finally:
            self._release_writer_lock()

    def _close(self):
        try:
            return super()._close()
        finally:
            self._release_writer_lock()
            for name in ("_writer_lock_fd", "_writer_wake_fd"):
                fd = getattr(self, name)
                if fd is not None:
                    os.close(fd)
                    setattr(self, name, None)


def _open_wake_pipe(path: str) -> int | None:
    """The named pipe writers are woken through, opened without blocking; None if it cannot
    be made (the waits then poll)."""
    try:
        os.mkfifo(path, 0o600)
    except FileExistsError:
        pass
    except OSError:
        return None
    try:
        if not stat.S_ISFIFO(os.stat(path).st_mode):
            return None
        # Read and write: opening a pipe for reading alone would wait for a writer.
        return os.open(path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None


def _drain(fd: int) -> None:
    with contextlib.suppress(BlockingIOError):
        while os.read(fd, 4096):
            pass
