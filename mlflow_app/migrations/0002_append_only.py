"""The history of aliases and of MLflow-door deletions is append-only in the database.

The SQL is written out here as it stood when this migration was made, and nothing is
imported from the project: a migration must do the same on every database it runs on,
whatever later becomes of the code.
"""

from django.db import migrations

TABLES = [
    "mlflow_app_historicalmodelalias",
    "mlflow_app_historicaldeletedmodel",
    "mlflow_app_historicaldeletedversion",
]

# On SQLite, each table refuses UPDATE and DELETE unless registry_maintenance has a row
# (only while the database is flushed); on PostgreSQL, UPDATE, DELETE and TRUNCATE unless
# the transaction sets registry.maintenance to 'flush'.
SQLITE_MAINTENANCE = "CREATE TABLE IF NOT EXISTS registry_maintenance (reason TEXT)"
SQLITE_APPEND_ONLY = """CREATE TRIGGER IF NOT EXISTS {table}_no_{op_name} BEFORE {op} ON {table}
            WHEN NOT EXISTS (SELECT 1 FROM registry_maintenance)
            BEGIN SELECT RAISE(ABORT, '{table} is append-only: audit rows cannot be changed or deleted'); END"""

PG_APPEND_ONLY_FUNCTION = """
CREATE OR REPLACE FUNCTION registry_append_only() RETURNS trigger AS $$
BEGIN
    IF current_setting('registry.maintenance', true) = 'flush' THEN
        IF TG_OP = 'UPDATE' THEN RETURN NEW; END IF;
        RETURN OLD;
    END IF;
    RAISE EXCEPTION '% is append-only: audit rows cannot be changed or deleted', TG_TABLE_NAME
        USING ERRCODE = 'integrity_constraint_violation';
END
$$ LANGUAGE plpgsql;
"""
PG_APPEND_ONLY = [
    "DROP TRIGGER IF EXISTS {table}_append_only ON {table}",
    """CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}
            FOR EACH ROW EXECUTE FUNCTION registry_append_only()""",
    "DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}",
    """CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
            FOR EACH STATEMENT EXECUTE FUNCTION registry_append_only()""",
]


def install_statements(vendor: str) -> list[str]:
    if vendor == "sqlite":
        sql = [SQLITE_MAINTENANCE]
        for table in TABLES:
            sql += [
                SQLITE_APPEND_ONLY.format(table=table, op=op, op_name=op.lower())
                for op in ("UPDATE", "DELETE")
            ]
        return sql
    if vendor == "postgresql":
        sql = [PG_APPEND_ONLY_FUNCTION]
        for table in TABLES:
            sql += [statement.format(table=table) for statement in PG_APPEND_ONLY]
        return sql
    raise NotImplementedError(f"No audit triggers for the {vendor} database.")


def install(apps, schema_editor):
    for statement in install_statements(schema_editor.connection.vendor):
        schema_editor.execute(statement, params=None)


def uninstall(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for table in TABLES:
        if vendor == "sqlite":
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
        else:
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")


class Migration(migrations.Migration):
    dependencies = [("mlflow_app", "0001_initial"), ("models_app", "0002_audit_triggers")]

    operations = [migrations.RunPython(install, uninstall)]
