"""RegisteredModel.origin: the team registry a mirrored catalog entry came from.

SQLite cannot add a NOT NULL column with a default in place, so Django rebuilds the two
tables, and a rebuilt table loses its triggers: the append-only triggers of migration 0002
are installed again afterwards (they are idempotent: CREATE … IF NOT EXISTS / DROP … IF
EXISTS).

The SQL is written out here as it stood when this migration was made, and nothing is
imported from the project: a migration must do the same on every database it runs on,
whatever later becomes of the code.
"""

from django.db import migrations, models

# The same tables as migration 0002.
TABLES = [
    "models_app_auditevent",
    "models_app_historicalteam",
    "models_app_historicalmembership",
    "models_app_historicalregisteredmodel",
    "models_app_historicalmodelversion",
    "models_app_historicalpromotionpolicy",
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

# A version's identity fields never change once registered; its artifact fields are written
# once (they may change only while empty).
SQLITE_IDENTITY = [
    """CREATE TRIGGER IF NOT EXISTS modelversion_identity_immutable
                    BEFORE UPDATE ON models_app_modelversion WHEN NEW.registered_model_id IS NOT OLD.registered_model_id OR NEW.version IS NOT OLD.version OR NEW.number IS NOT OLD.number OR NEW.precedence IS NOT OLD.precedence OR NEW.metrics IS NOT OLD.metrics OR NEW.params IS NOT OLD.params OR NEW.data_version IS NOT OLD.data_version OR NEW.code_version IS NOT OLD.code_version OR NEW.source_run IS NOT OLD.source_run OR NEW.created_by_id IS NOT OLD.created_by_id OR (OLD.artifact_uri IS NOT NULL AND OLD.artifact_uri <> '' AND NEW.artifact_uri IS NOT OLD.artifact_uri) OR (OLD.artifact_sha256 IS NOT NULL AND OLD.artifact_sha256 <> '' AND NEW.artifact_sha256 IS NOT OLD.artifact_sha256) OR (OLD.artifact_size IS NOT NULL AND NEW.artifact_size IS NOT OLD.artifact_size)
                    BEGIN SELECT RAISE(ABORT,
                      'model version identity fields are immutable after registration'); END""",
]
PG_IDENTITY = [
    """CREATE OR REPLACE FUNCTION registry_modelversion_identity() RETURNS trigger
                AS $$ BEGIN
                    IF NEW.registered_model_id IS DISTINCT FROM OLD.registered_model_id OR NEW.version IS DISTINCT FROM OLD.version OR NEW.number IS DISTINCT FROM OLD.number OR NEW.precedence IS DISTINCT FROM OLD.precedence OR NEW.metrics IS DISTINCT FROM OLD.metrics OR NEW.params IS DISTINCT FROM OLD.params OR NEW.data_version IS DISTINCT FROM OLD.data_version OR NEW.code_version IS DISTINCT FROM OLD.code_version OR NEW.source_run IS DISTINCT FROM OLD.source_run OR NEW.created_by_id IS DISTINCT FROM OLD.created_by_id OR (OLD.artifact_uri IS NOT NULL AND OLD.artifact_uri <> '' AND NEW.artifact_uri IS DISTINCT FROM OLD.artifact_uri) OR (OLD.artifact_sha256 IS NOT NULL AND OLD.artifact_sha256 <> '' AND NEW.artifact_sha256 IS DISTINCT FROM OLD.artifact_sha256) OR (OLD.artifact_size IS NOT NULL AND NEW.artifact_size IS DISTINCT FROM OLD.artifact_size) THEN
                        RAISE EXCEPTION
                          'model version identity fields are immutable after registration'
                          USING ERRCODE = 'integrity_constraint_violation';
                    END IF;
                    RETURN NEW;
                END $$ LANGUAGE plpgsql""",
    "DROP TRIGGER IF EXISTS modelversion_identity_immutable ON models_app_modelversion",
    """CREATE TRIGGER modelversion_identity_immutable
                   BEFORE UPDATE ON models_app_modelversion
                   FOR EACH ROW EXECUTE FUNCTION registry_modelversion_identity()""",
]


def install_statements(vendor: str) -> list[str]:
    if vendor == "sqlite":
        sql = [SQLITE_MAINTENANCE]
        for table in TABLES:
            sql += [
                SQLITE_APPEND_ONLY.format(table=table, op=op, op_name=op.lower())
                for op in ("UPDATE", "DELETE")
            ]
        return sql + SQLITE_IDENTITY
    if vendor == "postgresql":
        sql = [PG_APPEND_ONLY_FUNCTION]
        for table in TABLES:
            sql += [statement.format(table=table) for statement in PG_APPEND_ONLY]
        return sql + PG_IDENTITY
    raise NotImplementedError(f"No audit triggers for the {vendor} database.")


def install(apps, schema_editor):
    for statement in install_statements(schema_editor.connection.vendor):
        schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("models_app", "0002_audit_triggers"),
    ]

    operations = [
        migrations.AddField(
            model_name="historicalregisteredmodel",
            name="origin",
            field=models.CharField(blank=True, db_index=True, default="", max_length=40),
        ),
        migrations.AddField(
            model_name="registeredmodel",
            name="origin",
            field=models.CharField(blank=True, db_index=True, default="", max_length=40),
        ),
        migrations.RunPython(install, migrations.RunPython.noop),
    ]
