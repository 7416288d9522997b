"""Django's SQLite backend, with a flush that may clear the append-only audit tables.

The audit tables refuse UPDATE and DELETE through triggers (see
models_app/migrations/0002_audit_triggers.py) unless a row sits in the unmanaged table
`registry_maintenance`. Only `flush` (used between tests and by `manage.py flush`, which
empties the whole database anyway) puts one there, inside its own transaction.

Concurrent writers need nothing here: the settings' documented SQLite OPTIONS make every
atomic block start with BEGIN IMMEDIATE (`transaction_mode`), so a transaction holds the
write lock from its first statement and never fails to upgrade a read lock, and a writer
that finds the lock taken waits for it for up to `timeout` seconds (SQLite's busy handler)
instead of failing with "database is locked".
"""

from __future__ import annotations

from django.db.backends.sqlite3 import base, operations


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
