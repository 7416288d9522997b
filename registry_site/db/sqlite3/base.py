"""Django's SQLite backend, with a fair hand-over of the write lock between processes, and a
flush that may clear the append-only audit tables.

Writer hand-over: every atomic block starts with BEGIN IMMEDIATE (settings.py), which takes
SQLite's write lock. A writer that finds it taken is put to sleep by SQLite's busy handler
for 1, 2, 5, 10 … up to 100 ms at a time, and keeps sleeping after the lock is free, so
under concurrent writes most of a request's time went to sleeping. Before BEGIN IMMEDIATE
each connection therefore takes an exclusive OS lock (flock) on a file beside the database,
and gives it back right after COMMIT or ROLLBACK: the kernel wakes the next writer as soon as
the lock is released. SQLite's own locking still guarantees correctness; the file lock only
decides who goes next. Readers (WAL) never take it. The wait is bounded by the database
`timeout`, after which the transaction starts anyway and SQLite's busy handler takes over.

Flush: the audit tables refuse UPDATE and DELETE through triggers (see
models_app/migrations/0002_audit_triggers.py) unless a row sits in the unmanaged table
`registry_maintenance`. Only `flush` (used between tests and by `manage.py flush`, which
empties the whole database anyway) puts one there, inside its own transaction.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time

from django.db.backends.sqlite3 import base, creation, operations


class DatabaseCreation(creation.DatabaseCreation):
    def _destroy_test_db(self, test_database_name, verbosity):
        super()._destroy_test_db(test_database_name, verbosity)
        if test_database_name and not self.is_in_memory_db(test_database_name):
            with contextlib.suppress(FileNotFoundError):
                os.remove(f"{test_database_name}-writer.lock")


class DatabaseOperations(operations.DatabaseOperations):
    def execute_sql_flush(self, sql_list):
        sql_list = [
            "INSERT INTO registry_maintenance (reason) VALUES ('flush')",
            *sql_list,
            "DELETE FROM registry_maintenance",
        ]
        return super().execute_sql_flush(sql_list)


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations
    creation_class = DatabaseCreation

    # Polling interval while another connection holds the writer lock: the first waits are
    # short (most transactions take a few milliseconds), later ones back off a little.
    _WAIT_FIRST, _WAIT_MAX = 0.0002, 0.002

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._writer_lock_fd: int | None = None
        self._writer_lock_held = False

    def _writer_lock_path(self) -> str | None:
        mode = str(self.settings_dict["OPTIONS"].get("transaction_mode") or "").upper()
        if mode != "IMMEDIATE" or self.is_in_memory_db():
            return None
        return f"{self.settings_dict['NAME']}-writer.lock"

    def _acquire_writer_lock(self) -> None:
        if self._writer_lock_held:
            return
        if self._writer_lock_fd is None:
            path = self._writer_lock_path()
            if path is None:
                return
            try:
                self._writer_lock_fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except OSError:
                return  # e.g. a read-only directory: SQLite's busy handler alone decides
        deadline = time.monotonic() + float(self.settings_dict["OPTIONS"].get("timeout", 5))
        wait = self._WAIT_FIRST
        while True:
            try:
                fcntl.flock(self._writer_lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    return  # give up the queue; BEGIN IMMEDIATE waits its own busy timeout
                time.sleep(wait)
                wait = min(wait * 2, self._WAIT_MAX)
                continue
            self._writer_lock_held = True
            return

    def _release_writer_lock(self) -> None:
        if self._writer_lock_held:
            self._writer_lock_held = False
            fcntl.flock(self._writer_lock_fd, fcntl.LOCK_UN)

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
            if self._writer_lock_fd is not None:
                os.close(self._writer_lock_fd)
                self._writer_lock_fd = None
