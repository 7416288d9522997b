"""Django's SQLite backend, with a flush that may clear the append-only audit tables.

The audit tables refuse UPDATE and DELETE through triggers (see
models_app/migrations/0002_audit_triggers.py) unless a row sits in the unmanaged table
`registry_maintenance`. Only `flush` (used between tests and by `manage.py flush`, which
empties the whole database anyway) puts one there, inside its own transaction.
"""

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
