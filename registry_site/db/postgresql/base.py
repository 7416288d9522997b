"""Django's PostgreSQL backend, with a flush that may clear the append-only audit tables.

PostgreSQL's flush uses TRUNCATE, which row-level triggers do not see, but the audit
triggers also refuse TRUNCATE unless the transaction sets `registry.maintenance`; only
`flush` does (see models_app/migrations/0002_audit_triggers.py).
"""

from django.db.backends.postgresql import base, operations


class DatabaseOperations(operations.DatabaseOperations):
    def execute_sql_flush(self, sql_list):
        sql_list = ["SET LOCAL registry.maintenance = 'flush'", *sql_list]
        return super().execute_sql_flush(sql_list)


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations
